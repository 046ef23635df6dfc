//! Wallet coins that pay the fees of transactions the wallet did not build: the zero-fee HTLC
//! transactions of anchors channels (the peer signed `SINGLE|ANYONECANPAY`, so an input and a
//! change output may be added) and children spending our anchor to pay for a commitment (CPFP).
//!
//! ```text
//!  reserve_fee_input(min)                   one confirmed coin, reserved (never in two txs)
//!    -> crate::onchain::fees::…(…, &input.spent_output(), change script, rate)
//!    -> sign_fee_input(&mut tx, index, &input)     P2WPKH, SIGHASH_ALL, once tx is final
//!    -> broadcast_with_fee_input(&tx, &input, fee)  recorded: change counts, coin spent
//!       or release_fee_input(&input)               not broadcast after all
//!  bumping it later: reserve_fee_input_for_replacement(outpoint) -> the same coin again
//! ```
//!
//! Only confirmed coins are offered: a replacement may not add unconfirmed inputs (BIP 125
//! rule 2), and an unconfirmed parent would drag down the rate the claim needs.

use bitcoin::hashes::Hash as _;
use bitcoin::secp256k1::{Message, PublicKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{Amount, OutPoint, Transaction, TxOut, Txid, Witness};

use super::{apply, now, Wallet, WalletError};
use crate::bolt3::spend::SpentOutput;
use crate::keys::Keychain;
use crate::store::wallet::{self as q, WalletOutput, COINBASE_MATURITY};

/// A coin of ours set aside to pay a fee, until it is broadcast
/// ([`Wallet::broadcast_with_fee_input`]) or released ([`Wallet::release_fee_input`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeInput {
    pub outpoint: OutPoint,
    /// The output it spends (a P2WPKH of ours).
    pub txout: TxOut,
    /// Where its key is derived, for signing.
    keychain: Keychain,
    index: u32,
}

impl FeeInput {
    /// The coin as the claim builders take it ([`crate::onchain::fees`]).
    pub fn spent_output(&self) -> SpentOutput {
        SpentOutput {
            outpoint: self.outpoint,
            value_sat: self.txout.value.to_sat(),
        }
    }

    fn from_output(o: WalletOutput) -> FeeInput {
        FeeInput {
            outpoint: o.outpoint,
            txout: TxOut {
                value: o.value,
                script_pubkey: o.script_pubkey,
            },
            keychain: o.keychain,
            index: o.index,
        }
    }
}

fn spendable_confirmed(o: &WalletOutput) -> bool {
    o.confirmations >= 1 && (!o.coinbase || o.confirmations >= COINBASE_MATURITY)
}

impl Wallet {
    /// Reserves the smallest confirmed coin worth at least `min` (keeping large coins for
    /// channel fundings, and tying up as little as possible in a claim that may wait). It is
    /// offered neither by [`Wallet::fund_outputs`] nor again here until released.
    ///
    /// # Errors
    /// [`WalletError::InsufficientFunds`] when no single coin is large enough
    /// (`available_sat` is the largest one).
    pub async fn reserve_fee_input(&self, min: Amount) -> Result<FeeInput, WalletError> {
        let _settled = self.sync_state.lock().await;
        let coins = self
            .store
            .call(|c| {
                let tip = q::scan_tip(c)?.map(|(h, _)| h).unwrap_or(0);
                q::unspent_outputs(c, tip)
            })
            .await?;
        let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        let candidates = coins
            .into_iter()
            .filter(|c| !reserved.contains(&c.outpoint) && spendable_confirmed(c));
        let (large_enough, too_small): (Vec<_>, Vec<_>) = candidates.partition(|c| c.value >= min);
        let largest = too_small
            .iter()
            .map(|c| c.value)
            .max()
            .unwrap_or(Amount::ZERO);
        let coin = large_enough.into_iter().min_by_key(|c| c.value);
        let coin = coin.ok_or(WalletError::InsufficientFunds {
            needed_sat: min.to_sat(),
            available_sat: largest.to_sat(),
        })?;
        reserved.insert(coin.outpoint);
        Ok(FeeInput::from_output(coin))
    }

