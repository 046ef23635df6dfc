//! Headless Chromium driven over the Chrome DevTools Protocol (one websocket, one page
//! session): navigate, evaluate JavaScript, poll until a condition holds. Collects the page's
//! uncaught exceptions and console errors, so a test can assert there were none.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long the browser may take to start and answer one protocol call.
const STARTUP: Duration = Duration::from_secs(30);
const CALL: Duration = Duration::from_secs(30);

/// The Debian package's binary; `CHANHUB_CHROMIUM` names another.
fn chromium_path() -> PathBuf {
    if let Some(p) = std::env::var_os("CHANHUB_CHROMIUM") {
        return PathBuf::from(p);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("chromium"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "chromium is not installed, and the dashboard test needs it: run \
             `CHANHUB_BOOTSTRAP_EXTRA=chromium scripts/bootstrap` (scripts/test does this), or \
             set CHANHUB_CHROMIUM to a Chromium binary"
        )
    })
}

pub struct Browser {
    child: Child,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    /// `Runtime.exceptionThrown`, console errors and error log entries, as text.
    pub errors: Vec<String>,
    /// The page's requests and answers (`+1.234s GET url` / `+1.240s 200 url`), for failure
    /// messages.
    pub requests: Vec<String>,
    started: std::time::Instant,
    /// Requests held by `Fetch.enable` interception, oldest first (`Fetch.requestPaused`).
    pub paused: std::collections::VecDeque<Value>,
    /// Chromium's last stderr lines, for failure messages.
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts `chromium --headless=new` on a fresh profile and opens one blank page.
    pub async fn launch() -> Browser {
        let exe = chromium_path();
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(&exe)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-port=0",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1280,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e} (install chromium: `CHANHUB_BOOTSTRAP_EXTRA=chromium \
                     scripts/bootstrap`)",
                    exe.display()
                )
            });
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let url = tokio::time::timeout(STARTUP, async {
            while let Some(line) = lines.next_line().await.unwrap_or(None) {
                if let Some(at) = line.find("ws://") {
                    return Some(line[at..].trim().to_string());
                }
                stderr.lock().unwrap().push(line);
            }
            None
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            panic!(
                "{} did not print its DevTools address within {STARTUP:?}; stderr:\n{}",
                exe.display(),
                stderr.lock().unwrap().join("\n")
            )
        });
        // Keep reading stderr: a full pipe would stall the browser.
        let tail = stderr.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                // No system bus in a container or CI: noise, not news.
                if line.contains("dbus") {
                    continue;
                }
                let mut t = tail.lock().unwrap();
                t.push(line);
                let excess = t.len().saturating_sub(50);
                t.drain(..excess);
            }
        });
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the browser at {url}: {e}"));
        let mut b = Browser {
            child,
            ws,
            session: String::new(),
            next_id: 0,
            errors: Vec::new(),
            requests: Vec::new(),
            paused: Default::default(),
            started: std::time::Instant::now(),
            stderr,
            _profile: profile,
        };
        let target = b
            .call("Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let attached = b
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        b.session = attached["sessionId"].as_str().unwrap().to_string();
        for domain in [
            "Page.enable",
            "Runtime.enable",
            "Log.enable",
            "Network.enable",
        ] {
            b.call(domain, json!({})).await;
        }
        b
    }

    /// One protocol call on the page's session (the browser's before it has one); events that
    /// arrive meanwhile are scanned for errors.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .await
            .unwrap_or_else(|e| panic!("{method}: the browser connection failed: {e}"));
        let deadline = tokio::time::Instant::now() + CALL;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer within {CALL:?}"))
                .unwrap_or_else(|| panic!("{method}: the browser closed the connection"))
                .unwrap_or_else(|e| panic!("{method}: the browser connection failed: {e}"));
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(&text).expect("the protocol speaks JSON");
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("{method} failed: {e}");
                }
                return v["result"].clone();
            }
            self.note_event(&v);
        }
    }

    fn note_event(&mut self, v: &Value) {
        let p = &v["params"];
        match v["method"].as_str() {
            Some("Runtime.exceptionThrown") => {
                let d = &p["exceptionDetails"];
                let what = d["exception"]["description"]
                    .as_str()
                    .or(d["text"].as_str())
                    .unwrap_or("?");
                self.errors.push(format!(
                    "uncaught exception at {}:{}: {what}",
                    d["url"].as_str().unwrap_or("?"),
                    d["lineNumber"]
                ));
            }
            Some("Runtime.consoleAPICalled") if p["type"] == "error" => {
                self.errors.push(format!("console.error: {}", p["args"]));
            }
            Some("Log.entryAdded") if p["entry"]["level"] == "error" => {
                self.errors.push(format!(
                    "{} error: {} ({})",
                    p["entry"]["source"].as_str().unwrap_or("?"),
                    p["entry"]["text"].as_str().unwrap_or("?"),
                    p["entry"]["url"].as_str().unwrap_or("")
                ));
            }
            Some("Fetch.requestPaused") => self.paused.push_back(p.clone()),
            Some("Network.requestWillBeSent") => {
                let at = self.started.elapsed().as_secs_f64();
                self.requests.push(format!(
                    "+{at:.3}s {} {}",
                    p["request"]["method"].as_str().unwrap_or("?"),
                    p["request"]["url"].as_str().unwrap_or("?")
                ));
            }
            Some("Network.responseReceived") => {
                let at = self.started.elapsed().as_secs_f64();
                self.requests.push(format!(
                    "+{at:.3}s {} {}",
                    p["response"]["status"],
                    p["response"]["url"].as_str().unwrap_or("?")
                ));
            }
            Some("Network.loadingFailed") => {
                let at = self.started.elapsed().as_secs_f64();
                self.requests.push(format!(
                    "+{at:.3}s failed: {}",
                    p["errorText"].as_str().unwrap_or("?")
                ));
            }
            _ => {}
        }
    }

    /// Loads `url` and waits for its `load` event.
    pub async fn navigate(&mut self, url: &str) {
        let r = self.call("Page.navigate", json!({ "url": url })).await;
        if let Some(e) = r.get("errorText") {
            panic!("navigating to {url} failed: {e}");
        }
        self.wait_for(
            &format!("{url} loads"),
            "document.readyState === 'complete'",
        )
        .await;
    }

    /// The value of a JavaScript expression (promises awaited); panics on an exception.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            panic!("evaluating `{expression}` threw: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Polls `expression` until it is truthy (returns its value), for at most `within`.
    pub async fn wait_for_within(
        &mut self,
        what: &str,
        expression: &str,
        within: Duration,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        let wrapped = format!(
            "(() => {{ try {{ return ({expression}); }} catch (e) {{ return null; }} }})()"
        );
        loop {
            let v = self.eval(&wrapped).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if tokio::time::Instant::now() >= deadline {
                let page = self
                    .eval("document.body ? document.body.innerText.slice(0, 4000) : '(no body)'")
                    .await;
                panic!(
                    "timed out after {within:?} waiting for: {what}\n`{expression}` is {v}\n\
                     page errors: {:#?}\nlast requests (at +{:.3}s):\n{}\npage text:\n{}\n\
                     chromium stderr:\n{}",
                    self.errors,
                    self.started.elapsed().as_secs_f64(),
                    self.requests[self.requests.len().saturating_sub(40)..].join("\n"),
                    page.as_str().unwrap_or(""),
                    self.stderr.lock().unwrap().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The next request held by interception (see `Fetch.enable`), waiting for it.
    pub async fn next_paused(&mut self, what: &str) -> Value {
        let deadline = tokio::time::Instant::now() + STARTUP;
        loop {
            if let Some(p) = self.paused.pop_front() {
                return p;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; requests:\n{}",
                self.requests.join("\n")
            );
            // Any call reads the events that arrived meanwhile.
            self.eval("0").await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_for(&mut self, what: &str, expression: &str) -> Value {
        self.wait_for_within(what, expression, STARTUP).await
    }

    /// A PNG of the page, to look at when a test fails.
    pub async fn screenshot(&mut self, path: &std::path::Path) {
        let r = self
            .call(
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": true }),
            )
            .await;
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// Asks the browser to quit, and kills it if it does not.
    pub async fn close(mut self) {
        self.session.clear();
        self.next_id += 1;
        let msg = json!({ "id": self.next_id, "method": "Browser.close", "params": {} });
        let _ = self.ws.send(Message::text(msg.to_string())).await;
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// `s` as a JavaScript string literal (JSON's escaping is JavaScript's).
pub fn js_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}
