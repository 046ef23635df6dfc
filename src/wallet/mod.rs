//! The on-chain wallet: BIP84 P2WPKH keys from the seed, coins tracked from a [`ChainSource`],
//! coin selection, signing and broadcast.
//!
//! All state lives in the store ([`crate::store::wallet`]); every change (a block, a mempool
//! transaction, our own payment) is one SQL transaction. The chain is only reached through
//! `dyn ChainSource`, so the embedded chain and a bitcoind behave the same.
//!
//! Later issues fund channels with [`Wallet::fund_outputs`] + [`Wallet::broadcast_funded`]
//! and sweep closed channels to [`Wallet::new_internal_script`]. On-chain claims that cannot
//! pay their own fee take a coin from [`Wallet::reserve_fee_input`] (see `fee_input`).

mod apply;
mod builder;
pub mod coin_selection;
mod error;
mod fee_input;
mod sync;

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bitcoin::address::NetworkUnchecked;
use bitcoin::{Address, Amount, Network, OutPoint, ScriptBuf, Transaction, TxOut, Txid};

pub use apply::GAP_LIMIT;
pub use coin_selection::FeeRate;
pub use error::WalletError;
pub use fee_input::FeeInput;
pub use sync::SyncReport;

use crate::chain::{ChainError, ChainSource};
use crate::keys::{Keychain, KeysManager};
use crate::store::wallet::{self as q, Balance, TxRecord, COINBASE_MATURITY};
use crate::store::{meta, Store};

/// Confirmation target for the default fee rate.
pub const DEFAULT_CONF_TARGET: u16 = 6;
/// Fee rates above this are refused as a likely typo (sat/vB).
pub const MAX_FEE_RATE_SAT_PER_VB: f64 = 10_000.0;
const BIRTHDAY_KEY: &str = "wallet_birthday";

/// Where to learn unconfirmed transactions paying us (optional: without it, incoming coins
/// appear when confirmed; our own payments are always known).
#[async_trait]
pub trait MempoolSource: Send + Sync {
    async fn mempool_txids(&self) -> Result<Vec<Txid>, ChainError>;
}

/// A signed transaction that is not broadcast yet; its inputs stay reserved until
/// [`Wallet::broadcast_funded`] or [`Wallet::release`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundedTx {
    pub tx: Transaction,
    pub fee: Amount,
    /// Index of our change output, if one was added.
    pub change_vout: Option<u32>,
}

