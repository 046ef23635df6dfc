//! A thin, owned wrapper over Bitcoin Core's libbitcoinkernel: a regtest context and chainstate,
//! block submission, block reads, and script verification. Everything crosses this boundary as
//! rust-bitcoin types, serialized with consensus encoding.

use std::path::{Path, PathBuf};

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::{Block, BlockHash, Transaction, TxOut};
use bitcoinkernel as bk;
use bitcoinkernel::prelude::*;
use bitcoinkernel::{ChainType, ChainstateManager, Context};

use super::RegtestError;

/// Where the kernel keeps its databases.
pub(crate) enum Storage {
    /// Chainstate and block index under this directory, kept across restarts.
    Disk(PathBuf),
    /// Databases in memory; block files in a temporary directory removed on drop.
    Memory(tempfile::TempDir),
}

impl Storage {
    fn root(&self) -> &Path {
        match self {
            Storage::Disk(p) => p,
            Storage::Memory(t) => t.path(),
        }
    }
}

/// One regtest chainstate. Field order matters: the chainstate manager must be dropped (which
/// flushes it) before the context it was created from, and both before the running marker goes.
pub(crate) struct Kernel {
    chainman: ChainstateManager,
    _context: Context,
    storage: Storage,
    _running: RunningMarker,
}

/// A file that exists while a chainstate is open on disk. Found at start, it means the last run
/// was killed: the kernel flushes its block index and chainstate lazily, so they may lag behind
/// the block files, which are written as each block arrives. We then rebuild both from the
/// block files (a reindex, quick at regtest sizes) rather than come back at an older tip.
struct RunningMarker(Option<PathBuf>);

impl RunningMarker {
    const FILE: &'static str = "chainstate-open";

    fn create(dir: Option<&Path>) -> Result<(RunningMarker, bool), RegtestError> {
        let Some(dir) = dir else {
            return Ok((RunningMarker(None), false));
        };
        let path = dir.join(Self::FILE);
        let unclean = path.exists();
        let file = std::fs::File::create(&path)?;
        file.sync_all()?;
        Ok((RunningMarker(Some(path)), unclean))
    }
}

impl Drop for RunningMarker {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A block-tree entry reduced to what callers need; owned so it outlives kernel borrows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub hash: BlockHash,
    pub height: u32,
    pub header: bitcoin::block::Header,
    pub in_active_chain: bool,
}

fn kernel_err(what: &str, e: bk::KernelError) -> RegtestError {
    RegtestError::Kernel(format!("{what}: {e}"))
}

fn to_kernel_hash(hash: &BlockHash) -> bk::BlockHash {
    bk::BlockHash::from(hash.to_byte_array())
}

fn from_kernel_hash(hash: &impl BlockHashExt) -> BlockHash {
    BlockHash::from_byte_array(hash.to_bytes())
}

impl Kernel {
    pub(crate) fn open(storage: Storage) -> Result<Kernel, RegtestError> {
        let root = storage.root().to_path_buf();
        let data_dir = root.join("chainstate");
        let blocks_dir = root.join("blocks");
        std::fs::create_dir_all(&data_dir)?;
        std::fs::create_dir_all(&blocks_dir)?;
        let context = Context::builder()
            .chain_type(ChainType::Regtest)
            .build()
            .map_err(|e| kernel_err("context", e))?;
        let in_memory = matches!(storage, Storage::Memory(_));
        let disk_root = (!in_memory).then_some(root.as_path());
        let (running, unclean) = RunningMarker::create(disk_root)?;
        let mut replay = Vec::new();
        if unclean {
            tracing::warn!(
                "the chain was not shut down cleanly: rebuilding it from its block files"
            );
            replay = read_block_files(&blocks_dir)?;
            std::fs::remove_dir_all(&data_dir)?;
            std::fs::remove_dir_all(&blocks_dir)?;
            std::fs::create_dir_all(&data_dir)?;
            std::fs::create_dir_all(&blocks_dir)?;
        }
        let path_str = |p: &Path| {
            p.to_str()
                .map(str::to_owned)
                .ok_or_else(|| RegtestError::Kernel(format!("path is not UTF-8: {}", p.display())))
        };
        let chainman =
            ChainstateManager::builder(&context, &path_str(&data_dir)?, &path_str(&blocks_dir)?)
                .map_err(|e| kernel_err("chainstate options", e))?
                .chainstate_db_in_memory(in_memory)
                .block_tree_db_in_memory(in_memory)
                .build()
                .map_err(|e| kernel_err("chainstate", e))?;
        chainman
            .import_blocks()
            .map_err(|e| kernel_err("import blocks", e))?;
        let kernel = Kernel {
            chainman,
            _context: context,
            storage,
            _running: running,
        };
        for block in &replay {
            kernel.process_block(block)?;
        }
        Ok(kernel)
    }

    /// Closes the chainstate and deletes its files, handing back the storage to reopen afresh.
    pub(crate) fn wipe(self) -> Result<Storage, RegtestError> {
        let Kernel {
            chainman,
            _context,
            storage,
            _running,
        } = self;
        drop(chainman);
        drop(_context);
        // Closed cleanly: the rebuild that follows starts from nothing anyway.
        drop(_running);
        let root = storage.root();
        for sub in ["chainstate", "blocks"] {
            let p = root.join(sub);
            if p.exists() {
                std::fs::remove_dir_all(&p)?;
            }
        }
        Ok(storage)
    }

