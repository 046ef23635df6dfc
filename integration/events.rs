//! The event log, its resumable stream and webhooks, end to end: in-process nodes on one
//! embedded chain, and a small HTTP receiver inside the test that checks every delivery's
//! signature with the secret the node handed out.

mod channels_support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use channels_support::*;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CAPACITY_SAT: u64 = 1_000_000;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Delivery {
    path: String,
    event_id: u64,
    event_type: String,
    body: Value,
    /// The signature header verified with the webhook's secret (see [`Receiver::verify`]).
    raw_body: Vec<u8>,
    signature: String,
    /// The status the receiver answered.
    answered: u16,
}

/// A webhook receiver: records every request and answers the status `policy` picks for the
/// n-th request (0-based) to a path.
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Delivery>>>,
}

type Policy = Arc<dyn Fn(&str, usize) -> u16 + Send + Sync>;

impl Receiver {
    async fn start(policy: Policy) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, policy)
    }

    /// Serves on `listener` (a receiver that comes up on an address it was down at).
    fn serve(listener: tokio::net::TcpListener, policy: Policy) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let got: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let r = Receiver {
            addr,
            got: got.clone(),
        };
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (got, policy) = (got.clone(), policy.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (got, policy) = (got.clone(), policy.clone());
                        async move {
                            let path = req.uri().path().to_string();
                            let header = |name: &str| {
                                req.headers()
                                    .get(name)
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or("")
                                    .to_string()
                            };
                            assert_eq!(header("content-type"), "application/json");
                            let (event_id, event_type, signature) = (
                                header("chanhub-event-id").parse().unwrap_or(0),
                                header("chanhub-event-type"),
                                header("chanhub-signature"),
                            );
                            let raw = req.into_body().collect().await.unwrap().to_bytes();
                            let mut got = got.lock().unwrap();
                            let n = got.iter().filter(|d| d.path == path).count();
                            let status = policy(&path, n);
                            got.push(Delivery {
                                path,
                                event_id,
                                event_type,
                                body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
                                raw_body: raw.to_vec(),
                                signature,
                                answered: status,
                            });
                            let resp = Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from_static(b"ok")))
                                .unwrap();
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(tcp);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        r
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn deliveries(&self, path: &str) -> Vec<Delivery> {
        let got = self.got.lock().unwrap();
        got.iter().filter(|d| d.path == path).cloned().collect()
    }

    /// Waits until `path` has `n` deliveries answered 2xx.
    async fn wait_delivered(&self, path: &str, n: usize) -> Vec<Delivery> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ok: Vec<Delivery> = self
                .deliveries(path)
                .into_iter()
                .filter(|d| (200..300).contains(&d.answered))
                .collect();
            if ok.len() >= n {
                return ok;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: {} of {n} delivered: {:#?}",
                ok.len(),
                self.deliveries(path)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// What a receiver does with `Chanhub-Signature: t=..,v1=..`: recompute HMAC-SHA256 over
/// `t.body` with the secret (its text, as bytes) and check the timestamp is recent. Written
/// here from the spec, not with the node's own code.
fn verify(secret: &str, d: &Delivery) {
    let (t, v1) = d
        .signature
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("signature header {:?}", d.signature));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(&d.raw_body);
    mac.verify_slice(&hex::decode(v1).unwrap())
        .unwrap_or_else(|_| panic!("bad signature on {d:#?}"));
    let t: u64 = t.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(t) < 300, "a fresh timestamp: {t} vs {now}");
    // The headers say what the body says.
    assert_eq!(d.body["id"], d.event_id, "{d:#?}");
    assert_eq!(d.body["type"], d.event_type.as_str(), "{d:#?}");
    assert!(d.body["created_at"].as_u64().unwrap() > 0);
}

async fn add_webhook(n: &TestNode, url: &str, events: &[&str]) -> Value {
    let w = n
        .api
        .post("/v1/webhooks", json!({ "url": url, "events": events }))
        .await
        .expect("webhook added");
    assert_eq!(w["secret"].as_str().unwrap().len(), 64, "{w}");
    w
}

