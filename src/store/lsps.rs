//! The `lsps2_jit` table (schema version 15): the JIT channels sold over LSPS2, one row per
//! `jit_channel_scid`, written before the `lsps2.buy` answer leaves.

use bitcoin::secp256k1::PublicKey;
use rusqlite::{named_params, Connection, OptionalExtension, Row};

use super::StoreError;
use crate::lsps::service::{JitBook, NewJit};
use crate::wire::ShortChannelId;

/// Where a JIT channel is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JitState {
    /// Sold; no payment yet.
    Waiting,
    /// A payment arrived; the channel is being opened.
    Opening,
    Opened,
    Failed,
    /// The offer expired before a payment came.
    Expired,
}

impl JitState {
    pub fn as_str(self) -> &'static str {
        match self {
            JitState::Waiting => "waiting",
            JitState::Opening => "opening",
            JitState::Opened => "opened",
            JitState::Failed => "failed",
            JitState::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "waiting" => JitState::Waiting,
            "opening" => JitState::Opening,
            "opened" => JitState::Opened,
            "failed" => JitState::Failed,
            "expired" => JitState::Expired,
            _ => return None,
        })
    }
}

/// One row of `lsps2_jit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitRecord {
    pub scid: ShortChannelId,
    pub client: PublicKey,
    /// The `opening_fee_params` the client bought with, as JSON text.
    pub opening_fee_params: String,
    pub payment_size_msat: Option<u64>,
    pub opening_fee_msat: Option<u64>,
    /// Unix seconds.
    pub valid_until: u64,
    pub client_trusts_lsp: bool,
    pub state: JitState,
    pub created_at: u64,
    pub channel_id: Option<[u8; 32]>,
    /// Internal byte order.
    pub funding_txid: Option<[u8; 32]>,
    pub fee_earned_msat: Option<u64>,
}

fn to_i64(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} above 2^63")))
}

/// Keeps a sold JIT channel; `Ok(false)` when its scid is taken.
pub fn insert_jit(conn: &Connection, jit: &NewJit) -> Result<bool, StoreError> {
    let params = serde_json::to_string(&jit.params)
        .map_err(|e| StoreError::Corrupt(format!("opening_fee_params: {e}")))?;
    let n = conn
        .prepare_cached(
            "INSERT INTO lsps2_jit (scid, client_node_id, opening_fee_params,
                 payment_size_msat, opening_fee_msat, valid_until, client_trusts_lsp, state,
                 created_at)
             VALUES (:scid, :client, :params, :size, :fee, :until, :trusts, 'waiting', :at)
             ON CONFLICT (scid) DO NOTHING",
        )?
        .execute(named_params! {
            ":scid": jit.scid.0 as i64,
            ":client": jit.client.serialize().as_slice(),
            ":params": params,
            ":size": jit.payment_size_msat.map(|v| to_i64(v, "payment_size_msat")).transpose()?,
            ":fee": jit.opening_fee_msat.map(|v| to_i64(v, "opening_fee_msat")).transpose()?,
            ":until": to_i64(jit.valid_until, "valid_until")?,
            ":trusts": jit.client_trusts_lsp,
            ":at": to_i64(jit.created_at, "created_at")?,
        })?;
    Ok(n == 1)
}

/// Marks `waiting` rows whose offer ended by `now` as `expired`; returns how many.
pub fn expire_jit(conn: &Connection, now: u64) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE lsps2_jit SET state = 'expired' WHERE state = 'waiting' AND valid_until <= :now",
        )?
        .execute(named_params! { ":now": to_i64(now, "now")? })?)
}

/// `(client's, everyone's)` `waiting` rows whose offer is still good at `now`.
pub fn count_waiting(
    conn: &Connection,
    client: &PublicKey,
    now: u64,
) -> Result<(usize, usize), StoreError> {
    let now = to_i64(now, "now")?;
    let mine: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM lsps2_jit
             WHERE state = 'waiting' AND client_node_id = :client AND valid_until > :now",
        )?
        .query_row(
            named_params! { ":client": client.serialize().as_slice(), ":now": now },
            |r| r.get(0),
        )?;
    let all: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM lsps2_jit WHERE state = 'waiting' AND valid_until > :now",
        )?
        .query_row(named_params! { ":now": now }, |r| r.get(0))?;
    Ok((mine as usize, all as usize))
}

const COLUMNS: &str = "scid, client_node_id, opening_fee_params, payment_size_msat,
    opening_fee_msat, valid_until, client_trusts_lsp, state, created_at, channel_id,
    funding_txid, fee_earned_msat";

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("lsps2_jit.{what}"))
}

