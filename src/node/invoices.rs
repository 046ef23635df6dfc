//! Issuing invoices: a random preimage and payment secret, a BOLT 11 string signed with the
//! node key, and the record the HTLC router settles against (`store::payments`).
//!
//! The preimage is made here and never leaves the node until an HTLC pays the invoice. A hold
//! invoice is made for a payment hash the caller chose: the caller keeps the preimage, and
//! the node holds the payment until the caller settles it (`payments::hold`).

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::SecretKey;
use bitcoin::Network;
use rand::RngCore;

use crate::bolt3::PaymentHash;
use crate::error::Error;
use crate::invoice::{
    Invoice, InvoiceDescription, InvoiceParams, RouteHint, DEFAULT_EXPIRY_SECS,
    DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA,
};
use crate::onion::PaymentSecret;
use crate::payments::{InvoiceRecord, InvoiceStatus};
use crate::store::{payments, Store};

/// BOLT 11's limit on a `d` description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 639;
/// The longest expiry we put in an invoice: a year.
pub const MAX_EXPIRY_SECS: u64 = 365 * 24 * 3600;
/// The bitcoin supply in millisatoshis: no invoice asks for more.
pub const MAX_AMOUNT_MSAT: u64 = 21_000_000 * 100_000_000 * 1000;

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What the caller asks of a new invoice. Build it with `..NewInvoice::default()`: fields are
/// added as invoices learn new tricks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvoice {
    /// `None`: the payer chooses the amount.
    pub amount_msat: Option<u64>,
    /// The text itself (`d`), or the SHA256 of a longer one the payer gets elsewhere (`h`,
    /// as LNURL-pay and Lightning Addresses need).
    pub description: InvoiceDescription,
    /// Defaults to [`DEFAULT_EXPIRY_SECS`].
    pub expiry_secs: Option<u64>,
    /// A hold invoice for this payment hash, whose preimage the caller keeps. `None`: the
    /// node makes the preimage and settles a payment as soon as it is whole.
    pub payment_hash: Option<[u8; 32]>,
}

impl Default for NewInvoice {
    fn default() -> Self {
        NewInvoice {
            amount_msat: None,
            description: InvoiceDescription::Direct(String::new()),
            expiry_secs: None,
            payment_hash: None,
        }
    }
}

/// Creates, signs and stores an invoice of ours.
///
/// `hints` are the route hints to our node (the channel manager's `route_hints`).
///
/// # Errors
/// [`Error::InvalidRequest`] for an amount of zero or over the bitcoin supply, a description
/// over [`MAX_DESCRIPTION_BYTES`], an expiry of zero or over [`MAX_EXPIRY_SECS`], or a
/// payment hash an invoice of ours already has; [`Error::Internal`] when the invoice cannot
/// be encoded or stored.
pub async fn create_invoice(
    store: &Store,
    node_key: &SecretKey,
    network: Network,
    hints: Vec<RouteHint>,
    new: NewInvoice,
) -> Result<InvoiceRecord, Error> {
    let mut preimage = [0u8; 32];
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut preimage);
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let record = build_invoice(
        node_key,
        network,
        hints,
        new,
        Secrets {
            preimage,
            payment_secret: secret,
        },
        now_secs(),
    )?;
    let stored = record.clone();
    let inserted = store
        .write(move |tx| {
            if payments::invoice_exists(tx, &stored.payment_hash)? {
                return Ok(false);
            }
            payments::insert_invoice(tx, &stored)?;
            Ok(true)
        })
        .await?;
    if !inserted {
        return Err(Error::InvalidRequest(format!(
            "an invoice for payment hash {} exists already",
            hex::encode(record.payment_hash)
        )));
    }
    tracing::info!(
        payment_hash = %hex::encode(record.payment_hash),
        amount_msat = ?record.amount_msat,
        hold = record.preimage.is_none(),
        "invoice created"
    );
    Ok(record)
}

/// The random values of one invoice (the preimage is not used for a hold invoice).
struct Secrets {
    preimage: [u8; 32],
    payment_secret: [u8; 32],
}