/// `GET /v1/events` read as raw HTTP, with optional headers.
struct Sse {
    tcp: tokio::net::TcpStream,
    text: String,
}

impl Sse {
    async fn open(n: &TestNode, last_event_id: Option<u64>) -> Sse {
        let token = std::fs::read_to_string(&n.node.node_json.api_token_file).unwrap();
        let mut tcp = tokio::net::TcpStream::connect(n.node.node_json.api_addr)
            .await
            .unwrap();
        let resume = last_event_id
            .map(|id| format!("Last-Event-ID: {id}\r\n"))
            .unwrap_or_default();
        let req = format!(
            "GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n{resume}\r\n",
            token.trim()
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        Sse {
            tcp,
            text: String::new(),
        }
    }

    /// The next `n` event frames as (id, type, data), skipping comments.
    async fn frames(&mut self, n: usize) -> Vec<(u64, String, Value)> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut buf = [0u8; 4096];
        while out.len() < n {
            while let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                // Chunked transfer framing sits between the frames: find ours in the block.
                let Some(start) = block.find("id: ") else {
                    continue;
                };
                let mut lines = block[start..].lines();
                let id = lines.next().unwrap()["id: ".len()..].parse().unwrap();
                let kind = lines.next().unwrap()["event: ".len()..].to_string();
                let data = serde_json::from_str(&lines.next().unwrap()["data: ".len()..]).unwrap();
                out.push((id, kind, data));
                if out.len() == n {
                    return out;
                }
            }
            let got = tokio::time::timeout_at(deadline, self.tcp.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("{} of {n} frames; read: {}", out.len(), self.text))
                .unwrap();
            assert!(got > 0, "stream closed: {}", self.text);
            self.text.push_str(&String::from_utf8_lossy(&buf[..got]));
        }
        out
    }

    /// Whether another event frame arrives within `wait`.
    async fn quiet_for(&mut self, wait: Duration) -> bool {
        let mut buf = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.text.contains("id: ") {
                return false;
            }
            match tokio::time::timeout_at(deadline, self.tcp.read(&mut buf)).await {
                Err(_) => return true,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(n)) => self.text.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    }
}

/// The channel_state_changed states one receiver path saw for a channel, in delivery order.
fn states_of(deliveries: &[Delivery], channel_id: &str) -> Vec<String> {
    deliveries
        .iter()
        .filter(|d| d.event_type == "channel_state_changed" && d.body["channel_id"] == channel_id)
        .map(|d| d.body["state"].as_str().unwrap().to_string())
        .collect()
}

