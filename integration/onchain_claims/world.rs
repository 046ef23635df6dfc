//! Two real channel machines wired back to back, funded on the embedded regtest chain: a small
//! driver of the public `Channel` API (the crate's own harness is test-only), plus the chain
//! helpers the claims tests need.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bitcoin::constants::ChainHash;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::{Amount, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxOut, Txid};
use chanhub::bolt3::spend::{sign_p2wpkh_input, Destination};
use chanhub::chain::regtest::{EmbeddedChainSource, RegtestNode};
use chanhub::chain::{ChainError, TestAccept};
use chanhub::channel::{
    Channel, ChannelConfig, ChannelState, Command, Event, Format, Input, KeyMaterial, OpenRequest,
    Output,
};
use chanhub::keys::{KeysManager, Seed};
use chanhub::onchain::Claim;
use chanhub::store::Store;
use chanhub::wallet::{FeeRate, MempoolSource, Wallet};
use chanhub::wire::{Message, ShortChannelId};

use crate::chain_support::{mature_coins, unsigned, Coin, Key};

pub const FUNDING_SAT: u64 = 1_000_000;
/// What the peer (`b`) gets at open, so HTLCs can go both ways.
pub const PUSH_MSAT: u64 = 400_000_000;
/// The fee of every claim we sign (well above the minimum relay fee of these small txs).
pub const CLAIM_FEE_SAT: u64 = 2_000;
/// The fee a wallet input brings to a zero-fee HTLC transaction.
pub const BUMP_FEE_SAT: u64 = 5_000;

pub const NON_FINAL: &str = "non-final";
pub const NON_BIP68_FINAL: &str = "non-BIP68-final";

pub fn keys(seed: u8) -> KeyMaterial {
    let km = KeysManager::new(&Seed::from_bytes([seed; 32]), Network::Regtest);
    KeyMaterial::from_channel_keys(&km.channel_keys(0).expect("channel keys"))
}

pub fn preimage(n: u8) -> [u8; 32] {
    [n; 32]
}

pub fn hash_of(p: &[u8; 32]) -> [u8; 32] {
    sha256::Hash::hash(p).to_byte_array()
}

pub fn preimages(ns: &[u8]) -> HashMap<[u8; 32], [u8; 32]> {
    ns.iter()
        .map(|n| (hash_of(&preimage(*n)), preimage(*n)))
        .collect()
}

/// One side: the machine and what it sent that the other has not read yet.
pub struct Peer {
    pub seed: u8,
    pub ch: Channel,
    pub outbox: VecDeque<Message>,
    pub events: Vec<Event>,
    /// The on-chain wallet: funds the channel and brings fees to zero-fee HTLC transactions.
    pub wallet: Key,
    pub coins: Vec<Coin>,
}

impl Peer {
    fn absorb(&mut self, outputs: Vec<Output>) {
        for o in outputs {
            match o {
                Output::Send(m) => self.outbox.push_back(m),
                Output::Event(e) => self.events.push(e),
                Output::Persist(_) | Output::Broadcast(_) => {}
            }
        }
    }

    pub fn handle(&mut self, input: Input) {
        match self.ch.handle(input) {
            Ok(out) => self.absorb(out),
            Err(r) => panic!("peer {} refused: {}", self.seed, r.error),
        }
    }

    pub fn keys(&self) -> KeyMaterial {
        keys(self.seed)
    }

    pub fn state(&self) -> &ChannelState {
        self.ch.state()
    }

    pub fn commitment(&self) -> Transaction {
        self.ch
            .signed_local_commitment()
            .expect("build")
            .expect("open")
    }

    pub fn dest(&self) -> Destination {
        Destination {
            script_pubkey: self.wallet.p2wpkh(),
            fee_sat: CLAIM_FEE_SAT,
        }
    }

    /// Our zero-fee (anchors) HTLC transaction for `claim`, with a wallet coin paying its fee.
    pub fn htlc_tx_with_fee(&mut self, claim: &Claim) -> Transaction {
        let coin = self.coins.pop().expect("a coin for fees");
        let change = TxOut {
            value: coin.txout.value - Amount::from_sat(BUMP_FEE_SAT),
            script_pubkey: self.wallet.p2wpkh(),
        };
        let mut tx = claim
            .spend_with_fee_input(coin.outpoint, change)
            .expect("fee input");
        sign_p2wpkh_input(&mut tx, 1, coin.txout.value.to_sat(), &self.wallet.sk).expect("sign");
        tx
    }
}