    /// Reserves `outpoint` again, the coin an unconfirmed transaction of ours spends (an
    /// earlier version of a claim), to build its replacement on the same coin: the two
    /// versions then conflict twice over, and no other coin is tied up.
    ///
    /// # Errors
    /// [`WalletError::CoinUnavailable`] when the coin is not ours, not confirmed, already
    /// reserved, or spent by a confirmed transaction.
    pub async fn reserve_fee_input_for_replacement(
        &self,
        outpoint: OutPoint,
    ) -> Result<FeeInput, WalletError> {
        let unavailable = |reason| WalletError::CoinUnavailable { outpoint, reason };
        let _settled = self.sync_state.lock().await;
        let (coin, spender_confirmed) = self
            .store
            .call(move |c| {
                let tip = q::scan_tip(c)?.map(|(h, _)| h).unwrap_or(0);
                let coin = q::output(c, &outpoint, tip)?;
                let spender = match q::output_spender(c, &outpoint)? {
                    Some((_, Some(txid))) => q::tx_confirmed(c, &txid)?,
                    _ => None,
                };
                Ok((coin, spender))
            })
            .await?;
        let coin = coin.ok_or(unavailable("not a coin of this wallet"))?;
        if !spendable_confirmed(&coin) {
            return Err(unavailable("not confirmed"));
        }
        if spender_confirmed == Some(true) {
            return Err(unavailable("spent by a confirmed transaction"));
        }
        let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        if !reserved.insert(outpoint) {
            return Err(unavailable("already reserved"));
        }
        Ok(FeeInput::from_output(coin))
    }

    /// Signs `input` as input `input_index` of `tx` (P2WPKH, SIGHASH_ALL). Call it last: the
    /// signature commits to every input and output.
    ///
    /// # Errors
    /// [`WalletError::Signing`] when that input does not spend `input`'s coin.
    pub fn sign_fee_input(
        &self,
        tx: &mut Transaction,
        input_index: usize,
        input: &FeeInput,
    ) -> Result<(), WalletError> {
        let signing = |reason: &str| WalletError::Signing {
            input: input_index,
            reason: reason.to_owned(),
        };
        let spends = tx
            .input
            .get(input_index)
            .is_some_and(|i| i.previous_output == input.outpoint);
        if !spends {
            return Err(signing("does not spend the fee input"));
        }
        let sk = self.keys.wallet_secret(input.keychain, input.index)?;
        let pk = PublicKey::from_secret_key(self.keys.secp(), &sk);
        if self.keys.wallet_script(input.keychain, input.index)? != input.txout.script_pubkey {
            return Err(signing("the fee input's script is not its key's"));
        }
        let sighash = SighashCache::new(&*tx)
            .p2wpkh_signature_hash(
                input_index,
                &input.txout.script_pubkey,
                input.txout.value,
                EcdsaSighashType::All,
            )
            .map_err(|e| signing(&e.to_string()))?;
        let msg = Message::from_digest(sighash.to_raw_hash().to_byte_array());
        let sig = bitcoin::ecdsa::Signature::sighash_all(self.keys.secp().sign_ecdsa(&msg, &sk));
        tx.input[input_index].witness = Witness::p2wpkh(&sig, &pk);
        Ok(())
    }

    /// Broadcasts `tx`, which spends `input` and pays `fee` (all of it, for the record), and
    /// records it: its change counts at once and the coin is not offered again. A transaction
    /// it replaced (an earlier version on the same coin) is forgotten, with its change.
    /// Refused by the chain, the coin is released.
    pub async fn broadcast_with_fee_input(
        &self,
        tx: &Transaction,
        input: &FeeInput,
        fee: Amount,
    ) -> Result<Txid, WalletError> {
        let txid = match self.chain.broadcast(tx).await {
            Ok(txid) => txid,
            Err(e) => {
                self.release_fee_input(input);
                return Err(e.into());
            }
        };
        let _settled = self.sync_state.lock().await;
        let keys = self.keys.clone();
        let owned = tx.clone();
        let outpoint = input.outpoint;
        let stored = self
            .store
            .write(move |c| {
                // The chain took it, so whatever unconfirmed spend of the coin we knew was
                // evicted by it.
                if let Some((_, Some(earlier))) = q::output_spender(c, &outpoint)? {
                    if earlier != txid && q::tx_confirmed(c, &earlier)? == Some(false) {
                        tracing::info!(%earlier, replacement = %txid, "fee input's transaction replaced");
                        q::delete_tx(c, &earlier)?;
                    }
                }
                apply::apply_tx(c, &keys, &owned, None, true, Some(fee), now())
            })
            .await;
        self.release_fee_input(input);
        if let Err(e) = stored {
            // The transaction is out; the next block or mempool scan records it.
            tracing::error!(%txid, error = %e, "broadcast transaction not recorded");
        }
        tracing::info!(%txid, fee_sat = fee.to_sat(), "broadcast transaction with a wallet fee input");
        Ok(txid)
    }

    /// Frees a fee input that will not be broadcast.
    pub fn release_fee_input(&self, input: &FeeInput) {
        let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        reserved.remove(&input.outpoint);
    }
}
