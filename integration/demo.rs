//! The README's first command, run as a newcomer would: `scripts/demo --keep` must tell the
//! whole story (six nodes, channels both ways, payments through the hub, a remittance to a
//! second hub's shop over a route found by gossip, a cooperative close, a cheater punished, a
//! force close after the hub disappeared) through the CLI, check its own balances and fees, and
//! exit 0. Then the dashboard URL it prints is opened in headless Chromium, which must show the
//! demo's channels and the payments the hub forwarded, the remittance among them; and every
//! process it left running is stopped.

mod browser;

use std::process::Command;

use browser::Browser;

/// What `scripts/demo --keep` left behind: stopped (and its data removed) on drop, whatever
/// the test's outcome.
struct Kept {
    pids: Vec<String>,
    dir: Option<String>,
}

impl Drop for Kept {
    fn drop(&mut self) {
        for pid in &self.pids {
            let _ = Command::new("kill").args(["-TERM", pid]).status();
        }
        if let Some(dir) = &self.dir {
            // Let the nodes close their databases before the directory goes.
            std::thread::sleep(std::time::Duration::from_secs(2));
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The words after `prefix` on the first line that has it.
fn after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest.trim()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_tells_the_whole_story_and_the_dashboard_shows_it() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(format!("{root}/scripts/demo"))
        .arg("--keep")
        .current_dir(root)
        .output()
        .expect("scripts/demo runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // "left running (stop with: kill 1 2 3); data in /tmp/chanhub-demo.X"
    let kept = Kept {
        pids: after(&text, "stop with: kill ")
            .and_then(|r| r.split(')').next())
            .map(|p| p.split_whitespace().map(String::from).collect())
            .unwrap_or_default(),
        dir: after(&text, "; data in ").map(String::from),
    };
    assert!(out.status.success(), "the demo failed:\n{text}");
    for step in [
        "the merchant issues an invoice",
        "alice pays bob 2,000 sat back",
        "carol was paid with no coins of her own",
        "a remittance: alice, on the hub, pays a shop on hub-b",
        "the hub earned 4000 msat, hub-b 4000 msat",
        "the merchant closes its channel cooperatively",
        "bob cheats",
        "resolved on chain (revoked close)",
        "the cheater gets nothing back",
        "the hub disappears",
        "resolved on chain (local close)",
        "the hub comes back and sweeps its side",
        "resolved on chain (remote close)",
        "left running",
    ] {
        assert!(text.contains(step), "the demo never said {step:?}:\n{text}");
    }
    assert!(!kept.pids.is_empty(), "no pids in:\n{text}");
    assert!(kept.dir.is_some(), "no data directory in:\n{text}");

    // The hub's dashboard, from the link the demo printed (it carries the token).
    let url = after(&text, "dashboard: ").expect("the demo prints the dashboard's URL");
    let channels: Vec<&str> = ["alice-hub ", "bob-hub ", "hub-merchant ", "hub-hubb "]
        .iter()
        .map(|name| after(&text, name).expect("the demo prints its channels"))
        .collect();
    // Payments the hub forwarded: the merchant's invoice paid by alice, bob's to alice, and
    // alice's remittance to hub-b's shop.
    let mut hashes: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("payment hash"))
        .map(str::trim)
        .take(2)
        .collect();
    assert!(hashes.len() >= 2, "the demo printed no payments:\n{text}");
    hashes.push(after(&text, "the remittance: ").expect("the demo prints the remittance"));

    let mut b = Browser::launch().await;
    b.navigate(url).await;
    b.wait_for("the dashboard", "!document.getElementById('dash').hidden")
        .await;
    for id in &channels {
        b.wait_for(
            &format!("the demo's channel {id}"),
            &format!("!!document.querySelector('[data-channel-id=\"{id}\"]')"),
        )
        .await;
    }
    for hash in &hashes {
        b.wait_for(
            &format!("the forwarded payment {hash}"),
            &format!(
                "(() => {{ const r = document.querySelector('#forwards tr[data-payment-hash=\"{hash}\"]'); \
                 return !!r && r.innerText.includes('settled'); }})()"
            ),
        )
        .await;
    }
    assert!(b.errors.is_empty(), "the page had errors: {:#?}", b.errors);
    b.close().await;
    drop(kept);
}