/// Checks the request and builds the signed invoice and its record (no I/O, no randomness).
fn build_invoice(
    node_key: &SecretKey,
    network: Network,
    hints: Vec<RouteHint>,
    new: NewInvoice,
    secrets: Secrets,
    now: u64,
) -> Result<InvoiceRecord, Error> {
    let NewInvoice {
        amount_msat,
        description,
        expiry_secs,
        payment_hash,
    } = new;
    if let Some(a) = amount_msat {
        if a == 0 || a > MAX_AMOUNT_MSAT {
            return Err(Error::InvalidRequest(format!(
                "amount_msat {a} must be between 1 and {MAX_AMOUNT_MSAT} (leave it out for an \
                 open amount)"
            )));
        }
    }
    if let InvoiceDescription::Direct(text) = &description {
        if text.len() > MAX_DESCRIPTION_BYTES {
            return Err(Error::InvalidRequest(format!(
                "description is {} bytes, BOLT 11 allows at most {MAX_DESCRIPTION_BYTES}",
                text.len()
            )));
        }
    }
    let expiry_secs = expiry_secs.unwrap_or(DEFAULT_EXPIRY_SECS);
    if expiry_secs == 0 || expiry_secs > MAX_EXPIRY_SECS {
        return Err(Error::InvalidRequest(format!(
            "expiry_secs {expiry_secs} must be between 1 and {MAX_EXPIRY_SECS}"
        )));
    }
    let (payment_hash, preimage) = match payment_hash {
        Some(hash) => (hash, None),
        None => (
            sha256::Hash::hash(&secrets.preimage).to_byte_array(),
            Some(secrets.preimage),
        ),
    };
    let mut params = InvoiceParams::new(
        network,
        amount_msat,
        description.clone(),
        PaymentHash(payment_hash),
        PaymentSecret(secrets.payment_secret),
        now,
    );
    params.expiry_secs = expiry_secs;
    params.min_final_cltv_expiry_delta = DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA;
    params.route_hints = hints;
    params.features = crate::wire::Features::our_invoice();
    let invoice = Invoice::create(params, node_key)
        .map_err(|e| Error::Internal(format!("cannot encode the invoice: {e}")))?;
    Ok(InvoiceRecord {
        payment_hash,
        bolt11: invoice.to_string(),
        preimage,
        payment_secret: secrets.payment_secret,
        amount_msat,
        description: match &description {
            InvoiceDescription::Direct(text) => text.clone(),
            InvoiceDescription::Hash(_) => String::new(),
        },
        description_hash: match description {
            InvoiceDescription::Direct(_) => None,
            InvoiceDescription::Hash(h) => Some(h),
        },
        min_final_cltv_expiry_delta: DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA,
        created_at: now,
        expires_at: invoice.expires_at(),
        status: InvoiceStatus::Open,
        received_msat: None,
        paid_at: None,
        paid_by: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoice::RouteHintHop;
    use bitcoin::secp256k1::Secp256k1;

    fn key() -> SecretKey {
        SecretKey::from_slice(&[11; 32]).unwrap()
    }

    fn secrets() -> Secrets {
        Secrets {
            preimage: [1; 32],
            payment_secret: [2; 32],
        }
    }

    #[test]
    fn the_invoice_says_what_the_record_says() {
        let hint = RouteHint(vec![RouteHintHop {
            src_node_id: SecretKey::from_slice(&[12; 32])
                .unwrap()
                .public_key(&Secp256k1::new()),
            short_channel_id: crate::wire::ShortChannelId::new(101, 2, 3).unwrap(),
            fee_base_msat: 1000,
            fee_proportional_millionths: 100,
            cltv_expiry_delta: 40,
        }]);
        let r = build_invoice(
            &key(),
            Network::Regtest,
            vec![hint.clone()],
            NewInvoice {
                amount_msat: Some(42_000),
                description: InvoiceDescription::Direct("tea".into()),
                expiry_secs: Some(600),
                payment_hash: None,
            },
            secrets(),
            1_700_000_000,
        )
        .unwrap();
        let inv = Invoice::parse(&r.bolt11, Network::Regtest).unwrap();
        assert_eq!(inv.payment_hash().0, r.payment_hash);
        assert_eq!(
            r.payment_hash,
            sha256::Hash::hash(&[1; 32]).to_byte_array(),
            "the hash of the preimage"
        );
        assert_eq!(r.preimage, Some([1; 32]));
        assert_eq!(inv.payment_secret().0, [2; 32]);
        assert_eq!(inv.amount_msat(), Some(42_000));
        assert_eq!(inv.description(), InvoiceDescription::Direct("tea".into()));
        assert_eq!(inv.expires_at(), 1_700_000_600);
        assert_eq!(r.expires_at, 1_700_000_600);
        assert_eq!(r.created_at, 1_700_000_000);
        assert_eq!(
            inv.min_final_cltv_expiry_delta(),
            u64::from(DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA)
        );
        assert_eq!(inv.route_hints(), vec![hint]);
        assert_eq!(inv.payee(), key().public_key(&Secp256k1::new()));
        assert_eq!(r.status, InvoiceStatus::Open);
        // We take multi-part payments: basic_mpp (17) optional, beside the two required.
        let f = inv.features();
        assert!(f.supports(crate::wire::Feature::BasicMpp));
        assert!(!f.requires(crate::wire::Feature::BasicMpp));
        assert_eq!(f.set_bits().collect::<Vec<_>>(), vec![8, 14, 17]);

        let open = build_invoice(
            &key(),
            Network::Regtest,
            vec![],
            NewInvoice::default(),
            secrets(),
            1_700_000_000,
        )
        .unwrap();
        let inv = Invoice::parse(&open.bolt11, Network::Regtest).unwrap();
        assert_eq!(inv.amount_msat(), None);
        assert_eq!(open.expires_at, 1_700_000_000 + DEFAULT_EXPIRY_SECS);
    }

    #[test]
    fn a_description_hash_goes_in_the_invoice_and_the_record() {
        let long = "a".repeat(2_000);
        let hash = sha256::Hash::hash(long.as_bytes()).to_byte_array();
        let r = build_invoice(
            &key(),
            Network::Regtest,
            vec![],
            NewInvoice {
                amount_msat: Some(1_000),
                description: InvoiceDescription::Hash(hash),
                ..NewInvoice::default()
            },
            secrets(),
            1_700_000_000,
        )
        .unwrap();
        let inv = Invoice::parse(&r.bolt11, Network::Regtest).unwrap();
        assert_eq!(inv.description(), InvoiceDescription::Hash(hash));
        assert_eq!(r.description_hash, Some(hash));
        assert_eq!(r.description, "", "no text: the payer has it, not us");
    }

    #[test]
    fn a_hold_invoice_is_for_the_callers_hash_and_has_no_preimage() {
        let r = build_invoice(
            &key(),
            Network::Regtest,
            vec![],
            NewInvoice {
                amount_msat: Some(5_000),
                payment_hash: Some([9; 32]),
                ..NewInvoice::default()
            },
            secrets(),
            1_700_000_000,
        )
        .unwrap();
        assert_eq!(r.payment_hash, [9; 32]);
        assert_eq!(r.preimage, None, "the caller keeps it");
        assert_eq!(
            r.payment_secret, [2; 32],
            "the payment secret is still ours"
        );
        let inv = Invoice::parse(&r.bolt11, Network::Regtest).unwrap();
        assert_eq!(inv.payment_hash().0, [9; 32]);
        assert_eq!(inv.payment_secret().0, [2; 32]);
    }

    #[tokio::test]
    async fn a_second_invoice_for_a_payment_hash_is_refused() {
        let store = Store::open_in_memory().unwrap();
        let new = || NewInvoice {
            amount_msat: Some(1_000),
            payment_hash: Some([4; 32]),
            ..NewInvoice::default()
        };
        let hold = create_invoice(&store, &key(), Network::Regtest, vec![], new())
            .await
            .unwrap();
        assert_eq!(hold.preimage, None);
        match create_invoice(&store, &key(), Network::Regtest, vec![], new()).await {
            Err(Error::InvalidRequest(m)) => assert!(m.contains("exists already"), "{m}"),
            other => panic!("expected invalid_request, got {other:?}"),
        }
        let stored = store
            .call(|c| payments::get_invoice(c, &[4; 32]))
            .await
            .unwrap();
        assert_eq!(stored, Some(hold), "the first one is untouched");
    }

    #[test]
    fn bad_requests_are_refused_with_the_reason() {
        let build = |amount, description: &str, expiry| {
            build_invoice(
                &key(),
                Network::Regtest,
                vec![],
                NewInvoice {
                    amount_msat: amount,
                    description: InvoiceDescription::Direct(description.to_string()),
                    expiry_secs: expiry,
                    payment_hash: None,
                },
                secrets(),
                1_700_000_000,
            )
        };
        let msg = |r: Result<InvoiceRecord, Error>| match r {
            Err(Error::InvalidRequest(m)) => m,
            other => panic!("expected invalid_request, got {other:?}"),
        };
        assert!(msg(build(Some(0), "x", None)).contains("amount_msat"));
        assert!(msg(build(Some(MAX_AMOUNT_MSAT + 1), "x", None)).contains("amount_msat"));
        assert!(msg(build(None, &"é".repeat(320), None)).contains("639"));
        assert!(build(None, &"a".repeat(639), None).is_ok());
        assert!(msg(build(None, "x", Some(0))).contains("expiry_secs"));
        assert!(msg(build(None, "x", Some(MAX_EXPIRY_SECS + 1))).contains("expiry_secs"));
    }

    #[tokio::test]
    async fn created_invoices_are_stored_with_fresh_secrets() {
        let store = Store::open_in_memory().unwrap();
        let a = create_invoice(
            &store,
            &key(),
            Network::Regtest,
            vec![],
            NewInvoice {
                amount_msat: Some(1_000),
                description: InvoiceDescription::Direct("a".into()),
                ..NewInvoice::default()
            },
        )
        .await
        .unwrap();
        let b = create_invoice(
            &store,
            &key(),
            Network::Regtest,
            vec![],
            NewInvoice {
                amount_msat: Some(1_000),
                description: InvoiceDescription::Direct("a".into()),
                ..NewInvoice::default()
            },
        )
        .await
        .unwrap();
        assert_ne!(a.preimage, b.preimage);
        assert_ne!(a.payment_secret, b.payment_secret);
        let hash = a.payment_hash;
        let stored = store
            .call(move |c| payments::get_invoice(c, &hash))
            .await
            .unwrap();
        assert_eq!(stored, Some(a));
    }
}
