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

/// Version 4: payments — invoices we issued, payments we made, HTLCs we forwarded, and the
/// onion replay guard.
const V4: &str = "
-- Invoices this node issued. status is what happened to it; 'expired' is not stored but read
-- from expires_at for an open invoice. paid_* name what paid it, set together with status.
CREATE TABLE invoices (
    payment_hash   BLOB PRIMARY KEY CHECK (length(payment_hash) = 32),
    bolt11         TEXT NOT NULL,
    preimage       BLOB NOT NULL CHECK (length(preimage) = 32),
    payment_secret BLOB NOT NULL CHECK (length(payment_secret) = 32),
    amount_msat    INTEGER CHECK (amount_msat IS NULL OR amount_msat > 0),
    description    TEXT NOT NULL,
    min_final_cltv_expiry_delta INTEGER NOT NULL
        CHECK (min_final_cltv_expiry_delta BETWEEN 0 AND 65535),
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL CHECK (expires_at >= created_at),
    status         TEXT NOT NULL CHECK (status IN ('open', 'paid', 'cancelled')),
    received_msat  INTEGER CHECK (received_msat IS NULL OR received_msat > 0),
    paid_at        INTEGER,
    paid_channel_id BLOB CHECK (paid_channel_id IS NULL OR length(paid_channel_id) = 32),
    paid_htlc_id   INTEGER CHECK (paid_htlc_id IS NULL OR paid_htlc_id >= 0),
    CHECK ((status = 'paid') = (received_msat IS NOT NULL)),
    CHECK ((status = 'paid') = (paid_at IS NOT NULL)),
    CHECK ((status = 'paid') = (paid_channel_id IS NOT NULL)),
    CHECK ((status = 'paid') = (paid_htlc_id IS NOT NULL))
) STRICT;
CREATE INDEX invoices_created_at ON invoices(created_at);

-- Payments this node made, one row per payment hash: a new attempt after a failure replaces
-- the row. route is the hops' 33-byte node ids, concatenated; session_key and route decrypt
-- a failure. htlc_* name the HTLC on our channel to the first hop, once offered.
CREATE TABLE payments (
    payment_hash    BLOB PRIMARY KEY CHECK (length(payment_hash) = 32),
    bolt11          TEXT,
    payee           BLOB NOT NULL CHECK (length(payee) = 33),
    amount_msat     INTEGER NOT NULL CHECK (amount_msat > 0),
    fee_msat        INTEGER NOT NULL CHECK (fee_msat >= 0),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    preimage        BLOB CHECK (preimage IS NULL OR length(preimage) = 32),
    failure         TEXT,
    created_at      INTEGER NOT NULL,
    resolved_at     INTEGER,
    htlc_channel_id BLOB CHECK (htlc_channel_id IS NULL OR length(htlc_channel_id) = 32),
    htlc_id         INTEGER CHECK (htlc_id IS NULL OR htlc_id >= 0),
    session_key     BLOB NOT NULL CHECK (length(session_key) = 32),
    route           BLOB NOT NULL CHECK (length(route) % 33 = 0),
    CHECK ((status = 'succeeded') = (preimage IS NOT NULL)),
    CHECK ((status = 'pending') = (resolved_at IS NULL)),
    CHECK ((htlc_channel_id IS NULL) = (htlc_id IS NULL))
) STRICT;
CREATE INDEX payments_created_at ON payments(created_at);
CREATE INDEX payments_htlc ON payments(htlc_channel_id, htlc_id);

