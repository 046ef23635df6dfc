//! The BOLT 3 test vectors, appendices B to F, checked byte for byte.
//!
//! The vector data lives in `testdata/` (appendix C and D as `key: value` blocks, appendix F as
//! the JSON the spec ships); the common parameters are below. Every commitment and second-stage
//! transaction is rebuilt from the parameters, signed by both peers' keys, completed, compared
//! as full signed hex, and run through Bitcoin Core's script interpreter.

use bitcoin::consensus::encode::serialize;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::ecdsa::Signature;
use bitcoin::secp256k1::PublicKey;
use bitcoin::{OutPoint, Transaction, TxOut, Txid};
use std::str::FromStr;

use super::channel::{ChannelHtlc, ChannelParameters, CommitmentState, Side};
use super::commitment::CommitmentTx;
use super::funding::funding_output;
use super::keys::{derive_privkey, ChannelSecrets};
use super::secp;
use super::secrets::{generate_from_seed, per_commitment_point, RevocationStore};
use super::sign::{ChannelSigner, InMemorySigner};
use super::testutil::{consensus_verify, hex32, pk, sk};
use super::{Bolt3Error, ChannelType, PaymentPreimage};

const APPENDIX_C: &str = include_str!("testdata/appendix_c.txt");
const APPENDIX_D: &str = include_str!("testdata/appendix_d.txt");
const APPENDIX_F: &str = include_str!("testdata/appendix_f.json");

// ---- Appendix C common parameters ----
const FUNDING_TXID: &str = "8984484a580b825b9972d7adb15050b3ab624ccd731946b3eeddb92f4e7ef6be";
const FUNDING_SAT: u64 = 10_000_000;
const COMMITMENT_NUMBER: u64 = 42;
const LOCAL_DELAY: u16 = 144;
const LOCAL_DUST_LIMIT_SAT: u64 = 546;
/// (offered by local?, amount_msat, expiry, preimage byte)
const HTLCS: [(bool, u64, u32, u8); 7] = [
    (false, 1_000_000, 500, 0),
    (false, 2_000_000, 501, 1),
    (true, 2_000_000, 502, 2),
    (true, 3_000_000, 503, 3),
    (false, 4_000_000, 504, 4),
    (true, 5_000_000, 506, 5),
    (true, 5_000_001, 505, 5),
];
const LOCAL_FUNDING_PRIVKEY: &str =
    "30ff4956bbdd3222d44cc5e8a1261dab1e07957bdac5ae88fe3261ef321f374901";
const REMOTE_FUNDING_PRIVKEY: &str =
    "1552dfba4f6cf29a62a0af13c8d6981d36d0ef8d61ba10fb0fe90da7634d7e1301";
const LOCAL_PAYMENT_BASEPOINT_SECRET: &str =
    "111111111111111111111111111111111111111111111111111111111111111101";
const REMOTE_REVOCATION_BASEPOINT_SECRET: &str =
    "222222222222222222222222222222222222222222222222222222222222222201";
const LOCAL_DELAYED_PAYMENT_BASEPOINT_SECRET: &str =
    "333333333333333333333333333333333333333333333333333333333333333301";
const REMOTE_PAYMENT_BASEPOINT_SECRET: &str =
    "444444444444444444444444444444444444444444444444444444444444444401";
/// Not given by the vectors and not used by the local commitment: any valid keys do.
const UNUSED_SECRET_A: &str = "555555555555555555555555555555555555555555555555555555555555555501";
const UNUSED_SECRET_B: &str = "666666666666666666666666666666666666666666666666666666666666666601";
const LOCAL_PER_COMMITMENT_SECRET: &str =
    "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

struct Fixture {
    local: InMemorySigner,
    remote: InMemorySigner,
    per_commitment_point: PublicKey,
}

fn fixture() -> Fixture {
    // The vectors use the payment basepoint as the HTLC basepoint on both sides.
    let local = InMemorySigner::new(ChannelSecrets {
        funding_key: sk(LOCAL_FUNDING_PRIVKEY),
        revocation_base_secret: sk(UNUSED_SECRET_A),
        payment_base_secret: sk(LOCAL_PAYMENT_BASEPOINT_SECRET),
        delayed_payment_base_secret: sk(LOCAL_DELAYED_PAYMENT_BASEPOINT_SECRET),
        htlc_base_secret: sk(LOCAL_PAYMENT_BASEPOINT_SECRET),
    });
    let remote = InMemorySigner::new(ChannelSecrets {
        funding_key: sk(REMOTE_FUNDING_PRIVKEY),
        revocation_base_secret: sk(REMOTE_REVOCATION_BASEPOINT_SECRET),
        payment_base_secret: sk(REMOTE_PAYMENT_BASEPOINT_SECRET),
        delayed_payment_base_secret: sk(UNUSED_SECRET_B),
        htlc_base_secret: sk(REMOTE_PAYMENT_BASEPOINT_SECRET),
    });
    let per_commitment_point = per_commitment_point(&hex32(LOCAL_PER_COMMITMENT_SECRET)).unwrap();
    Fixture {
        local,
        remote,
        per_commitment_point,
    }
}

