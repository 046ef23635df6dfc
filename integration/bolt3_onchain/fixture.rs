//! A real channel on a fresh embedded chain: two peers whose keys come from their seeds, a
//! confirmed funding transaction, the channel states the proofs publish, and the broadcast
//! helpers every proof shares.

use std::cell::RefCell;
use std::ops::Deref;
use std::sync::Arc;

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{PublicKey, SecretKey};
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::{Amount, Network, OutPoint, Script, ScriptBuf, Sequence, Transaction, TxIn};
use bitcoin::{TxOut, Txid, Witness};
use chanhub::bolt3::commitment::{CommitmentTx, Htlc, OutputKind};
use chanhub::bolt3::funding::build_funding_tx;
use chanhub::bolt3::keys::{ChannelSecrets, CommitmentKeys};
use chanhub::bolt3::secrets::index_for_commitment;
use chanhub::bolt3::sign::{sign_p2wsh, SigningKey};
use chanhub::bolt3::spend::{sign_p2wpkh_input, Destination, SpentOutput};
use chanhub::bolt3::{
    ChannelHtlc, ChannelParameters, ChannelSigner, ChannelType, CommitmentState, HtlcDirection,
    InMemorySigner, PaymentPreimage, PerCommitmentSecrets, RevocationStore, Side,
};
use chanhub::chain::regtest::RegtestNode;
use chanhub::keys::{Keychain, KeysManager, Seed};

use crate::chain_support::{mature_coins, Coin, Key};

pub const FUNDING_SAT: u64 = 10_000_000;
/// The holder's balance in every state; the counterparty has the rest after HTLCs.
const HOLDER_BALANCE_SAT: u64 = 6_000_000;
/// BOLT 2's floor `feerate_per_kw`: 253 sat/kw is just over 1 sat/vB at the expected weights,
/// which are never below the real ones, so a commitment at the floor still relays on its own.
pub const FLOOR_FEERATE_PER_KW: u32 = 253;
/// The feerate of the states with HTLCs: high enough that static-remotekey HTLC transactions,
/// which pay their fee from the HTLC, relay with room to spare.
pub const FEERATE_PER_KW: u32 = 2_500;
/// Different delays for the two owners, and neither 1 nor 16, so a key or delay taken from the
/// wrong side or the wrong rule shows up as a rejection.
const HOLDER_TO_SELF_DELAY: u16 = 10;
const COUNTERPARTY_TO_SELF_DELAY: u16 = 7;
pub const DUST_LIMIT_SAT: u64 = 546;
/// What a single spend pays: over 1 sat/vB for every spend here (the largest is ~200 vB).
pub const SPEND_FEE_SAT: u64 = 2_000;
/// What a fee-bumping wallet input leaves behind (anchor CPFP, zero-fee HTLC transactions).
pub const BUMP_FEE_SAT: u64 = 5_000;

/// One peer: channel keys and per-commitment secrets from its seed, a wallet with mature coins.
pub struct Party {
    pub signer: InMemorySigner,
    pub secrets: PerCommitmentSecrets,
    pub wallet: Key,
    coins: RefCell<Vec<Coin>>,
}

impl Party {
    fn new(node: &RegtestNode, seed: u8, coins: u32) -> Party {
        let keys = KeysManager::new(&Seed::from_bytes([seed; 32]), Network::Regtest);
        let ck = keys.channel_keys(0).expect("channel 0");
        let wallet = Key::from_secret_key(
            keys.wallet_secret(Keychain::External, 0)
                .expect("wallet key 0"),
        );
        let coins = mature_coins(node, &wallet, coins);
        Party {
            signer: InMemorySigner::new(ChannelSecrets {
                funding_key: ck.funding_key,
                revocation_base_secret: ck.revocation_base_key,
                payment_base_secret: ck.payment_base_key,
                delayed_payment_base_secret: ck.delayed_payment_base_key,
                htlc_base_secret: ck.htlc_base_key,
            }),
            secrets: PerCommitmentSecrets::new(ck.commitment_seed),
            wallet,
            coins: RefCell::new(coins),
        }
    }

