//! LSPS1 at run time: answers `lsps1.*` requests with the pure rules of `crate::lsps::lsps1`,
//! keeps each order (`store::lsps1`) before its answer leaves, and follows the event log: when
//! an order's hold invoice is `held`, the channel is opened to the client and the invoice
//! settled once the funding is published; if the open fails the invoice is cancelled, so the
//! payer is refunded.
//!
//! Orders are opened one at a time, by one task, in the order their payments were held. A
//! restart resumes: an order whose channel was published is settled; one caught between its
//! payment and its funding is refunded (its channel may have opened: the hub bears that, the
//! client never pays for nothing).

use std::sync::Arc;
use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, SecretKey};
use bitcoin::Network;
use rand::RngCore;
use serde_json::{Map, Value};
use tokio::sync::{broadcast, watch};

use crate::channel::Format;
use crate::events::{EventData, EventLog};
use crate::invoice::InvoiceDescription;
use crate::lsps::lsps0::{check_params, RpcError, CLIENT_REJECTED, INTERNAL_ERROR};
use crate::lsps::lsps1::{
    self, Capacity, Lsps1Config, Order, OrderChannel, OrderState, PaymentState,
};
use crate::net::PeerManager;
use crate::node::channels::{Channels, OpenParams};
use crate::node::invoices::{self, NewInvoice};
use crate::payments::InvoiceStatus;
use crate::store::lsps1 as db;
use crate::store::{payments, Store};
use crate::wallet::Wallet;
use crate::wire::Feature;

/// What LSPS1 needs at run time.
pub struct Lsps1Runtime {
    pub config: Lsps1Config,
    pub store: Store,
    /// Read for its confirmed balance before an order is taken.
    pub wallet: Arc<Wallet>,
    pub channels: Channels,
    pub events: EventLog,
    pub node_key: SecretKey,
    pub network: Network,
    /// The node has addresses to announce, so it can open announced channels.
    pub announces: bool,
}

fn now_secs() -> u64 {
    crate::events::now_secs()
}

fn internal(what: &str, e: impl std::fmt::Display) -> RpcError {
    tracing::error!(error = %e, "LSPS1: {what}");
    RpcError::new(INTERNAL_ERROR, "Internal error")
}

impl Lsps1Runtime {
    /// The answer to an `lsps1.*` request from `client`; `None` for a method not served.
    pub async fn answer(
        &self,
        client: PublicKey,
        method: &str,
        params: &Map<String, Value>,
    ) -> Option<Result<Value, RpcError>> {
        Some(match method {
            "lsps1.get_info" => check_params(params, &[]).map(|()| self.config.options()),
            "lsps1.create_order" => self.create_order(client, params).await,
            "lsps1.get_order" => self.get_order(client, params).await,
            _ => return None,
        })
    }

    async fn get_order(
        &self,
        client: PublicKey,
        params: &Map<String, Value>,
    ) -> Result<Value, RpcError> {
        let id = lsps1::parse_get_order(params)?;
        let order = self
            .store
            .call(move |c| db::order_by_id(c, &id))
            .await
            .map_err(|e| internal("cannot read an order", e))?;
        // Another client's order is not found: ids are not secrets to be probed for.
        match order.filter(|o| o.client == client) {
            Some(o) => Ok(o.to_wire(now_secs())),
            None => Err(lsps1::not_found()),
        }
    }