-- HTLCs we forwarded, one row per incoming HTLC so none is forwarded twice. An outgoing id
-- can come back (an add dropped unsigned at a reconnection frees it), so the outgoing HTLC
-- is indexed but unique only among pending rows.
CREATE TABLE forwards (
    in_channel_id   BLOB NOT NULL CHECK (length(in_channel_id) = 32),
    in_htlc_id      INTEGER NOT NULL CHECK (in_htlc_id >= 0),
    out_channel_id  BLOB NOT NULL CHECK (length(out_channel_id) = 32),
    out_htlc_id     INTEGER NOT NULL CHECK (out_htlc_id >= 0),
    payment_hash    BLOB NOT NULL CHECK (length(payment_hash) = 32),
    in_msat         INTEGER NOT NULL CHECK (in_msat >= 0),
    out_msat        INTEGER NOT NULL CHECK (out_msat >= 0 AND out_msat <= in_msat),
    in_cltv_expiry  INTEGER NOT NULL CHECK (in_cltv_expiry >= 0),
    out_cltv_expiry INTEGER NOT NULL CHECK (out_cltv_expiry >= 0),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'settled', 'failed')),
    shared_secret   BLOB NOT NULL CHECK (length(shared_secret) = 32),
    preimage        BLOB CHECK (preimage IS NULL OR length(preimage) = 32),
    failure         TEXT,
    created_at      INTEGER NOT NULL,
    resolved_at     INTEGER,
    PRIMARY KEY (in_channel_id, in_htlc_id),
    CHECK ((status = 'settled') = (preimage IS NOT NULL)),
    CHECK ((status = 'pending') = (resolved_at IS NULL))
) STRICT;
CREATE INDEX forwards_out ON forwards(out_channel_id, out_htlc_id);
CREATE UNIQUE INDEX forwards_out_pending ON forwards(out_channel_id, out_htlc_id)
    WHERE status = 'pending';
CREATE INDEX forwards_created_at ON forwards(created_at);

-- The onion replay guard: SHA256 of each accepted onion's shared secret, until the chain
-- passes the HTLC's expiry. The entry names the HTLC that first used it, so the same HTLC
-- processed again (after a restart) is not taken for a replay.
CREATE TABLE onion_replay (
    key         BLOB PRIMARY KEY CHECK (length(key) = 32),
    cltv_expiry INTEGER NOT NULL CHECK (cltv_expiry >= 0),
    channel_id  BLOB NOT NULL CHECK (length(channel_id) = 32),
    htlc_id     INTEGER NOT NULL CHECK (htlc_id >= 0)
) STRICT;
CREATE INDEX onion_replay_expiry ON onion_replay(cltv_expiry);

-- Every HTLC a channel ever carried, by what its scripts depend on: a revoked commitment the
-- peer broadcasts may hold HTLCs settled long ago, and the justice transaction must find
-- their outputs. Written in the same transaction as the channel state that first holds the
-- HTLC (keyed by the channel's key index, since a channel id is final only after funding).
CREATE TABLE htlc_archive (
    key_index    INTEGER NOT NULL CHECK (key_index >= 0),
    payment_hash BLOB NOT NULL CHECK (length(payment_hash) = 32),
    cltv_expiry  INTEGER NOT NULL CHECK (cltv_expiry >= 0),
    PRIMARY KEY (key_index, payment_hash, cltv_expiry)
) STRICT, WITHOUT ROWID;
";

/// Version 5: the watchtower client's upload queue.
const V5: &str = "
-- One row per revoked commitment of a peer's: its sealed justice transaction, written in the
-- same transaction as the channel state that holds the revocation, until the tower
-- acknowledges it. Once acknowledged the blob is dropped and the row kept as a record.
CREATE TABLE tower_uploads (
    id                INTEGER PRIMARY KEY,
    key_index         INTEGER NOT NULL CHECK (key_index >= 0),
    commitment_number INTEGER NOT NULL CHECK (commitment_number >= 0),
    hint              BLOB NOT NULL CHECK (length(hint) = 16),
    blob              BLOB,
    created_at        INTEGER NOT NULL,
    acked_at          INTEGER,
    UNIQUE (key_index, commitment_number),
    CHECK ((acked_at IS NULL) = (blob IS NOT NULL))
) STRICT;
CREATE INDEX tower_uploads_pending ON tower_uploads(id) WHERE acked_at IS NULL;
";

/// Version 6: the event log and webhooks.
const V6: &str = "
-- Every event the node reports (SSE, webhooks), written in the same transaction as the state
-- change it reports. id is the event id clients resume from: AUTOINCREMENT, so an id is never
-- reused after pruning. data is the event's JSON (with its type).
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    type       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    data       TEXT NOT NULL
) STRICT;
CREATE INDEX events_created_at ON events(created_at);