    pub fn key(&self, key: SigningKey) -> SecretKey {
        self.signer.private_key(key).expect("derivable key")
    }

    pub fn wallet_script(&self) -> ScriptBuf {
        self.wallet.p2wpkh()
    }

    /// A mature wallet coin nothing else spends.
    pub fn take_coin(&self) -> Coin {
        self.coins.borrow_mut().pop().expect("a spare wallet coin")
    }

    /// Where this peer's claims go, paying the usual spend fee.
    pub fn dest(&self) -> Destination {
        Destination {
            script_pubkey: self.wallet_script(),
            fee_sat: SPEND_FEE_SAT,
        }
    }
}

pub fn spent(coin: &Coin) -> SpentOutput {
    SpentOutput {
        outpoint: coin.outpoint,
        value_sat: coin.txout.value.to_sat(),
    }
}

/// Output `vout` of `tx`, to spend.
pub fn output_of(tx: &Transaction, vout: u32) -> SpentOutput {
    SpentOutput {
        outpoint: OutPoint::new(tx.compute_txid(), vout),
        value_sat: tx.output[vout as usize].value.to_sat(),
    }
}

/// The embedded chain with assertions on what it accepts.
pub struct Chain {
    pub node: Arc<RegtestNode>,
    burn: ScriptBuf,
}

pub const NON_FINAL: &str = "non-final";
pub const NON_BIP68_FINAL: &str = "non-BIP68-final";
pub const MIN_RELAY_FEE_NOT_MET: &str = "min relay fee not met";
/// Core appends the interpreter's error in parentheses; the prefix is the verdict.
pub const SCRIPT_FAILED: &str = "mandatory-script-verify-flag-failed";

impl Chain {
    pub fn tip(&self) -> u32 {
        self.node.tip().height
    }

    pub fn mine(&self, blocks: u32) {
        self.node
            .generate_to_script(blocks, &self.burn)
            .expect("mine");
    }

    /// Mines until the tip is at `height`.
    pub fn mine_to(&self, height: u32) {
        let tip = self.tip();
        assert!(height >= tip, "tip {tip} is already past {height}");
        self.mine(height - tip);
    }

    /// Broadcasts `tx`, which must be accepted.
    pub fn accept(&self, tx: &Transaction) -> Txid {
        match self.node.submit(tx.clone()) {
            Ok(txid) => txid,
            Err(r) => panic!("expected acceptance at tip {}: {r:?}", self.tip()),
        }
    }

    /// Broadcasts `tx`, which must be refused for `reason` (for script failures, the prefix).
    pub fn refuse(&self, tx: &Transaction, reason: &str) {
        let r = match self.node.submit(tx.clone()) {
            Ok(txid) => panic!("{txid} accepted at tip {}, expected {reason}", self.tip()),
            Err(r) => r,
        };
        if reason == SCRIPT_FAILED {
            assert!(r.reason.starts_with(&format!("{reason} (")), "{r:?}");
        } else {
            assert_eq!(r.reason, reason, "{r:?}");
        }
    }

    /// Mines one block and checks it confirmed all of `txids`; returns its height.
    pub fn mine_confirming(&self, txids: &[Txid]) -> u32 {
        self.mine(1);
        for txid in txids {
            let info = self.node.transaction(txid).expect("read").expect("known");
            assert_eq!(info.confirmations, 1, "{txid} not in the new block");
        }
        self.tip()
    }

    /// Broadcasts `tx`, which must be accepted, and mines it; returns the block height.
    pub fn confirm(&self, tx: &Transaction) -> u32 {
        let txid = self.accept(tx);
        self.mine_confirming(&[txid])
    }

    /// A timelock proof: mines until the tip is one short of `ready_tip`, where `tx` must be
    /// refused for `reason`, then mines that last block. From then on `tx` may enter the next
    /// block. For a relative lock of `n` on an output confirmed at `h`, `ready_tip` is
    /// `h + n - 1`; for an absolute lock at height `e`, it is `e`.
    pub fn refused_until(&self, tx: &Transaction, ready_tip: u32, reason: &str) {
        self.mine_to(ready_tip - 1);
        self.refuse(tx, reason);
        self.mine(1);
    }