fn params(ct: ChannelType, f: &Fixture, dust_limit_sat: u64) -> ChannelParameters {
    ChannelParameters {
        channel_type: ct,
        funding_outpoint: OutPoint::new(Txid::from_str(FUNDING_TXID).unwrap(), 0),
        funding_sat: FUNDING_SAT,
        holder_pubkeys: f.local.pubkeys(),
        counterparty_pubkeys: f.remote.pubkeys(),
        opener: Side::Holder,
        holder_to_self_delay: LOCAL_DELAY,
        counterparty_to_self_delay: 6,
        holder_dust_limit_sat: dust_limit_sat,
        counterparty_dust_limit_sat: 354,
    }
}

fn preimage(i: usize) -> PaymentPreimage {
    PaymentPreimage([HTLCS[i].3; 32])
}

fn channel_htlc(i: usize) -> ChannelHtlc {
    let (offered_by_local, amount_msat, cltv_expiry, _) = HTLCS[i];
    ChannelHtlc {
        offerer: if offered_by_local {
            Side::Holder
        } else {
            Side::Counterparty
        },
        amount_msat,
        payment_hash: preimage(i).payment_hash(),
        cltv_expiry,
    }
}

/// Which of the common HTLCs a named vector uses.
fn htlc_set(name: &str, use_htlcs: bool) -> Vec<usize> {
    if !use_htlcs {
        vec![]
    } else if name.contains("same amount and preimage") {
        vec![1, 5, 6]
    } else {
        vec![0, 1, 2, 3, 4]
    }
}

fn state(to_local_msat: u64, to_remote_msat: u64, feerate: u32, set: &[usize]) -> CommitmentState {
    CommitmentState {
        commitment_number: COMMITMENT_NUMBER,
        holder_msat: to_local_msat,
        counterparty_msat: to_remote_msat,
        htlcs: set.iter().map(|&i| channel_htlc(i)).collect(),
        feerate_per_kw: feerate,
    }
}

fn der(sig: &Signature) -> String {
    hex::encode(sig.serialize_der())
}

fn tx_hex(tx: &Transaction) -> String {
    hex::encode(serialize(tx))
}

/// Build the local commitment both ways (holder's view and the counterparty's mirrored view),
/// sign it with both funding keys, check it against `expected_hex`, and run it through the
/// script interpreter. Returns the commitment and the remote signature.
fn check_commitment(
    p: &ChannelParameters,
    st: &CommitmentState,
    f: &Fixture,
    expected_remote_sig: &str,
    expected_local_sig: Option<&str>,
    expected_hex: &str,
) -> CommitmentTx {
    let commit = p
        .build_commitment(Side::Holder, st, &f.per_commitment_point)
        .unwrap();
    let mirrored = p
        .flipped()
        .build_commitment(Side::Counterparty, &st.flipped(), &f.per_commitment_point)
        .unwrap();
    assert_eq!(commit.tx, mirrored.tx, "counterparty view differs");
    let local_sig = commit.sign(&f.local).unwrap().signature;
    let remote_sig = mirrored.sign(&f.remote).unwrap().signature;
    assert_eq!(der(&remote_sig), expected_remote_sig);
    if let Some(expected) = expected_local_sig {
        assert_eq!(der(&local_sig), expected);
    }
    let signed = commit.finalize(&local_sig, &remote_sig).unwrap();
    assert_eq!(tx_hex(&signed), expected_hex);
    let funding = funding_output(
        FUNDING_SAT,
        &f.local.pubkeys().funding_pubkey,
        &f.remote.pubkeys().funding_pubkey,
    );
    consensus_verify(&signed, &[funding]).unwrap();
    commit
}