/// (a) a payment's webhooks, signed; (d) an SSE client that reconnects with `Last-Event-ID`
/// gets exactly what it missed, then live events; (e) channel states through an open and a
/// cooperative close, and the resolution.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_and_channels_reach_webhooks_and_a_resumed_stream() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let hub = start_payments(&tmp.path().join("hub"), None).await;
    let alice = start_payments(&tmp.path().join("alice"), Some(&hub)).await;
    let bob = start_payments(&tmp.path().join("bob"), Some(&hub)).await;
    let rx = Receiver::start(Arc::new(|_: &str, _| 200)).await;
    let hub_hook = add_webhook(&hub, &rx.url("/hub"), &[]).await;
    assert_eq!(hub_hook["events"], json!([]), "every type");
    let bob_hook = add_webhook(&bob, &rx.url("/bob"), &["invoice_paid"]).await;
    let alice_hook = add_webhook(&alice, &rx.url("/alice"), &["payment_succeeded"]).await;
    let secret = |w: &Value| w["secret"].as_str().unwrap().to_string();

    fund(&hub).await;
    fund(&alice).await;
    let ah = open_active(&alice, &hub, CAPACITY_SAT, 0, "anchors").await;
    let hb = open_active(&hub, &bob, CAPACITY_SAT, 0, "static_remotekey").await;
    // (e) The hub saw both channels open: opening, then active.
    let got = rx.wait_delivered("/hub", 4).await;
    assert_eq!(states_of(&got, &ah), ["opening", "active"]);
    assert_eq!(states_of(&got, &hb), ["opening", "active"]);
    let peer_of_ah = got
        .iter()
        .find(|d| d.body["channel_id"] == ah.as_str())
        .unwrap();
    assert_eq!(peer_of_ah.body["peer_node_id"], alice.id());

    // (d) A stream from the start replays those four, then the client goes away.
    let mut sse = Sse::open(&hub, Some(0)).await;
    let replayed = sse.frames(4).await;
    assert_eq!(
        replayed.iter().map(|f| f.0).collect::<Vec<_>>(),
        [1, 2, 3, 4],
        "{replayed:#?}"
    );
    assert!(replayed
        .iter()
        .all(|(id, kind, data)| kind == "channel_state_changed" && data["id"] == *id));
    drop(sse);

    // (a) alice pays bob through the hub while nobody listens on the stream.
    wait_until_hint(&bob).await;
    pay_hub(&alice, &bob, 50_000_000).await;
    let paid = rx.wait_delivered("/bob", 1).await;
    verify(&secret(&bob_hook), &paid[0]);
    assert_eq!(paid[0].event_type, "invoice_paid");
    assert_eq!(paid[0].body["amount_msat"], 50_000_000);
    let hash = paid[0].body["payment_hash"].as_str().unwrap().to_string();
    let succeeded = rx.wait_delivered("/alice", 1).await;
    verify(&secret(&alice_hook), &succeeded[0]);
    assert_eq!(succeeded[0].event_type, "payment_succeeded");
    assert_eq!(succeeded[0].body["payment_hash"], hash.as_str());
    assert_eq!(succeeded[0].body["preimage"].as_str().unwrap().len(), 64);
    let hub_got = rx.wait_delivered("/hub", 5).await;
    let fwd = &hub_got[4];
    verify(&secret(&hub_hook), fwd);
    assert_eq!(fwd.event_type, "htlc_forwarded");
    assert_eq!(fwd.event_id, 5);
    assert_eq!(fwd.body["payment_hash"], hash.as_str());
    assert_eq!(fwd.body["status"], "settled");
    assert_eq!(
        (
            fwd.body["in_channel_id"].as_str(),
            fwd.body["out_channel_id"].as_str()
        ),
        (Some(ah.as_str()), Some(hb.as_str()))
    );
    assert_eq!(fwd.body["out_msat"], 50_000_000);
    assert_eq!(
        fwd.body["fee_msat"].as_u64().unwrap(),
        fwd.body["in_msat"].as_u64().unwrap() - 50_000_000
    );
    // Bob's and alice's webhooks got only what they asked for.
    assert!(rx
        .deliveries("/bob")
        .iter()
        .all(|d| d.event_type == "invoice_paid"));
    assert_eq!(rx.deliveries("/alice").len(), 1);
    for d in rx.deliveries("/hub") {
        verify(&secret(&hub_hook), &d);
    }

    // (d) Back with Last-Event-ID: 4: exactly the missed forward, then live events.
    let mut sse = Sse::open(&hub, Some(4)).await;
    let missed = sse.frames(1).await;
    assert_eq!(missed[0].0, 5);
    assert_eq!(missed[0].1, "htlc_forwarded");
    assert_eq!(
        missed[0].2, fwd.body,
        "the stream and the webhook carry the same JSON"
    );
    assert!(
        sse.quiet_for(Duration::from_millis(300)).await,
        "nothing else was missed"
    );
    pay_hub(&alice, &bob, 20_000_000).await;
    let live = sse.frames(1).await;
    assert_eq!((live[0].0, live[0].1.as_str()), (6, "htlc_forwarded"));
    assert_eq!(live[0].2["out_msat"], 20_000_000);

    // (e) The hub closes its channel with bob: closing, closed; once resolved, the resolution.
    let mut channel_events = hub.node.channels().subscribe();
    hub.api
        .post(&format!("/v1/channels/{hb}/close"), json!({}))
        .await
        .expect("close");
    collect(&mut channel_events, 1, |e| match e {
        chanhub::channel::Event::ClosingAgreed { .. } => Some(()),
        _ => None,
    })
    .await;
    hub.mine(1, &burn_address()).await;
    hub.wait_channel(&hb, "closed", |c| c["state"] == "closed")
        .await;
    hub.mine(6, &burn_address()).await;
    let c = hub
        .wait_channel(&hb, "resolved", |c| !c["resolution"].is_null())
        .await;
    let frames = sse.frames(3).await;
    let kinds: Vec<(&str, &Value)> = frames.iter().map(|f| (f.1.as_str(), &f.2)).collect();
    assert_eq!(kinds[0].0, "channel_state_changed");
    assert_eq!(kinds[0].1["state"], "closing");
    assert_eq!(kinds[1].1["state"], "closed");
    assert_eq!(kinds[2].0, "channel_resolved");
    assert_eq!(kinds[2].1["channel_id"], hb.as_str());
    assert_eq!(kinds[2].1["received_sat"], c["resolution"]["received_sat"]);
    let hub_got = rx.wait_delivered("/hub", 9).await;
    assert_eq!(
        states_of(&hub_got, &hb),
        ["opening", "active", "closing", "closed"]
    );
    let ids: Vec<u64> = hub_got.iter().map(|d| d.event_id).collect();
    assert_eq!(ids, (1..=9).collect::<Vec<_>>(), "in order, each once");

    // `chanhub events` prints the same JSON, one line per event; `chanhub webhooks` the counts.
    let mut cli = std::process::Command::new(env!("CARGO_BIN_EXE_chanhub"))
        .arg("--datadir")
        .arg(&hub.dir)
        .args(["events", "--after", "0", "--types", "htlc_forwarded"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(cli.stdout.take().unwrap()));
    let printed: Vec<Value> = (0..2)
        .map(|_| serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap())
        .collect();
    let _ = cli.kill();
    let _ = cli.wait();
    assert_eq!(printed[0], fwd.body);
    assert_eq!(
        (printed[1]["id"].as_u64(), printed[1]["out_msat"].as_u64()),
        (Some(6), Some(20_000_000))
    );
    let table = std::process::Command::new(env!("CARGO_BIN_EXE_chanhub"))
        .arg("--datadir")
        .arg(&hub.dir)
        .arg("webhooks")
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains(&rx.url("/hub")) && table.contains("DELIVERED"),
        "{table}"
    );

    // The webhook's counts; then it is removed, and is gone.
    let id = hub_hook["id"].as_u64().unwrap();
    let w = hub.api.get(&format!("/v1/webhooks/{id}")).await.unwrap();
    assert_eq!(
        (
            w["delivered"].as_u64(),
            w["pending"].as_u64(),
            w["failed"].as_u64()
        ),
        (Some(9), Some(0), Some(0)),
        "{w}"
    );
    assert!(w.get("secret").is_none(), "the secret is shown only once");
    let removed = hub.api.delete(&format!("/v1/webhooks/{id}")).await.unwrap();
    assert_eq!(removed["url"], rx.url("/hub"));
    let e = hub
        .api
        .get(&format!("/v1/webhooks/{id}"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("webhook_not_found"), "{e}");
}

