//! The `lsps1_orders` table (schema version 16): the channels bought over LSPS1, one row per
//! order, written before the `lsps1.create_order` answer leaves. The row keeps the hold
//! invoice's preimage, released once the channel is published.

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::PublicKey;
use bitcoin::Txid;
use rusqlite::{named_params, Connection, OptionalExtension, Row};

use super::StoreError;
use crate::lsps::lsps1::{Order, OrderChannel, OrderParams, OrderState, PaymentState};

fn to_i64(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} above 2^63")))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("lsps1_orders.{what}"))
}

/// Keeps a new order.
pub fn insert_order(conn: &Connection, o: &Order) -> Result<(), StoreError> {
    let p = &o.params;
    conn.prepare_cached(
        "INSERT INTO lsps1_orders (order_id, client_node_id, lsp_balance_sat,
             client_balance_sat, required_channel_confirmations, funding_confirms_within_blocks,
             channel_expiry_blocks, token, announce_channel, created_at, fee_total_sat,
             order_total_sat, payment_hash, preimage, bolt11, expires_at, payment_state,
             order_state)
         VALUES (:id, :client, :lsp, :cb, :req, :within, :expiry, :token, :announce, :at, :fee,
             :total, :hash, :preimage, :bolt11, :expires, :pstate, :ostate)",
    )?
    .execute(named_params! {
        ":id": o.order_id,
        ":client": o.client.serialize().as_slice(),
        ":lsp": to_i64(p.lsp_balance_sat, "lsp_balance_sat")?,
        ":cb": to_i64(p.client_balance_sat, "client_balance_sat")?,
        ":req": p.required_channel_confirmations,
        ":within": p.funding_confirms_within_blocks,
        ":expiry": p.channel_expiry_blocks,
        ":token": p.token,
        ":announce": p.announce_channel,
        ":at": to_i64(o.created_at, "created_at")?,
        ":fee": to_i64(o.fee_total_sat, "fee_total_sat")?,
        ":total": to_i64(o.order_total_sat, "order_total_sat")?,
        ":hash": o.payment_hash.as_slice(),
        ":preimage": o.preimage.as_slice(),
        ":bolt11": o.invoice,
        ":expires": to_i64(o.expires_at, "expires_at")?,
        ":pstate": o.payment_state.as_str(),
        ":ostate": o.order_state.as_str(),
    })?;
    Ok(())
}

/// `(client's, everyone's)` orders still waiting for a payment whose invoice is good at `now`.
pub fn count_unpaid(
    conn: &Connection,
    client: &PublicKey,
    now: u64,
) -> Result<(usize, usize), StoreError> {
    let now = to_i64(now, "now")?;
    let mine: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM lsps1_orders WHERE payment_state = 'expect_payment'
             AND order_state = 'created' AND client_node_id = :client AND expires_at > :now",
        )?
        .query_row(
            named_params! { ":client": client.serialize().as_slice(), ":now": now },
            |r| r.get(0),
        )?;
    let all: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM lsps1_orders WHERE payment_state = 'expect_payment'
             AND order_state = 'created' AND expires_at > :now",
        )?
        .query_row(named_params! { ":now": now }, |r| r.get(0))?;
    Ok((mine as usize, all as usize))
}

const COLUMNS: &str = "order_id, client_node_id, lsp_balance_sat, client_balance_sat,
    required_channel_confirmations, funding_confirms_within_blocks, channel_expiry_blocks,
    token, announce_channel, created_at, fee_total_sat, order_total_sat, payment_hash,
    preimage, bolt11, expires_at, payment_state, order_state, channel_id, funding_txid,
    funding_vout, funded_at, channel_expires_at, failure";

fn bytes32(v: Vec<u8>, what: &str) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(v).map_err(|_| corrupt(what))
}