/// Sign and complete the second-stage transaction of HTLC `pos` (position in the state),
/// check the remote signature and full hex, and verify it against the commitment output.
fn check_htlc_tx(
    commit: &CommitmentTx,
    f: &Fixture,
    pos: usize,
    htlc_number: usize,
    expected_remote_sig: &str,
    expected_local_sig: Option<&str>,
    expected_hex: &str,
) {
    let htlc_tx = commit.htlc_tx(pos).unwrap();
    let remote_sig = htlc_tx.sign_as_remote(&f.remote).unwrap();
    let local_sig = htlc_tx.sign_as_local(&f.local).unwrap();
    assert_eq!(der(&remote_sig), expected_remote_sig, "htlc #{htlc_number}");
    if let Some(expected) = expected_local_sig {
        assert_eq!(der(&local_sig), expected, "htlc #{htlc_number}");
    }
    let signed = htlc_tx
        .finalize(&remote_sig, &local_sig, Some(&preimage(htlc_number)))
        .unwrap();
    assert_eq!(tx_hex(&signed), expected_hex, "htlc #{htlc_number}");
    let out = commit.htlc_output_index[pos].unwrap() as usize;
    let spent: TxOut = commit.tx.output[out].clone();
    consensus_verify(&signed, &[spent]).unwrap();
}

#[test]
fn appendix_b_funding_transaction() {
    use super::funding::build_funding_tx;
    use bitcoin::script::{Builder, PushBytesBuf};
    use bitcoin::sighash::{EcdsaSighashType, SighashCache};
    use bitcoin::{Amount, CompressedPublicKey, ScriptBuf, Sequence, TxIn, Witness};

    let coinbase_key = sk("6bd078650fcee8444e4e09825227b801a1ca928debb750eb36e6d56124bb20e801");
    let coinbase_pub = CompressedPublicKey(coinbase_key.public_key(secp()));
    let coinbase_spk = ScriptBuf::new_p2pkh(&coinbase_pub.pubkey_hash());
    assert_eq!(
        hex::encode(coinbase_spk.as_bytes()),
        "76a9143ca33c2e4446f4a305f23c80df8ad1afdcf652f988ac"
    );
    let input = TxIn {
        previous_output: OutPoint::new(
            Txid::from_str("fd2105607605d2302994ffea703b09f66b6351816ee737a93e42a841ea20bbad")
                .unwrap(),
            0,
        ),
        script_sig: ScriptBuf::new(),
        sequence: Sequence::MAX,
        witness: Witness::new(),
    };
    let change = TxOut {
        value: Amount::from_sat(4_989_986_080),
        script_pubkey: ScriptBuf::new_p2wpkh(&coinbase_pub.wpubkey_hash()),
    };
    let local = pk("023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb");
    let remote = pk("030e9f7b623d2ccc7c9bd44d66d5ce21ce504c0acf6385a132cec6d3c39fa711c1");
    let funding = build_funding_tx(vec![input], 10_000_000, &local, &remote, Some(change)).unwrap();
    assert_eq!(funding.funding_output_index, 0);

    // Sign the P2PKH coinbase input as a wallet would.
    let mut tx = funding.tx.clone();
    let sighash = SighashCache::new(&tx)
        .legacy_signature_hash(0, &coinbase_spk, EcdsaSighashType::All.to_u32())
        .unwrap();
    let msg = bitcoin::secp256k1::Message::from_digest(sighash.to_byte_array());
    let sig = bitcoin::ecdsa::Signature::sighash_all(secp().sign_ecdsa(&msg, &coinbase_key));
    let sig_push = PushBytesBuf::try_from(sig.to_vec()).unwrap();
    tx.input[0].script_sig = Builder::new()
        .push_slice(sig_push)
        .push_slice(coinbase_pub.to_bytes())
        .into_script();
    assert_eq!(
        tx_hex(&tx),
        "0200000001adbb20ea41a8423ea937e76e8151636bf6093b70eaff942930d20576600521fd000000006b48304502210090587b6201e166ad6af0227d3036a9454223d49a1f11839c1a362184340ef0240220577f7cd5cca78719405cbf1de7414ac027f0239ef6e214c90fcaab0454d84b3b012103535b32d5eb0a6ed0982a0479bbadc9868d9836f6ba94dd5a63be16d875069184ffffffff028096980000000000220020c015c4a6be010e21657068fc2e6a9d02b27ebe4d490a25846f7237f104d1a3cd20256d29010000001600143ca33c2e4446f4a305f23c80df8ad1afdcf652f900000000"
    );
    assert_eq!(
        tx.compute_txid().to_string(),
        "8984484a580b825b9972d7adb15050b3ab624ccd731946b3eeddb92f4e7ef6be"
    );
    let coinbase_out = TxOut {
        value: Amount::from_sat(5_000_000_000),
        script_pubkey: coinbase_spk,
    };
    consensus_verify(&tx, &[coinbase_out]).unwrap();
}

