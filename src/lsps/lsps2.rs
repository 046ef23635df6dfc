//! LSPS2 (bLIP 52): just-in-time channels, the LSP's pure rules — the fee menu and its
//! promise, `lsps2.buy`'s checks, the opening fee, and how the fee is taken from the parts.
//!
//! The promise is an HMAC-SHA256, keyed by a secret of the node, over the client's node id and
//! every field of the offer: the LSP keeps no state for offers it made, and only honours ones
//! it made to that client. `ongoing_proportional` (a later revision of bLIP 52) is not
//! offered: LDK's client does not know it, and an offer without it means no fee after the
//! opening payment.

use bitcoin::hashes::hmac::{Hmac, HmacEngine};
use bitcoin::hashes::sha256;
use bitcoin::hashes::{Hash, HashEngine};
use bitcoin::secp256k1::PublicKey;
use serde::{Deserialize, Serialize};

/// bLIP 52's error codes (LSPS2's range is 200–299).
pub const UNRECOGNIZED_OR_STALE_TOKEN: i64 = 200;
pub const INVALID_OPENING_FEE_PARAMS: i64 = 201;
pub const PAYMENT_SIZE_TOO_SMALL: i64 = 202;
pub const PAYMENT_SIZE_TOO_LARGE: i64 = 203;

/// The longest promise bLIP 52 lets a client keep; ours is 64 hex characters.
pub const MAX_PROMISE_LEN: usize = 512;

/// The operator's terms (`[lsps2]` in `chanhub.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub min_fee_msat: u64,
    /// Parts per million of the payment.
    pub proportional: u32,
    /// How long an offer stands (bLIP 52: at least 10 minutes is advised).
    pub valid_for_secs: u64,
    /// Blocks after confirmation the LSP keeps a paid channel open.
    pub min_lifetime: u32,
    pub max_client_to_self_delay: u32,
    pub min_payment_size_msat: u64,
    pub max_payment_size_msat: u64,
}

/// One entry of `opening_fee_params_menu`, as it travels: amounts as decimal strings
/// (LSPS0), `valid_until` as RFC 3339 text (the promise covers its instant, not the text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpeningFeeParams {
    #[serde(with = "msat_string")]
    pub min_fee_msat: u64,
    pub proportional: u32,
    pub valid_until: String,
    pub min_lifetime: u32,
    pub max_client_to_self_delay: u32,
    #[serde(with = "msat_string")]
    pub min_payment_size_msat: u64,
    #[serde(with = "msat_string")]
    pub max_payment_size_msat: u64,
    pub promise: String,
}

/// The secret that makes promises; derived from the node's seed, so offers survive restarts.
#[derive(Clone)]
pub struct PromiseKey(pub [u8; 32]);

/// `valid_until`'s instant in milliseconds since 1970, `None` when it is not RFC 3339 UTC.
fn valid_until_millis(text: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339(text).ok()?;
    u64::try_from(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis()).ok()
}

impl PromiseKey {
    /// `None` when `valid_until` is not a time.
    fn promise(&self, client: &PublicKey, p: &OpeningFeeParams) -> Option<String> {
        let mut e = HmacEngine::<sha256::Hash>::new(&self.0);
        e.input(&client.serialize());
        e.input(&p.min_fee_msat.to_be_bytes());
        e.input(&p.proportional.to_be_bytes());
        // The instant, not the text: LDK's client re-writes the time it echoes (dropping
        // zero milliseconds), and the same instant is the same offer.
        e.input(&valid_until_millis(&p.valid_until)?.to_be_bytes());
        e.input(&p.min_lifetime.to_be_bytes());
        e.input(&p.max_client_to_self_delay.to_be_bytes());
        e.input(&p.min_payment_size_msat.to_be_bytes());
        e.input(&p.max_payment_size_msat.to_be_bytes());
        Some(hex::encode(Hmac::from_engine(e).to_byte_array()))
    }