-- Merchants' webhooks. events is the subscribed types as ',a,b,' ('' for every type);
-- secret is the hex HMAC key shown once at creation. delivered and failed count deliveries
-- that ended, so the counts outlive pruned events.
CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    url        TEXT NOT NULL,
    events     TEXT NOT NULL,
    secret     TEXT NOT NULL CHECK (length(secret) = 64),
    created_at INTEGER NOT NULL,
    delivered  INTEGER NOT NULL DEFAULT 0 CHECK (delivered >= 0),
    failed     INTEGER NOT NULL DEFAULT 0 CHECK (failed >= 0)
) STRICT;

-- One row per (webhook, event) it subscribes to, written with the event. next_attempt_at is
-- Unix milliseconds; last_* describe the last attempt.
CREATE TABLE webhook_deliveries (
    webhook_id      INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id        INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    status          TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER,
    PRIMARY KEY (webhook_id, event_id),
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
) STRICT;
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries(webhook_id, event_id)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_id);
";

/// Version 7: the pending rows of `forwards` and `payments` indexed on their own. The router
/// reads them at start and on every block; without these it scanned every row ever recorded,
/// holding the store's only connection (0.6 s with a million forwards).
const V7: &str = "
CREATE INDEX forwards_pending ON forwards(created_at) WHERE status = 'pending';
CREATE INDEX payments_pending ON payments(created_at) WHERE status = 'pending';
";

/// Version 8: the onions of the peer's committed HTLCs in rows of their own, written once
/// per HTLC instead of inside every snapshot of its channel
/// ([`crate::channel::Commitments::received_onions`]). Those stored inline move here; the
/// snapshot drops its copy at its next write.
const V8: &str = "
CREATE TABLE htlc_onions (
    key_index INTEGER NOT NULL,
    htlc_id   INTEGER NOT NULL,
    onion     BLOB NOT NULL,
    PRIMARY KEY (key_index, htlc_id)
) STRICT;
INSERT OR IGNORE INTO htlc_onions (key_index, htlc_id, onion)
    SELECT c.key_index, CAST(o.key AS INTEGER), unhex(o.value)
    FROM channels c, json_each(c.state, '$.commitments.received_onions') o
    WHERE json_valid(c.state) AND o.type = 'text';
";

/// Version 9: the network graph learnt by gossip. Each message is kept as received (a relay
/// re-sends it exactly); the other columns are what the graph needs without parsing it. A
/// channel row is also the cache of its funding check: `capacity_sat` is the amount found on
/// chain, `funding_txid` the transaction (the scid names the output), `spent_height` where its
/// spend was seen. scids are stored as the u64's bits.
const V9: &str = "
CREATE TABLE graph_channels (
    scid         INTEGER PRIMARY KEY,
    announcement BLOB NOT NULL,
    capacity_sat INTEGER NOT NULL CHECK (capacity_sat >= 0),
    funding_txid BLOB NOT NULL CHECK (length(funding_txid) = 32),
    spent_height INTEGER CHECK (spent_height IS NULL OR spent_height >= 0),
    added_at     INTEGER NOT NULL
) STRICT;

-- The newest channel_update per direction (0: from node_id_1, 1: from node_id_2).
CREATE TABLE graph_updates (
    scid      INTEGER NOT NULL REFERENCES graph_channels(scid) ON DELETE CASCADE,
    direction INTEGER NOT NULL CHECK (direction IN (0, 1)),
    timestamp INTEGER NOT NULL CHECK (timestamp >= 0),
    message   BLOB NOT NULL,
    PRIMARY KEY (scid, direction)
) STRICT;

-- The newest node_announcement per node; node_id is the 33-byte compressed key.
CREATE TABLE graph_nodes (
    node_id      BLOB PRIMARY KEY CHECK (length(node_id) = 33),
    timestamp    INTEGER NOT NULL CHECK (timestamp >= 0),
    announcement BLOB NOT NULL
) STRICT;
";