    /// Adds a wallet input of `payer` and its change to `tx`, to pay `tx`'s fee, and signs it.
    /// Only for transactions whose other signatures do not cover the added input and output.
    pub fn add_fee_input(&self, tx: &mut Transaction, payer: &Party) {
        let coin = payer.take_coin();
        tx.input.push(TxIn {
            previous_output: coin.outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        });
        tx.output.push(TxOut {
            value: coin.txout.value - Amount::from_sat(BUMP_FEE_SAT),
            script_pubkey: payer.wallet_script(),
        });
        let i = tx.input.len() - 1;
        sign_p2wpkh_input(tx, i, coin.txout.value.to_sat(), &payer.wallet.sk).expect("sign");
    }
}

/// An HTLC of the channel with its preimage.
pub struct TestHtlc {
    pub htlc: ChannelHtlc,
    pub preimage: PaymentPreimage,
}

/// A funded, confirmed channel; the holder opened it.
pub struct Channel {
    pub chain: Chain,
    pub ct: ChannelType,
    pub holder: Party,
    pub counterparty: Party,
    /// From the holder's point of view.
    pub params: ChannelParameters,
    pub htlcs: Vec<TestHtlc>,
}

/// Proofs read best as "the channel's chain accepts …".
impl Deref for Channel {
    type Target = Chain;
    fn deref(&self) -> &Chain {
        &self.chain
    }
}

/// A signed commitment of one owner.
pub struct Commitment {
    pub owner: Side,
    pub number: u64,
    pub built: CommitmentTx,
    pub tx: Transaction,
}

impl Commitment {
    pub fn keys(&self) -> &CommitmentKeys {
        &self.built.description.keys
    }

    pub fn point(&self) -> PublicKey {
        self.keys().per_commitment_point
    }

    pub fn to_self_delay(&self) -> u16 {
        self.built.description.to_self_delay
    }

    pub fn output(&self, kind: OutputKind) -> SpentOutput {
        let vout = self
            .built
            .outputs
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_else(|| panic!("no {kind:?} output"));
        output_of(&self.tx, vout as u32)
    }

    /// The one untrimmed HTLC of `direction` (seen from the owner): its index in the
    /// description and the HTLC.
    pub fn htlc(&self, direction: HtlcDirection) -> (usize, Htlc) {
        let found: Vec<(usize, Htlc)> = self
            .built
            .description
            .htlcs
            .iter()
            .enumerate()
            .filter(|(i, h)| h.direction == direction && self.built.htlc_output_index[*i].is_some())
            .map(|(i, h)| (i, *h))
            .collect();
        assert_eq!(found.len(), 1, "one untrimmed {direction:?} HTLC");
        found[0]
    }

    pub fn htlc_script(&self, i: usize) -> ScriptBuf {
        self.built.description.htlc_script(i).expect("HTLC script")
    }
}

impl Channel {
    /// A fresh chain, both peers' coins matured, and the funding transaction confirmed.
    pub fn open(ct: ChannelType) -> Channel {
        let node = RegtestNode::in_memory().expect("in-memory chain");
        let holder = Party::new(&node, 1, 4);
        let counterparty = Party::new(&node, 2, 3);
        let chain = Chain {
            node,
            burn: ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_byte_array([0xbb; 32])),
        };

        let coin = holder.take_coin();
        let change = TxOut {
            value: coin.txout.value - Amount::from_sat(FUNDING_SAT + SPEND_FEE_SAT),
            script_pubkey: holder.wallet_script(),
        };
        let funding = build_funding_tx(
            vec![TxIn {
                previous_output: coin.outpoint,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            }],
            FUNDING_SAT,
            &holder.signer.pubkeys().funding_pubkey,
            &counterparty.signer.pubkeys().funding_pubkey,
            Some(change),
        )
        .expect("funding tx");
        let mut tx = funding.tx;
        sign_p2wpkh_input(&mut tx, 0, coin.txout.value.to_sat(), &holder.wallet.sk).expect("sign");
        let funded_at = chain.confirm(&tx);