    /// Whether we promised exactly these parameters to this client (compared without an early
    /// exit, so timing says nothing about a forged promise).
    pub fn verify(&self, client: &PublicKey, p: &OpeningFeeParams) -> bool {
        let Some(want) = self.promise(client, p) else {
            return false;
        };
        want.len() == p.promise.len()
            && want
                .bytes()
                .zip(p.promise.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// `lsps2.get_info`'s menu for `client` at `now_secs`: one offer, valid for the configured time.
pub fn menu(
    terms: &Terms,
    key: &PromiseKey,
    client: &PublicKey,
    now_secs: u64,
) -> Vec<OpeningFeeParams> {
    let until = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(now_secs.saturating_add(terms.valid_for_secs));
    let mut p = OpeningFeeParams {
        min_fee_msat: terms.min_fee_msat,
        proportional: terms.proportional,
        valid_until: humantime::format_rfc3339_millis(until).to_string(),
        min_lifetime: terms.min_lifetime,
        max_client_to_self_delay: terms.max_client_to_self_delay,
        min_payment_size_msat: terms.min_payment_size_msat,
        max_payment_size_msat: terms.max_payment_size_msat,
        promise: String::new(),
    };
    p.promise = key
        .promise(client, &p)
        .expect("humantime writes RFC 3339 it reads back");
    vec![p]
}

/// bLIP 52's opening fee: `max(min_fee_msat, ceil(payment × proportional / 1e6))`, `None` on
/// an overflow of 64 bits at any step.
pub fn opening_fee(payment_size_msat: u64, min_fee_msat: u64, proportional: u32) -> Option<u64> {
    payment_size_msat
        .checked_mul(u64::from(proportional))
        .and_then(|f| f.checked_add(999_999))
        .map(|f| (f / 1_000_000).max(min_fee_msat))
}

/// Why `lsps2.buy` is refused: the bLIP 52 code and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuyError {
    #[error("the offer expired or is not one we made")]
    InvalidParams,
    #[error("the opening fee of {fee_msat} msat is not less than the payment")]
    TooSmall { fee_msat: u64 },
    #[error("the payment size is outside the offer's range or too large to compute a fee for")]
    TooLarge,
    #[error("the payment size is below the offer's minimum")]
    BelowMinimum,
}

impl BuyError {
    pub fn code(&self) -> i64 {
        match self {
            BuyError::InvalidParams => INVALID_OPENING_FEE_PARAMS,
            BuyError::TooSmall { .. } | BuyError::BelowMinimum => PAYMENT_SIZE_TOO_SMALL,
            BuyError::TooLarge => PAYMENT_SIZE_TOO_LARGE,
        }
    }
}

/// What a client bought: the terms its JIT channel opens under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bought {
    pub params: OpeningFeeParams,
    /// Unix seconds: parts still short of the payment after this fail with
    /// `unknown_next_peer`.
    pub valid_until_secs: u64,
    /// `Some`: "MPP+fixed-invoice" mode, with the fee already known; `None`: one part of any
    /// size within the offer ("no-MPP+var-invoice").
    pub payment_size_msat: Option<u64>,
    pub opening_fee_msat: Option<u64>,
}

/// `lsps2.buy`'s checks (bLIP 52 step 2).
///
/// # Errors
/// The error to answer with.
pub fn check_buy(
    key: &PromiseKey,
    client: &PublicKey,
    params: OpeningFeeParams,
    payment_size_msat: Option<u64>,
    now_secs: u64,
) -> Result<Bought, BuyError> {
    let until = humantime::parse_rfc3339(&params.valid_until)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .ok_or(BuyError::InvalidParams)?;
    if params.promise.len() > MAX_PROMISE_LEN || !key.verify(client, &params) || until <= now_secs {
        return Err(BuyError::InvalidParams);
    }
    let fee = match payment_size_msat {
        None => None,
        Some(size) => {
            if size < params.min_payment_size_msat {
                return Err(BuyError::BelowMinimum);
            }
            if size > params.max_payment_size_msat {
                return Err(BuyError::TooLarge);
            }
            let fee = opening_fee(size, params.min_fee_msat, params.proportional)
                .ok_or(BuyError::TooLarge)?;
            if fee >= size {
                return Err(BuyError::TooSmall { fee_msat: fee });
            }
            Some(fee)
        }
    };
    Ok(Bought {
        params,
        valid_until_secs: until,
        payment_size_msat,
        opening_fee_msat: fee,
    })
}

/// In "no-MPP+var-invoice" mode, the one part's fee (bLIP 52 step 4): `None` means fail it
/// with `unknown_next_peer` (the fee overflows, or leaves less than `htlc_minimum_msat`, or
/// the part is outside the offer's range).
pub fn variable_fee(bought: &Bought, htlc_value_msat: u64, htlc_minimum_msat: u64) -> Option<u64> {
    let p = &bought.params;
    if htlc_value_msat < p.min_payment_size_msat || htlc_value_msat > p.max_payment_size_msat {
        return None;
    }
    let fee = opening_fee(htlc_value_msat, p.min_fee_msat, p.proportional)?;
    (fee.checked_add(htlc_minimum_msat)? <= htlc_value_msat).then_some(fee)
}

/// What to forward for each part: `(amount_msat, extra_fee_msat)`, in the parts' order, taking
/// `fee_msat` from the first parts while leaving each at least `htlc_minimum_msat` (bLIP 52's
/// algorithm). `None` when the parts cannot carry the fee that way (too many small parts):
/// fail them all.
pub fn take_fee(
    parts_msat: &[u64],
    fee_msat: u64,
    htlc_minimum_msat: u64,
) -> Option<Vec<(u64, u64)>> {
    let mut left = fee_msat;
    let mut out = Vec::with_capacity(parts_msat.len());
    for &part in parts_msat {
        let room = part.checked_sub(htlc_minimum_msat)?;
        let take = left.min(room);
        left -= take;
        out.push((part - take, take));
    }
    (left == 0).then_some(out)
}

/// LSPS0 amounts: a decimal string of millisatoshis.
mod msat_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        // Digits only: no sign, no spaces, no exponent.
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(serde::de::Error::custom("an amount is a decimal string"));
        }
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::{Secp256k1, SecretKey};
    use serde_json::json;

    fn client(b: u8) -> PublicKey {
        SecretKey::from_slice(&[b; 32])
            .unwrap()
            .public_key(&Secp256k1::new())
    }

    /// The first offer of bLIP 52's `lsps2.get_info` example.
    fn terms() -> Terms {
        Terms {
            min_fee_msat: 546_000,
            proportional: 1200,
            valid_for_secs: 3600,
            min_lifetime: 1008,
            max_client_to_self_delay: 2016,
            min_payment_size_msat: 1000,
            max_payment_size_msat: 1_000_000,
        }
    }

    const NOW: u64 = 1_677_138_450; // 2023-02-23T07:47:30Z

    #[test]
    fn the_opening_fee_rounds_up_takes_the_minimum_and_refuses_overflow() {
        assert_eq!(opening_fee(1_000_000, 546_000, 1200), Some(546_000));
        assert_eq!(opening_fee(1_000_000_000, 546_000, 1200), Some(1_200_000));
        assert_eq!(opening_fee(1_000_000_001, 0, 1200), Some(1_200_001), "ceil");
        assert_eq!(
            opening_fee(999, 0, 1),
            Some(1),
            "any fee rounds up to a whole msat"
        );
        assert_eq!(opening_fee(0, 7, 1200), Some(7));
        assert_eq!(
            opening_fee(u64::MAX / 1200 + 1, 0, 1200),
            None,
            "multiplication"
        );
        // u64::MAX ends in ...551615: the product fits, adding 999,999 does not.
        assert_eq!(
            opening_fee(u64::MAX / 1_000_000, 0, 1_000_000),
            None,
            "the + 999999"
        );
    }

    #[test]
    fn the_menu_speaks_bip52s_format_and_its_promise_binds_every_field_and_the_client() {
        let key = PromiseKey([7; 32]);
        let menu = menu(&terms(), &key, &client(1), NOW);
        let v = serde_json::to_value(&menu[0]).unwrap();
        assert_eq!(v["min_fee_msat"], "546000");
        assert_eq!(v["proportional"], 1200);
        assert_eq!(v["valid_until"], "2023-02-23T08:47:30.000Z");
        assert_eq!(v["min_payment_size_msat"], "1000");
        assert_eq!(v["max_payment_size_msat"], "1000000");
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 8, "exactly bLIP 52's fields: {keys:?}");
        assert!(v["promise"].as_str().unwrap().len() <= MAX_PROMISE_LEN);

        let p = menu[0].clone();
        assert!(key.verify(&client(1), &p));
        // LDK echoes the same instant without the zero milliseconds.
        let mut echoed = p.clone();
        echoed.valid_until = "2023-02-23T08:47:30Z".into();
        assert!(key.verify(&client(1), &echoed), "the same instant");
        echoed.valid_until = "2023-02-23T08:47:30.001Z".into();
        assert!(!key.verify(&client(1), &echoed), "a millisecond later");
        echoed.valid_until = "soon".into();
        assert!(!key.verify(&client(1), &echoed), "not a time");
        assert!(!key.verify(&client(2), &p), "another client's offer");
        assert!(!PromiseKey([8; 32]).verify(&client(1), &p), "another LSP's");
        let tweaks: Vec<fn(&mut OpeningFeeParams)> = vec![
            |p| p.min_fee_msat -= 1,
            |p| p.proportional -= 1,
            |p| p.valid_until = "2023-02-23T09:47:30.000Z".into(),
            |p| p.min_lifetime -= 1,
            |p| p.max_client_to_self_delay += 1,
            |p| p.min_payment_size_msat -= 1,
            |p| p.max_payment_size_msat += 1,
            |p| p.promise.replace_range(0..1, "x"),
        ];
        for tweak in tweaks {
            let mut q = p.clone();
            tweak(&mut q);
            assert!(!key.verify(&client(1), &q), "{q:?}");
        }
    }

    #[test]
    fn buy_checks_the_promise_the_time_and_the_size() {
        let key = PromiseKey([7; 32]);
        let offer = menu(&terms(), &key, &client(1), NOW).remove(0);
        let buy = |size, now| check_buy(&key, &client(1), offer.clone(), size, now);
        // bLIP 52's example buy: 42,000 msat against a 546,000 msat minimum fee.
        assert_eq!(
            buy(Some(42_000), NOW),
            Err(BuyError::TooSmall { fee_msat: 546_000 })
        );
        assert_eq!(
            buy(Some(42_000), NOW).unwrap_err().code(),
            PAYMENT_SIZE_TOO_SMALL
        );
        assert_eq!(
            buy(Some(999), NOW).unwrap_err().code(),
            PAYMENT_SIZE_TOO_SMALL
        );
        assert_eq!(
            buy(Some(1_000_001), NOW).unwrap_err().code(),
            PAYMENT_SIZE_TOO_LARGE
        );
        let ok = buy(Some(1_000_000), NOW).unwrap();
        assert_eq!(ok.opening_fee_msat, Some(546_000));
        assert_eq!(ok.payment_size_msat, Some(1_000_000));
    }

    #[test]
    fn buy_accepts_what_we_offered_in_time() {
        let key = PromiseKey([7; 32]);
        let mut t = terms();
        t.min_fee_msat = 2_000;
        let offer = menu(&t, &key, &client(1), NOW).remove(0);
        let b = check_buy(&key, &client(1), offer.clone(), Some(500_000), NOW + 10).unwrap();
        assert_eq!(b.opening_fee_msat, Some(2_000));
        assert_eq!(b.valid_until_secs, NOW + 3600);
        let b = check_buy(&key, &client(1), offer.clone(), None, NOW).unwrap();
        assert_eq!((b.payment_size_msat, b.opening_fee_msat), (None, None));
        assert_eq!(
            check_buy(&key, &client(1), offer.clone(), None, NOW + 3600)
                .unwrap_err()
                .code(),
            INVALID_OPENING_FEE_PARAMS,
            "expired"
        );
        assert_eq!(
            check_buy(&key, &client(2), offer.clone(), None, NOW)
                .unwrap_err()
                .code(),
            INVALID_OPENING_FEE_PARAMS,
            "another client's"
        );
        let mut long = offer;
        long.promise = "a".repeat(MAX_PROMISE_LEN + 1);
        assert!(check_buy(&key, &client(1), long, None, NOW).is_err());
    }

    #[test]
    fn offers_parse_as_bip52_writes_them_and_refuse_extra_fields() {
        let example = json!({
            "min_fee_msat": "546000", "proportional": 1200, "valid_until": "2023-02-23T08:47:30.511Z",
            "min_lifetime": 1008, "max_client_to_self_delay": 2016, "min_payment_size_msat": "1000",
            "max_payment_size_msat": "1000000", "promise": "abcdefghijklmnopqrstuvwxyz"
        });
        let p: OpeningFeeParams = serde_json::from_value(example.clone()).unwrap();
        assert_eq!(p.min_fee_msat, 546_000);
        assert_eq!(serde_json::to_value(&p).unwrap(), example);
        // Not ours: the promise does not verify.
        assert_eq!(
            check_buy(&PromiseKey([7; 32]), &client(1), p, Some(42_000), NOW).unwrap_err(),
            BuyError::InvalidParams
        );
        let mut extra = example.clone();
        extra["ongoing_proportional"] = json!(1000);
        assert!(serde_json::from_value::<OpeningFeeParams>(extra).is_err());
        for bad in [
            json!(546000),
            json!("-1"),
            json!("5e5"),
            json!(" 1"),
            json!(""),
        ] {
            let mut v = example.clone();
            v["min_fee_msat"] = bad.clone();
            assert!(
                serde_json::from_value::<OpeningFeeParams>(v).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_variable_amount_part_pays_its_fee_and_keeps_the_minimum() {
        let key = PromiseKey([7; 32]);
        let mut t = terms();
        t.min_fee_msat = 10_000;
        t.max_payment_size_msat = 10_000_000;
        let offer = menu(&t, &key, &client(1), NOW).remove(0);
        let b = check_buy(&key, &client(1), offer, None, NOW).unwrap();
        assert_eq!(variable_fee(&b, 5_000_000, 1_000), Some(10_000));
        assert_eq!(variable_fee(&b, 11_000, 1_000), Some(10_000));
        assert_eq!(
            variable_fee(&b, 10_999, 1_000),
            None,
            "less than htlc_minimum left"
        );
        assert_eq!(variable_fee(&b, 10_000_001, 1_000), None, "above the offer");
        assert_eq!(variable_fee(&b, 999, 0), None, "below the offer");
    }

    #[test]
    fn the_fee_comes_out_of_the_first_parts_leaving_each_its_minimum() {
        assert_eq!(
            take_fee(&[50_000], 10_000, 1_000),
            Some(vec![(40_000, 10_000)])
        );
        assert_eq!(
            take_fee(&[6_000, 8_000, 30_000], 10_000, 1_000),
            Some(vec![(1_000, 5_000), (3_000, 5_000), (30_000, 0)])
        );
        assert_eq!(
            take_fee(&[6_000, 6_000], 10_000, 1_000),
            Some(vec![(1_000, 5_000), (1_000, 5_000)])
        );
        assert_eq!(
            take_fee(&[6_000, 6_000], 10_001, 1_000),
            None,
            "too many small parts"
        );
        assert_eq!(
            take_fee(&[500, 50_000], 10, 1_000),
            None,
            "a part under the minimum"
        );
        let parts = [123_456, 7_890, 55_555];
        let out = take_fee(&parts, 20_000, 1).unwrap();
        let forwarded: u64 = out.iter().map(|(a, _)| a).sum();
        let fees: u64 = out.iter().map(|(_, f)| f).sum();
        assert_eq!((forwarded + fees, fees), (parts.iter().sum(), 20_000));
    }
}
