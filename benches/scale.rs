//! Scale runs: `scripts/bench scale`.
//!
//! 1. Restart after N recorded payments: a hub with one active channel is stopped, N
//!    payments' worth of history is written into its SQLite database, and the restart is
//!    timed until the API answers and until the channel is active again; then the list
//!    endpoints are timed on the big database.
//! 2. K channels: P peers open K channels to a hub; its memory per channel, its restart time
//!    with them, and its API latency idle and while payments flow through it.
//! 3. The network graph: 15,000 nodes and 80,000 signed channels written to a store, then
//!    loaded back (time, heap), in this process.
//! 4. Pathfinding on that graph: `routing::find_route` between random payers and payees,
//!    p50/p99/max over Q queries (default 500), in this process.
//! 5. The accounting export: N payments (the `--payments` count) exported as CSV through the
//!    API's streaming code, after N/10 and after N: rows/s and the memory it took.
//!
//! Every node is a separate release process, as in `benches/payments.rs`. `--json` prints one
//! JSON object on the last line. Without `--bench` (`cargo test --all-targets`) a tiny run
//! checks that all of it works.

use std::path::Path;

use serde_json::{json, Value};

#[path = "scale/channels.rs"]
mod channels;
#[path = "scale/export.rs"]
mod export;
#[path = "scale/graph.rs"]
mod graph;
#[path = "scale/history.rs"]
mod history;
#[path = "scale/hub.rs"]
mod hub;
#[path = "scale/pathfind.rs"]
mod pathfind;
#[path = "scale/restart.rs"]
mod restart;
mod support;

#[global_allocator]
static ALLOC: graph::Counting = graph::Counting;

const USAGE: &str = "usage: scripts/bench scale [--payments N] [--channels K] [--peers P] \
                     [--load-secs S] [--graph-nodes N] [--graph-channels K] \
                     [--queries Q] [--only restart|channels|graph|pathfind|export] [--keep] \
                     [--json]";