        let params = ChannelParameters {
            channel_type: ct,
            funding_outpoint: OutPoint::new(tx.compute_txid(), funding.funding_output_index),
            funding_sat: FUNDING_SAT,
            holder_pubkeys: holder.signer.pubkeys(),
            counterparty_pubkeys: counterparty.signer.pubkeys(),
            opener: Side::Holder,
            holder_to_self_delay: HOLDER_TO_SELF_DELAY,
            counterparty_to_self_delay: COUNTERPARTY_TO_SELF_DELAY,
            holder_dust_limit_sat: DUST_LIMIT_SAT,
            counterparty_dust_limit_sat: DUST_LIMIT_SAT,
        };
        // One HTLC each way with an output, and one too small for an output on either
        // commitment. Expiries are a few blocks out so timeouts are quick to reach.
        let htlc = |offerer, amount_sat: u64, byte: u8, expires_in: u32| {
            let preimage = PaymentPreimage([byte; 32]);
            TestHtlc {
                htlc: ChannelHtlc {
                    offerer,
                    amount_msat: amount_sat * 1000,
                    payment_hash: preimage.payment_hash(),
                    cltv_expiry: funded_at + expires_in,
                },
                preimage,
            }
        };
        let htlcs = vec![
            htlc(Side::Holder, 200_000, 0x11, 20),
            htlc(Side::Counterparty, 300_000, 0x22, 24),
            htlc(Side::Holder, 400, 0x33, 22),
        ];
        Channel {
            chain,
            ct,
            holder,
            counterparty,
            params,
            htlcs,
        }
    }

    pub fn party(&self, side: Side) -> &Party {
        match side {
            Side::Holder => &self.holder,
            Side::Counterparty => &self.counterparty,
        }
    }

    fn state(&self, commitment_number: u64, feerate_per_kw: u32, htlcs: bool) -> CommitmentState {
        let htlcs: Vec<ChannelHtlc> = if htlcs {
            self.htlcs.iter().map(|t| t.htlc).collect()
        } else {
            Vec::new()
        };
        let in_flight: u64 = htlcs.iter().map(|h| h.amount_msat).sum();
        let holder_msat = HOLDER_BALANCE_SAT * 1000;
        CommitmentState {
            commitment_number,
            holder_msat,
            counterparty_msat: FUNDING_SAT * 1000 - holder_msat - in_flight,
            htlcs,
            feerate_per_kw,
        }
    }

    /// The first state: balances only.
    pub fn state0(&self, feerate_per_kw: u32) -> CommitmentState {
        self.state(0, feerate_per_kw, false)
    }

    /// A later state with an HTLC offered each way and a trimmed one.
    pub fn htlc_state(&self, commitment_number: u64) -> CommitmentState {
        self.state(commitment_number, FEERATE_PER_KW, true)
    }

    pub fn preimage(&self, htlc: &Htlc) -> PaymentPreimage {
        self.htlcs
            .iter()
            .find(|t| t.htlc.payment_hash == htlc.payment_hash)
            .expect("our HTLC")
            .preimage
    }

    /// `owner`'s commitment for `state`, signed by both funding keys. The other peer builds it
    /// from its own point of view too, and must get the very same transaction.
    pub fn commitment(&self, owner: Side, state: &CommitmentState) -> Commitment {
        let n = state.commitment_number;
        let point = self.party(owner).secrets.point(n).expect("point");
        let built = self
            .params
            .build_commitment(owner, state, &point)
            .expect("commitment");
        let theirs = self
            .params
            .flipped()
            .build_commitment(owner.other(), &state.flipped(), &point)
            .expect("commitment, other view");
        assert_eq!(theirs.tx, built.tx, "both peers build the same commitment");
        let local = built.sign(&self.party(owner).signer).expect("sign");
        let remote = built.sign(&self.party(owner.other()).signer).expect("sign");
        let tx = built
            .finalize(&local.signature, &remote.signature)
            .expect("both signatures verify");
        Commitment {
            owner,
            number: n,
            built,
            tx,
        }
    }

    /// The revocation private key the other peer computes for `c` from the secret of commitment
    /// `secret_of`, after `c`'s owner revealed its secrets up to `c`'s (it moved on past `c`).
    pub fn revocation_key(&self, c: &Commitment, secret_of: u64) -> SecretKey {
        let owner = self.party(c.owner);
        let mut store = RevocationStore::new();
        for n in 0..=c.number {
            let secret = owner.secrets.secret(n).expect("secret");
            store
                .insert(index_for_commitment(n).expect("index"), secret)
                .expect("consistent secrets");
        }
        let per_commitment_secret = store.secret_for_commitment(secret_of).expect("revealed");
        self.party(c.owner.other()).key(SigningKey::Revocation {
            per_commitment_secret,
        })
    }

    /// The owner's HTLC-timeout (`preimage` None) or HTLC-success transaction for HTLC `i` of
    /// `c`, completed as at broadcast time. The other peer's signature dates from when the
    /// commitment was signed; under anchors the owner then attaches a wallet input for the fee
    /// (the HTLC transaction itself pays none), and only then signs.
    pub fn htlc_tx(
        &self,
        c: &Commitment,
        i: usize,
        preimage: Option<&PaymentPreimage>,
    ) -> Transaction {
        let owner = self.party(c.owner);
        let mut htx = c.built.htlc_tx(i).expect("HTLC tx");
        let remote_sig = htx
            .sign_as_remote(&self.party(c.owner.other()).signer)
            .expect("sign");
        let fee_coin = self.ct.has_anchors().then(|| owner.take_coin());
        if let Some(coin) = &fee_coin {
            let change = TxOut {
                value: coin.txout.value - Amount::from_sat(BUMP_FEE_SAT),
                script_pubkey: owner.wallet_script(),
            };
            htx.attach_fee_input(coin.outpoint, change)
                .expect("zero-fee HTLC tx takes inputs");
        }
        let local_sig = htx.sign_as_local(&owner.signer).expect("sign");
        let mut tx = htx
            .finalize(&remote_sig, &local_sig, preimage)
            .expect("complete HTLC tx");
        // Witness `0 <remotesig> ...`: only a SINGLE|ANYONECANPAY signature survives the fee
        // input added after it was made.
        let remote_sighash = *tx.input[0].witness.nth(1).and_then(<[u8]>::last).unwrap();
        assert_eq!(
            u32::from(remote_sighash),
            self.ct.counterparty_htlc_sighash().to_u32()
        );
        if let Some(coin) = &fee_coin {
            sign_p2wpkh_input(&mut tx, 1, coin.txout.value.to_sat(), &owner.wallet.sk)
                .expect("sign");
        }
        tx
    }
}

/// `tx` with witness item `item` of input `input` replaced by `bytes`.
pub fn with_witness_item(tx: &Transaction, input: usize, item: usize, bytes: &[u8]) -> Transaction {
    let mut items: Vec<Vec<u8>> = tx.input[input].witness.iter().map(<[u8]>::to_vec).collect();
    items[item] = bytes.to_vec();
    let mut tx = tx.clone();
    tx.input[input].witness = Witness::from_slice(&items);
    tx
}

/// `tx` with the signature at witness item `item` of input 0 (spending a P2WSH output of
/// `script` worth `value_sat`) remade by `key` over the right digest: script, preimage and
/// transaction are intact, only the key is wrong.
pub fn signed_by_wrong_key(
    tx: &Transaction,
    item: usize,
    script: &Script,
    value_sat: u64,
    key: &SecretKey,
) -> Transaction {
    let sig = sign_p2wsh(tx, 0, script, value_sat, EcdsaSighashType::All, key).expect("sign");
    with_witness_item(tx, 0, item, &sig.to_vec())
}
