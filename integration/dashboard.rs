//! The dashboard in a real browser (headless Chromium over the DevTools Protocol) against a
//! hub with two users: it asks for the token, shows the channels, balances, the hub's payment
//! and its forward, escapes what users wrote, and follows the event stream: payments made
//! while the page is open appear without a reload, in the tables, the activity chart and the
//! liquidity picture.
//!
//! Needs Debian's `chromium` (`CHANHUB_BOOTSTRAP_EXTRA=chromium scripts/bootstrap`; scripts/test
//! does it). Without it the test fails, naming that command. `CHANHUB_DASHBOARD_SCREENSHOT=path`
//! saves a PNG of the page at the end.

mod browser;
mod channels_support;

use std::time::{Duration, Instant};

use browser::{js_str, Browser};
use channels_support::*;
use serde_json::{json, Value};

const CAPACITY_SAT: u64 = 1_000_000;
/// Well under the page's 30 s slow refresh: what appears this fast came over the stream.
const LIVE: Duration = Duration::from_secs(15);
/// An invoice description that would run script if the page wrote it as markup.
const MARKUP: &str = "<img src=x onerror=\"window.__injected=1\"> & <b>bold</b>";

/// `n` with thousands separators, as the page writes it.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An amount as the page writes it: `1,234 sat`, or `1,234.567 sat` with millisatoshis.
fn fmt_msat(msat: u64) -> String {
    match msat % 1000 {
        0 => format!("{} sat", grouped(msat / 1000)),
        rest => format!("{}.{rest:03} sat", grouped(msat / 1000)),
    }
}

/// `payee` issues an invoice, `payer` pays it; the payment hash.
async fn pay(payer: &TestNode, payee: &TestNode, amount_msat: u64, description: &str) -> String {
    let inv = payee
        .api
        .post(
            "/v1/invoices",
            json!({ "amount_msat": amount_msat, "description": description }),
        )
        .await
        .unwrap();
    let paid = payer
        .api
        .post("/v1/payments", json!({ "bolt11": inv["bolt11"] }))
        .await
        .unwrap();
    assert_eq!(paid["status"], "succeeded", "{paid:#}");
    inv["payment_hash"].as_str().unwrap().to_string()
}

/// A JavaScript expression: the row of table `table` for `hash` shows every one of `texts`.
fn row_shows(table: &str, hash: &str, texts: &[String]) -> String {
    let checks: Vec<String> = texts
        .iter()
        .map(|t| format!("r.innerText.includes({})", js_str(t)))
        .collect();
    format!(
        "(() => {{ const r = document.querySelector('#{table} tr[data-payment-hash=\"{hash}\"]'); \
         return !!r && {}; }})()",
        checks.join(" && ")
    )
}

/// The channel's row shows what the hub's API says: state, peer, capacity, both balances.
fn channel_shows(c: &Value) -> String {
    let id = c["channel_id"].as_str().unwrap();
    let peer = c["peer_node_id"].as_str().unwrap();
    let local = c["local_msat"].as_u64().unwrap();
    let remote = c["remote_msat"].as_u64().unwrap();
    let texts = [
        c["state"].as_str().unwrap().to_string(),
        peer[..10].to_string(),
        format!("{} sat", grouped(c["capacity_sat"].as_u64().unwrap())),
        format!("ours {}", fmt_msat(local)),
        format!("theirs {}", fmt_msat(remote)),
    ];
    let checks: Vec<String> = texts
        .iter()
        .map(|t| format!("r.innerText.includes({})", js_str(t)))
        .collect();
    format!(
        "(() => {{ const r = document.querySelector('[data-channel-id=\"{id}\"]'); \
         return !!r && r.dataset.peer === '{peer}' && r.dataset.localMsat === '{local}' \
         && r.dataset.remoteMsat === '{remote}' && {}; }})()",
        checks.join(" && ")
    )
}

