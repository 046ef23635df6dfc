//! Payments per second through a hub, end to end: `scripts/bench` (or `scripts/bench payments`).
//!
//! Starts, as separate release processes, an embedded regtest chain, a hub, N payer nodes and M
//! payee nodes; opens a channel from every payer to the hub and from the hub to every payee;
//! issues every invoice first, then pays them with C payments in flight and measures:
//! payments/s, latency percentiles, the hub's CPU seconds and peak RSS (from `/proc`), and the
//! hub's SQLite commits per payment (`chanhub_store_commits_total`). In the same run it times one
//! ECDSA sign and verify, and from them the bound the hub's signature work puts on throughput,
//! and one fsync on the nodes' disk, and from it the floor of a payment's latency (the
//! commits on its critical path, [`CRITICAL_PATH_COMMITS`], one after the other).
//!
//! `--compare-ldk` first runs the same payments (count, amount, in flight, channel capacity)
//! through three LDK nodes, payer → router → payee, on the same chain process (`payments/ldk.rs`
//! says how they are set up), then chanhub's run, and prints both and the ratio of their
//! throughputs. LDK's nodes run inside the bench process, so their CPU is the bench process's
//! own during their payments. Any failed LDK payment fails the bench.
//!
//! `--json` prints one JSON object on the last line; with `--compare-ldk` it also has
//! `ldk_payments_per_sec`, `ldk_p50_ms`, `ldk_p90_ms`, `ldk_p99_ms`, `ldk_cpu_ms_per_payment`,
//! `ldk_resends` (sends made again when LDK's payer found no route: its channels have 50 HTLC
//! slots) and `ratio_to_ldk` (chanhub's payments/s over LDK's).
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it makes a small run, LDK's
//! comparison included, to prove that both work.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use serde_json::json;

#[path = "payments/ldk.rs"]
mod ldk;
mod support;
use support::{
    address, mine, open, percentile, start_chain, start_node, token_of, wait_active, wait_synced,
    Node,
};

/// Signatures the hub makes and checks for one payment alice → hub → bob when nothing is
/// batched, both channels with one HTLC added and then fulfilled. Per channel: two
/// `commitment_signed` sent (the first with the HTLC's signature: 2 + 1 signatures) and two
/// received (2 + 1 checks). The bound uses the counts the hub reports (`/metrics`), which are
/// lower when several HTLCs share a commitment; these are the reference.
const HUB_SIGNS_PER_PAYMENT: f64 = 6.0;
const HUB_VERIFIES_PER_PAYMENT: f64 = 6.0;

/// Commits that follow one another on a payment's critical path, payer -> hub -> payee, each
/// ending in an fsync before the message it produced can leave (persist before send):
/// 1. payer: the payment, its HTLC and the hub's signed commitment (`update_add_htlc` +
///    `commitment_signed` leave);
/// 2. hub: the payer's add and commitment (`revoke_and_ack` + `commitment_signed`);
/// 3. payer: the hub's revocation and commitment (`revoke_and_ack`);
/// 4. hub: the payer's revocation, the HTLC irrevocably committed, forwarded (`update_add_htlc`
///    + `commitment_signed` to the payee);
/// 5. payee: the add and commitment (`revoke_and_ack` + `commitment_signed`);
/// 6. hub: the payee's revocation and commitment (`revoke_and_ack`);
/// 7. payee: the hub's revocation, the HTLC irrevocably committed on both sides (BOLT 2: only
///    then may it be fulfilled): the preimage (`update_fulfill_htlc` + `commitment_signed`);
/// 8. hub: the preimage (`update_fulfill_htlc` to the payer);
/// 9. payer: the preimage, the payment succeeded.
///
/// Times the fsync latency the bench measures, it is the floor a payment's latency cannot go
/// under on this disk whatever the CPU; the rest of the dance (the last revocations) runs
/// after the payer has its answer.
const CRITICAL_PATH_COMMITS: f64 = 9.0;