#[test]
fn appendix_c_derived_keys_match_the_listed_keys() {
    let f = fixture();
    let p = params(ChannelType::StaticRemoteKey, &f, LOCAL_DUST_LIMIT_SAT);
    let k = p
        .commitment_keys(Side::Holder, &f.per_commitment_point)
        .unwrap();
    let lp = f.local.pubkeys();
    let rp = f.remote.pubkeys();
    assert_eq!(
        f.per_commitment_point,
        pk("025f7117a78150fe2ef97db7cfc83bd57b2e2c0d0dd25eaf467a4a1c2a45ce1486")
    );
    assert_eq!(
        lp.payment_basepoint,
        pk("034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa")
    );
    assert_eq!(
        rp.payment_basepoint,
        pk("032c0b7cf95324a07d05398b240174dc0c2be444d96b159aa6c7f7b1e668680991")
    );
    assert_eq!(
        rp.revocation_basepoint,
        pk("02466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f27")
    );
    assert_eq!(
        lp.delayed_payment_basepoint,
        pk("023c72addb4fdf09af94f0c94d7fe92a386a7e70cf8a1d85916386bb2535c7b1b1")
    );
    assert_eq!(
        lp.funding_pubkey,
        pk("023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb")
    );
    assert_eq!(
        rp.funding_pubkey,
        pk("030e9f7b623d2ccc7c9bd44d66d5ce21ce504c0acf6385a132cec6d3c39fa711c1")
    );
    assert_eq!(
        k.local_htlc_key,
        pk("030d417a46946384f88d5f3337267c5e579765875dc4daca813e21734b140639e7")
    );
    assert_eq!(
        k.remote_htlc_key,
        pk("0394854aa6eab5b2a8122cc726e9dded053a2184d88256816826d6231c068d4a5b")
    );
    assert_eq!(
        k.local_delayed_key,
        pk("03fd5960528dc152014952efdb702a88f71e3c1653b2314431701ec77e57fde83c")
    );
    assert_eq!(
        k.revocation_key,
        pk("0212a140cd0c6539d07cd08dfe09984dec3251ea808b892efeac3ede9402bf2b19")
    );
    assert_eq!(k.remote_payment_key, rp.payment_basepoint);
    // The private keys listed in the vectors.
    let pcp = f.per_commitment_point;
    assert_eq!(
        derive_privkey(&sk(LOCAL_PAYMENT_BASEPOINT_SECRET), &pcp).unwrap(),
        sk("bb13b121cdc357cd2e608b0aea294afca36e2b34cf958e2e6451a2f27469449101")
    );
    assert_eq!(
        derive_privkey(&sk(REMOTE_PAYMENT_BASEPOINT_SECRET), &pcp).unwrap(),
        sk("8deba327a7cc6d638ab0eb025770400a6184afcba6713c210d8d10e199ff2fda01")
    );
    assert_eq!(
        derive_privkey(&sk(LOCAL_DELAYED_PAYMENT_BASEPOINT_SECRET), &pcp).unwrap(),
        sk("adf3464ce9c2f230fd2582fda4c6965e4993ca5524e8c9580e3df0cf226981ad01")
    );
    // The obscuring factor.
    assert_eq!(p.obscuring_factor(), 0x2bb038521914);
}

/// One `key: value` block of a data file.
fn blocks(data: &str) -> Vec<Vec<(&str, &str)>> {
    data.split("\n\n")
        .map(|b| {
            b.lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('['))
                .map(|l| {
                    let (k, v) = l.split_once(':').unwrap();
                    (k.trim(), v.trim())
                })
                .collect::<Vec<_>>()
        })
        .filter(|b| !b.is_empty())
        .collect()
}

fn get<'a>(block: &[(&'a str, &'a str)], key: &str) -> &'a str {
    block
        .iter()
        .find(|(k, _)| *k == key)
        .unwrap_or_else(|| panic!("missing {key}"))
        .1
}

