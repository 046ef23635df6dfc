//! Versioned schema scripts. `MIGRATIONS[i]` takes a database from version `i` to `i + 1`;
//! the version lives in `PRAGMA user_version`. Never edit a released script: add the next one.

/// Version 1: the meta table and the on-chain wallet.
const V1: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

-- Every script the wallet derived (handed out or kept ahead within the gap limit).
CREATE TABLE wallet_addresses (
    keychain      INTEGER NOT NULL CHECK (keychain IN (0, 1)),
    idx           INTEGER NOT NULL CHECK (idx >= 0),
    script_pubkey BLOB NOT NULL UNIQUE,
    PRIMARY KEY (keychain, idx)
) STRICT;

-- Recent blocks the wallet scanned, by height, to find the fork point after a reorg.
CREATE TABLE wallet_blocks (
    height INTEGER PRIMARY KEY CHECK (height >= 0),
    hash   BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;

-- Transactions that pay us or spend our outputs. block_* are NULL while unconfirmed.
CREATE TABLE wallet_txs (
    txid         BLOB PRIMARY KEY CHECK (length(txid) = 32),
    raw          BLOB NOT NULL,
    block_height INTEGER,
    block_hash   BLOB,
    coinbase     INTEGER NOT NULL CHECK (coinbase IN (0, 1)),
    -- built and broadcast by this wallet: its unconfirmed change may be spent.
    own          INTEGER NOT NULL CHECK (own IN (0, 1)),
    fee_sat      INTEGER,
    first_seen   INTEGER NOT NULL,
    CHECK ((block_height IS NULL) = (block_hash IS NULL))
) STRICT;

-- Our outputs. spent_by is the wallet transaction spending it, if any.
CREATE TABLE wallet_outputs (
    txid          BLOB NOT NULL REFERENCES wallet_txs(txid) ON DELETE CASCADE,
    vout          INTEGER NOT NULL CHECK (vout >= 0),
    value_sat     INTEGER NOT NULL CHECK (value_sat >= 0),
    script_pubkey BLOB NOT NULL REFERENCES wallet_addresses(script_pubkey),
    spent_by      BLOB REFERENCES wallet_txs(txid) ON DELETE SET NULL,
    PRIMARY KEY (txid, vout)
) STRICT;
CREATE INDEX wallet_outputs_spent_by ON wallet_outputs(spent_by);
CREATE INDEX wallet_txs_block_height ON wallet_txs(block_height);
";

/// Version 2: peers to reconnect to after a restart.
const V2: &str = "
-- Peers we keep connected: those we connected out to. node_id is the 33-byte compressed key.
CREATE TABLE peers (
    node_id  BLOB PRIMARY KEY CHECK (length(node_id) = 33),
    addr     TEXT NOT NULL,
    added_at INTEGER NOT NULL
) STRICT;
";

/// Version 3: channels.
const V3: &str = "
-- One row per channel, keyed by the index its keys derive from. state is the serde JSON of
-- the whole ChannelState, rewritten by each transition; the other columns are copies of it,
-- indexed or shown without parsing the snapshot.
CREATE TABLE channels (
    key_index            INTEGER PRIMARY KEY CHECK (key_index >= 0),
    channel_id           BLOB NOT NULL CHECK (length(channel_id) = 32),
    temporary_channel_id BLOB NOT NULL CHECK (length(temporary_channel_id) = 32),
    peer_node_id         BLOB NOT NULL CHECK (length(peer_node_id) = 33),
    phase                TEXT NOT NULL,
    funding_txid         BLOB CHECK (funding_txid IS NULL OR length(funding_txid) = 32),
    state                TEXT NOT NULL,
    updated_at           INTEGER NOT NULL
) STRICT;
CREATE INDEX channels_channel_id ON channels(channel_id);
CREATE INDEX channels_peer ON channels(peer_node_id);

-- Every signature we gave the peer for one of its commitments: a second, different
-- signature for the same number is refused before it can be sent.
CREATE TABLE channel_signatures (
    key_index         INTEGER NOT NULL REFERENCES channels(key_index) ON DELETE CASCADE,
    commitment_number INTEGER NOT NULL CHECK (commitment_number >= 0),
    signature         BLOB NOT NULL,
    PRIMARY KEY (key_index, commitment_number)
) STRICT;
";

pub const MIGRATIONS: &[&str] = &[V1, V2, V3];

/// The schema version this build writes.
pub const CURRENT_VERSION: u32 = MIGRATIONS.len() as u32;
