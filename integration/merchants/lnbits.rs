//! LNbits' phoenixd funding source, run by `integration/lnbits_phoenixd.py` in the virtualenv
//! `scripts/bootstrap` makes: one JSON command per line in, one JSON answer per line out.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The virtualenv's Python: `CHANHUB_LNBITS_VENV` or `~/.cache/chanhub/lnbits-venv`.
fn python() -> PathBuf {
    let venv = std::env::var_os("CHANHUB_LNBITS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/chanhub/lnbits-venv")
        });
    let py = venv.join("bin/python");
    assert!(
        py.exists(),
        "LNbits is not installed: {} is missing. Run scripts/bootstrap, which installs lnbits \
         from PyPI in that virtualenv (or set CHANHUB_LNBITS_VENV to one that has it).",
        py.display()
    );
    py
}

pub struct Lnbits {
    child: Child,
    _data: tempfile::TempDir,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Lnbits {
    /// Starts the driver with LNbits configured for `endpoint` and `password` through the
    /// environment variables LNbits' settings read.
    pub async fn start(endpoint: &str, password: &str) -> Lnbits {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("integration/lnbits_phoenixd.py");
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(python())
            .arg(script)
            .env("PHOENIXD_API_ENDPOINT", endpoint)
            .env("PHOENIXD_API_PASSWORD", password)
            .env("LNBITS_BACKEND_WALLET_CLASS", "PhoenixdWallet")
            .env("LNBITS_DATA_FOLDER", data.path())
            .current_dir(data.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the LNbits driver starts");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut l = Lnbits {
            child,
            _data: data,
            stdin,
            lines,
        };
        let ready = l.read().await;
        assert_eq!(ready["ready"], true, "{ready}");
        assert_eq!(
            ready["lnbits_wallet"], "lnbits.wallets.phoenixd.PhoenixdWallet",
            "LNbits' own class"
        );
        l
    }

    async fn read(&mut self) -> Value {
        let line =
            tokio::time::timeout(std::time::Duration::from_secs(120), self.lines.next_line())
                .await
                .expect("the LNbits driver answers")
                .unwrap()
                .expect("the LNbits driver is running");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    pub async fn ask(&mut self, cmd: Value) -> Value {
        let line = format!("{cmd}\n");
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
        let answer = self.read().await;
        assert!(answer.get("error").is_none(), "{cmd} → {answer}");
        answer
    }

    pub async fn status(&mut self) -> Value {
        self.ask(json!({"cmd": "status"})).await
    }

    pub async fn stop(mut self) {
        drop(self.stdin);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.child.wait()).await;
        let _ = self.child.kill().await;
    }
}

/// LNbits' whole server (`lnbits`, its own command) with the phoenixd funding source pointed
/// at `endpoint`, on a free local port, its data in a temporary directory.
pub struct LnbitsServer {
    child: Child,
    pub url: String,
    _data: tempfile::TempDir,
}

impl LnbitsServer {
    pub async fn start(endpoint: &str, password: &str) -> LnbitsServer {
        let py = python();
        // LNbits serves its static files from `lnbits/static`, relative to where it runs: the
        // directory its package is installed in. Found without importing it (an import writes
        // LNbits' data files).
        let data = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(&py)
            .args([
                "-c",
                "import importlib.util, os; \
                 print(os.path.dirname(os.path.dirname(importlib.util.find_spec('lnbits').origin)))",
            ])
            .current_dir(data.path())
            .output()
            .unwrap();
        let site = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(py.with_file_name("lnbits"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .env("PHOENIXD_API_ENDPOINT", endpoint)
            .env("PHOENIXD_API_PASSWORD", password)
            .env("LNBITS_BACKEND_WALLET_CLASS", "PhoenixdWallet")
            .env("LNBITS_DATA_FOLDER", data.path())
            // Settings from the environment, not the admin UI's database.
            .env("LNBITS_ADMIN_UI", "false")
            .current_dir(site)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("LNbits starts");
        LnbitsServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _data: data,
        }
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