/// The activity chart `id` sums to these totals, and has a fee bar holding the fees.
fn chart_shows(id: &str, sent: u64, received: u64, fees: u64) -> String {
    format!(
        "(() => {{ const c = document.getElementById('{id}'); \
         const bars = [...c.querySelectorAll('rect[data-series=\"fees\"]')]; \
         const drawn = bars.reduce((t, r) => t + Number(r.dataset.msat), 0); \
         const tall = bars.filter((r) => Number(r.getAttribute('height')) > 0); \
         return c.dataset.sentMsat === '{sent}' && c.dataset.receivedMsat === '{received}' \
         && c.dataset.feesMsat === '{fees}' && drawn === {fees} && tall.length > 0 \
         && c.querySelectorAll('rect[data-series=\"sent\"]').length === Number(c.dataset.buckets) \
         && tall.every((r) => r.querySelector('title').textContent.includes('fees earned')); }})()"
    )
}

/// The liquidity picture shows each channel's balances and the totals, as the API says.
fn liquidity_shows(channels: &[Value]) -> String {
    let local: u64 = channels
        .iter()
        .map(|c| c["local_msat"].as_u64().unwrap())
        .sum();
    let remote: u64 = channels
        .iter()
        .map(|c| c["remote_msat"].as_u64().unwrap())
        .sum();
    let per_channel: Vec<String> = channels
        .iter()
        .map(|c| {
            let id = c["channel_id"].as_str().unwrap();
            format!(
                "side('{id}', 'local') === '{}' && side('{id}', 'remote') === '{}'",
                c["local_msat"], c["remote_msat"]
            )
        })
        .collect();
    format!(
        "(() => {{ const l = document.getElementById('liquidity'); \
         const side = (id, s) => {{ const r = l.querySelector(`rect[data-channel=\"${{id}}\"][data-side=\"${{s}}\"]`); \
         return r && r.dataset.msat; }}; \
         const total = (s) => {{ const r = l.querySelector(`rect[data-total][data-side=\"${{s}}\"]`); \
         return r && r.dataset.msat; }}; \
         return l.dataset.outboundMsat === '{local}' && l.dataset.inboundMsat === '{remote}' \
         && total('local') === '{local}' && total('remote') === '{remote}' \
         && l.dataset.channels === '{}' && {}; }})()",
        channels.len(),
        per_channel.join(" && ")
    )
}