pub struct World {
    pub node: Arc<RegtestNode>,
    pub burn: ScriptBuf,
    /// Opener; "us" in every test.
    pub a: Peer,
    pub b: Peer,
}

fn request(format: Format) -> OpenRequest {
    OpenRequest {
        chain_hash: ChainHash::using_genesis_block(Network::Regtest),
        temporary_channel_id: [0x11; 32],
        funding_sat: FUNDING_SAT,
        push_msat: PUSH_MSAT,
        feerate_per_kw: 1000,
        format,
        shutdown_script: Key::new(0x51).p2wpkh(),
        announce: false,
        alias: ShortChannelId::new(16_000_001, 1, 1).expect("alias"),
        peer_anysegwit: true,
        scid_alias: false,
        zero_conf: false,
    }
}

impl World {
    /// A fresh chain, `a` opens to `b` with a real funding transaction, both `Normal`.
    pub fn open(format: Format) -> World {
        let node = RegtestNode::in_memory().expect("embedded chain");
        let (wa, wb) = (Key::new(0x61), Key::new(0x62));
        let coins_a = mature_coins(&node, &wa, 4);
        let coins_b = mature_coins(&node, &wb, 2);
        let config = ChannelConfig::default();
        let (ch, out) = Channel::open(config.clone(), keys(1), request(format)).expect("open");
        let mut a = Peer {
            seed: 1,
            ch,
            outbox: VecDeque::new(),
            events: Vec::new(),
            wallet: wa,
            coins: coins_a,
        };
        a.absorb(out);
        let Some(Message::OpenChannel(open)) = a.outbox.pop_front() else {
            panic!("open_channel first")
        };
        let (ch, out) = Channel::accept(
            config,
            keys(2),
            ChainHash::using_genesis_block(Network::Regtest),
            &open,
            Key::new(0x52).p2wpkh(),
            ShortChannelId::new(16_000_002, 2, 1).expect("alias"),
            true,
        )
        .expect("accept");
        let mut b = Peer {
            seed: 2,
            ch,
            outbox: VecDeque::new(),
            events: Vec::new(),
            wallet: wb,
            coins: coins_b,
        };
        b.absorb(out);
        let mut w = World {
            node,
            burn: Key::new(0x99).p2wpkh(),
            a,
            b,
        };
        w.deliver_all();
        let (script, amount) =
            w.a.events
                .iter()
                .find_map(|e| match e {
                    Event::NeedFunding {
                        script_pubkey,
                        amount_sat,
                    } => Some((script_pubkey.clone(), *amount_sat)),
                    _ => None,
                })
                .expect("funding requested");
        let coin = w.a.coins.pop().expect("coin");
        let mut funding = unsigned(
            &[(coin.outpoint, Sequence::ENABLE_RBF_NO_LOCKTIME)],
            vec![
                TxOut {
                    value: Amount::from_sat(amount),
                    script_pubkey: script,
                },
                TxOut {
                    value: coin.txout.value - Amount::from_sat(amount + 1_000),
                    script_pubkey: w.a.wallet.p2wpkh(),
                },
            ],
        );
        w.a.wallet.sign_p2wpkh(&mut funding, 0, coin.txout.value);
        w.a.handle(Input::Command(Command::FundingTxReady {
            tx: funding.clone(),
            vout: 0,
        }));
        w.deliver_all();
        w.confirm(&funding);
        w.mine(2);
        for p in [&mut w.a, &mut w.b] {
            p.handle(Input::FundingConfirmed {
                depth: 3,
                tx: funding.clone(),
            });
        }
        w.deliver_all();
        assert!(w.a.ch.is_usable() && w.b.ch.is_usable(), "channel open");
        w
    }