#[derive(Debug)]
struct Args {
    payments: u64,
    /// The list endpoints are timed only with this many recorded payments or fewer.
    channels: usize,
    peers: usize,
    load_secs: u64,
    graph_nodes: usize,
    graph_channels: usize,
    /// Pathfinding queries.
    queries: usize,
    restart: bool,
    many_channels: bool,
    graph: bool,
    pathfind: bool,
    export: bool,
    /// Keeps the nodes' directories (and logs) and prints where.
    keep: bool,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let full = argv.iter().any(|f| f == "--bench");
    let mut a = Args {
        payments: if full { 1_000_000 } else { 2_000 },
        channels: if full { 1000 } else { 8 },
        peers: if full { 4 } else { 2 },
        load_secs: if full { 10 } else { 2 },
        graph_nodes: if full { 15_000 } else { 200 },
        graph_channels: if full { 80_000 } else { 1_000 },
        queries: 500,
        restart: true,
        many_channels: true,
        graph: true,
        pathfind: true,
        export: true,
        keep: false,
        json: false,
    };
    let mut it = argv.into_iter();
    while let Some(flag) = it.next() {
        let mut num = |name: &str| -> Result<u64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or(format!("{name} needs a number"))
        };
        match flag.as_str() {
            "--payments" => a.payments = num("--payments")?,
            "--channels" => a.channels = num("--channels")? as usize,
            "--peers" => a.peers = num("--peers")? as usize,
            "--load-secs" => a.load_secs = num("--load-secs")?,
            "--graph-nodes" => a.graph_nodes = num("--graph-nodes")? as usize,
            "--graph-channels" => a.graph_channels = num("--graph-channels")? as usize,
            "--queries" => a.queries = num("--queries")? as usize,
            "--only" => {
                let only = it.next();
                a.restart = only.as_deref() == Some("restart");
                a.many_channels = only.as_deref() == Some("channels");
                a.graph = only.as_deref() == Some("graph");
                a.pathfind = only.as_deref() == Some("pathfind");
                a.export = only.as_deref() == Some("export");
                if !(a.restart || a.many_channels || a.graph || a.pathfind || a.export) {
                    return Err("--only takes restart, channels, graph, pathfind or export".into());
                }
            }
            "--keep" => a.keep = true,
            "--json" => a.json = true,
            // What `cargo bench` passes to every bench binary.
            "--bench" => {}
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    if a.payments < 2 || a.channels == 0 || a.peers == 0 || a.peers > a.channels {
        return Err("--payments must be at least 2, and 1 <= --peers <= --channels".into());
    }
    if a.graph_nodes < 2 || a.graph_channels < a.graph_nodes {
        return Err("--graph-nodes must be at least 2 and at most --graph-channels".into());
    }
    Ok(a)
}

async fn run(a: &Args, root: &Path) -> Value {
    let mut out = json!({});
    if a.graph {
        let p = graph::Params {
            nodes: a.graph_nodes,
            channels: a.graph_channels,
        };
        let r = graph::run(&root.join("graph"), &p);
        graph::print(&r);
        out["graph"] = r;
    }
    if a.pathfind {
        let p = graph::Params {
            nodes: a.graph_nodes,
            channels: a.graph_channels,
        };
        let r = pathfind::run(&p, &pathfind::Query { queries: a.queries });
        pathfind::print(&r);
        out["pathfind"] = r;
    }
    if a.export {
        let r = export::run(&root.join("export"), a.payments).await;
        export::print(&r);
        out["export"] = r;
    }
    if !(a.restart || a.many_channels) {
        return out;
    }
    let (_chain, rpc, cookie) = support::start_chain(root);
    let chain = hub::Chain { rpc, cookie };
    if a.restart {
        let dir = root.join("restart");
        let r = restart::run(&dir, &chain, a.payments).await;
        print_restart(&r);
        out["restart"] = r;
    }
    if a.many_channels {
        let dir = root.join("channels");
        let p = channels::Params {
            channels: a.channels,
            peers: a.peers,
            load_secs: a.load_secs,
        };
        let r = channels::run(&dir, &chain, &p).await;
        print_channels(&r);
        out["channels"] = r;
    }
    out
}

fn print_restart(r: &Value) {
    println!("restart after {} recorded payments", r["payments"]);
    println!(
        "  history        written in {:.1} s, database {:.0} MiB",
        r["generate_secs"].as_f64().unwrap_or(0.0),
        r["db_mib"].as_f64().unwrap_or(0.0)
    );
    println!(
        "  restart        API answers after {:.2} s, channel active after {:.2} s; RSS {:.0} MiB",
        r["restart_api_secs"].as_f64().unwrap_or(0.0),
        r["restart_channel_active_secs"].as_f64().unwrap_or(0.0),
        r["rss_after_restart_mib"].as_f64().unwrap_or(0.0)
    );
    println!(
        "  GET /metrics   p50 {:.0} ms",
        r["metrics_p50_ms"].as_f64().unwrap_or(0.0)
    );
    println!(
        "  hub peak RSS   {:.0} MiB",
        r["hub_peak_rss_mib"].as_f64().unwrap_or(0.0)
    );
    for (name, l) in r["lists"].as_object().into_iter().flatten() {
        println!(
            "  GET /v1/{name:<21} {} rows: p50 {:.0} ms ({} calls)",
            l["rows"],
            l["p50_ms"].as_f64().unwrap_or(0.0),
            l["calls"]
        );
    }
}

fn print_channels(r: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    println!("{} channels from {} peers", r["channels"], r["peers"]);
    println!(
        "  opening        {:.1} s to open, all active after {:.1} s",
        f(&r["open_secs"]),
        f(&r["all_active_secs"])
    );
    println!(
        "  hub RSS        {:.1} MiB before, {:.1} MiB after: {:.1} KiB per channel; {:.1} MiB after a restart",
        f(&r["hub_rss_before_mib"]),
        f(&r["hub_rss_after_mib"]),
        f(&r["kib_per_channel"]),
        f(&r["hub_rss_after_restart_mib"])
    );
    println!(
        "  restart        API answers after {:.2} s, all channels active after {:.2} s",
        f(&r["restart_api_secs"]),
        f(&r["restart_all_active_secs"])
    );
    for (label, key) in [
        ("/v1/info idle", "info_idle"),
        ("/v1/channels idle", "channels_idle"),
        ("/v1/info busy", "info_under_load"),
        ("/v1/channels busy", "channels_under_load"),
    ] {
        println!(
            "  {label:<18} p50 {:.1} ms, p99 {:.1} ms ({} calls)",
            f(&r[key]["p50_ms"]),
            f(&r[key]["p99_ms"]),
            r[key]["calls"]
        );
    }
    let l = &r["load"];
    println!(
        "  load           {:.1} payments/s over {:.1} s, {} in flight ({} failed)",
        f(&l["payments_per_sec"]),
        f(&l["seconds"]),
        l["in_flight"],
        l["failed"]
    );
}

/// What must hold whatever the machine: every restart answered (the waits above fail the run
/// otherwise) and payments went through the hub.
fn check(r: &Value) {
    if let Some(r) = r.get("restart") {
        assert!(r["restart_api_secs"].as_f64().is_some_and(|s| s > 0.0));
        assert!(r["restart_channel_active_secs"].as_f64() >= r["restart_api_secs"].as_f64());
        assert!(
            r["db_mib"].as_f64().is_some_and(|m| m > 0.0),
            "history written"
        );
    }
    if let Some(p) = r.get("pathfind") {
        assert!(
            p["found"].as_u64().is_some_and(|n| n > 0),
            "routes found on the generated graph"
        );
    }
    if let Some(e) = r.get("export") {
        export::check(e);
    }
    if let Some(c) = r.get("channels") {
        assert!(c["restart_all_active_secs"].as_f64() >= c["restart_api_secs"].as_f64());
        assert!(
            c["load"]["succeeded"].as_u64().is_some_and(|n| n > 0),
            "payments flowed through the hub"
        );
        assert!(c["info_under_load"]["calls"]
            .as_u64()
            .is_some_and(|n| n > 0));
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let root = tempfile::tempdir().expect("a temporary directory");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let result = rt.block_on(run(&args, root.path()));
    check(&result);
    if args.keep {
        eprintln!(
            "scale: nodes' directories kept in {}",
            root.keep().display()
        );
    }
    if args.json {
        println!("{result}");
    }
}