fn read(r: &Row<'_>) -> rusqlite::Result<Result<Order, StoreError>> {
    let u = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)? as u64) };
    let client: Vec<u8> = r.get(1)?;
    let hash: Vec<u8> = r.get(12)?;
    let preimage: Vec<u8> = r.get(13)?;
    let pstate: String = r.get(16)?;
    let ostate: String = r.get(17)?;
    let channel_id: Option<Vec<u8>> = r.get(18)?;
    let txid: Option<Vec<u8>> = r.get(19)?;
    let vout: Option<i64> = r.get(20)?;
    let funded_at: Option<i64> = r.get(21)?;
    let channel_expires: Option<i64> = r.get(22)?;
    let params = OrderParams {
        lsp_balance_sat: u(2)?,
        client_balance_sat: u(3)?,
        required_channel_confirmations: r.get(4)?,
        funding_confirms_within_blocks: r.get(5)?,
        channel_expiry_blocks: r.get(6)?,
        token: r.get(7)?,
        announce_channel: r.get(8)?,
    };
    let (order_id, created_at, fee, total, bolt11, expires_at, failure) = (
        r.get::<_, String>(0)?,
        u(9)?,
        u(10)?,
        u(11)?,
        r.get::<_, String>(14)?,
        u(15)?,
        r.get::<_, Option<String>>(23)?,
    );
    Ok((|| {
        let channel = match (channel_id, txid, vout, funded_at, channel_expires) {
            (Some(id), Some(txid), Some(vout), Some(at), Some(until)) => Some(OrderChannel {
                channel_id: bytes32(id, "channel_id")?,
                funding_txid: Txid::from_byte_array(bytes32(txid, "funding_txid")?),
                funding_vout: u32::try_from(vout).map_err(|_| corrupt("funding_vout"))?,
                funded_at: at as u64,
                expires_at: until as u64,
            }),
            (None, None, None, None, None) => None,
            _ => return Err(corrupt("channel columns")),
        };
        Ok(Order {
            order_id,
            client: PublicKey::from_slice(&client).map_err(|_| corrupt("client_node_id"))?,
            params,
            created_at,
            fee_total_sat: fee,
            order_total_sat: total,
            payment_hash: bytes32(hash, "payment_hash")?,
            preimage: bytes32(preimage, "preimage")?,
            invoice: bolt11,
            expires_at,
            payment_state: PaymentState::parse(&pstate).ok_or_else(|| corrupt("payment_state"))?,
            order_state: OrderState::parse(&ostate).ok_or_else(|| corrupt("order_state"))?,
            channel,
            failure,
        })
    })())
}

fn one(
    conn: &Connection,
    filter: &str,
    key: &dyn rusqlite::ToSql,
) -> Result<Option<Order>, StoreError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM lsps1_orders WHERE {filter} = ?1"
        ))?
        .query_row([key], read)
        .optional()?;
    row.transpose()
}

/// The order `order_id`, if any.
pub fn order_by_id(conn: &Connection, order_id: &str) -> Result<Option<Order>, StoreError> {
    one(conn, "order_id", &order_id)
}

/// The order paid by `payment_hash`, if any.
pub fn order_by_hash(conn: &Connection, hash: &[u8; 32]) -> Result<Option<Order>, StoreError> {
    one(conn, "payment_hash", &hash.as_slice())
}

/// The newest `limit` orders, newest first.
pub fn list_orders(conn: &Connection, limit: usize) -> Result<Vec<Order>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM lsps1_orders ORDER BY id DESC LIMIT ?1"
    ))?;
    let rows = stmt.query_map([limit as i64], read)?;
    rows.map(|r| r?).collect()
}

/// Orders whose payment is in `state`, oldest first (what a restart resumes).
pub fn orders_in(conn: &Connection, state: PaymentState) -> Result<Vec<Order>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM lsps1_orders WHERE payment_state = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([state.as_str()], read)?;
    rows.map(|r| r?).collect()
}

/// A held payment starts the open: `true` when the order was waiting for it (only once).
pub fn mark_hold(conn: &Connection, order_id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE lsps1_orders SET payment_state = 'hold'
             WHERE order_id = ?1 AND payment_state = 'expect_payment' AND order_state = 'created'",
        )?
        .execute([order_id])?
        == 1)
}

/// The channel is published: the order is completed.
pub fn mark_completed(
    conn: &Connection,
    order_id: &str,
    c: &OrderChannel,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE lsps1_orders SET order_state = 'completed', channel_id = :id,
             funding_txid = :txid, funding_vout = :vout, funded_at = :at,
             channel_expires_at = :until
         WHERE order_id = :order",
    )?
    .execute(named_params! {
        ":id": c.channel_id.as_slice(),
        ":txid": c.funding_txid.to_byte_array().as_slice(),
        ":vout": c.funding_vout,
        ":at": to_i64(c.funded_at, "funded_at")?,
        ":until": to_i64(c.expires_at, "channel_expires_at")?,
        ":order": order_id,
    })?;
    Ok(())
}

/// Sets the payment's state (`paid` once settled, `refunded` once cancelled).
pub fn set_payment_state(
    conn: &Connection,
    order_id: &str,
    state: PaymentState,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE lsps1_orders SET payment_state = ?1 WHERE order_id = ?2")?
        .execute([state.as_str(), order_id])?;
    Ok(())
}

