//! NOT REGISTERED YET: add its `[[test]]` entry once the node serves the chain RPC and
//! `--bitcoind-rpc` connects through the chain's RPC client (see channel-spec/node.md).
//!
//! Two `chanhub node` processes share one regtest chain: the first runs the embedded chain and
//! serves its RPC, the second follows it with `--bitcoind-rpc` and the first's cookie. They pay
//! each other; balances are right before and after confirmation, and after restarting both.

mod common;

use common::*;

fn start_follower(dir: &std::path::Path, chain_node: &NodeProc) -> NodeProc {
    let rpc = chain_node.json["chain_rpc_addr"]
        .as_str()
        .expect("the chain node serves its RPC");
    let cookie = chain_node.json["chain_rpc_cookie"]
        .as_str()
        .expect("and says where its cookie is");
    NodeProc::start(
        dir,
        &[
            "--bitcoind-rpc",
            &format!("http://{rpc}"),
            "--bitcoind-cookie",
            cookie,
        ],
    )
}

fn wait_height(node: &NodeProc, height: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while node.cli_json(&["info"])["block_height"] != height {
        assert!(std::time::Instant::now() < deadline, "{}", node.log_text());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn two_nodes_on_one_chain_pay_each_other_and_survive_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let a = NodeProc::start(&dir_a, &[]);
    let b = start_follower(&dir_b, &a);
    assert_ne!(a.json["node_id"], b.json["node_id"]);

    // A mines one block to itself and matures it.
    let addr_a = a.new_address();
    a.cli_json(&["chain", "mine", "1", "--address", &addr_a]);
    a.cli_json(&["chain", "mine", "100", "--address", &burn_address()]);
    assert_eq!(a.balance(), (50 * COIN, 0));
    wait_height(&b, 101);
    assert_eq!(b.balance(), (0, 0));

    // A pays B 3 BTC: unconfirmed on both sides until a block.
    let addr_b = b.new_address();
    let t1 = a.cli_json(&["send", &addr_b, &(3 * COIN).to_string()])["txid"]
        .as_str()
        .unwrap()
        .to_string();
    let fee1 = a.fee_of(&t1);
    assert_eq!(a.balance(), (0, 47 * COIN - fee1));
    b.wait_balance((0, 3 * COIN));

    // B mines the confirming block through the shared chain's RPC.
    b.cli_json(&["chain", "mine", "1", "--address", &burn_address()]);
    assert_eq!(b.balance(), (3 * COIN, 0));
    a.wait_balance((47 * COIN - fee1, 0));

    // B pays 1 BTC back.
    let addr_a2 = a.new_address();
    let t2 = b.cli_json(&["send", &addr_a2, &COIN.to_string()])["txid"]
        .as_str()
        .unwrap()
        .to_string();
    let fee2 = b.fee_of(&t2);
    assert_eq!(b.balance(), (0, 2 * COIN - fee2));
    a.wait_balance((47 * COIN - fee1, COIN));
    a.cli_json(&["chain", "mine", "1", "--address", &burn_address()]);
    let (want_a, want_b) = ((48 * COIN - fee1, 0), (2 * COIN - fee2, 0));
    assert_eq!(a.balance(), want_a);
    b.wait_balance(want_b);

    // Restart both (the chain's RPC port changes: the follower is pointed at the new one).
    b.stop();
    a.stop();
    let a = NodeProc::start(&dir_a, &[]);
    let b = start_follower(&dir_b, &a);
    assert_eq!(a.balance(), want_a);
    assert_eq!(b.balance(), want_b);
    // And the readable table says the same.
    let table = String::from_utf8(b.cli(&["balance"]).stdout).unwrap();
    let digits = (2 * COIN - fee2).to_string();
    let grouped: String = digits
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            let sep = i > 0 && (digits.len() - i) % 3 == 0;
            sep.then_some(',').into_iter().chain(std::iter::once(c))
        })
        .collect();
    assert!(table.contains(&format!("{grouped} sat")), "{table}");
    b.stop();
    a.stop();
}