async fn text_of(b: &mut Browser, id: &str) -> String {
    b.eval(&format!("document.getElementById('{id}').textContent"))
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_hub_and_follows_it_live() {
    init_logs();
    // First, so a machine without chromium fails at once and says how to get it.
    let mut b = Browser::launch().await;

    let tmp = tempfile::tempdir().unwrap();
    let hub = start_payments(&tmp.path().join("hub"), None).await;
    let alice = start_payments(&tmp.path().join("alice"), Some(&hub)).await;
    let bob = start_payments(&tmp.path().join("bob"), Some(&hub)).await;
    fund(&hub).await;
    fund(&alice).await;
    let ah = open_active(&alice, &hub, CAPACITY_SAT, 0, "anchors").await;
    let hb = open_active(&hub, &bob, CAPACITY_SAT, 0, "static_remotekey").await;
    let deadline = Instant::now() + PATIENCE;
    while bob.node.channels().route_hints().await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "bob never learnt a route hint");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Before the page opens: the hub pays bob (a payment, with millisatoshis), alice pays bob
    // through the hub (a forward), and the hub has an invoice with markup in its description.
    let hub_paid = pay(&hub, &bob, 30_000_123, "first order").await;
    let forwarded = pay(&alice, &bob, 50_000_000, "through the hub").await;
    let marked = hub
        .api
        .post(
            "/v1/invoices",
            json!({ "amount_msat": 1_234_567, "description": MARKUP }),
        )
        .await
        .unwrap()["payment_hash"]
        .as_str()
        .unwrap()
        .to_string();

    let base = format!("http://{}", hub.node.node_json.api_addr);
    let token = std::fs::read_to_string(&hub.node.node_json.api_token_file)
        .unwrap()
        .trim()
        .to_string();

    // No token yet: the page asks for one, and refuses a wrong one without keeping it.
    b.navigate(&format!("{base}/")).await;
    b.wait_for(
        "the token form",
        "!document.getElementById('login').hidden && document.getElementById('dash').hidden",
    )
    .await;
    b.eval(
        "document.getElementById('token-input').value = 'not-the-token'; \
         document.getElementById('token-form').requestSubmit(); true",
    )
    .await;
    b.wait_for(
        "the wrong token is refused",
        "document.getElementById('token-error').textContent.includes('refused')",
    )
    .await;
    assert_eq!(
        b.eval("localStorage.getItem('chanhub.api-token')").await,
        Value::Null
    );
    assert_eq!(b.eval("document.getElementById('dash').hidden").await, true);
    // The browser logs the refused request (HTTP 401) as an error: expected here.
    b.errors.clear();

    // A link carrying the token (what scripts/demo prints): kept, and wiped from the URL.
    b.navigate("about:blank").await;
    b.navigate(&format!("{base}/#token={token}")).await;
    b.wait_for("the dashboard", "!document.getElementById('dash').hidden")
        .await;
    assert_eq!(b.eval("location.hash").await, "");
    assert_eq!(
        b.eval("localStorage.getItem('chanhub.api-token')").await,
        token.as_str()
    );
    b.wait_for(
        "the live indicator",
        "document.getElementById('live').dataset.state === 'live'",
    )
    .await;

    // Node, balances, channels, the payment, the forward and its fee, as the API says.
    let info = hub.api.get("/v1/info").await.unwrap();
    b.wait_for(
        "the node's id and height",
        &format!(
            "document.getElementById('node-id').textContent === '{}' && \
             document.getElementById('node-height').textContent === '{}'",
            hub.id(),
            grouped(info["block_height"].as_u64().unwrap())
        ),
    )
    .await;
    let balance = hub.api.get("/v1/balance").await.unwrap();
    b.wait_for(
        "the on-chain and channel balances",
        &format!(
            "document.getElementById('onchain-confirmed').textContent === '{} sat' && \
             document.getElementById('channels-local').textContent === '{}'",
            grouped(balance["onchain_confirmed_sat"].as_u64().unwrap()),
            fmt_msat(balance["channels_local_msat"].as_u64().unwrap())
        ),
    )
    .await;
    for id in [&ah, &hb] {
        let c = hub.channel(id).await;
        b.wait_for(&format!("channel {id}: {c}"), &channel_shows(&c))
            .await;
    }
    b.wait_for(
        "the hub's payment",
        &row_shows(
            "payments",
            &hub_paid,
            &["succeeded".into(), fmt_msat(30_000_123)],
        ),
    )
    .await;
    let forwards = hub.api.get("/v1/forwards").await.unwrap();
    let f = forwards["forwards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["payment_hash"] == forwarded.as_str())
        .expect("the hub forwarded alice's payment")
        .clone();
    b.wait_for(
        "the forward and its fee",
        &row_shows(
            "forwards",
            &forwarded,
            &[
                "settled".into(),
                fmt_msat(f["out_msat"].as_u64().unwrap()),
                fmt_msat(f["fee_msat"].as_u64().unwrap()),
            ],
        ),
    )
    .await;
    assert_eq!(
        text_of(&mut b, "fees-earned").await,
        fmt_msat(forwards["fee_msat_earned"].as_u64().unwrap())
    );

    // The Network card reads `/v1/graph`: these channels are private, the graph is empty.
    b.wait_for(
        "the network card",
        "document.getElementById('graph-size').textContent === '0 nodes, 0 channels' \
         && document.getElementById('graph-alias').textContent === 'not announced'",
    )
    .await;

    // What a user wrote is shown as text, never run or parsed as markup.
    let cell = b
        .wait_for(
            "the invoice with markup in its description",
            &format!(
                "(() => {{ const td = document.querySelector('#invoices tr[data-payment-hash=\"{marked}\"] td.desc'); \
                 return td && {{ text: td.textContent, elements: td.childElementCount }}; }})()"
            ),
        )
        .await;
    assert_eq!(cell, json!({ "text": MARKUP, "elements": 0 }));
    assert_eq!(b.eval("window.__injected === undefined").await, true);

    // Live: payments made now appear without a reload, and the channels follow. First the
    // page must be done with its reads (the one after the stream connected included), so
    // nothing but an event can bring the new rows.
    b.wait_for(
        "the page to be live and idle",
        "document.getElementById('live').dataset.state === 'live' && \
         document.getElementById('live').dataset.pending === '0'",
    )
    .await;
    b.eval("window.__sameDocument = true").await;
    let events_before = b
        .eval("Number(document.getElementById('live').dataset.events)")
        .await
        .as_u64()
        .unwrap();
    let hub_paid2 = pay(&hub, &bob, 12_345_678, "second order").await;
    let forwarded2 = pay(&alice, &bob, 7_000_000, "again through the hub").await;
    let hub_invoice = pay(&alice, &hub, 2_000_000, "a tip for the hub").await;
    b.wait_for_within(
        "the new payment, live",
        &row_shows(
            "payments",
            &hub_paid2,
            &["succeeded".into(), fmt_msat(12_345_678)],
        ),
        LIVE,
    )
    .await;
    b.wait_for_within(
        "the new forward, live",
        &row_shows("forwards", &forwarded2, &["settled".into()]),
        LIVE,
    )
    .await;
    b.wait_for_within(
        "the hub's invoice paid, live",
        &row_shows(
            "invoices",
            &hub_invoice,
            &["paid".into(), fmt_msat(2_000_000)],
        ),
        LIVE,
    )
    .await;
    for id in [&ah, &hb] {
        let c = hub
            .wait_channel(id, "no HTLC in flight", |c| {
                c["pending_htlcs"].as_array().is_some_and(|a| a.is_empty())
            })
            .await;
        b.wait_for_within(
            &format!("channel {id} balances, live: {c}"),
            &channel_shows(&c),
            LIVE,
        )
        .await;
    }
    // The pictures, live too: the activity chart sums what the hub paid, received and
    // forwarded (all within the last 24 hours and 30 days), and the liquidity bars follow the
    // channels.
    let fees = hub.api.get("/v1/forwards").await.unwrap()["fee_msat_earned"]
        .as_u64()
        .unwrap();
    assert!(fees > 0);
    let sent: u64 = 30_000_123 + 12_345_678;
    let received: u64 = 2_000_000;
    for chart in ["chart-24h", "chart-30d"] {
        b.wait_for_within(
            &format!("{chart}: sent {sent}, received {received}, fees {fees}"),
            &chart_shows(chart, sent, received, fees),
            LIVE,
        )
        .await;
    }
    let activity = hub.api.get("/v1/stats/activity").await.unwrap();
    let forwarded: u64 = activity["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["forwarded_msat"].as_u64().unwrap())
        .sum();
    assert!(forwarded >= 57_000_000, "{activity}");
    assert_eq!(
        b.eval("document.getElementById('chart-24h').dataset.forwardedMsat")
            .await,
        forwarded.to_string().as_str()
    );
    let mut channels = Vec::new();
    for id in [&ah, &hb] {
        channels.push(hub.channel(id).await);
    }
    b.wait_for_within("the liquidity picture", &liquidity_shows(&channels), LIVE)
        .await;
    assert_eq!(
        b.eval("window.__sameDocument === true").await,
        true,
        "the page reloaded"
    );
    let events_after = b
        .eval("Number(document.getElementById('live').dataset.events)")
        .await
        .as_u64()
        .unwrap();
    assert!(
        events_after >= events_before + 3,
        "the page heard {} events for three payments",
        events_after - events_before
    );

    if let Some(path) = std::env::var_os("CHANHUB_DASHBOARD_SCREENSHOT") {
        b.screenshot(std::path::Path::new(&path)).await;
    }
    let errors = std::mem::take(&mut b.errors);
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
    b.close().await;
}

/// The page's own stream parser and amount format, checked in the browser: ids (kept across
/// events, as `Last-Event-ID` needs), named events, multi-line data, comments, `retry`, and
/// line ends split across chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_parses_server_sent_events_and_formats_amounts() {
    init_logs();
    let mut b = Browser::launch().await;
    let tmp = tempfile::tempdir().unwrap();
    let hub = start_payments(&tmp.path().join("hub"), None).await;
    b.navigate(&format!("http://{}/", hub.node.node_json.api_addr))
        .await;
    b.wait_for("the script", "typeof window.chanhubDashboard === 'object'")
        .await;
    let got = b
        .eval(
            r#"(() => {
              const events = [], comments = [];
              const p = new chanhubDashboard.SseParser((e) => events.push(e), (c) => comments.push(c));
              p.feed(': connected\r\n\r\nid: 7\r');
              p.feed('\nevent: payment_succeeded\ndata: {"a":\ndata:1}\n');
              p.feed('\n');
              p.feed('data: second\r\rretry: 2500\nretry: soon\nid: a\u0000b\n');
              p.feed('id\n\ndata: third\nunknown: field\n\n');
              p.feed('data: never dispatched');
              return { events, comments, retry: p.retry, lastId: p.lastId };
            })()"#,
        )
        .await;
    assert_eq!(
        got,
        json!({
            "events": [
                { "type": "payment_succeeded", "data": "{\"a\":\n1}", "id": "7" },
                { "type": "message", "data": "second", "id": "7" },
                { "type": "message", "data": "third", "id": "" },
            ],
            "comments": ["connected"],
            "retry": 2500,
            "lastId": "",
        })
    );
    for msat in [
        0,
        1,
        999,
        1_000,
        30_000_123,
        1_234_567_890,
        9_007_199_254_740_991,
    ] {
        let js = b
            .eval(&format!("chanhubDashboard.formatMsat({msat})"))
            .await;
        assert_eq!(js, fmt_msat(msat).as_str(), "{msat} msat");
    }
    let errors = std::mem::take(&mut b.errors);
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
    b.close().await;
}

