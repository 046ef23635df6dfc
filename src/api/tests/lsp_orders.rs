//! `GET /v1/lsp/orders`: the LSPS1 orders, newest first, as the operator reads them.

use super::*;
use crate::lsps::lsps1::{Order, OrderChannel, OrderParams, OrderState, PaymentState};
use bitcoin::hashes::Hash;

fn order(n: u8, expires_at: u64) -> Order {
    Order {
        order_id: format!("order-{n}"),
        client: KeysManager::new(&Seed::from_bytes([n; 32]), Network::Regtest).node_id(),
        params: OrderParams {
            lsp_balance_sat: 100_000,
            client_balance_sat: 5_000,
            required_channel_confirmations: 0,
            funding_confirms_within_blocks: 6,
            channel_expiry_blocks: 144,
            token: None,
            announce_channel: false,
        },
        created_at: 1_000 + u64::from(n),
        fee_total_sat: 1_525,
        order_total_sat: 6_525,
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

#[tokio::test]
async fn orders_are_listed_newest_first_with_their_channel() {
    let api = start(false).await;
    let channel = OrderChannel {
        channel_id: [9; 32],
        funding_txid: bitcoin::Txid::from_byte_array([8; 32]),
        funding_vout: 1,
        funded_at: 1_100,
        expires_at: 1_100 + 144 * 600,
    };
    api.store
        .write(move |tx| {
            use crate::store::lsps1 as q;
            q::insert_order(tx, &order(1, 1_500))?;
            q::insert_order(tx, &order(2, u64::MAX / 2))?;
            q::mark_hold(tx, "order-2")?;
            q::mark_completed(tx, "order-2", &channel)?;
            q::set_payment_state(tx, "order-2", PaymentState::Paid)
        })
        .await
        .unwrap();
    let v = api.client.get("/v1/lsp/orders").await.unwrap();
    let all = v["orders"].as_array().unwrap();
    assert_eq!(all.len(), 2, "{v}");
    let (newest, oldest) = (&all[0], &all[1]);
    assert_eq!(newest["order_id"], "order-2", "newest first");
    assert_eq!(newest["order_state"], "completed");
    assert_eq!(newest["payment_state"], "paid");
    assert_eq!(newest["channel_id"], hex::encode([9; 32]));
    assert_eq!(
        newest["funding_outpoint"],
        format!("{}:1", bitcoin::Txid::from_byte_array([8; 32]))
    );
    assert_eq!(newest["funded_at"], 1_100);
    assert_eq!(newest["lsp_balance_sat"], 100_000);
    assert_eq!(newest["client_balance_sat"], 5_000);
    assert_eq!(newest["fee_total_sat"], 1_525);
    assert_eq!(newest["order_total_sat"], 6_525);
    assert_eq!(newest["payment_hash"], hex::encode([2; 32]));
    assert_eq!(newest["bolt11"], "lnbcrt2");
    // Unpaid past its invoice's expiry: failed, nothing to refund.
    assert_eq!(oldest["order_state"], "failed");
    assert_eq!(oldest["payment_state"], "refunded");
    assert_eq!(oldest["channel_id"], Value::Null);
    assert_eq!(oldest["funding_outpoint"], Value::Null);
    let one = api.client.get("/v1/lsp/orders?limit=1").await.unwrap();
    assert_eq!(one["orders"].as_array().unwrap().len(), 1);
    assert!(api.client.get("/v1/lsp/orders?limit=0").await.is_err());
}
