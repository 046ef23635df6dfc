// The chanhub dashboard: reads the node's API with the bearer token and follows its event
// stream. Plain browser JavaScript modules, no build step, no dependencies. Data from the node
// (peer ids, invoice descriptions, failure reasons) only ever reaches the page as text nodes
// (see format.js).
import { $, msat } from './format.js';
import { SseParser } from './sse.js';
import { LIST_LIMIT, render } from './view.js';

const TOKEN_KEY = 'chanhub.api-token';
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

const SOURCES = {
  info: 'v1/info',
  balance: 'v1/balance',
  channels: 'v1/channels',
  // Only the rows shown, plus one to tell whether older ones exist: a hub with a long
  // history would otherwise send its whole history on every refresh.
  payments: 'v1/payments?limit=' + (LIST_LIMIT + 1),
  invoices: 'v1/invoices?limit=' + (LIST_LIMIT + 1),
  forwards: 'v1/forwards?limit=' + (LIST_LIMIT + 1),
  jit: 'v1/lsp/jit?limit=' + (LIST_LIMIT + 1),
  orders: 'v1/lsp/orders?limit=' + (LIST_LIMIT + 1),
  peers: 'v1/peers',
  policy: 'v1/policy',
  graph: 'v1/graph',
  // Summed per bucket by the node: at most 30 rows, whatever the history.
  activity24: 'v1/stats/activity?window=24h',
  activity30: 'v1/stats/activity?window=30d',
};
const ALL = Object.keys(SOURCES);
/** What each event type changes; an unknown type refetches everything. */
const EVENT_SOURCES = {
  invoice_paid: ['invoices', 'balance', 'channels', 'activity24', 'activity30'],
  payment_succeeded: ['payments', 'balance', 'channels', 'activity24', 'activity30'],
  payment_failed: ['payments', 'balance', 'channels'],
  htlc_forwarded: ['forwards', 'balance', 'channels', 'activity24', 'activity30'],
  channel_state_changed: ['channels', 'balance', 'peers'],
  channel_resolved: ['channels', 'balance', 'info'],
  channel_funding_double_spent: ['channels', 'balance'],
  jit_channel_opened: ['jit', 'channels', 'balance'],
  lsp_order_paid: ['orders', 'invoices', 'channels', 'balance'],
  invoice_held: ['invoices', 'orders'],
};
/** Re-read on the slow timer while the stream is live (the rest follows events). */
const SLOW_SOURCES = ['info', 'balance', 'channels', 'peers', 'policy', 'graph', 'activity24', 'activity30'];

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
  known: { payments: null, invoices: null, forwards: null, jit: null, orders: null },
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
  render(state, false);
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
  setInterval(() => state.token && render(state, true), SLOW_REFRESH_MS);
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