/// Version 10: payments in parts. A payment may take several HTLCs (retries after a failure,
/// parts of a multi-part payment), each a row of `payment_attempts` with the route it took;
/// `payments` keeps the payment itself and the limits it was asked with, so its retries can go
/// on after a restart. A keysend payment has no invoice: its preimage is known from the start.
/// A payment's single HTLC of before becomes its attempt 0.
const V10: &str = "
CREATE TABLE payments_v10 (
    payment_hash    BLOB PRIMARY KEY CHECK (length(payment_hash) = 32),
    bolt11          TEXT,
    payee           BLOB NOT NULL CHECK (length(payee) = 33),
    amount_msat     INTEGER NOT NULL CHECK (amount_msat > 0),
    fee_msat        INTEGER NOT NULL CHECK (fee_msat >= 0),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    preimage        BLOB CHECK (preimage IS NULL OR length(preimage) = 32),
    failure         TEXT,
    created_at      INTEGER NOT NULL,
    resolved_at     INTEGER,
    max_fee_msat    INTEGER NOT NULL CHECK (max_fee_msat >= 0),
    max_total_cltv_expiry_delta INTEGER NOT NULL CHECK (max_total_cltv_expiry_delta >= 0),
    timeout_secs    INTEGER NOT NULL CHECK (timeout_secs >= 0),
    CHECK (status <> 'succeeded' OR preimage IS NOT NULL),
    CHECK ((status = 'pending') = (resolved_at IS NULL))
) STRICT;
INSERT INTO payments_v10 (payment_hash, bolt11, payee, amount_msat, fee_msat, status, preimage,
        failure, created_at, resolved_at, max_fee_msat, max_total_cltv_expiry_delta,
        timeout_secs)
    SELECT payment_hash, bolt11, payee, amount_msat, fee_msat, status, preimage, failure,
        created_at, resolved_at, amount_msat / 100 + 50000, 1008, 60
    FROM payments;

CREATE TABLE payment_attempts (
    payment_hash BLOB NOT NULL CHECK (length(payment_hash) = 32),
    id           INTEGER NOT NULL CHECK (id >= 0),
    channel_id   BLOB NOT NULL CHECK (length(channel_id) = 32),
    htlc_id      INTEGER NOT NULL CHECK (htlc_id >= 0),
    amount_msat  INTEGER NOT NULL CHECK (amount_msat > 0),
    fee_msat     INTEGER NOT NULL CHECK (fee_msat >= 0),
    session_key  BLOB NOT NULL CHECK (length(session_key) = 32),
    nodes        BLOB NOT NULL CHECK (length(nodes) % 33 = 0),
    hops         TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    failure      TEXT,
    created_at   INTEGER NOT NULL,
    resolved_at  INTEGER,
    CHECK ((status = 'pending') = (resolved_at IS NULL)),
    PRIMARY KEY (payment_hash, id)
) STRICT;
INSERT INTO payment_attempts (payment_hash, id, channel_id, htlc_id, amount_msat, fee_msat,
        session_key, nodes, hops, status, failure, created_at, resolved_at)
    SELECT payment_hash, 0, htlc_channel_id, htlc_id, amount_msat, fee_msat, session_key, route,
        '[]', status, failure, created_at, resolved_at
    FROM payments WHERE htlc_channel_id IS NOT NULL;
CREATE INDEX payment_attempts_pending ON payment_attempts(channel_id, htlc_id)
    WHERE status = 'pending';

DROP TABLE payments;
ALTER TABLE payments_v10 RENAME TO payments;
CREATE INDEX payments_created_at ON payments(created_at);
CREATE INDEX payments_pending ON payments(created_at) WHERE status = 'pending';

-- What payments learnt about the network: a penalty per channel direction (key: the scid's
-- 8 bytes, big-endian, then the direction byte) or per node (key: its 33-byte id), decaying
-- from `at_secs`.
CREATE TABLE route_penalties (
    kind         TEXT NOT NULL CHECK (kind IN ('channel', 'node')),
    key          BLOB NOT NULL,
    penalty_msat INTEGER NOT NULL CHECK (penalty_msat >= 0),
    amount_msat  INTEGER NOT NULL CHECK (amount_msat >= 0),
    at_secs      INTEGER NOT NULL CHECK (at_secs >= 0),
    PRIMARY KEY (kind, key)
) STRICT;
";