/// A token the node refuses is forgotten and asked again; when the node restarts, the page
/// says the stream is lost, reconnects by itself and reads what it missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_asks_again_on_401_and_reconnects_after_a_restart() {
    init_logs();
    let mut b = Browser::launch().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hub");
    let hub = start_payments(&dir, None).await;
    let api_addr = hub.node.node_json.api_addr;
    let base = format!("http://{api_addr}");
    let token = std::fs::read_to_string(&hub.node.node_json.api_token_file)
        .unwrap()
        .trim()
        .to_string();

    b.navigate(&format!("{base}/#token=stale-token")).await;
    b.wait_for(
        "the form again, saying the token was refused",
        "!document.getElementById('login').hidden && \
         document.getElementById('token-error').textContent.includes('refused')",
    )
    .await;
    assert_eq!(
        b.eval("localStorage.getItem('chanhub.api-token')").await,
        Value::Null
    );
    // The refused requests (HTTP 401) are logged by the browser: expected here.
    b.errors.clear();

    b.navigate("about:blank").await;
    b.navigate(&format!("{base}/#token={token}")).await;
    b.wait_for(
        "live and idle",
        "document.getElementById('live').dataset.state === 'live' && \
         document.getElementById('live').dataset.pending === '0'",
    )
    .await;
    b.eval("window.__sameDocument = true").await;

    // The node stops: its stream ends, and the page says so.
    hub.node.shutdown().await;
    b.wait_for_within(
        "the indicator to show the lost stream",
        "document.getElementById('live').dataset.state === 'offline'",
        LIVE,
    )
    .await;
    // It comes back on the same address with something new the page never heard of...
    let mut config = node_config(&dir, None, "127.0.0.1:0".parse().unwrap(), false);
    config.api = api_addr;
    let hub = start_config(config).await;
    let hash = hub
        .api
        .post(
            "/v1/invoices",
            json!({ "amount_msat": 5_000, "description": "after the restart" }),
        )
        .await
        .unwrap()["payment_hash"]
        .as_str()
        .unwrap()
        .to_string();
    // ...which it shows once reconnected (retries back off from 1 s; within 15 s here).
    b.wait_for_within(
        "the stream back",
        "document.getElementById('live').dataset.state === 'live'",
        Duration::from_secs(30),
    )
    .await;
    b.wait_for_within(
        "what happened while disconnected",
        &row_shows(
            "invoices",
            &hash,
            &["open".into(), "after the restart".into()],
        ),
        LIVE,
    )
    .await;
    assert_eq!(b.eval("window.__sameDocument === true").await, true);
    // The browser logs the attempts made while the node was down: expected, and only those.
    let unexpected: Vec<String> = std::mem::take(&mut b.errors)
        .into_iter()
        .filter(|e| !e.contains("ERR_CONNECTION_REFUSED"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "the page logged errors: {unexpected:#?}"
    );
    b.close().await;
    hub.node.shutdown().await;
}

