// The chanhub dashboard: reads the node's API with the bearer token and follows its event
// stream. Plain browser JavaScript, no build step, no dependencies. Data from the node (peer
// ids, invoice descriptions, failure reasons) only ever reaches the page as text nodes.
'use strict';

(function () {
  const TOKEN_KEY = 'chanhub.api-token';
  /** Rows shown per list, newest first. */
  const LIST_LIMIT = 25;
  /** What has no event (block height, on-chain wallet) is re-read this often. */
  const SLOW_REFRESH_MS = 30000;
  /** Events come in bursts (a payment settles on two channels): wait for the burst to end... */
  const DEBOUNCE_MS = 200;
  /** ...but never longer than this. */
  const MAX_DEBOUNCE_MS = 1000;
  /** The node comments every 15 s on a quiet stream: this long without a byte is a dead one. */
  const STALL_MS = 45000;
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  /** A line this long is not an event stream: drop the connection rather than buffer it. */
  const MAX_LINE = 1 << 20;

  const SOURCES = {
    info: 'v1/info',
    balance: 'v1/balance',
    channels: 'v1/channels',
    payments: 'v1/payments',
    invoices: 'v1/invoices',
    forwards: 'v1/forwards',
    peers: 'v1/peers',
    policy: 'v1/policy',
  };
  const ALL = Object.keys(SOURCES);
  /** What each event type changes; an unknown type refetches everything. */
  const EVENT_SOURCES = {
    invoice_paid: ['invoices', 'balance', 'channels'],
    payment_succeeded: ['payments', 'balance', 'channels'],
    payment_failed: ['payments', 'balance', 'channels'],
    htlc_forwarded: ['forwards', 'balance', 'channels'],
    channel_state_changed: ['channels', 'balance', 'peers'],
    channel_resolved: ['channels', 'balance', 'info'],
  };
  /** Re-read on the slow timer while the stream is live (the rest follows events). */
  const SLOW_SOURCES = ['info', 'balance', 'channels', 'peers', 'policy'];

  const $ = (id) => document.getElementById(id);

  const state = {
    token: null,
    /** Bumped when the token changes: loops and fetches of an older one stop. */
    generation: 0,
    data: {},
    /** The JSON last rendered per source, to skip redrawing what did not change. */
    seen: {},
    errors: {},
    inflight: new Set(),
    again: new Set(),
    dirty: new Set(),
    dirtySince: 0,
    debounceTimer: null,
    lastEventId: null,
    events: 0,
    live: false,
    streamAbort: null,
    /** Row keys shown before, so new rows can be highlighted. */
    known: { payments: null, invoices: null, forwards: null },
  };

  class Unauthorized extends Error {}

  // ---- token ---------------------------------------------------------------------------

  function storedToken() {
    try {
      return localStorage.getItem(TOKEN_KEY);
    } catch (_) {
      return null;
    }
  }

  function storeToken(token) {
    try {
      if (token) localStorage.setItem(TOKEN_KEY, token);
      else localStorage.removeItem(TOKEN_KEY);
    } catch (_) {
      // Storage disabled: the token lives as long as the tab.
    }
  }

  /** `#token=...` (what `scripts/demo` prints): taken, stored, and wiped from the address bar. */
  function tokenFromFragment() {
    if (!location.hash) return null;
    const params = new URLSearchParams(location.hash.slice(1));
    const token = params.get('token');
    if (token === null) return null;
    history.replaceState(null, '', location.pathname + location.search);
    return token.trim() || null;
  }

  function askToken(message) {
    stop();
    storeToken(null);
    state.token = null;
    $('dash').hidden = true;
    $('forget').hidden = true;
    $('login').hidden = false;
    const err = $('token-error');
    err.textContent = message || '';
    err.hidden = !message;
    setLive('idle', 'not connected');
    $('token-input').focus();
  }

  async function submitToken(ev) {
    ev.preventDefault();
    const input = $('token-input');
    const token = input.value.trim();
    const err = $('token-error');
    if (!token) {
      err.textContent = 'Enter the token.';
      err.hidden = false;
      return;
    }
    $('token-submit').disabled = true;
    try {
      // Checked before it is kept, so a typo is told at once.
      await api('v1/info', token);
      input.value = '';
      begin(token);
    } catch (e) {
      err.textContent = e instanceof Unauthorized ? 'The node refused this token.' : 'Cannot reach the node: ' + e.message;
      err.hidden = false;
    } finally {
      $('token-submit').disabled = false;
    }
  }

  function begin(token) {
    stop();
    state.token = token;
    state.generation += 1;
    state.data = {};
    state.seen = {};
    state.errors = {};
    state.known = { payments: null, invoices: null, forwards: null };
    storeToken(token);
    $('login').hidden = true;
    $('dash').hidden = false;
    $('forget').hidden = false;
    refresh(ALL);
    runStream(state.generation);
  }

  function stop() {
    state.generation += 1;
    if (state.streamAbort) state.streamAbort.abort();
    state.streamAbort = null;
    clearTimeout(state.debounceTimer);
    state.debounceTimer = null;
    state.dirty.clear();
    state.live = false;
  }

  // ---- fetching ------------------------------------------------------------------------

  async function api(path, token) {
    const resp = await fetch(path, {
      headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' },
      cache: 'no-store',
    });
    if (resp.status === 401) throw new Unauthorized('unauthorized');
    let body = null;
    try {
      body = await resp.json();
    } catch (_) {
      // Not JSON: reported below by status.
    }
    if (!resp.ok) {
      const e = body && body.error;
      throw new Error(e ? e.message + ' (' + e.code + ')' : 'HTTP ' + resp.status);
    }
    if (body === null) throw new Error('HTTP ' + resp.status + ': not JSON');
    return body;
  }

  /** Reads `names` (at once, in parallel) and redraws what changed. A source already being
   *  read is read again when that finishes, so an event never leaves stale data behind. */
  async function refresh(names) {
    const generation = state.generation;
    const todo = names.filter((n) => {
      if (state.inflight.has(n)) {
        state.again.add(n);
        return false;
      }
      state.inflight.add(n);
      return true;
    });
    showPending();
    const results = await Promise.all(
      todo.map(async (name) => {
        try {
          return [name, await api(SOURCES[name], state.token), null];
        } catch (e) {
          return [name, null, e];
        }
      }),
    );
    for (const [name] of results) state.inflight.delete(name);
    showPending();
    if (generation !== state.generation) return;
    for (const [name, body, err] of results) {
      if (err instanceof Unauthorized) {
        askToken('The node refused the token (was it changed?). Enter the current one.');
        return;
      }
      if (err) {
        state.errors[name] = err.message;
      } else {
        delete state.errors[name];
        state.data[name] = body;
      }
    }
    render(false);
    const again = [...state.again];
    state.again.clear();
    if (again.length) refresh(again);
    else showPending();
  }

  /** How many reads are under way or scheduled, on the indicator: 0 once the page shows the
   *  latest it heard of (what a test waits for). */
  function showPending() {
    $('live').dataset.pending = String(state.inflight.size + state.again.size + state.dirty.size);
  }

  /** Schedules a refetch of `names`, coalescing bursts. */
  function markDirty(names) {
    names.forEach((n) => state.dirty.add(n));
    showPending();
    const now = Date.now();
    if (!state.debounceTimer) state.dirtySince = now;
    clearTimeout(state.debounceTimer);
    const wait = Math.max(0, Math.min(DEBOUNCE_MS, state.dirtySince + MAX_DEBOUNCE_MS - now));
    state.debounceTimer = setTimeout(() => {
      state.debounceTimer = null;
      const names = [...state.dirty];
      state.dirty.clear();
      refresh(names);
    }, wait);
  }

  // ---- the event stream ----------------------------------------------------------------

  /** A Server-Sent Events parser (the WHATWG rules): fields `event`, `data`, `id`, `retry`,
   *  comments, and any of `\r\n`, `\n`, `\r` as line ends, across chunk boundaries. */
  class SseParser {
    constructor(onEvent, onComment) {
      this.onEvent = onEvent;
      this.onComment = onComment;
      this.buf = '';
      this.data = [];
      this.type = '';
      this.lastId = null;
      this.retry = null;
    }

    feed(text) {
      this.buf += text;
      let start = 0;
      for (let i = 0; i < this.buf.length; i++) {
        const c = this.buf[i];
        if (c !== '\n' && c !== '\r') continue;
        // A `\r` at the end may be half of a `\r\n`: wait for the next chunk.
        if (c === '\r' && i + 1 === this.buf.length) break;
        this.line(this.buf.slice(start, i));
        if (c === '\r' && this.buf[i + 1] === '\n') i++;
        start = i + 1;
      }
      this.buf = this.buf.slice(start);
      if (this.buf.length > MAX_LINE) throw new Error('event stream line too long');
    }

    line(line) {
      if (line === '') return this.dispatch();
      if (line[0] === ':') return this.onComment(line.slice(1).trim());
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.type = value;
      else if (field === 'id') {
        if (!value.includes('\0')) this.lastId = value;
      } else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
    }

    dispatch() {
      const data = this.data.join('\n');
      const type = this.type || 'message';
      const hadData = this.data.length > 0;
      this.data = [];
      this.type = '';
      if (hadData) this.onEvent({ type, data, id: this.lastId });
    }
  }

  function onEvent(ev) {
    let payload = null;
    try {
      payload = JSON.parse(ev.data);
    } catch (_) {
      // Not JSON: still "something changed".
    }
    const type = (payload && typeof payload.type === 'string' && payload.type) || ev.type;
    state.events += 1;
    $('live').dataset.events = String(state.events);
    $('live').title = 'Last event: ' + type + ' at ' + new Date().toLocaleTimeString();
    markDirty(EVENT_SOURCES[type] || ALL);
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** Follows `/v1/events` until the token changes: `fetch` streaming (EventSource cannot send
   *  the Authorization header), a watchdog for silent deaths, and backoff between attempts. */
  async function runStream(generation) {
    let backoff = BACKOFF_MIN_MS;
    let retryHint = null;
    while (generation === state.generation) {
      const abort = new AbortController();
      state.streamAbort = abort;
      let watchdog = null;
      const kick = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => abort.abort(), STALL_MS);
      };
      setLive('connecting', 'connecting…');
      try {
        const headers = { Authorization: 'Bearer ' + state.token, Accept: 'text/event-stream' };
        if (state.lastEventId !== null) headers['Last-Event-ID'] = state.lastEventId;
        kick();
        const resp = await fetch('v1/events', { headers, signal: abort.signal, cache: 'no-store' });
        if (resp.status === 401) {
          clearTimeout(watchdog);
          if (generation === state.generation) askToken('The node refused the token. Enter the current one.');
          return;
        }
        if (!resp.ok || !resp.body) throw new Error('HTTP ' + resp.status);
        state.live = true;
        setLive('live', 'live');
        backoff = BACKOFF_MIN_MS;
        // Whatever happened while we were away: read it all once.
        markDirty(ALL);
        const parser = new SseParser(onEvent, () => {});
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done || generation !== state.generation) break;
          kick();
          parser.feed(value);
          retryHint = parser.retry;
          // The stream's last id, resent on reconnecting. An empty one resets it (the SSE
          // rule); one a header cannot carry is dropped rather than break every reconnect.
          if (parser.lastId !== null) state.lastEventId = /^[\x21-\x7e]+$/.test(parser.lastId) ? parser.lastId : null;
        }
      } catch (e) {
        // Network errors, an abort by the watchdog or by stop(): all end this attempt.
      }
      clearTimeout(watchdog);
      state.live = false;
      if (generation !== state.generation) return;
      const base = retryHint !== null ? Math.max(retryHint, BACKOFF_MIN_MS) : backoff;
      const delay = Math.round(base * (0.8 + Math.random() * 0.4));
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      retryHint = null;
      setLive('offline', 'reconnecting in ' + Math.ceil(delay / 1000) + ' s');
      await sleep(delay);
    }
  }

  function setLive(kind, text) {
    const el = $('live');
    el.dataset.state = kind;
    $('live-text').textContent = text;
  }

  // ---- formatting ----------------------------------------------------------------------

  const groups = new Intl.NumberFormat('en-US');

  /** `1,234 sat`, or `1,234.567 sat` when there are millisatoshis. */
  function msat(v) {
    if (typeof v !== 'number') return '—';
    const rest = v % 1000;
    return groups.format(Math.floor(v / 1000)) + (rest ? '.' + String(rest).padStart(3, '0') : '') + ' sat';
  }

  function sat(v) {
    return typeof v === 'number' ? groups.format(v) + ' sat' : '—';
  }

  function short(hex, n) {
    if (typeof hex !== 'string') return '—';
    const k = n || 8;
    return hex.length > 2 * k + 1 ? hex.slice(0, k) + '…' + hex.slice(-k) : hex;
  }

  function ago(secs) {
    if (typeof secs !== 'number') return '—';
    const d = Math.max(0, Date.now() / 1000 - secs);
    if (d < 45) return 'just now';
    if (d < 3600) return Math.round(d / 60) + ' min ago';
    if (d < 86400) return Math.round(d / 3600) + ' h ago';
    return new Date(secs * 1000).toLocaleDateString();
  }

  function when(secs) {
    return h('span', { title: typeof secs === 'number' ? new Date(secs * 1000).toLocaleString() : null }, ago(secs));
  }

  const BADGE = {
    active: 'ok', succeeded: 'ok', paid: 'ok', settled: 'ok',
    opening: 'info', pending: 'info', open: 'info', offered: 'info',
    closing: 'warn', expired: 'warn', cancelled: 'warn',
    failed: 'bad', closed: '',
  };

  function badge(status) {
    const text = typeof status === 'string' ? status : 'unknown';
    return h('span', { class: 'badge ' + (BADGE[text] || '') }, text.replace(/_/g, ' '));
  }

  /** An element with text children only: strings become text nodes, never markup. */
  function h(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'data') Object.assign(e.dataset, v);
      else e.setAttribute(k, String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  function setText(id, text) {
    $(id).textContent = text;
  }

  function newest(list) {
    return (Array.isArray(list) ? list.slice() : []).sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
  }

  // ---- rendering -----------------------------------------------------------------------

  /** Redraws the sections whose data changed (all with `force`, for the relative times). */
  function render(force) {
    const changed = {};
    for (const name of ALL) {
      const json = JSON.stringify(state.data[name] === undefined ? null : state.data[name]);
      changed[name] = force || json !== state.seen[name];
      state.seen[name] = json;
    }
    if (changed.info || changed.peers || changed.policy) renderNode();
    if (changed.balance || changed.channels) renderBalances();
    if (changed.channels) renderChannels();
    if (changed.payments) renderPayments();
    if (changed.invoices) renderInvoices();
    if (changed.forwards) renderForwards();
    renderProblems();
    setText('foot', 'Updated ' + new Date().toLocaleTimeString() + ' · chanhub ' + ((state.data.info && state.data.info.version) || ''));
  }

  function renderProblems() {
    const lines = Object.entries(state.errors).map(([name, msg]) => 'Could not read ' + name + ': ' + msg);
    const el = $('problems');
    el.textContent = lines.join('\n');
    el.hidden = lines.length === 0;
  }

  function renderNode() {
    const info = state.data.info;
    if (info) {
      setText('node-id', info.node_id);
      setText('top-node', info.node_id);
      setText('node-network', info.network);
      setText('node-height', groups.format(info.block_height));
      $('node-height').title = info.block_hash || '';
      setText('node-version', info.version);
      setText('node-addr', info.peer_addr);
    }
    const peers = state.data.peers && state.data.peers.peers;
    if (Array.isArray(peers)) setText('node-peers', peers.length + ' connected');
    const p = state.data.policy;
    if (p) setText('node-policy', groups.format(p.base_msat) + ' msat + ' + groups.format(p.ppm) + ' ppm, CLTV Δ ' + p.cltv_delta);
  }

  function renderBalances() {
    const b = state.data.balance;
    if (b) {
      setText('onchain-confirmed', sat(b.onchain_confirmed_sat));
      setText('onchain-unconfirmed', sat(b.onchain_unconfirmed_sat));
      setText('onchain-immature', sat(b.onchain_immature_sat));
      setText('channels-local', msat(b.channels_local_msat));
    }
    const chans = state.data.channels && state.data.channels.channels;
    if (Array.isArray(chans)) {
      const open = chans.filter((c) => c.state !== 'closed');
      setText('channels-remote', msat(open.reduce((s, c) => s + (c.remote_msat || 0), 0)));
      setText('channels-flight', msat(open.reduce((s, c) => s + htlcTotal(c.pending_htlcs), 0)));
      const by = {};
      chans.forEach((c) => (by[c.state] = (by[c.state] || 0) + 1));
      const parts = ['active', 'opening', 'closing', 'closed'].filter((s) => by[s]).map((s) => by[s] + ' ' + s);
      setText('channels-count', parts.length ? parts.join(', ') : 'none');
    }
  }

  function htlcTotal(htlcs) {
    return (Array.isArray(htlcs) ? htlcs : []).reduce((s, x) => s + (x.amount_msat || 0), 0);
  }

  const STATE_ORDER = { active: 0, opening: 1, closing: 2, closed: 3 };

  function renderChannels() {
    const chans = state.data.channels && state.data.channels.channels;
    const box = $('channels');
    if (!Array.isArray(chans)) return;
    const sorted = chans.slice().sort(
      (a, b) => (STATE_ORDER[a.state] ?? 9) - (STATE_ORDER[b.state] ?? 9) || b.capacity_sat - a.capacity_sat,
    );
    const live = sorted.filter((c) => c.state !== 'closed');
    const closed = sorted.filter((c) => c.state === 'closed');
    setText('channels-total', '(' + chans.length + ')');
    const nodes = live.map(channelRow);
    if (!chans.length) nodes.push(h('p', { class: 'muted' }, 'No channels yet.'));
    if (closed.length) {
      nodes.push(
        h('details', { class: 'closed-channels' }, h('summary', {}, closed.length + ' closed'), closed.map(channelRow)),
      );
    }
    box.replaceChildren(...nodes);
  }

  function segment(cls, value, total) {
    const s = h('span', { class: cls });
    s.style.width = (total > 0 ? (100 * value) / total : 0) + '%';
    return s;
  }

  function channelRow(c) {
    const htlcs = Array.isArray(c.pending_htlcs) ? c.pending_htlcs : [];
    const flight = htlcTotal(htlcs);
    const total = c.capacity_sat * 1000;
    const offered = htlcs.filter((x) => x.direction === 'offered');
    const received = htlcs.filter((x) => x.direction !== 'offered');
    const row = h(
      'div',
      {
        class: 'chan',
        data: {
          channelId: c.channel_id,
          peer: c.peer_node_id,
          state: c.state,
          localMsat: String(c.local_msat),
          remoteMsat: String(c.remote_msat),
          pendingHtlcs: String(htlcs.length),
        },
      },
      h(
        'div',
        { class: 'chan-head' },
        badge(c.state),
        h('span', { class: 'peer mono', title: 'peer ' + c.peer_node_id }, short(c.peer_node_id, 10)),
        c.state !== 'closed' && h('span', { class: 'conn' + (c.peer_connected ? ' up' : '') }, c.peer_connected ? '● connected' : '○ disconnected'),
        h('span', { class: 'badge' }, c.channel_type),
        h('span', { class: 'cap' }, sat(c.capacity_sat)),
      ),
    );
    if (c.state !== 'closed') {
      row.append(
        h('div', { class: 'bar', title: 'ours · in flight · theirs' },
          segment('local', c.local_msat, total), segment('flight', flight, total), segment('remote', c.remote_msat, total)),
        h('div', { class: 'legend' },
          h('span', { class: 'key local' }, 'ours ', h('b', {}, msat(c.local_msat))),
          flight > 0 && h('span', { class: 'key flight' }, 'in flight ', h('b', {}, msat(flight))),
          h('span', { class: 'key remote' }, 'theirs ', h('b', {}, msat(c.remote_msat)))),
      );
    }
    if (htlcs.length) {
      const sum = (list, dir) => list.length && list.length + ' ' + dir + ' (' + msat(htlcTotal(list)) + ')';
      row.append(
        h('div', { class: 'resolution' }, htlcs.length + ' pending HTLC' + (htlcs.length > 1 ? 's' : '') + ': ',
          [sum(offered, 'offered'), sum(received, 'received')].filter(Boolean).join(', ')),
        h('ul', { class: 'htlcs' }, htlcs.map((x) =>
          h('li', {}, x.direction + ' #' + x.id + ' ', h('b', {}, msat(x.amount_msat)),
            ', expires at block ' + x.cltv_expiry + ', hash ', h('span', { class: 'mono', title: x.payment_hash }, short(x.payment_hash))))),
      );
    }
    if (c.resolution) row.append(resolutionSummary(c.resolution));
    else if (c.closing_txid) row.append(h('div', { class: 'resolution' }, 'Funding spent by ', h('span', { class: 'mono', title: c.closing_txid }, short(c.closing_txid, 10)), ' — settling on chain'));
    row.append(
      h('div', { class: 'chan-meta' },
        h('span', {}, 'channel ', h('span', { class: 'mono', title: c.channel_id }, short(c.channel_id, 10))),
        c.funding_txid && h('span', {}, 'funding ', h('span', { class: 'mono', title: c.funding_txid + ':' + c.funding_vout }, short(c.funding_txid) + ':' + c.funding_vout)),
        h('span', {}, 'commitments ' + c.local_commitment_number + ' / ' + c.remote_commitment_number),
        c.phase && h('span', {}, 'phase ' + c.phase)),
    );
    return row;
  }

  const SPEND = {
    mutual: 'closed cooperatively',
    local: 'force-closed by us',
    remote: 'force-closed by the peer',
    revoked: 'the peer broadcast a revoked state (penalty)',
    unknown: 'closed by an unknown transaction',
  };

  function resolutionSummary(r) {
    const outputs = Array.isArray(r.outputs) ? r.outputs : [];
    const ours = outputs.filter((o) => o.ours).length;
    return h('div', { class: 'resolution' },
      h('b', {}, SPEND[r.spend] || String(r.spend)), ': ',
      'we received ', h('b', {}, sat(r.received_sat)), ' on chain, claim fees ', sat(r.fees_sat),
      ', resolved at block ' + r.resolved_height + ' (' + ours + ' of ' + outputs.length + ' outputs ours) · spend ',
      h('span', { class: 'mono', title: r.spend_txid }, short(r.spend_txid, 10)));
  }

  /** A newest-first table of at most LIST_LIMIT rows; `key` names each row for the highlight. */
  function renderTable(kind, list, head, row, key) {
    const sorted = newest(list);
    const shown = sorted.slice(0, LIST_LIMIT);
    setText(kind + '-count', sorted.length > shown.length ? '(newest ' + shown.length + ' of ' + sorted.length + ')' : '(' + sorted.length + ')');
    const before = state.known[kind];
    const keys = new Set();
    const rows = shown.map((item) => {
      const k = key(item);
      keys.add(k);
      const tr = row(item);
      if (before && !before.has(k)) tr.classList.add('fresh');
      return tr;
    });
    state.known[kind] = keys;
    if (!rows.length) rows.push(h('tr', {}, h('td', { class: 'empty', colspan: head.length }, 'None yet.')));
    const thead = h('thead', {}, h('tr', {}, head.map(([text, cls]) => h('th', { class: cls || null }, text))));
    $(kind).replaceChildren(thead, h('tbody', {}, rows));
  }

  function hash(v) {
    return h('span', { class: 'mono', title: v }, short(v));
  }

  function renderPayments() {
    const d = state.data.payments;
    if (!d) return;
    renderTable('payments', d.payments,
      [['When'], ['Status'], ['Amount', 'num'], ['Fee', 'num'], ['Payee'], ['Payment hash']],
      (p) => h('tr', { data: { paymentHash: p.payment_hash, status: p.status } },
        h('td', {}, when(p.created_at)),
        h('td', {}, badge(p.status), p.failure && h('span', { class: 'sub', title: p.failure }, p.failure)),
        h('td', { class: 'num' }, msat(p.amount_msat)),
        h('td', { class: 'num' }, p.status === 'succeeded' ? msat(p.fee_msat) : '—'),
        h('td', {}, h('span', { class: 'mono', title: p.payee }, short(p.payee))),
        h('td', {}, hash(p.payment_hash))),
      (p) => p.payment_hash);
  }

  function renderInvoices() {
    const d = state.data.invoices;
    if (!d) return;
    renderTable('invoices', d.invoices,
      [['When'], ['Status'], ['Amount', 'num'], ['Received', 'num'], ['Description'], ['Payment hash']],
      (i) => h('tr', { data: { paymentHash: i.payment_hash, status: i.status } },
        h('td', {}, when(i.created_at)),
        h('td', {}, badge(i.status)),
        h('td', { class: 'num' }, typeof i.amount_msat === 'number' ? msat(i.amount_msat) : 'any'),
        h('td', { class: 'num' }, i.received_msat ? msat(i.received_msat) : '—'),
        h('td', { class: 'desc', title: i.description }, i.description),
        h('td', {}, hash(i.payment_hash))),
      (i) => i.payment_hash);
  }

  function renderForwards() {
    const d = state.data.forwards;
    if (!d) return;
    const all = Array.isArray(d.forwards) ? d.forwards : [];
    setText('fees-earned', msat(d.fee_msat_earned));
    setText('forwards-settled', String(all.filter((f) => f.status === 'settled').length));
    setText('forwards-failed', String(all.filter((f) => f.status === 'failed').length));
    setText('forwards-pending', String(all.filter((f) => f.status !== 'settled' && f.status !== 'failed').length));
    renderTable('forwards', all,
      [['When'], ['Status'], ['From channel'], ['To channel'], ['Amount', 'num'], ['Fee', 'num'], ['Payment hash']],
      (f) => h('tr', { data: { paymentHash: f.payment_hash, status: f.status } },
        h('td', {}, when(f.created_at)),
        h('td', {}, badge(f.status), f.failure && h('span', { class: 'sub', title: f.failure }, f.failure)),
        h('td', {}, h('span', { class: 'mono', title: f.in_channel_id }, short(f.in_channel_id, 6))),
        h('td', {}, h('span', { class: 'mono', title: f.out_channel_id }, short(f.out_channel_id, 6))),
        h('td', { class: 'num' }, msat(f.out_msat)),
        h('td', { class: 'num' }, msat(f.fee_msat)),
        h('td', {}, hash(f.payment_hash))),
      (f) => f.in_channel_id + ':' + f.in_htlc_id);
  }

  // ---- start ---------------------------------------------------------------------------

  function start() {
    $('token-form').addEventListener('submit', submitToken);
    $('forget').addEventListener('click', () => askToken(''));
    setInterval(() => {
      if (!state.token) return;
      // While the stream is down nothing tells us of changes: read everything.
      refresh(state.live ? SLOW_SOURCES : ALL);
    }, SLOW_REFRESH_MS);
    // Relative times ("3 min ago") age even when nothing changes.
    setInterval(() => state.token && render(true), SLOW_REFRESH_MS);
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && state.token) markDirty(ALL);
    });
    // A `#token=` link opened in a tab already showing the page.
    window.addEventListener('hashchange', () => {
      const token = tokenFromFragment();
      if (token) begin(token);
    });
    const token = tokenFromFragment() || storedToken();
    if (token) begin(token);
    else askToken('');
  }

  // The stateless helpers, for checks from a browser console or test: no data, no token.
  window.chanhubDashboard = Object.freeze({ SseParser, formatMsat: msat });

  start();
})();