/// The order failed before its channel was published: its payment is refunded.
pub fn mark_failed(conn: &Connection, order_id: &str, why: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE lsps1_orders SET order_state = 'failed', payment_state = 'refunded',
             failure = ?1
         WHERE order_id = ?2 AND order_state = 'created'",
    )?
    .execute([why, order_id])?;
    Ok(())
}

/// The fees of every LSPS1 order paid (its preimage released with its channel published).
pub fn order_fees_paid_sat(conn: &Connection) -> Result<u64, StoreError> {
    let total: i64 = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(fee_total_sat), 0) FROM lsps1_orders WHERE payment_state = 'paid'",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(total.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use bitcoin::secp256k1::{Secp256k1, SecretKey};

    fn order(n: u8, client: u8, expires_at: u64) -> Order {
        Order {
            order_id: format!("order-{n}"),
            client: SecretKey::from_slice(&[client; 32])
                .unwrap()
                .public_key(&Secp256k1::new()),
            params: OrderParams {
                lsp_balance_sat: 100_000,
                client_balance_sat: 0,
                required_channel_confirmations: 0,
                funding_confirms_within_blocks: 6,
                channel_expiry_blocks: 144,
                token: (n % 2 == 0).then(String::new),
                announce_channel: false,
            },
            created_at: 10 + u64::from(n),
            fee_total_sat: 3_000,
            order_total_sat: 3_000,
            payment_hash: [n; 32],
            preimage: [n + 100; 32],
            invoice: format!("lnbcrt{n}"),
            expires_at,
            payment_state: PaymentState::ExpectPayment,
            order_state: OrderState::Created,
            channel: None,
            failure: None,
        }
    }

    #[test]
    fn orders_are_kept_found_counted_and_move_through_their_states() {
        let store = Store::open_in_memory().unwrap();
        store
            .write_blocking(|c| {
                for (n, client, until) in [(1, 1, 100), (2, 1, 50), (3, 2, 100)] {
                    insert_order(c, &order(n, client, until))?;
                }
                assert!(insert_order(c, &order(1, 3, 100)).is_err(), "id taken");
                let a = order(1, 1, 0).client;
                assert_eq!(count_unpaid(c, &a, 40)?, (2, 3));
                assert_eq!(count_unpaid(c, &a, 60)?, (1, 2));
                assert_eq!(order_by_id(c, "order-2")?, Some(order(2, 1, 50)));
                assert_eq!(order_by_hash(c, &[3; 32])?, Some(order(3, 2, 100)));
                assert_eq!(order_by_id(c, "nope")?, None);
                let ids: Vec<String> = list_orders(c, 10)?
                    .into_iter()
                    .map(|o| o.order_id)
                    .collect();
                assert_eq!(ids, ["order-3", "order-2", "order-1"], "newest first");
                assert_eq!(list_orders(c, 1)?.len(), 1);

                assert!(mark_hold(c, "order-1")?);
                assert!(!mark_hold(c, "order-1")?, "held once");
                assert_eq!(
                    count_unpaid(c, &a, 40)?,
                    (1, 2),
                    "a held order is not unpaid"
                );
                assert_eq!(orders_in(c, PaymentState::Hold)?.len(), 1);
                let ch = OrderChannel {
                    channel_id: [9; 32],
                    funding_txid: Txid::from_byte_array([8; 32]),
                    funding_vout: 0,
                    funded_at: 20,
                    expires_at: 20 + 144 * 600,
                };
                mark_completed(c, "order-1", &ch)?;
                set_payment_state(c, "order-1", PaymentState::Paid)?;
                let done = order_by_id(c, "order-1")?.unwrap();
                assert_eq!(done.channel, Some(ch));
                assert_eq!(
                    (done.order_state, done.payment_state),
                    (OrderState::Completed, PaymentState::Paid)
                );
                mark_failed(c, "order-1", "late")?;
                assert_eq!(
                    order_by_id(c, "order-1")?.unwrap().order_state,
                    OrderState::Completed,
                    "a completed order does not fail"
                );
                mark_failed(c, "order-3", "peer gone")?;
                let failed = order_by_id(c, "order-3")?.unwrap();
                assert_eq!(
                    (
                        failed.order_state,
                        failed.payment_state,
                        failed.failure.as_deref()
                    ),
                    (
                        OrderState::Failed,
                        PaymentState::Refunded,
                        Some("peer gone")
                    )
                );
                assert!(!mark_hold(c, "order-3")?, "a failed order opens nothing");
                Ok(())
            })
            .unwrap();
    }
}