/// The header a paused request carries, whatever its case.
fn header<'a>(request: &'a Value, name: &str) -> Option<&'a str> {
    request["request"]["headers"]
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// Event ids are remembered and sent back as `Last-Event-ID` when the page reconnects. The
/// browser answers the first `/v1/events` request itself with one event (with an id, of a type
/// the page does not know) and an end, as a resumable stream that was cut would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_resumes_the_stream_with_last_event_id() {
    init_logs();
    let mut b = Browser::launch().await;
    let tmp = tempfile::tempdir().unwrap();
    let hub = start_payments(&tmp.path().join("hub"), None).await;
    let base = format!("http://{}", hub.node.node_json.api_addr);
    let token = std::fs::read_to_string(&hub.node.node_json.api_token_file)
        .unwrap()
        .trim()
        .to_string();
    b.call(
        "Fetch.enable",
        json!({ "patterns": [{ "urlPattern": "*/v1/events*", "requestStage": "Request" }] }),
    )
    .await;
    b.navigate(&format!("{base}/#token={token}")).await;

    let first = b.next_paused("the first stream request").await;
    assert_eq!(
        header(&first, "Authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(header(&first, "Last-Event-ID"), None, "{first:#}");
    let body = "id: 41\nevent: something_new\ndata: {\"type\":\"something_new\",\"id\":41}\n\n";
    use base64::Engine;
    b.call(
        "Fetch.fulfillRequest",
        json!({
            "requestId": first["requestId"],
            "responseCode": 200,
            "responseHeaders": [{ "name": "Content-Type", "value": "text/event-stream" }],
            "body": base64::engine::general_purpose::STANDARD.encode(body),
        }),
    )
    .await;

    let second = b.next_paused("the reconnecting request").await;
    assert_eq!(header(&second, "Last-Event-ID"), Some("41"), "{second:#}");
    b.call(
        "Fetch.continueRequest",
        json!({ "requestId": second["requestId"] }),
    )
    .await;
    b.wait_for(
        "live on the real stream",
        "document.getElementById('live').dataset.state === 'live'",
    )
    .await;
    assert_eq!(
        b.eval("document.getElementById('live').dataset.events")
            .await,
        "1"
    );
    let errors = std::mem::take(&mut b.errors);
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
    b.close().await;
}