async fn wait_until_hint(bob: &TestNode) {
    let deadline = Instant::now() + PATIENCE;
    while bob.node.channels().route_hints().await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "bob never learnt a route hint");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (b) a receiver that answers 500 twice gets the event on the third attempt, and the next
/// event only after it; (c) deliveries to a receiver that is down survive a restart of the node
/// and arrive once it is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_retried_with_backoff_and_survive_a_restart() {
    init_logs();
    let tmp = tempfile::tempdir().unwrap();
    let hub = start_payments(&tmp.path().join("hub"), None).await;
    let alice_dir = tmp.path().join("alice");
    let listen: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut config = node_config(&alice_dir, Some(&hub), listen, false);
    config.webhooks.retry_base = Duration::from_millis(100);
    let alice = start_config(config.clone()).await;

    // Answers 500, 500, then 200 to everything.
    let flaky = Receiver::start(Arc::new(|_: &str, n| if n < 2 { 500 } else { 200 })).await;
    let flaky_hook = add_webhook(&alice, &flaky.url("/flaky"), &["channel_state_changed"]).await;
    // A receiver that is down: an address nothing listens on, until later.
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_addr = down.local_addr().unwrap();
    drop(down);
    let down_hook = add_webhook(&alice, &format!("http://{down_addr}/later"), &[]).await;

    fund(&alice).await;
    let started = Instant::now();
    let id = open_active(&alice, &hub, CAPACITY_SAT, 0, "anchors").await;

    // (b) Event 1 three times (500, 500, 200), then event 2 once.
    let got = flaky.wait_delivered("/flaky", 2).await;
    let all = flaky.deliveries("/flaky");
    let seen: Vec<(u64, u16)> = all.iter().map(|d| (d.event_id, d.answered)).collect();
    assert_eq!(seen, [(1, 500), (1, 500), (1, 200), (2, 200)], "{all:#?}");
    for d in &all {
        verify(flaky_hook["secret"].as_str().unwrap(), d);
        if d.event_id == 1 {
            assert_eq!(
                d.raw_body, all[0].raw_body,
                "every attempt carries the same body"
            );
        }
    }
    assert_eq!(states_of(&got, &id), ["opening", "active"]);
    let w = alice
        .api
        .get(&format!("/v1/webhooks/{}", flaky_hook["id"]))
        .await
        .unwrap();
    assert_eq!(
        (
            w["delivered"].as_u64(),
            w["pending"].as_u64(),
            w["failed"].as_u64()
        ),
        (Some(2), Some(0), Some(0))
    );
    assert!(started.elapsed() < PATIENCE);

    // (c) The dead receiver's two deliveries wait; the node restarts meanwhile.
    let w = alice
        .api
        .get(&format!("/v1/webhooks/{}", down_hook["id"]))
        .await
        .unwrap();
    assert_eq!(
        (w["pending"].as_u64(), w["delivered"].as_u64()),
        (Some(2), Some(0)),
        "{w}"
    );
    alice.node.shutdown().await;
    let alice = start_config(config).await;
    let w = alice
        .api
        .get(&format!("/v1/webhooks/{}", down_hook["id"]))
        .await
        .unwrap();
    assert_eq!(w["pending"], 2, "still pending after the restart: {w}");
    let up = Receiver::serve(
        tokio::net::TcpListener::bind(down_addr).await.unwrap(),
        Arc::new(|_: &str, _| 204),
    );
    let got = up.wait_delivered("/later", 2).await;
    assert_eq!(got.iter().map(|d| d.event_id).collect::<Vec<_>>(), [1, 2]);
    for d in &got {
        verify(down_hook["secret"].as_str().unwrap(), d);
    }
    let w = alice
        .api
        .get(&format!("/v1/webhooks/{}", down_hook["id"]))
        .await
        .unwrap();
    assert_eq!(
        (w["pending"].as_u64(), w["delivered"].as_u64()),
        (Some(0), Some(2)),
        "{w}"
    );
    // Bad webhooks are refused with the API's error.
    for bad in [
        json!({"url": "ftp://x.example/"}),
        json!({"url": "https://x.example/", "events": ["invoice_payed"]}),
    ] {
        let e = alice.api.post("/v1/webhooks", bad).await.unwrap_err();
        assert!(e.to_string().contains("invalid_request"), "{e}");
    }
}
