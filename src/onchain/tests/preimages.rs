//! Preimages read back from real BOLT 3 transactions built by our code.

use std::collections::HashMap;

use super::{commitment, dest, with_htlcs, FORMATS};
use crate::channel::testing::harness::*;
use crate::onchain::*;

#[test]
fn the_peers_htlc_success_tx_reveals_the_preimage() {
    for format in FORMATS {
        let p = with_htlcs(format);
        // b's commitment, as b sees it: #1 (20k, a to b) is offered to b; b claims it with the
        // HTLC-success transaction a pre-signed for it.
        let (state_b, keys_b) = (p.b.channel.state(), keys(2));
        let theirs = commitment(&p.b);
        let spend = classify(state_b, &keys_b, &theirs);
        let pre = HashMap::from([(hash_of(&preimage(1)), preimage(1))]);
        let cs = claims(state_b, &keys_b, &spend, &theirs, &pre).unwrap();
        let success = cs
            .iter()
            .find(|c| matches!(c.kind, ClaimKind::HtlcSuccess { .. }))
            .unwrap();
        let tx = success.spend(&dest()).unwrap();
        let wanted = [hash_of(&preimage(2)), hash_of(&preimage(1))];
        assert_eq!(
            preimages_in(&tx, &wanted),
            vec![(hash_of(&preimage(1)), preimage(1))],
            "{format:?}"
        );
        // A hash we do not ask for is not reported, nor anything without hashes.
        assert!(preimages_in(&tx, &[hash_of(&preimage(2))]).is_empty());
        assert!(preimages_in(&tx, &[]).is_empty());
        // Its HTLC-timeout for #2 carries no preimage.
        let timeout = cs
            .iter()
            .find(|c| matches!(c.kind, ClaimKind::HtlcTimeout { .. }))
            .unwrap()
            .spend(&dest())
            .unwrap();
        assert!(preimages_in(&timeout, &wanted).is_empty());
    }
}

#[test]
fn a_direct_preimage_spend_reveals_it_too() {
    for format in FORMATS {
        let p = with_htlcs(format);
        // The peer takes #1 straight from our commitment with the preimage: as b sees a's
        // commitment, a remote HTLC offered to b.
        let (state_b, keys_b) = (p.b.channel.state(), keys(2));
        let ours = commitment(&p.a);
        let spend = classify(state_b, &keys_b, &ours);
        assert!(matches!(spend, Spend::RemoteCurrent { .. }));
        let pre = HashMap::from([(hash_of(&preimage(1)), preimage(1))]);
        let cs = claims(state_b, &keys_b, &spend, &ours, &pre).unwrap();
        let direct = cs
            .iter()
            .find(|c| matches!(c.kind, ClaimKind::RemoteHtlcPreimage { .. }))
            .unwrap();
        let tx = direct.spend(&dest()).unwrap();
        let found = preimages_in(&tx, &[hash_of(&preimage(1)), hash_of(&preimage(1))]);
        assert_eq!(found, vec![(hash_of(&preimage(1)), preimage(1))]);
    }
}