    pub(crate) fn tip(&self) -> Entry {
        let chain = self.chainman.active_chain();
        self.entry_of(&chain.tip(), true)
    }

    fn entry_of(&self, e: &bk::BlockTreeEntry<'_>, in_active_chain: bool) -> Entry {
        let raw: [u8; 80] = (&e.header().to_owned()).into();
        Entry {
            hash: from_kernel_hash(&e.block_hash()),
            height: e.height().max(0) as u32,
            header: deserialize(&raw).expect("kernel serializes 80-byte headers"),
            in_active_chain,
        }
    }

    /// The active chain's entry at `height`.
    pub(crate) fn at_height(&self, height: u32) -> Option<Entry> {
        let chain = self.chainman.active_chain();
        chain
            .at_height(height as usize)
            .map(|e| self.entry_of(&e, true))
    }

    /// Any known block (active or stale branch).
    pub(crate) fn entry(&self, hash: &BlockHash) -> Option<Entry> {
        let e = self.chainman.get_block_tree_entry(&to_kernel_hash(hash))?;
        let active = self.chainman.active_chain().contains(&e);
        Some(self.entry_of(&e, active))
    }

    /// The full block, if the kernel has its data.
    pub(crate) fn block(&self, hash: &BlockHash) -> Result<Option<Block>, RegtestError> {
        let Some(e) = self.chainman.get_block_tree_entry(&to_kernel_hash(hash)) else {
            return Ok(None);
        };
        let Ok(block) = self.chainman.read_block_data(&e) else {
            // Headers-only entries have no data.
            return Ok(None);
        };
        let raw = block
            .consensus_encode()
            .map_err(|e| kernel_err("encode block", e))?;
        deserialize(&raw)
            .map(Some)
            .map_err(|e| RegtestError::Kernel(format!("kernel block does not decode: {e}")))
    }

    /// Hands a block to the kernel. Whether it connected is judged by the caller from the tip:
    /// the kernel reports "new block" even for one that later fails to connect.
    pub(crate) fn process_block(&self, block: &Block) -> Result<(), RegtestError> {
        let kb = bk::Block::new(&serialize(block)).map_err(|e| kernel_err("block", e))?;
        let _ = self.chainman.process_block(&kb);
        Ok(())
    }
}

/// Every block stored in the kernel's `blk*.dat` files, in file order (parents before children,
/// as they arrived). The files are XOR-obfuscated with the 8-byte key in `xor.dat`; each record
/// is the network magic, a little-endian length and the block; the preallocated tail is zeros.
fn read_block_files(blocks_dir: &Path) -> Result<Vec<Block>, RegtestError> {
    const REGTEST_MAGIC: [u8; 4] = [0xfa, 0xbf, 0xb5, 0xda];
    let key = match std::fs::read(blocks_dir.join("xor.dat")) {
        Ok(k) if k.len() == 8 => k,
        Ok(_) => return Err(RegtestError::Kernel("xor.dat is not 8 bytes".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![0; 8],
        Err(e) => return Err(e.into()),
    };
    let mut blocks = Vec::new();
    for n in 0.. {
        let path = blocks_dir.join(format!("blk{n:05}.dat"));
        let Ok(mut data) = std::fs::read(&path) else {
            break;
        };
        for (i, b) in data.iter_mut().enumerate() {
            *b ^= key[i % 8];
        }
        let mut pos = 0;
        while pos + 8 <= data.len() && data[pos..pos + 4] == REGTEST_MAGIC {
            let len = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().expect("4 bytes"));
            let end = pos + 8 + len as usize;
            let Some(raw) = data.get(pos + 8..end) else {
                break; // A record cut short by the crash: nothing after it was written either.
            };
            match deserialize::<Block>(raw) {
                Ok(block) => blocks.push(block),
                Err(_) => break,
            }
            pos = end;
        }
    }
    Ok(blocks)
}

/// Runs Bitcoin Core's script interpreter on every input of `tx` with all consensus flags
/// (P2SH, DERSIG, NULLDUMMY, CLTV, CSV, WITNESS, TAPROOT). `spent` holds the outputs spent by
/// each input, in input order. Returns the index of the first failing input.
pub(crate) fn verify_scripts(tx: &Transaction, spent: &[TxOut]) -> Result<(), usize> {
    let Ok(ktx) = bk::Transaction::new(&serialize(tx)) else {
        return Err(0);
    };
    let kspent: Vec<bk::TxOut> = spent
        .iter()
        .map(|o| {
            let spk = bk::ScriptPubkey::new(o.script_pubkey.as_bytes())
                .expect("any byte string is a script");
            bk::TxOut::new(&spk, o.value.to_sat() as i64)
        })
        .collect();
    let Ok(txdata) = bk::PrecomputedTransactionData::new(&ktx, &kspent) else {
        return Err(0);
    };
    for (i, out) in spent.iter().enumerate() {
        let Ok(spk) = bk::ScriptPubkey::new(out.script_pubkey.as_bytes()) else {
            return Err(i);
        };
        let amount = Some(out.value.to_sat() as i64);
        if bk::verify(&spk, amount, &ktx, i, Some(bk::VERIFY_ALL), &txdata).is_err() {
            return Err(i);
        }
    }
    Ok(())
}
