//! Done-when of the peer manager: an independent BOLT 8 implementation — Core Lightning's
//! `pyln-proto` (Python) — completes the handshake with a running `chanhub node`, exchanges
//! `init` and gets its `pong`. `scripts/bootstrap` installs `pyln-proto`.

mod common;

use std::process::Command;

use common::*;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/integration/pyln_peer.py");

/// Fails (never skips) when the independent implementation is not available.
fn require_pyln() {
    let probe = Command::new("python3")
        .args(["-c", "import pyln.proto.wire"])
        .output();
    match probe {
        Err(e) => panic!(
            "python3 is required for the independent BOLT 8 check and could not be run ({e}); \
             install python3, then run scripts/bootstrap"
        ),
        Ok(out) if !out.status.success() => panic!(
            "the Python package pyln-proto is missing; run scripts/bootstrap \
             (python3 -m pip install pyln-proto):\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Ok(_) => {}
    }
}

#[test]
fn pyln_proto_handshakes_exchanges_init_and_gets_a_pong() {
    require_pyln();
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("node"), &[]);
    let node_id = node.json["node_id"].as_str().unwrap();
    let addr: std::net::SocketAddr = node.json["peer_addr"].as_str().unwrap().parse().unwrap();

    for round in 0..2 {
        let out = Command::new("python3")
            .arg(SCRIPT)
            .args([node_id, &addr.ip().to_string(), &addr.port().to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "round {round}: pyln peer failed:\n{}\nnode log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            node.log_text()
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["pong_bytes"], 42);
        let ours = hex::encode(chanhub::wire::Features::ours().to_wire_bytes());
        assert_eq!(report["init_features"], ours.as_str());
        assert_eq!(
            report["init_networks"][0],
            "06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f"
        );
        // The node saw the pyln node under the id the handshake proved.
        let pyln_id = report["our_node_id"].as_str().unwrap();
        assert!(
            node.log_text()
                .contains(&format!("peer connected node_id={pyln_id}")),
            "{}",
            node.log_text()
        );
    }
    // The node is still healthy and serves its API.
    assert!(node.cli_json(&["peers"])["peers"].is_array());
    node.stop();
}