#[test]
fn appendix_c_static_remotekey_commitments_and_htlc_txs() {
    let f = fixture();
    let p = params(ChannelType::StaticRemoteKey, &f, LOCAL_DUST_LIMIT_SAT);
    let cases = blocks(APPENDIX_C);
    assert_eq!(cases.len(), 16);
    let mut htlc_txs_checked = 0;
    for case in &cases {
        let name = get(case, "name");
        let set = htlc_set(name, !name.contains("no HTLCs"));
        let st = state(
            get(case, "to_local_msat").parse().unwrap(),
            get(case, "to_remote_msat").parse().unwrap(),
            get(case, "local_feerate_per_kw").parse().unwrap(),
            &set,
        );
        let commit = check_commitment(
            &p,
            &st,
            &f,
            get(case, "remote_signature"),
            Some(get(case, "local_signature")),
            get(case, "commit_tx"),
        );
        if let Some((_, fee)) = case.iter().find(|(k, _)| *k == "base_fee") {
            assert_eq!(commit.base_fee_sat, fee.parse::<u64>().unwrap(), "{name}");
            assert_eq!(
                commit.fee_sat,
                get(case, "actual_fee").parse::<u64>().unwrap(),
                "{name}"
            );
        }
        let d = &commit.description;
        for (k, v) in case {
            let parts: Vec<&str> = v.split(' ').collect();
            match *k {
                "to_local_output" => {
                    let i = commit.to_local_output().unwrap() as usize;
                    assert_eq!(commit.tx.output[i].value.to_sat().to_string(), parts[0]);
                    assert_eq!(hex::encode(d.to_local_script().as_bytes()), parts[1]);
                }
                "to_remote_output" => {
                    let i = commit.to_remote_output().unwrap() as usize;
                    assert_eq!(commit.tx.output[i].value.to_sat().to_string(), parts[0]);
                    assert_eq!(hex::encode(d.keys.remote_payment_key.serialize()), parts[1]);
                }
                "htlc_output" => {
                    let n: usize = parts[0].parse().unwrap();
                    let pos = set.iter().position(|&x| x == n).unwrap();
                    let i = commit.htlc_output_index[pos].unwrap() as usize;
                    assert_eq!(commit.tx.output[i].value.to_sat().to_string(), parts[2]);
                    assert_eq!(
                        hex::encode(d.htlc_script(pos).unwrap().as_bytes()),
                        parts[3]
                    );
                }
                _ => {}
            }
        }
        // Cases that list their balance outputs and omit to_local have it trimmed.
        let lists = |key: &str| case.iter().any(|(k, _)| *k == key);
        if lists("to_remote_output") && !lists("to_local_output") {
            assert_eq!(commit.to_local_output(), None, "{name}");
        }
        let num_htlcs: usize = get(case, "num_htlcs").parse().unwrap();
        assert_eq!(commit.htlc_txs().unwrap().len(), num_htlcs, "{name}");

        // Second-stage transactions: (output, kind, htlc) then remote sig, local sig, tx.
        let lines: Vec<&(&str, &str)> = case
            .iter()
            .filter(|(k, _)| {
                matches!(
                    *k,
                    "htlc_for_output"
                        | "remote_htlc_signature"
                        | "local_htlc_signature"
                        | "htlc_tx"
                )
            })
            .collect();
        assert_eq!(lines.len(), num_htlcs * 4, "{name}");
        for chunk in lines.chunks(4) {
            let head: Vec<&str> = chunk[0].1.split(' ').collect();
            let (output, kind, n) = (head[0], head[1], head[2].parse::<usize>().unwrap());
            let pos = set.iter().position(|&x| x == n).unwrap();
            assert_eq!(
                commit.htlc_output_index[pos].unwrap().to_string(),
                output,
                "{name}"
            );
            let tx_parts: Vec<&str> = chunk[3].1.split(' ').collect();
            assert_eq!(tx_parts[0], kind);
            assert_eq!(tx_parts[1].parse::<usize>().unwrap(), n);
            check_htlc_tx(
                &commit,
                &f,
                pos,
                n,
                chunk[1].1,
                Some(chunk[2].1),
                tx_parts[2],
            );
            htlc_txs_checked += 1;
        }
    }
    assert_eq!(htlc_txs_checked, 33);
}