    pub fn deliver_all(&mut self) {
        loop {
            let mut moved = false;
            if let Some(m) = self.a.outbox.pop_front() {
                self.b.handle(Input::Message(m));
                moved = true;
            }
            if let Some(m) = self.b.outbox.pop_front() {
                self.a.handle(Input::Message(m));
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    /// `a` (or `b`) offers an HTLC for preimage `n` expiring at `cltv_expiry`; both commit it.
    pub fn offer(&mut self, from_a: bool, amount_msat: u64, n: u8, cltv_expiry: u32) {
        let from = if from_a { &mut self.a } else { &mut self.b };
        from.handle(Input::Command(Command::AddHtlc {
            amount_msat,
            payment_hash: hash_of(&preimage(n)),
            cltv_expiry,
            onion: vec![0; chanhub::wire::types::ONION_PACKET_LEN],
            extra_fee_msat: None,
        }));
        self.deliver_all();
    }

    pub fn tip(&self) -> u32 {
        self.node.tip().height
    }

    pub fn mine(&self, blocks: u32) {
        self.node
            .generate_to_script(blocks, &self.burn)
            .expect("mine");
    }

    pub fn mine_to(&self, height: u32) {
        let tip = self.tip();
        assert!(height >= tip, "tip {tip} is already past {height}");
        self.mine(height - tip);
    }

    /// `tx` enters the mempool now; returns the fee the node saw.
    pub fn accept(&self, tx: &Transaction) -> u64 {
        let fee = match self.node.test_accept(tx) {
            TestAccept::Allowed { fee_sat, .. } => fee_sat,
            TestAccept::Rejected { reason, .. } => {
                panic!("refused at tip {}: {reason}", self.tip())
            }
        };
        self.node.submit(tx.clone()).expect("submit");
        fee
    }

    /// `tx` is accepted and mined; returns (fee, block height).
    pub fn confirm(&self, tx: &Transaction) -> (u64, u32) {
        let fee = self.accept(tx);
        self.mine(1);
        let info = self.transaction(&tx.compute_txid());
        assert_eq!(info.1, 1, "mined");
        (fee, self.tip())
    }

    fn transaction(&self, txid: &Txid) -> (Transaction, u32) {
        let info = self.node.transaction(txid).expect("read").expect("known");
        (info.tx, info.confirmations)
    }

    pub fn refuse(&self, tx: &Transaction, reason: &str) {
        match self.node.submit(tx.clone()) {
            Ok(txid) => panic!("{txid} accepted at tip {}, expected {reason}", self.tip()),
            Err(r) => assert_eq!(r.reason, reason, "{r:?}"),
        }
    }

    /// Refused with `reason` while the tip is one short of `ready_tip`, then mines that block.
    pub fn refused_until(&self, tx: &Transaction, ready_tip: u32, reason: &str) {
        self.mine_to(ready_tip - 1);
        self.refuse(tx, reason);
        self.mine(1);
    }

    /// The claim `claim` spent to `dest` is mined, paying exactly `dest.fee_sat`:
    /// value in = value out + fee.
    pub fn claim(&self, claim: &Claim, dest: &Destination) -> u32 {
        let tx = claim.spend(dest).expect("sign");
        let (fee, height) = self.confirm(&tx);
        assert_eq!(fee, dest.fee_sat, "{:?}", claim.kind);
        assert_eq!(tx.output[0].value.to_sat() + fee, claim.value_sat);
        height
    }

    pub fn is_unspent(&self, outpoint: &OutPoint) -> bool {
        self.node.utxo(outpoint, true).is_some()
    }
}

/// The embedded node's mempool, for the wallet to see its own unconfirmed transactions.
struct NodeMempool(Arc<RegtestNode>);

#[async_trait::async_trait]
impl MempoolSource for NodeMempool {
    async fn mempool_txids(&self) -> Result<Vec<Txid>, ChainError> {
        Ok(self.0.mempool_txids())
    }
}

impl World {
    /// Our node's own on-chain wallet on this chain, holding `coins` confirmed coins of
    /// `coin_sat` each besides a large change (its coinbase, split).
    pub async fn wallet(&self, coins: usize, coin_sat: u64) -> Wallet {
        let keys = Arc::new(KeysManager::new(
            &Seed::from_bytes([0x33; 32]),
            Network::Regtest,
        ));
        let chain = Arc::new(EmbeddedChainSource::new(self.node.clone()));
        let mempool: Arc<dyn MempoolSource> = Arc::new(NodeMempool(self.node.clone()));
        let wallet = Wallet::open(
            keys,
            Store::open_in_memory().expect("store"),
            chain,
            Some(mempool),
            true,
        )
        .await
        .expect("wallet");
        let addr = wallet.new_address().await.expect("address");
        self.node
            .generate_to_script(1, &addr.script_pubkey())
            .expect("mine");
        self.mine(100);
        wallet.sync().await.expect("sync");
        for _ in 0..coins {
            let addr = wallet.new_address().await.expect("address");
            wallet
                .send(&addr, Amount::from_sat(coin_sat), FeeRate::FLOOR)
                .await
                .expect("split");
        }
        self.mine(1);
        wallet.sync().await.expect("sync");
        wallet
    }

    /// Fee and virtual size of a mempool transaction, as the node accounts them.
    pub fn mempool_fee(&self, txid: &Txid) -> (u64, u64) {
        let (e, _, _) = self.node.mempool_entry(txid).expect("in the mempool");
        (e.fee.to_sat(), e.vsize)
    }
}