#[derive(Debug, Clone)]
struct Args {
    payers: usize,
    payees: usize,
    payments: usize,
    in_flight: usize,
    amount_msat: u64,
    capacity_sat: u64,
    json: bool,
    compare_ldk: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        payers: 2,
        payees: 2,
        payments: 2000,
        in_flight: 16,
        amount_msat: 1_000_000,
        capacity_sat: 16_000_000,
        json: false,
        compare_ldk: false,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test --all-targets` runs bench binaries without `--bench`: then a small run
    // checks that the benchmark works, in seconds.
    if !argv.iter().any(|f| f == "--bench") {
        a.payers = 1;
        a.payees = 1;
        a.payments = 20;
        a.in_flight = 4;
        a.compare_ldk = true;
    }
    let mut it = argv.into_iter();
    while let Some(flag) = it.next() {
        let mut num = |name: &str| -> Result<u64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or(format!("{name} needs a number"))
        };
        match flag.as_str() {
            "--payers" => a.payers = num("--payers")? as usize,
            "--payees" => a.payees = num("--payees")? as usize,
            "--payments" => a.payments = num("--payments")? as usize,
            "--in-flight" => a.in_flight = num("--in-flight")? as usize,
            "--amount-msat" => a.amount_msat = num("--amount-msat")?,
            "--capacity-sat" => a.capacity_sat = num("--capacity-sat")?,
            "--json" => a.json = true,
            "--compare-ldk" => a.compare_ldk = true,
            // What `cargo bench` passes to every bench binary.
            "--bench" => {}
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    if a.payers == 0 || a.payees == 0 || a.payments == 0 || a.in_flight == 0 {
        return Err("--payers, --payees, --payments and --in-flight must be at least 1".into());
    }
    Ok(a)
}

/// Seconds of CPU (user + system) the process has used so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the file, 12 and 13 after the name and state.
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The peak resident set size in MiB (`VmHWM`).
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// The hub's counters: store commits, and the signatures it made and checked.
#[derive(Debug, Clone, Copy)]
struct Work {
    commits: f64,
    signed: f64,
    checked: f64,
    commitments_sent: f64,
}

async fn work(node: &Node) -> Work {
    let (_, body) = node
        .api
        .raw(
            hyper::Method::GET,
            "/metrics",
            Some(&token_of(node)),
            Vec::new(),
        )
        .await
        .unwrap();
    let metric = |name: &str| -> f64 {
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("the hub exports {name}"))
    };
    Work {
        commits: metric("chanhub_store_commits_total"),
        signed: metric("chanhub_commitment_signatures_total{direction=\"sent\"}"),
        checked: metric("chanhub_commitment_signatures_total{direction=\"received\"}"),
        commitments_sent: metric("chanhub_commitments_total{direction=\"sent\"}"),
    }
}

/// The SQLite commits `nodes` have made so far, together.
async fn commits_of(nodes: &[Node]) -> f64 {
    let mut sum = 0.0;
    for n in nodes {
        sum += work(n).await.commits;
    }
    sum
}

/// Makes payments `0..count` with `in_flight` of them at a time, `pay(i)` making payment `i`:
/// every success's latency (ms), and how many failed (the first few are printed).
async fn pay_all<F, Fut>(
    count: usize,
    in_flight: usize,
    pay: F,
) -> Result<(Vec<f64>, usize), String>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let reported = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..in_flight {
        let (next, reported, pay) = (next.clone(), reported.clone(), pay.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let t = Instant::now();
                match pay(i).await {
                    Ok(()) => latencies.push(t.elapsed().as_secs_f64() * 1000.0),
                    Err(e) => {
                        failed += 1;
                        if reported.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("bench: payment {i} {e}");
                        }
                    }
                }
            }
            (latencies, failed)
        }));
    }
    let mut latencies = Vec::new();
    let mut failed = 0;
    for w in workers {
        let (l, f) = w.await.map_err(|e| e.to_string())?;
        latencies.extend(l);
        failed += f;
    }
    Ok((latencies, failed))
}

/// Milliseconds one 4 KiB write + fsync takes in `dir` (the nodes' filesystem), now: the
/// median of 200, as a commit of a small transaction costs (SQLite's WAL appends its pages and
/// fsyncs the log once per commit at `synchronous=FULL`).
fn fsync_ms(dir: &std::path::Path) -> f64 {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path).expect("probe file");
    let page = [0x5a_u8; 4096];
    let mut times: Vec<f64> = (0..200)
        .map(|_| {
            let t = Instant::now();
            f.write_all(&page).expect("probe write");
            f.sync_all().expect("probe fsync");
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    drop(f);
    let _ = std::fs::remove_file(&path);
    times.sort_by(|x, y| x.total_cmp(y));
    times[times.len() / 2]
}

/// Microseconds per ECDSA sign and per verify on this machine, now.
fn ecdsa_costs() -> (f64, f64) {
    let secp = Secp256k1::new();
    let key = SecretKey::from_slice(&[7; 32]).unwrap();
    let public = key.public_key(&secp);
    let n = 4000u32;
    let msgs: Vec<Message> = (0..n)
        .map(|i| {
            let mut m = [1u8; 32];
            m[..4].copy_from_slice(&i.to_le_bytes());
            Message::from_digest(m)
        })
        .collect();
    let t = Instant::now();
    let sigs: Vec<_> = msgs.iter().map(|m| secp.sign_ecdsa(m, &key)).collect();
    let sign = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    let t = Instant::now();
    for (m, s) in msgs.iter().zip(&sigs) {
        secp.verify_ecdsa(m, s, &public).expect("valid");
    }
    let verify = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    (sign, verify)
}

async fn run(a: Args) -> Result<(), String> {
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (chain, rpc, cookie) = start_chain(root.path());
    let ldk = if a.compare_ldk {
        eprintln!("bench: LDK first, on the same chain");
        let f = ldk::run(
            root.path(),
            &rpc,
            &cookie,
            a.payments,
            a.in_flight,
            a.amount_msat,
            a.capacity_sat,
        )
        .await?;
        eprintln!("bench: LDK done; now chanhub");
        Some(f)
    } else {
        None
    };
    let hub = start_node(root.path(), "hub", &rpc, &cookie);
    let payers: Vec<Node> = (0..a.payers)
        .map(|i| start_node(root.path(), &format!("payer{i}"), &rpc, &cookie))
        .collect();
    let payees: Vec<Node> = (0..a.payees)
        .map(|i| start_node(root.path(), &format!("payee{i}"), &rpc, &cookie))
        .collect();
    eprintln!(
        "bench: chain, hub, {} payers, {} payees up",
        a.payers, a.payees
    );

    // One coinbase per payer and per hub channel, then maturity.
    for p in &payers {
        mine(&hub, 1, &address(p).await).await;
    }
    let hub_addr = address(&hub).await;
    mine(&hub, a.payees as u32 + 100, &hub_addr).await;
    for n in payers.iter().chain(&payees).chain([&hub]) {
        wait_synced(n).await;
    }
    let mut channels = Vec::new();
    for p in &payers {
        channels.push((open(p, &hub, a.capacity_sat).await, p));
    }
    for q in &payees {
        channels.push((open(&hub, q, a.capacity_sat).await, &hub));
    }
    mine(&hub, 3, &hub_addr).await;
    for (id, opener) in &channels {
        wait_active(opener, id).await;
        wait_active(&hub, id).await;
    }
    // Payees' invoices carry a route hint once the hub's channel_update reached them.
    for q in &payees {
        for _ in 0..2400 {
            let inv = q
                .api
                .post(
                    "/v1/invoices",
                    json!({"amount_msat": 1000, "description": "hint"}),
                )
                .await
                .unwrap();
            if inv["route_hints"].as_array().is_some_and(|h| !h.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    eprintln!(
        "bench: {} channels active; issuing {} invoices",
        channels.len(),
        a.payments
    );
    let mut invoices = Vec::with_capacity(a.payments);
    for i in 0..a.payments {
        let q = &payees[i % payees.len()];
        let inv = q
            .api
            .post(
                "/v1/invoices",
                json!({"amount_msat": a.amount_msat, "description": format!("bench {i}")}),
            )
            .await
            .map_err(|e| e.to_string())?;
        invoices.push(inv["bolt11"].as_str().unwrap().to_string());
    }

    let hub_pid = hub.proc.child.id();
    let role_pids: Vec<(&str, u32)> = [("hub", &hub)]
        .into_iter()
        .chain(payers.iter().map(|n| ("payers", n)))
        .chain(payees.iter().map(|n| ("payees", n)))
        .map(|(role, n)| (role, n.proc.child.id()))
        .chain([("chain", chain.child.id())])
        .collect();
    let all_pids: Vec<u32> = role_pids.iter().map(|(_, p)| *p).collect();
    let role_cpu = |role: &str| -> f64 {
        role_pids
            .iter()
            .filter(|(r, _)| *r == role)
            .map(|(_, p)| cpu_secs(*p))
            .sum()
    };
    let roles = ["payers", "payees", "chain"];
    let roles_before: Vec<f64> = roles.iter().map(|r| role_cpu(r)).collect();
    let work_before = work(&hub).await;
    let payers_commits_before = commits_of(&payers).await;
    let payees_commits_before = commits_of(&payees).await;
    let cpu_before = cpu_secs(hub_pid);
    let all_cpu_before: f64 = all_pids.iter().map(|p| cpu_secs(*p)).sum();
    eprintln!("bench: paying, {} in flight", a.in_flight);
    let invoices = Arc::new(invoices);
    let payers = Arc::new(payers);
    let start = Instant::now();
    let (mut latencies, failed) = pay_all(invoices.len(), a.in_flight, {
        let payers = payers.clone();
        move |i| {
            let (invoices, payers) = (invoices.clone(), payers.clone());
            async move {
                let payer = &payers[i % payers.len()];
                let p = payer
                    .api
                    .post("/v1/payments", json!({"bolt11": invoices[i], "wait": true}))
                    .await
                    .map_err(|e| format!("refused: {e}"))?;
                match p["status"] == "succeeded" {
                    true => Ok(()),
                    false => Err(format!("failed: {}", p["failure"])),
                }
            }
        }
    })
    .await?;
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_secs(hub_pid) - cpu_before;
    let all_cpu = all_pids.iter().map(|p| cpu_secs(*p)).sum::<f64>() - all_cpu_before;
    let roles_cpu: Vec<f64> = roles
        .iter()
        .zip(&roles_before)
        .map(|(r, before)| role_cpu(r) - before)
        .collect();
    let work_after = work(&hub).await;
    let payers_commits = commits_of(&payers).await - payers_commits_before;
    let payees_commits = commits_of(&payees).await - payees_commits_before;
    let rss = peak_rss_mb(hub_pid);
    latencies.sort_by(|x, y| x.total_cmp(y));
    let ok = latencies.len();
    if ok == 0 || failed > 0 {
        return Err(format!("{failed} of {} payments failed", a.payments));
    }

    let (sign_us, verify_us) = ecdsa_costs();
    let fsync = fsync_ms(root.path());
    let floor_ms = CRITICAL_PATH_COMMITS * fsync;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let per = |after: f64, before: f64| (after - before) / ok as f64;
    let signs = per(work_after.signed, work_before.signed);
    let verifies = per(work_after.checked, work_before.checked);
    let per_payment_us = signs * sign_us + verifies * verify_us;
    let bound = cores * 1e6 / per_payment_us;
    let unbatched_us = HUB_SIGNS_PER_PAYMENT * sign_us + HUB_VERIFIES_PER_PAYMENT * verify_us;
    let pps = ok as f64 / elapsed;
    let cpu_ms = cpu * 1000.0 / ok as f64;
    let mut result = json!({
        "payers": a.payers,
        "payees": a.payees,
        "payments": a.payments,
        "in_flight": a.in_flight,
        "succeeded": ok,
        "failed": failed,
        "seconds": elapsed,
        "payments_per_sec": pps,
        "p50_ms": percentile(&latencies, 50.0),
        "p90_ms": percentile(&latencies, 90.0),
        "p99_ms": percentile(&latencies, 99.0),
        "hub_cpu_ms_per_payment": cpu_ms,
        "hub_signature_ms_per_payment": per_payment_us / 1000.0,
        "hub_cpu_to_signature_ratio": cpu_ms * 1000.0 / per_payment_us,
        "hub_signs_per_payment": signs,
        "hub_verifies_per_payment": verifies,
        "hub_commitments_signed_per_payment": per(work_after.commitments_sent, work_before.commitments_sent),
        "unbatched_signature_ms_per_payment": unbatched_us / 1000.0,
        "all_processes_cpu_ms_per_payment": all_cpu * 1000.0 / ok as f64,
        "payers_cpu_ms_per_payment": roles_cpu[0] * 1000.0 / ok as f64,
        "payees_cpu_ms_per_payment": roles_cpu[1] * 1000.0 / ok as f64,
        "chain_cpu_ms_per_payment": roles_cpu[2] * 1000.0 / ok as f64,
        "hub_peak_rss_mb": rss,
        "commits_per_payment": per(work_after.commits, work_before.commits),
        "all_nodes_commits_per_payment": per(work_after.commits, work_before.commits)
            + (payers_commits + payees_commits) / ok as f64,
        "payers_commits_per_payment": payers_commits / ok as f64,
        "payees_commits_per_payment": payees_commits / ok as f64,
        "ecdsa_sign_us": sign_us,
        "ecdsa_verify_us": verify_us,
        "cores": cores,
        "crypto_bound_payments_per_sec": bound,
        "ratio_to_bound": pps / bound,
        "fsync_ms": fsync,
        "critical_path_commits": CRITICAL_PATH_COMMITS,
        "commit_floor_ms": floor_ms,
        "p50_to_commit_floor": percentile(&latencies, 50.0) / floor_ms,
    });
    if let Some(l) = &ldk {
        let o = result.as_object_mut().unwrap();
        o.insert("ldk_payments_per_sec".into(), json!(l.payments_per_sec));
        o.insert("ldk_p50_ms".into(), json!(l.p50_ms));
        o.insert("ldk_p90_ms".into(), json!(l.p90_ms));
        o.insert("ldk_p99_ms".into(), json!(l.p99_ms));
        o.insert("ldk_cpu_ms_per_payment".into(), json!(l.cpu_ms_per_payment));
        o.insert("ldk_resends".into(), json!(l.resends));
        o.insert("ratio_to_ldk".into(), json!(pps / l.payments_per_sec));
        println!(
            "LDK (ldk-node, payer -> router -> payee, same chain): {} payments in {:.2} s (0 failed), {} in flight",
            l.succeeded, l.seconds, a.in_flight
        );
        println!(
            "  throughput     {:.1} payments/s ({} sends made again after the payer found no route)",
            l.payments_per_sec, l.resends
        );
        println!(
            "  latency        p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms",
            l.p50_ms, l.p90_ms, l.p99_ms
        );
        println!(
            "  CPU            {:.2} ms per payment (the bench process, in which the three nodes run)",
            l.cpu_ms_per_payment
        );
        println!("chanhub:");
    }
    println!(
        "{ok} payments in {elapsed:.2} s ({failed} failed), {} in flight, {} payers -> hub -> {} payees",
        a.in_flight, a.payers, a.payees
    );
    println!("  throughput     {pps:.1} payments/s");
    println!(
        "  latency        p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms",
        result["p50_ms"].as_f64().unwrap(),
        result["p90_ms"].as_f64().unwrap(),
        result["p99_ms"].as_f64().unwrap()
    );
    println!(
        "  hub CPU        {cpu_ms:.2} ms per payment ({:.2}x its signature work: {signs:.2} signs + {verifies:.2} verifies in {:.2} commitment_signed sent; unbatched would be 6 + 6)",
        cpu_ms * 1000.0 / per_payment_us,
        result["hub_commitments_signed_per_payment"].as_f64().unwrap(),
    );
    println!(
        "  all processes  {:.2} ms CPU per payment (payers {:.2}, payees {:.2}, chain {:.2}, the hub's above)",
        result["all_processes_cpu_ms_per_payment"].as_f64().unwrap(),
        result["payers_cpu_ms_per_payment"].as_f64().unwrap(),
        result["payees_cpu_ms_per_payment"].as_f64().unwrap(),
        result["chain_cpu_ms_per_payment"].as_f64().unwrap(),
    );
    println!(
        "  commit floor   {CRITICAL_PATH_COMMITS} dependent commits x {fsync:.2} ms per fsync = {floor_ms:.1} ms; p50 is {:.1}x it",
        result["p50_to_commit_floor"].as_f64().unwrap()
    );
    println!("  hub peak RSS   {rss:.1} MiB");
    println!(
        "  SQLite commits {:.2} per payment at the hub, {:.2} at all nodes together (payers {:.2}, payees {:.2}; each an fsync)",
        result["commits_per_payment"].as_f64().unwrap(),
        result["all_nodes_commits_per_payment"].as_f64().unwrap(),
        result["payers_commits_per_payment"].as_f64().unwrap(),
        result["payees_commits_per_payment"].as_f64().unwrap(),
    );
    println!(
        "  ECDSA          sign {sign_us:.1} us, verify {verify_us:.1} us; bound {bound:.0} payments/s on {cores} cores; achieved/bound {:.3}",
        pps / bound
    );
    if let Some(l) = &ldk {
        let nodes_cpu_ms = cpu_ms
            + result["payers_cpu_ms_per_payment"].as_f64().unwrap()
            + result["payees_cpu_ms_per_payment"].as_f64().unwrap();
        println!(
            "chanhub / LDK   {:.1}x the throughput ({pps:.1} vs {:.1} payments/s), p50 {:.1} vs {:.1} ms; nodes' CPU {nodes_cpu_ms:.2} vs {:.2} ms per payment (the chain not counted)",
            pps / l.payments_per_sec,
            l.payments_per_sec,
            result["p50_ms"].as_f64().unwrap(),
            l.p50_ms,
            l.cpu_ms_per_payment
        );
    }
    if a.json {
        println!("{result}");
    }
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}\nusage: scripts/bench [payments] [--payers N] [--payees M] [--payments P] [--in-flight C] [--amount-msat A] [--capacity-sat S] [--compare-ldk] [--json]");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    if let Err(e) = rt.block_on(run(args)) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