/// Version 11: every HTLC that paid an invoice (all the parts of a multi-part payment),
/// written in the same transaction as the state that first reveals the preimage, so the parts
/// not yet fulfilled at a crash are fulfilled after it rather than refused. Invoices paid
/// before are paid by the one HTLC they name.
const V11: &str = "
CREATE TABLE invoice_htlcs (
    payment_hash BLOB NOT NULL CHECK (length(payment_hash) = 32),
    channel_id   BLOB NOT NULL CHECK (length(channel_id) = 32),
    htlc_id      INTEGER NOT NULL CHECK (htlc_id >= 0),
    amount_msat  INTEGER NOT NULL CHECK (amount_msat >= 0),
    PRIMARY KEY (payment_hash, channel_id, htlc_id)
) STRICT, WITHOUT ROWID;
INSERT OR IGNORE INTO invoice_htlcs (payment_hash, channel_id, htlc_id, amount_msat)
    SELECT payment_hash, paid_channel_id, paid_htlc_id, received_msat
    FROM invoices WHERE status = 'paid';
";

/// Version 12: an invoice may carry the SHA256 of its description (BOLT 11 `h`) instead of the
/// text (then `description` is empty).
const V12: &str = "
ALTER TABLE invoices ADD COLUMN description_hash BLOB
    CHECK (description_hash IS NULL OR length(description_hash) = 32);
";

/// Version 13: what a phoenixd-compatible client attached to an invoice it created
/// (`src/compat/phoenixd`): its `externalId`, and the URL told of the payment.
const V13: &str = "
CREATE TABLE compat_phoenixd_invoices (
    payment_hash BLOB PRIMARY KEY CHECK (length(payment_hash) = 32),
    external_id  TEXT,
    webhook_url  TEXT
) STRICT, WITHOUT ROWID;
CREATE INDEX compat_phoenixd_invoices_external_id ON compat_phoenixd_invoices(external_id)
    WHERE external_id IS NOT NULL;
";

/// Version 14: hold invoices. The caller of a hold invoice keeps the preimage, so `preimage` is
/// NULL until it settles; a complete payment waits in status `held` (with what it brought in
/// `received_msat`), its HTLCs in `held_htlcs` (with the onion secret that fails each back),
/// until it is settled or cancelled. SQLite cannot relax a column or a CHECK in place: the
/// table is rebuilt.
const V14: &str = "
CREATE TABLE invoices_v14 (
    payment_hash   BLOB PRIMARY KEY CHECK (length(payment_hash) = 32),
    bolt11         TEXT NOT NULL,
    preimage       BLOB CHECK (preimage IS NULL OR length(preimage) = 32),
    payment_secret BLOB NOT NULL CHECK (length(payment_secret) = 32),
    amount_msat    INTEGER CHECK (amount_msat IS NULL OR amount_msat > 0),
    description    TEXT NOT NULL,
    min_final_cltv_expiry_delta INTEGER NOT NULL
        CHECK (min_final_cltv_expiry_delta BETWEEN 0 AND 65535),
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL CHECK (expires_at >= created_at),
    status         TEXT NOT NULL CHECK (status IN ('open', 'held', 'paid', 'cancelled')),
    received_msat  INTEGER CHECK (received_msat IS NULL OR received_msat > 0),
    paid_at        INTEGER,
    paid_channel_id BLOB CHECK (paid_channel_id IS NULL OR length(paid_channel_id) = 32),
    paid_htlc_id   INTEGER CHECK (paid_htlc_id IS NULL OR paid_htlc_id >= 0),
    description_hash BLOB CHECK (description_hash IS NULL OR length(description_hash) = 32),
    CHECK ((status IN ('held', 'paid')) = (received_msat IS NOT NULL)),
    CHECK ((status = 'paid') = (paid_at IS NOT NULL)),
    CHECK ((status = 'paid') = (paid_channel_id IS NOT NULL)),
    CHECK ((status = 'paid') = (paid_htlc_id IS NOT NULL)),
    CHECK (status <> 'paid' OR preimage IS NOT NULL)
) STRICT;
INSERT INTO invoices_v14 (payment_hash, bolt11, preimage, payment_secret, amount_msat,
        description, min_final_cltv_expiry_delta, created_at, expires_at, status,
        received_msat, paid_at, paid_channel_id, paid_htlc_id, description_hash)
    SELECT payment_hash, bolt11, preimage, payment_secret, amount_msat, description,
        min_final_cltv_expiry_delta, created_at, expires_at, status, received_msat, paid_at,
        paid_channel_id, paid_htlc_id, description_hash
    FROM invoices;