/// The on-chain wallet. Share it behind an `Arc`.
pub struct Wallet {
    keys: Arc<KeysManager>,
    store: Store,
    chain: Arc<dyn ChainSource>,
    mempool: Option<Arc<dyn MempoolSource>>,
    network: Network,
    /// First height that can hold our coins: the tip when the seed was made, 0 for a seed
    /// brought from elsewhere (rescan everything).
    birthday: u32,
    /// Serialises syncs, and spends against syncs, so coin selection sees settled state.
    sync_state: tokio::sync::Mutex<sync::SyncState>,
    /// Inputs of funded transactions and fee inputs not yet broadcast, so two transactions
    /// never share a coin.
    reserved: Mutex<HashSet<OutPoint>>,
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Wallet {
    /// Opens the wallet in `store`. `fresh_seed` says the seed was just made, so no coin can
    /// exist before the current tip and the first scan may start there.
    pub async fn open(
        keys: Arc<KeysManager>,
        store: Store,
        chain: Arc<dyn ChainSource>,
        mempool: Option<Arc<dyn MempoolSource>>,
        fresh_seed: bool,
    ) -> Result<Self, WalletError> {
        let stored = store.call(|c| meta::get_u32(c, BIRTHDAY_KEY)).await?;
        let birthday = match stored {
            Some(b) => b,
            None => {
                let b = if fresh_seed {
                    match chain.tip().await {
                        Ok(t) => t.height,
                        Err(e) => {
                            tracing::warn!(error = %e, "chain unreachable; wallet will scan from genesis");
                            0
                        }
                    }
                } else {
                    0
                };
                store
                    .write(move |tx| meta::set_u32(tx, BIRTHDAY_KEY, b))
                    .await?;
                b
            }
        };
        let k = keys.clone();
        store
            .write(move |tx| {
                for keychain in [Keychain::External, Keychain::Internal] {
                    let next = meta::get_u32(tx, apply::next_index_key(keychain))?;
                    apply::ensure_lookahead(tx, &k, keychain, next.and_then(|n| n.checked_sub(1)))?;
                }
                Ok(())
            })
            .await?;
        Ok(Wallet {
            network: keys.network(),
            keys,
            store,
            chain,
            mempool,
            birthday,
            sync_state: tokio::sync::Mutex::new(sync::SyncState::default()),
            reserved: Mutex::new(HashSet::new()),
        })
    }

    pub fn network(&self) -> Network {
        self.network
    }

    /// Hands out the next unused receive address.
    pub async fn new_address(&self) -> Result<Address, WalletError> {
        let script = self.next_script(Keychain::External).await?;
        Ok(Address::from_script(&script, self.network).expect("P2WPKH is an address"))
    }

    /// A fresh script of the change keychain, for sweeps and channel closes that pay the wallet.
    pub async fn new_internal_script(&self) -> Result<ScriptBuf, WalletError> {
        self.next_script(Keychain::Internal).await
    }

    async fn next_script(&self, keychain: Keychain) -> Result<ScriptBuf, WalletError> {
        let keys = self.keys.clone();
        let script = self
            .store
            .write(move |tx| {
                let key = apply::next_index_key(keychain);
                let index = meta::get_u32(tx, key)?.unwrap_or(0);
                meta::set_u32(tx, key, index + 1)?;
                apply::ensure_lookahead(tx, &keys, keychain, Some(index))?;
                keys.wallet_script(keychain, index)
                    .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))
            })
            .await?;
        Ok(script)
    }

    /// Height the wallet has scanned to.
    pub async fn synced_height(&self) -> Result<u32, WalletError> {
        Ok(self
            .store
            .call(q::scan_tip)
            .await?
            .map(|(h, _)| h)
            .unwrap_or(0))
    }

    pub async fn balance(&self) -> Result<Balance, WalletError> {
        Ok(self
            .store
            .call(|c| {
                let tip = q::scan_tip(c)?.map(|(h, _)| h).unwrap_or(0);
                q::balance(c, tip)
            })
            .await?)
    }

    pub async fn transactions(&self) -> Result<Vec<TxRecord>, WalletError> {
        Ok(self
            .store
            .call(|c| {
                let tip = q::scan_tip(c)?.map(|(h, _)| h).unwrap_or(0);
                q::list_txs(c, tip)
            })
            .await?)
    }

    /// Parses `s` as an address of this wallet's network.
    pub fn parse_address(&self, s: &str) -> Result<Address, WalletError> {
        let unchecked = Address::<NetworkUnchecked>::from_str(s.trim())
            .map_err(|e| WalletError::InvalidAddress(format!("{:?} ({e})", s.trim())))?;
        if unchecked.is_valid_for_network(self.network) {
            return Ok(unchecked.assume_checked());
        }
        let address_network = [
            Network::Bitcoin,
            Network::Testnet,
            Network::Signet,
            Network::Regtest,
        ]
        .into_iter()
        .filter(|n| unchecked.is_valid_for_network(*n))
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join("/");
        Err(WalletError::WrongNetwork {
            address_network,
            wallet_network: self.network,
        })
    }

    /// The fee rate to use: the caller's, checked, or the chain's estimate, never below
    /// [`FeeRate::FLOOR`].
    pub async fn fee_rate(&self, sat_per_vb: Option<f64>) -> Result<FeeRate, WalletError> {
        if let Some(r) = sat_per_vb {
            if !r.is_finite() || r < FeeRate::FLOOR.sat_per_vb() {
                return Err(WalletError::InvalidFeeRate(format!(
                    "{r} sat/vB is below the minimum of 1 sat/vB"
                )));
            }
            if r > MAX_FEE_RATE_SAT_PER_VB {
                return Err(WalletError::InvalidFeeRate(format!(
                    "{r} sat/vB is above the maximum of {MAX_FEE_RATE_SAT_PER_VB} sat/vB"
                )));
            }
            return Ok(FeeRate((r * 250.0).ceil() as u64));
        }
        let estimate = self.chain.estimate_fee_rate(DEFAULT_CONF_TARGET).await?;
        let rate = estimate
            .map(|f| FeeRate(f.to_sat_per_kwu()))
            .unwrap_or(FeeRate::FLOOR);
        Ok(rate.max(FeeRate::FLOOR))
    }

    /// Pays `amount` to `address` and broadcasts. The address must be of our network.
    pub async fn send(
        &self,
        address: &Address,
        amount: Amount,
        fee_rate: FeeRate,
    ) -> Result<Txid, WalletError> {
        let funded = self
            .fund_outputs(
                vec![TxOut {
                    value: amount,
                    script_pubkey: address.script_pubkey(),
                }],
                fee_rate,
            )
            .await?;
        self.broadcast_funded(&funded).await
    }

    /// Builds and signs a transaction paying `outputs` from our coins, with change back to us,
    /// without broadcasting it. Its inputs stay reserved until broadcast or [`Wallet::release`].
    ///
    /// # Errors
    /// [`WalletError::Dust`] / [`WalletError::InvalidAmount`] for an unpayable output,
    /// [`WalletError::InsufficientFunds`] when spendable coins do not cover outputs and fee.
    pub async fn fund_outputs(
        &self,
        outputs: Vec<TxOut>,
        fee_rate: FeeRate,
    ) -> Result<FundedTx, WalletError> {
        self.fund(outputs, fee_rate, false).await
    }

    /// [`Wallet::fund_outputs`] from confirmed coins only: a zero-conf channel's funding, which
    /// the peer uses at once, must not hang on an unconfirmed parent that could vanish.
    ///
    /// # Errors
    /// As [`Wallet::fund_outputs`]; unconfirmed coins do not count as available.
    pub async fn fund_outputs_confirmed(
        &self,
        outputs: Vec<TxOut>,
        fee_rate: FeeRate,
    ) -> Result<FundedTx, WalletError> {
        self.fund(outputs, fee_rate, true).await
    }

    async fn fund(
        &self,
        outputs: Vec<TxOut>,
        fee_rate: FeeRate,
        confirmed_only: bool,
    ) -> Result<FundedTx, WalletError> {
        if outputs.is_empty() {
            return Err(WalletError::InvalidAmount("no outputs".into()));
        }
        let mut target = Amount::ZERO;
        for o in &outputs {
            if o.value == Amount::ZERO || o.value > Amount::MAX_MONEY {
                return Err(WalletError::InvalidAmount(format!(
                    "{} sat (must be above 0 and at most 21M BTC)",
                    o.value.to_sat()
                )));
            }
            let dust = o.script_pubkey.minimal_non_dust();
            if o.value < dust {
                return Err(WalletError::Dust {
                    amount_sat: o.value.to_sat(),
                    dust_limit_sat: dust.to_sat(),
                });
            }
            target = target
                .checked_add(o.value)
                .filter(|t| *t <= Amount::MAX_MONEY)
                .ok_or_else(|| WalletError::InvalidAmount("outputs exceed 21M BTC".into()))?;
        }
        let _settled = self.sync_state.lock().await;
        let change_script = self.next_script_peek(Keychain::Internal).await?;
        let (tip, coins) = self
            .store
            .call(|c| {
                let tip = q::scan_tip(c)?.map(|(h, _)| h).unwrap_or(0);
                Ok((tip, q::unspent_outputs(c, tip)?))
            })
            .await?;
        let mut candidates: Vec<_> = {
            let reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
            coins
                .into_iter()
                .filter(|c| !reserved.contains(&c.outpoint))
                .filter(|c| match (c.confirmations, c.coinbase) {
                    (0, _) => c.own && !confirmed_only,
                    (n, true) => n >= COINBASE_MATURITY,
                    (_, false) => true,
                })
                .collect()
        };
        // Confirmed coins first, each group largest first (the query sorts by value).
        candidates.sort_by_key(|c| c.confirmations == 0);
        let values: Vec<Amount> = candidates.iter().map(|c| c.value).collect();
        let weights = builder::weights(&outputs, &change_script);
        let selection = coin_selection::select(
            &values,
            target,
            fee_rate,
            weights,
            change_script.minimal_non_dust(),
        )
        .map_err(|e| WalletError::InsufficientFunds {
            needed_sat: e.needed.to_sat(),
            available_sat: e.available.to_sat(),
        })?;
        let inputs: Vec<_> = selection
            .inputs
            .iter()
            .map(|i| candidates[*i].clone())
            .collect();
        let mut all_outputs = outputs;
        let mut change_vout = None;
        if let Some(change) = selection.change {
            // Only now take the change index for real, so failed attempts do not burn indexes.
            let script = self.next_script(Keychain::Internal).await?;
            change_vout = Some(all_outputs.len() as u32);
            all_outputs.push(TxOut {
                value: change,
                script_pubkey: script,
            });
        }
        let tx = builder::build_and_sign(&self.keys, &inputs, all_outputs, tip)?;
        let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        reserved.extend(inputs.iter().map(|i| i.outpoint));
        Ok(FundedTx {
            tx,
            fee: selection.fee,
            change_vout,
        })
    }

    /// The script [`Wallet::next_script`] would hand out next, without taking it.
    async fn next_script_peek(&self, keychain: Keychain) -> Result<ScriptBuf, WalletError> {
        let index = self
            .store
            .call(move |c| meta::get_u32(c, apply::next_index_key(keychain)))
            .await?
            .unwrap_or(0);
        Ok(self.keys.wallet_script(keychain, index)?)
    }

    /// Broadcasts a transaction from [`Wallet::fund_outputs`] and records it, so its change
    /// counts at once and its inputs are no longer offered.
    pub async fn broadcast_funded(&self, funded: &FundedTx) -> Result<Txid, WalletError> {
        let result = self.chain.broadcast(&funded.tx).await;
        let txid = match result {
            Ok(txid) => txid,
            Err(e) => {
                self.release(&funded.tx);
                return Err(e.into());
            }
        };
        let _settled = self.sync_state.lock().await;
        let keys = self.keys.clone();
        let tx = funded.tx.clone();
        let fee = funded.fee;
        let stored = self
            .store
            .write(move |c| apply::apply_tx(c, &keys, &tx, None, true, Some(fee), now()))
            .await;
        self.release(&funded.tx);
        if let Err(e) = stored {
            // The payment is out; the next block or mempool scan records it.
            tracing::error!(%txid, error = %e, "broadcast transaction not recorded");
        }
        tracing::info!(%txid, fee_sat = fee.to_sat(), "broadcast wallet transaction");
        Ok(txid)
    }

    /// Frees the inputs of a funded transaction that will not be broadcast.
    pub fn release(&self, tx: &Transaction) {
        let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        for input in &tx.input {
            reserved.remove(&input.previous_output);
        }
    }
}

#[cfg(test)]
pub(crate) mod test_chain;
#[cfg(test)]
mod tests;
