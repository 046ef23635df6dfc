//! Block assembly for regtest: a BIP34 coinbase paying subsidy plus fees, the BIP141 witness
//! commitment, the merkle root, and a nonce that meets regtest's proof of work.

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::blockdata::opcodes::all::OP_RETURN;
use bitcoin::blockdata::script::Builder;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Witness,
};

/// Regtest's proof-of-work limit, in compact form.
pub const REGTEST_BITS: u32 = 0x207f_ffff;
/// Regtest halves the subsidy every 150 blocks.
pub const HALVING_INTERVAL: u32 = 150;

/// The block subsidy at `height` on regtest.
pub fn subsidy(height: u32) -> Amount {
    let halvings = height / HALVING_INTERVAL;
    if halvings >= 64 {
        return Amount::ZERO;
    }
    Amount::from_sat((50 * 100_000_000u64) >> halvings)
}

/// What goes into a block.
pub struct Template<'a> {
    pub prev: BlockHash,
    pub height: u32,
    pub time: u32,
    pub payout: &'a ScriptBuf,
    pub txs: Vec<Transaction>,
    pub fees: Amount,
    /// Makes each coinbase unique, so two blocks at one height never collide.
    pub extra_nonce: u64,
}

/// Builds and grinds a block for `t`.
pub fn assemble(t: Template<'_>) -> Block {
    // BIP34: the height is the first push of the coinbase scriptSig; the extra nonce keeps
    // scriptSig at least two bytes and blocks distinct.
    let script_sig = Builder::new()
        .push_int(t.height as i64)
        .push_int((t.extra_nonce & 0x7fff_ffff) as i64)
        .into_script();
    let mut coinbase = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig,
            sequence: Sequence::MAX,
            witness: Witness::from_slice(&[[0u8; 32]]),
        }],
        output: vec![TxOut {
            value: subsidy(t.height) + t.fees,
            script_pubkey: t.payout.clone(),
        }],
    };
    let mut txdata = Vec::with_capacity(t.txs.len() + 1);
    txdata.push(coinbase.clone());
    txdata.extend(t.txs);
    let mut block = Block {
        header: Header {
            version: BlockVersion::from_consensus(0x2000_0000),
            prev_blockhash: t.prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time: t.time,
            bits: CompactTarget::from_consensus(REGTEST_BITS),
            nonce: 0,
        },
        txdata,
    };
    // BIP141 commitment to the witness root (the coinbase's wtxid counts as zero), with the
    // 32-byte zero reserved value in the coinbase witness.
    let witness_root = block.witness_root().expect("block has a coinbase");
    let commitment = Block::compute_witness_commitment(&witness_root, &[0u8; 32]);
    let mut commitment_script = vec![0xaa, 0x21, 0xa9, 0xed];
    commitment_script.extend_from_slice(commitment.as_byte_array());
    let push: &bitcoin::script::PushBytes = commitment_script
        .as_slice()
        .try_into()
        .expect("36 bytes is a valid push");
    coinbase.output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: Builder::new()
            .push_opcode(OP_RETURN)
            .push_slice(push)
            .into_script(),
    });
    block.txdata[0] = coinbase;
    block.header.merkle_root = block.compute_merkle_root().expect("non-empty block");
    let target = block.header.target();
    while block.header.validate_pow(target).is_err() {
        block.header.nonce = block.header.nonce.wrapping_add(1);
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsidy_halves_every_150_blocks() {
        assert_eq!(subsidy(0), Amount::from_btc(50.0).unwrap());
        assert_eq!(subsidy(149), Amount::from_btc(50.0).unwrap());
        assert_eq!(subsidy(150), Amount::from_btc(25.0).unwrap());
        assert_eq!(subsidy(300), Amount::from_btc(12.5).unwrap());
        assert_eq!(subsidy(150 * 64), Amount::ZERO);
    }

    #[test]
    fn assembled_block_has_valid_pow_merkle_and_witness_commitment() {
        let payout = ScriptBuf::new_op_return([1u8; 4]);
        let block = assemble(Template {
            prev: BlockHash::all_zeros(),
            height: 300,
            time: 1_700_000_000,
            payout: &payout,
            txs: vec![],
            fees: Amount::from_sat(10),
            extra_nonce: 3,
        });
        assert!(block.header.validate_pow(block.header.target()).is_ok());
        assert!(block.check_merkle_root());
        assert!(block.check_witness_commitment());
        assert_eq!(block.bip34_block_height().unwrap(), 300);
        assert_eq!(
            block.txdata[0].output[0].value,
            subsidy(300) + Amount::from_sat(10)
        );
    }
}