fn opt_u64(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<u64>> {
    Ok(r.get::<_, Option<i64>>(i)?.map(|v| v as u64))
}

type RawRow = (
    i64,
    Vec<u8>,
    String,
    Option<u64>,
    Option<u64>,
    i64,
    bool,
    String,
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<u64>,
);

fn raw(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        opt_u64(r, 3)?,
        opt_u64(r, 4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        opt_u64(r, 11)?,
    ))
}

fn record(row: RawRow) -> Result<JitRecord, StoreError> {
    let (scid, client, params, size, fee, until, trusts, state, at, chan, txid, earned) = row;
    let bytes32 = |v: Option<Vec<u8>>, what: &str| {
        v.map(|b| <[u8; 32]>::try_from(b).map_err(|_| corrupt(what)))
            .transpose()
    };
    Ok(JitRecord {
        scid: ShortChannelId(scid as u64),
        client: PublicKey::from_slice(&client).map_err(|_| corrupt("client_node_id"))?,
        opening_fee_params: params,
        payment_size_msat: size,
        opening_fee_msat: fee,
        valid_until: until as u64,
        client_trusts_lsp: trusts,
        state: JitState::parse(&state).ok_or_else(|| corrupt("state"))?,
        created_at: at as u64,
        channel_id: bytes32(chan, "channel_id")?,
        funding_txid: bytes32(txid, "funding_txid")?,
        fee_earned_msat: earned,
    })
}

/// The JIT channel sold as `scid`, if any.
pub fn jit_by_scid(
    conn: &Connection,
    scid: ShortChannelId,
) -> Result<Option<JitRecord>, StoreError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM lsps2_jit WHERE scid = :scid"
        ))?
        .query_row(named_params! { ":scid": scid.0 as i64 }, raw)
        .optional()?;
    row.map(record).transpose()
}

/// The newest `limit` JIT channels, newest first.
pub fn list_jit(conn: &Connection, limit: usize) -> Result<Vec<JitRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM lsps2_jit ORDER BY id DESC LIMIT :limit"
    ))?;
    let rows = stmt.query_map(named_params! { ":limit": limit as i64 }, raw)?;
    rows.map(|r| record(r?)).collect()
}

/// The store as the LSPS2 service's [`JitBook`], within one write transaction.
pub struct StoreBook<'c>(pub &'c Connection);

impl JitBook for StoreBook<'_> {
    fn waiting(&mut self, client: &PublicKey, now: u64) -> Result<(usize, usize), String> {
        expire_jit(self.0, now).map_err(|e| e.to_string())?;
        count_waiting(self.0, client, now).map_err(|e| e.to_string())
    }

    fn insert(&mut self, jit: &NewJit) -> Result<bool, String> {
        insert_jit(self.0, jit).map_err(|e| e.to_string())
    }
}

/// A payment for `scid` arrived whole and its channel is being opened (`opening`), or the
/// open failed for good (`failed`: the client refused it), or a failed attempt leaves the
/// sale `waiting` for the payer's retry. Only a sale still waiting or opening moves.
pub fn set_jit_state(
    conn: &Connection,
    scid: ShortChannelId,
    state: JitState,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE lsps2_jit SET state = :state
             WHERE scid = :scid AND state IN ('waiting', 'opening')",
        )?
        .execute(named_params! { ":state": state.as_str(), ":scid": scid.0 as i64 })?;
    Ok(n == 1)
}

/// The channel for `scid` is ready and the payment was forwarded on it, `fee_msat` taken.
pub fn jit_opened(
    conn: &Connection,
    scid: ShortChannelId,
    channel_id: &[u8; 32],
    funding_txid: &[u8; 32],
    fee_msat: u64,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE lsps2_jit SET state = 'opened', channel_id = :channel, funding_txid = :txid,
                 fee_earned_msat = :fee
             WHERE scid = :scid AND state IN ('waiting', 'opening')",
        )?
        .execute(named_params! {
            ":channel": channel_id.as_slice(),
            ":txid": funding_txid.as_slice(),
            ":fee": to_i64(fee_msat, "fee_msat")?,
            ":scid": scid.0 as i64,
        })?;
    Ok(n == 1)
}

/// A sale whose client never claimed (`client_trusts_lsp`): its channel was never funded,
/// nothing was earned.
pub fn jit_unclaimed(conn: &Connection, scid: ShortChannelId) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE lsps2_jit SET state = 'failed', fee_earned_msat = NULL
             WHERE scid = :scid AND state = 'opened'",
        )?
        .execute(named_params! { ":scid": scid.0 as i64 })?;
    Ok(n == 1)
}