    async fn create_order(
        &self,
        client: PublicKey,
        params: &Map<String, Value>,
    ) -> Result<Value, RpcError> {
        let order = lsps1::parse_order(params)?;
        let confirmed_sat = match self.wallet.balance().await {
            Ok(b) => Some(b.confirmed),
            Err(e) => {
                tracing::warn!(error = %e, "LSPS1: wallet balance unknown; ordering without the check");
                None
            }
        };
        let capacity = Capacity {
            announces: self.announces,
            confirmed_sat,
        };
        lsps1::check_order(&self.config, &order, capacity)?;
        let now = now_secs();
        // One request at a time (the LSP task is sequential), so the count stays true until
        // the order below is kept.
        let (mine, all) = self
            .store
            .call(move |c| db::count_unpaid(c, &client, now))
            .await
            .map_err(|e| internal("cannot count orders", e))?;
        if mine >= lsps1::MAX_UNPAID_PER_CLIENT || all >= lsps1::MAX_UNPAID_TOTAL {
            return Err(RpcError::new(
                CLIENT_REJECTED,
                "Client rejected: too many orders waiting for a payment",
            ));
        }
        let mut preimage = [0u8; 32];
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut preimage);
        rand::rngs::OsRng.fill_bytes(&mut id);
        let order_id = lsps1::order_id(id);
        let payment_hash = sha256::Hash::hash(&preimage).to_byte_array();
        let fee_total_sat = self.config.fee_sat(order.channel_sat());
        let order_total_sat = fee_total_sat + order.client_balance_sat;
        let hints = self.channels.route_hints().await.unwrap_or_default();
        let invoice = invoices::create_invoice(
            &self.store,
            &self.node_key,
            self.network,
            hints,
            NewInvoice {
                amount_msat: Some(order_total_sat * 1000),
                description: InvoiceDescription::Direct(format!("LSPS1 order {order_id}")),
                expiry_secs: Some(self.config.order_valid_secs),
                payment_hash: Some(payment_hash),
            },
        )
        .await
        .map_err(|e| internal("cannot make an order's invoice", e))?;
        let kept = Order {
            order_id,
            client,
            params: order,
            created_at: invoice.created_at,
            fee_total_sat,
            order_total_sat,
            payment_hash,
            preimage,
            invoice: invoice.bolt11,
            expires_at: invoice.expires_at,
            payment_state: PaymentState::ExpectPayment,
            order_state: OrderState::Created,
            channel: None,
            failure: None,
        };
        let row = kept.clone();
        if let Err(e) = self.store.write(move |c| db::insert_order(c, &row)).await {
            let _ = self.channels.cancel_invoice(payment_hash).await;
            return Err(internal("an order was not stored", e));
        }
        tracing::info!(order_id = %kept.order_id, client = %client,
            lsp_balance_sat = kept.params.lsp_balance_sat, fee_total_sat, "LSPS1 order created");
        Ok(kept.to_wire(now_secs()))
    }

    /// Follows the event log until `shutdown`: held payments open their channels.
    pub async fn run(self: Arc<Self>, peers: PeerManager, mut shutdown: watch::Receiver<bool>) {
        // Subscribed before the sweep: nothing held in between is missed.
        let mut events = self.events.subscribe();
        // Shutdown does not wait for an open in progress (a client may be awaited for
        // `client_wait_secs`): every step is kept in the store first, and the next start
        // resumes from there (see `sweep`).
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            () = self.sweep(&peers) => {}
        }
        loop {
            let event = tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return,
                e = events.recv() => e,
            };
            let work = async {
                match event {
                    Ok(e) => match e.data {
                        EventData::InvoiceHeld { payment_hash, .. } => {
                            if let Some(hash) = parse_hash(&payment_hash) {
                                self.on_held(hash, &peers).await;
                            }
                        }
                        EventData::InvoiceCancelled { payment_hash, .. } => {
                            if let Some(hash) = parse_hash(&payment_hash) {
                                self.on_cancelled(hash).await;
                            }
                        }
                        _ => {}
                    },
                    // Missed events: the store says what is held.
                    Err(broadcast::error::RecvError::Lagged(_)) => self.sweep(&peers).await,
                    Err(broadcast::error::RecvError::Closed) => {}
                }
            };
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return,
                () = work => {}
            }
        }
    }

    async fn order_by_hash(&self, hash: [u8; 32]) -> Option<Order> {
        match self.store.call(move |c| db::order_by_hash(c, &hash)).await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, "LSPS1: cannot read an order");
                None
            }
        }
    }

    async fn on_held(&self, hash: [u8; 32], peers: &PeerManager) {
        let Some(order) = self.order_by_hash(hash).await else {
            return;
        };
        if !order.opens_on_payment() {
            return;
        }
        let id = order.order_id.clone();
        match self.store.write(move |c| db::mark_hold(c, &id)).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::error!(error = %e, "LSPS1: cannot mark an order paid");
                return;
            }
        }
        tracing::info!(order_id = %order.order_id, "LSPS1 order paid (held): opening its channel");
        match self.open(&order, peers).await {
            Ok(channel) => {
                let (id, row) = (order.order_id.clone(), channel.clone());
                if let Err(e) = self
                    .store
                    .write(move |c| db::mark_completed(c, &id, &row))
                    .await
                {
                    tracing::error!(error = %e, order_id = %order.order_id,
                        "LSPS1: the channel is published but not recorded");
                }
                self.settle(&order, &channel).await;
            }
            Err(why) => self.refund(&order, &why).await,
        }
    }

    /// Opens the order's channel once the client is connected.
    async fn open(&self, order: &Order, peers: &PeerManager) -> Result<OrderChannel, String> {
        let client = order.client;
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(self.config.client_wait_secs);
        let peer = loop {
            if let Some(p) = peers.summary(&client) {
                break p;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err("the client did not connect".into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let format = if peer.features.supports(Feature::AnchorsZeroFeeHtlcTx) {
            Format::Anchors
        } else {
            Format::StaticRemoteKey
        };
        // Zero confirmations asked: usable at once, if the client takes zero-conf channels;
        // else an ordinary channel, ready once confirmed.
        let zero_conf = order.params.required_channel_confirmations == 0
            && peer.features.supports(Feature::ZeroConf);
        let opened = self
            .channels
            .open(OpenParams {
                peer: client,
                capacity_sat: order.params.channel_sat(),
                push_msat: order.params.client_balance_sat * 1000,
                format,
                announce: order.params.announce_channel,
                zero_conf,
            })
            .await
            .map_err(|e| format!("the channel did not open: {e}"))?;
        let vout = match self.channels.get(opened.channel_id).await {
            Ok(c) => c.funding.map(|o| o.vout).unwrap_or(0),
            Err(_) => 0,
        };
        let now = now_secs();
        Ok(OrderChannel {
            channel_id: opened.channel_id,
            funding_txid: opened.funding_txid,
            funding_vout: vout,
            funded_at: now,
            expires_at: now + u64::from(order.params.channel_expiry_blocks) * lsps1::BLOCK_SECS,
        })
    }

    /// Releases the preimage: the fee is earned.
    async fn settle(&self, order: &Order, channel: &OrderChannel) {
        let settled = self
            .channels
            .settle_invoice(order.payment_hash, order.preimage)
            .await;
        let outcome = match settled {
            Ok(_) => Some(PaymentState::Paid),
            Err(e) => {
                // Settled before a restart cut the record short, or failed back meanwhile (its
                // HTLCs came close to expiry: the channel stays open, unpaid). Anything else is
                // tried again at the next start.
                let hash = order.payment_hash;
                let status = self
                    .store
                    .call(move |c| payments::get_invoice(c, &hash))
                    .await
                    .ok()
                    .flatten()
                    .map(|i| i.status);
                match status {
                    Some(InvoiceStatus::Paid) => Some(PaymentState::Paid),
                    Some(InvoiceStatus::Cancelled) => {
                        tracing::warn!(order_id = %order.order_id, error = %e,
                            "LSPS1: the order's payment was failed back before it was settled");
                        Some(PaymentState::Refunded)
                    }
                    _ => {
                        tracing::warn!(order_id = %order.order_id, error = %e,
                            "LSPS1: the order's payment could not be settled; retried at start");
                        None
                    }
                }
            }
        };
        let id = order.order_id.clone();
        let kept = match outcome {
            None => return,
            Some(PaymentState::Paid) => {
                let event = EventData::LspOrderPaid {
                    order_id: order.order_id.clone(),
                    client_node_id: order.client.to_string(),
                    fee_total_sat: order.fee_total_sat,
                    order_total_sat: order.order_total_sat,
                    payment_hash: hex::encode(order.payment_hash),
                    channel_id: hex::encode(channel.channel_id),
                    funding_outpoint: format!("{}:{}", channel.funding_txid, channel.funding_vout),
                };
                let events = self.events.clone();
                self.store
                    .write(move |c| {
                        db::set_payment_state(c, &id, PaymentState::Paid)?;
                        events.record(c, &event)?;
                        Ok(())
                    })
                    .await
            }
            Some(state) => {
                self.store
                    .write(move |c| db::set_payment_state(c, &id, state))
                    .await
            }
        };
        match kept {
            Ok(()) => {
                tracing::info!(order_id = %order.order_id, fee_total_sat = order.fee_total_sat,
                payment = ?outcome, "LSPS1 order completed")
            }
            Err(e) => tracing::error!(error = %e, "LSPS1: a settled order not recorded"),
        }
    }

    /// Cancels the order's invoice (a held payment is failed back) and marks it failed.
    async fn refund(&self, order: &Order, why: &str) {
        tracing::warn!(order_id = %order.order_id, reason = %why, "LSPS1 order failed: refunding");
        if let Err(e) = self.channels.cancel_invoice(order.payment_hash).await {
            tracing::error!(error = %e, order_id = %order.order_id,
                "LSPS1: cannot cancel a failed order's invoice");
        }
        let (id, why) = (order.order_id.clone(), why.to_string());
        if let Err(e) = self
            .store
            .write(move |c| db::mark_failed(c, &id, &why))
            .await
        {
            tracing::error!(error = %e, "LSPS1: a failed order not recorded");
        }
    }

    async fn on_cancelled(&self, hash: [u8; 32]) {
        let Some(order) = self.order_by_hash(hash).await else {
            return;
        };
        let id = order.order_id.clone();
        let done = match (order.order_state, order.payment_state) {
            (OrderState::Created, PaymentState::ExpectPayment) => {
                self.store
                    .write(move |c| db::mark_failed(c, &id, "the invoice was cancelled"))
                    .await
            }
            (OrderState::Completed, PaymentState::Hold) => {
                self.store
                    .write(move |c| db::set_payment_state(c, &id, PaymentState::Refunded))
                    .await
            }
            _ => Ok(()),
        };
        if let Err(e) = done {
            tracing::error!(error = %e, "LSPS1: a cancelled order not recorded");
        }
    }

    /// Resumes from the store: orders whose payment is held, and those interrupted.
    async fn sweep(&self, peers: &PeerManager) {
        let found = self
            .store
            .call(|c| {
                Ok((
                    db::orders_in(c, PaymentState::Hold)?,
                    db::orders_in(c, PaymentState::ExpectPayment)?,
                ))
            })
            .await;
        let (held, waiting) = match found {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, "LSPS1: cannot read the orders to resume");
                return;
            }
        };
        for order in held {
            match (&order.channel, order.order_state) {
                (Some(channel), _) => self.settle(&order, channel).await,
                (None, OrderState::Created) => {
                    self.refund(&order, "interrupted before its channel was published")
                        .await
                }
                _ => {}
            }
        }
        for order in waiting.into_iter().filter(Order::opens_on_payment) {
            let hash = order.payment_hash;
            let status = self
                .store
                .call(move |c| payments::get_invoice(c, &hash))
                .await
                .ok()
                .flatten()
                .map(|i| i.status_at(now_secs()));
            match status {
                Some(InvoiceStatus::Held) => self.on_held(hash, peers).await,
                Some(InvoiceStatus::Cancelled) => self.on_cancelled(hash).await,
                _ => {}
            }
        }
    }
}

fn parse_hash(hex_hash: &str) -> Option<[u8; 32]> {
    hex::decode(hex_hash)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
}
