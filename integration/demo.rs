//! The README's first command, run as a newcomer would: `scripts/demo` must tell the whole
//! story (four nodes, channels both ways, payments through the hub, a cooperative close, a
//! cheater punished, a force close after the hub disappeared) through the CLI, check its own
//! balances, and exit 0.

use std::process::Command;

#[test]
fn the_demo_tells_the_whole_story() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(format!("{root}/scripts/demo"))
        .current_dir(root)
        .output()
        .expect("scripts/demo runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the demo failed:\n{text}");
    for step in [
        "the merchant issues an invoice",
        "alice pays bob 2,000 sat back",
        "the merchant closes its channel cooperatively",
        "bob cheats",
        "resolved on chain (revoked close)",
        "the cheater gets nothing back",
        "the hub disappears",
        "resolved on chain (local close)",
        "the hub comes back and sweeps its side",
        "resolved on chain (remote close)",
        "== done",
    ] {
        assert!(text.contains(step), "the demo never said {step:?}:\n{text}");
    }
}