/// What the hub has taken in opening fees, over every JIT channel opened.
pub fn jit_fees_total(conn: &Connection) -> Result<u64, StoreError> {
    let total: i64 = conn
        .prepare_cached("SELECT COALESCE(SUM(fee_earned_msat), 0) FROM lsps2_jit")?
        .query_row([], |r| r.get(0))?;
    Ok(total as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lsps::lsps2::{menu, PromiseKey, Terms};
    use crate::store::Store;
    use bitcoin::secp256k1::{Secp256k1, SecretKey};

    fn jit(scid: u64, client: u8, until: u64, at: u64) -> NewJit {
        let client = SecretKey::from_slice(&[client; 32])
            .unwrap()
            .public_key(&Secp256k1::new());
        let terms = Terms {
            min_fee_msat: 1,
            proportional: 1,
            valid_for_secs: 600,
            min_lifetime: 1,
            max_client_to_self_delay: 1,
            min_payment_size_msat: 1,
            max_payment_size_msat: 10,
        };
        NewJit {
            scid: ShortChannelId(scid),
            client,
            params: menu(&terms, &PromiseKey([1; 32]), &client, 0).remove(0),
            payment_size_msat: (scid % 2 == 0).then_some(5),
            opening_fee_msat: (scid % 2 == 0).then_some(1),
            valid_until: until,
            client_trusts_lsp: scid % 3 == 0,
            created_at: at,
        }
    }

    #[test]
    fn jit_rows_are_kept_found_counted_listed_and_expired() {
        let store = Store::open_in_memory().unwrap();
        store
            .write_blocking(|c| {
                assert!(insert_jit(c, &jit(7, 1, 100, 10))?);
                assert!(!insert_jit(c, &jit(7, 2, 100, 10))?, "scid taken");
                assert!(insert_jit(c, &jit(8, 1, 50, 11))?);
                assert!(insert_jit(c, &jit(9, 2, 100, 12))?);
                assert!(
                    insert_jit(c, &jit(3, 2, 100, 12))?,
                    "same second, smaller scid"
                );
                let a = jit(7, 1, 0, 0).client;
                assert_eq!(count_waiting(c, &a, 40)?, (2, 4));
                assert_eq!(count_waiting(c, &a, 60)?, (1, 3));
                let r = jit_by_scid(c, ShortChannelId(8))?.unwrap();
                assert_eq!(
                    (r.payment_size_msat, r.opening_fee_msat, r.state),
                    (Some(5), Some(1), JitState::Waiting)
                );
                let p: crate::lsps::lsps2::OpeningFeeParams =
                    serde_json::from_str(&r.opening_fee_params).unwrap();
                assert_eq!(p, jit(8, 1, 0, 0).params);
                assert_eq!(jit_by_scid(c, ShortChannelId(1))?, None);
                let all = list_jit(c, 10)?;
                let order: Vec<u64> = all.iter().map(|r| r.scid.0).collect();
                assert_eq!(order, [3, 9, 8, 7], "newest sale first");
                assert_eq!(list_jit(c, 1)?.len(), 1);
                assert_eq!(expire_jit(c, 60)?, 1);
                assert_eq!(
                    jit_by_scid(c, ShortChannelId(8))?.unwrap().state,
                    JitState::Expired
                );
                assert_eq!(expire_jit(c, 60)?, 0);

                // A sale moves to opening, then opened with its channel and fee; an expired
                // or opened one does not move back.
                assert!(set_jit_state(c, ShortChannelId(7), JitState::Opening)?);
                assert!(!set_jit_state(c, ShortChannelId(8), JitState::Opening)?);
                assert!(jit_opened(c, ShortChannelId(7), &[5; 32], &[6; 32], 1234)?);
                assert!(!set_jit_state(c, ShortChannelId(7), JitState::Waiting)?);
                assert!(!jit_opened(c, ShortChannelId(7), &[5; 32], &[6; 32], 1)?);
                let r = jit_by_scid(c, ShortChannelId(7))?.unwrap();
                assert_eq!(
                    (r.state, r.channel_id, r.funding_txid, r.fee_earned_msat),
                    (JitState::Opened, Some([5; 32]), Some([6; 32]), Some(1234))
                );
                assert!(jit_opened(c, ShortChannelId(9), &[7; 32], &[8; 32], 66)?);
                assert_eq!(jit_fees_total(c)?, 1300);
                // A client that never claimed: nothing earned.
                assert!(jit_unclaimed(c, ShortChannelId(9))?);
                assert!(!jit_unclaimed(c, ShortChannelId(9))?);
                assert_eq!(jit_fees_total(c)?, 1234);
                let r = jit_by_scid(c, ShortChannelId(9))?.unwrap();
                assert_eq!((r.state, r.fee_earned_msat), (JitState::Failed, None));
                Ok(())
            })
            .unwrap();
    }
}