#[test]
fn appendix_c_fee_greater_than_funder_amount_takes_everything() {
    let f = fixture();
    let p = params(ChannelType::StaticRemoteKey, &f, LOCAL_DUST_LIMIT_SAT);
    let c = p
        .build_commitment(
            Side::Holder,
            &state(6_988_000_000, 3_000_000_000, 9_651_936, &[0, 1, 2, 3, 4]),
            &f.per_commitment_point,
        )
        .unwrap();
    assert_eq!(c.base_fee_sat, 6_988_001);
    assert_eq!(c.fee_sat, 7_000_000);
    assert_eq!(c.tx.output.len(), 1);
    assert!(c.htlc_output_index.iter().all(Option::is_none));
    assert!(matches!(c.htlc_tx(0), Err(Bolt3Error::HtlcTrimmed(0))));
    assert!(matches!(c.htlc_tx(9), Err(Bolt3Error::NoSuchHtlc(9))));
}

#[test]
fn appendix_f_anchor_commitments_and_htlc_txs() {
    let f = fixture();
    let cases: serde_json::Value = serde_json::from_str(APPENDIX_F).unwrap();
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 9);
    let mut htlc_txs_checked = 0;
    for case in cases {
        let name = case["Name"].as_str().unwrap();
        let p = params(
            ChannelType::AnchorsZeroFeeHtlc,
            &f,
            case["DustLimitSatoshis"].as_u64().unwrap(),
        );
        let set = htlc_set(name, case["UseTestHtlcs"].as_bool().unwrap());
        let st = state(
            case["LocalBalance"].as_u64().unwrap(),
            case["RemoteBalance"].as_u64().unwrap(),
            case["FeePerKw"].as_u64().unwrap() as u32,
            &set,
        );
        let commit = check_commitment(
            &p,
            &st,
            &f,
            case["RemoteSigHex"].as_str().unwrap(),
            None,
            case["ExpectedCommitmentTxHex"].as_str().unwrap(),
        );
        // HTLC descriptions are listed in commitment output order.
        let descs = case["HtlcDescs"].as_array().unwrap();
        let htlc_txs = commit.htlc_txs().unwrap();
        assert_eq!(htlc_txs.len(), descs.len(), "{name}");
        for (htlc_tx, desc) in htlc_txs.iter().zip(descs) {
            let pos = htlc_tx.htlc_index;
            check_htlc_tx(
                &commit,
                &f,
                pos,
                set[pos],
                desc["RemoteSigHex"].as_str().unwrap(),
                None,
                desc["ResolutionTxHex"].as_str().unwrap(),
            );
            htlc_txs_checked += 1;
        }
    }
    assert_eq!(htlc_txs_checked, 15);
}

fn parse_index(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => s.parse().unwrap(),
    }
}

#[test]
fn appendix_d_generation() {
    let (generation, _) = APPENDIX_D.split_once("[storage]").unwrap();
    let cases = blocks(generation);
    assert_eq!(cases.len(), 5);
    for case in cases {
        let seed = hex32(get(&case, "seed"));
        let index = parse_index(get(&case, "I"));
        assert_eq!(
            generate_from_seed(&seed, index).unwrap(),
            hex32(get(&case, "output")),
            "{}",
            get(&case, "name")
        );
    }
}

#[test]
fn appendix_d_storage() {
    let (_, storage) = APPENDIX_D.split_once("[storage]").unwrap();
    let cases = blocks(storage);
    assert_eq!(cases.len(), 9);
    let mut failures = 0;
    for case in cases {
        let name = get(&case, "name");
        let steps: Vec<&[(&str, &str)]> = case[1..].chunks(3).collect();
        let mut store = RevocationStore::new();
        let mut inserted = vec![];
        for (i, step) in steps.iter().enumerate() {
            assert_eq!(step[0].0, "I");
            let index = parse_index(step[0].1);
            let secret = hex32(step[1].1);
            let result = store.insert(index, secret);
            match step[2].1 {
                "OK" => {
                    result.unwrap_or_else(|e| panic!("{name}: step {i}: {e}"));
                    inserted.push((index, secret));
                }
                "ERROR" => {
                    assert_eq!(
                        result,
                        Err(Bolt3Error::InconsistentSecret { index }),
                        "{name}"
                    );
                    assert_eq!(i, steps.len() - 1, "{name}: error must be the last step");
                    failures += 1;
                }
                other => panic!("bad expectation {other}"),
            }
        }
        // Everything accepted can be derived back.
        for (index, secret) in inserted {
            assert_eq!(store.get(index).unwrap(), secret, "{name}");
        }
        if name == "insert_secret correct sequence" {
            let seed = [0xff; 32];
            for i in 0..8 {
                let index = super::secrets::FIRST_INDEX - i;
                assert_eq!(
                    store.get(index).unwrap(),
                    generate_from_seed(&seed, index).unwrap()
                );
            }
        }
    }
    assert_eq!(failures, 8);
}
