use bitcoin::blockdata::constants::genesis_block;
use bitcoin::hashes::Hash;
use bitcoin::Network;
use chanhub::chain::regtest::RegtestNode;

#[test]
fn smoke() {
    let node = RegtestNode::in_memory().unwrap();
    assert_eq!(node.tip().height, 0);
    assert_eq!(
        node.tip().hash,
        genesis_block(Network::Regtest).block_hash()
    );
    let spk = bitcoin::ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_byte_array([7; 32]));
    let t = std::time::Instant::now();
    let hashes = node.generate_to_script(101, &spk).unwrap();
    println!("101 blocks in {:?}", t.elapsed());
    assert_eq!(node.tip().height, 101);
    assert_eq!(node.tip().hash, hashes[100]);
    let b = node.block(&hashes[0]).unwrap().unwrap();
    let info = node
        .transaction(&b.txdata[0].compute_txid())
        .unwrap()
        .unwrap();
    assert_eq!(info.confirmations, 101);
    node.invalidate_block(&hashes[50]).unwrap();
    assert_eq!(node.tip().height, 50);
    node.generate_to_script(3, &spk).unwrap();
    assert_eq!(node.tip().height, 53);
}