DROP TABLE invoices;
ALTER TABLE invoices_v14 RENAME TO invoices;
CREATE INDEX invoices_created_at ON invoices(created_at);

-- The HTLCs of a held payment, until it is settled or cancelled.
CREATE TABLE held_htlcs (
    payment_hash  BLOB NOT NULL CHECK (length(payment_hash) = 32),
    channel_id    BLOB NOT NULL CHECK (length(channel_id) = 32),
    htlc_id       INTEGER NOT NULL CHECK (htlc_id >= 0),
    amount_msat   INTEGER NOT NULL CHECK (amount_msat > 0),
    cltv_expiry   INTEGER NOT NULL CHECK (cltv_expiry >= 0),
    shared_secret BLOB NOT NULL CHECK (length(shared_secret) = 32),
    PRIMARY KEY (payment_hash, channel_id, htlc_id)
) STRICT, WITHOUT ROWID;
";

/// Version 15: the JIT channels sold over LSPS2 (`src/lsps/service.rs`), kept before the
/// `lsps2.buy` answer is sent, in sale order (`id`). `scid` is the `jit_channel_scid`'s u64
/// bits; `state` moves from `waiting` to `opening`, `opened`, `failed` or `expired`; the
/// channel columns are filled once a payment opens it.
const V15: &str = "
CREATE TABLE lsps2_jit (
    id                 INTEGER PRIMARY KEY,
    scid               INTEGER NOT NULL UNIQUE,
    client_node_id     BLOB NOT NULL CHECK (length(client_node_id) = 33),
    opening_fee_params TEXT NOT NULL,
    payment_size_msat  INTEGER CHECK (payment_size_msat IS NULL OR payment_size_msat > 0),
    opening_fee_msat   INTEGER CHECK (opening_fee_msat IS NULL OR opening_fee_msat >= 0),
    valid_until        INTEGER NOT NULL CHECK (valid_until >= 0),
    client_trusts_lsp  INTEGER NOT NULL CHECK (client_trusts_lsp IN (0, 1)),
    state              TEXT NOT NULL
        CHECK (state IN ('waiting', 'opening', 'opened', 'failed', 'expired')),
    created_at         INTEGER NOT NULL CHECK (created_at >= 0),
    channel_id         BLOB CHECK (channel_id IS NULL OR length(channel_id) = 32),
    funding_txid       BLOB CHECK (funding_txid IS NULL OR length(funding_txid) = 32),
    fee_earned_msat    INTEGER CHECK (fee_earned_msat IS NULL OR fee_earned_msat >= 0)
) STRICT;
CREATE INDEX lsps2_jit_waiting ON lsps2_jit(client_node_id, valid_until) WHERE state = 'waiting';
CREATE INDEX lsps2_jit_created_at ON lsps2_jit(created_at);
";

/// Version 16: the channels bought over LSPS1 (`src/lsps/lsps1.rs`), kept before the
/// `lsps1.create_order` answer is sent, in order (`id`). Each has its hold invoice's hash and
/// the preimage released once the channel is published; `payment_state` moves from
/// `expect_payment` to `hold` (opening), then `paid` or `refunded`; `order_state` from
/// `created` to `completed` (funding published) or `failed`. The channel columns are all set
/// or all null.
const V16: &str = "
CREATE TABLE lsps1_orders (
    id                             INTEGER PRIMARY KEY,
    order_id                       TEXT NOT NULL UNIQUE CHECK (length(order_id) BETWEEN 1 AND 64),
    client_node_id                 BLOB NOT NULL CHECK (length(client_node_id) = 33),
    lsp_balance_sat                INTEGER NOT NULL CHECK (lsp_balance_sat > 0),
    client_balance_sat             INTEGER NOT NULL CHECK (client_balance_sat >= 0),
    required_channel_confirmations INTEGER NOT NULL
        CHECK (required_channel_confirmations BETWEEN 0 AND 65535),
    funding_confirms_within_blocks INTEGER NOT NULL
        CHECK (funding_confirms_within_blocks BETWEEN 0 AND 65535),
    channel_expiry_blocks          INTEGER NOT NULL CHECK (channel_expiry_blocks > 0),
    token                          TEXT,
    announce_channel               INTEGER NOT NULL CHECK (announce_channel IN (0, 1)),
    created_at                     INTEGER NOT NULL CHECK (created_at >= 0),
    fee_total_sat                  INTEGER NOT NULL CHECK (fee_total_sat >= 0),
    order_total_sat                INTEGER NOT NULL CHECK (order_total_sat > 0),
    payment_hash                   BLOB NOT NULL UNIQUE CHECK (length(payment_hash) = 32),
    preimage                       BLOB NOT NULL CHECK (length(preimage) = 32),
    bolt11                         TEXT NOT NULL,
    expires_at                     INTEGER NOT NULL CHECK (expires_at >= 0),
    payment_state                  TEXT NOT NULL
        CHECK (payment_state IN ('expect_payment', 'hold', 'paid', 'refunded')),
    order_state                    TEXT NOT NULL
        CHECK (order_state IN ('created', 'completed', 'failed')),
    channel_id                     BLOB CHECK (channel_id IS NULL OR length(channel_id) = 32),
    funding_txid                   BLOB CHECK (funding_txid IS NULL OR length(funding_txid) = 32),
    funding_vout                   INTEGER CHECK (funding_vout IS NULL OR funding_vout >= 0),
    funded_at                      INTEGER,
    channel_expires_at             INTEGER,
    failure                        TEXT
) STRICT;
CREATE INDEX lsps1_orders_unpaid ON lsps1_orders(client_node_id, expires_at)
    WHERE payment_state = 'expect_payment' AND order_state = 'created';
";

/// Version 17: a channel's snapshot in parts (`src/store/channel_parts.rs`), each rewritten
/// only when a transition changes it. A `channels` row with parts holds everything but the
/// commitments; one without is a whole snapshot, as every row was before (read as it is, and
/// cut into parts by its first write).
const V17: &str = "
CREATE TABLE channel_parts (
    key_index INTEGER NOT NULL REFERENCES channels(key_index) ON DELETE CASCADE,
    part      TEXT NOT NULL CHECK (part IN ('local', 'remote', 'remote_waiting', 'revocations',
                                            'changes', 'previous_local')),
    data      TEXT NOT NULL,
    PRIMARY KEY (key_index, part)
) STRICT, WITHOUT ROWID;
";

/// Version 18: the onions of the adds in a channel's change lists, each in a row written once
/// (`src/store/channel_parts.rs`), no longer inline in the `changes` part rewritten with each
/// update message. A `changes` part written before keeps its onions and reads as it is.
const V18: &str = "
CREATE TABLE change_onions (
    key_index INTEGER NOT NULL REFERENCES channels(key_index) ON DELETE CASCADE,
    origin    TEXT NOT NULL CHECK (origin IN ('local', 'remote')),
    htlc_id   INTEGER NOT NULL,
    onion     BLOB NOT NULL,
    PRIMARY KEY (key_index, origin, htlc_id)
) STRICT;
";

pub const MIGRATIONS: &[&str] = &[
    V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V13, V14, V15, V16, V17, V18,
];

/// The schema version this build writes.
pub const CURRENT_VERSION: u32 = MIGRATIONS.len() as u32;
