// Drawing the dashboard from what the node answered (`state.data`), section by section.
import { drawActivity, drawLiquidity } from './charts.js';
import { $, badge, groups, h, msat, newest, sat, setText, short, when } from './format.js';

/** Rows shown per list, newest first. The lists are fetched with one row more (see
 * dashboard.js), which tells whether older rows exist beyond those shown. */
export const LIST_LIMIT = 25;
const SOURCES = ['info', 'balance', 'channels', 'payments', 'invoices', 'forwards', 'jit', 'orders', 'peers', 'policy', 'graph', 'activity24', 'activity30'];

/** Redraws the sections whose data changed (all with `force`, for the relative times). */
export function render(state, force) {
  const changed = {};
  for (const name of SOURCES) {
    const json = JSON.stringify(state.data[name] === undefined ? null : state.data[name]);
    changed[name] = force || json !== state.seen[name];
    state.seen[name] = json;
  }
  if (changed.info || changed.peers || changed.policy) renderNode(state);
  if (changed.graph) renderGraph(state);
  if (changed.balance || changed.channels) renderBalances(state);
  if (changed.channels) renderChannels(state);
  if (changed.channels && state.data.channels) drawLiquidity($('liquidity'), state.data.channels.channels);
  if (changed.activity24 && state.data.activity24) drawActivity($('chart-24h'), state.data.activity24);
  if (changed.activity30 && state.data.activity30) drawActivity($('chart-30d'), state.data.activity30);
  if (changed.payments) renderPayments(state);
  if (changed.invoices) renderInvoices(state);
  if (changed.forwards) renderForwards(state);
  if (changed.jit) renderJit(state);
  if (changed.orders) renderOrders(state);
  renderProblems(state);
  setText('foot', 'Updated ' + new Date().toLocaleTimeString() + ' · chanhub ' + ((state.data.info && state.data.info.version) || ''));
}

function renderProblems(state) {
  const lines = Object.entries(state.errors).map(([name, msg]) => 'Could not read ' + name + ': ' + msg);
  const el = $('problems');
  el.textContent = lines.join('\n');
  el.hidden = lines.length === 0;
}

function renderNode(state) {
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

/** The public network as gossip told us, and our place in it. */
function renderGraph(state) {
  const g = state.data.graph;
  if (!g) return;
  setText('graph-size', groups.format(g.node_count) + ' nodes, ' + groups.format(g.channel_count) + ' channels');
  setText('graph-capacity', sat(g.public_capacity_sat));
  setText('graph-alias', g.node ? (g.node.alias || '(no alias)') + ' ' + g.node.color : 'not announced');
  const chans = Array.isArray(g.channels) ? g.channels : [];
  setText('graph-channels', chans.length
    ? chans.map((c) => c.short_channel_id_str + ' · ' + sat(c.capacity_sat)).join('\n')
    : 'none');
}

function renderBalances(state) {
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

function renderChannels(state) {
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
function renderTable(state, kind, list, head, row, key) {
  const sorted = newest(list);
  const shown = sorted.slice(0, LIST_LIMIT);
  // Only the newest rows are fetched: the total is unknown once there are more.
  setText(kind + '-count', sorted.length > shown.length ? '(newest ' + shown.length + ')' : '(' + sorted.length + ')');
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

function renderPayments(state) {
  const d = state.data.payments;
  if (!d) return;
  renderTable(state, 'payments', d.payments,
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

function renderInvoices(state) {
  const d = state.data.invoices;
  if (!d) return;
  renderTable(state, 'invoices', d.invoices,
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

function renderForwards(state) {
  const d = state.data.forwards;
  if (!d) return;
  const all = Array.isArray(d.forwards) ? d.forwards : [];
  // The fees cover every forward; the counts only the newest ones fetched, and say so.
  const recent = newest(all).slice(0, LIST_LIMIT);
  const of = all.length > recent.length ? ' of newest ' + recent.length : '';
  const count = (keep) => String(recent.filter(keep).length) + of;
  setText('fees-earned', msat(d.fee_msat_earned));
  setText('forwards-settled', count((f) => f.status === 'settled'));
  setText('forwards-failed', count((f) => f.status === 'failed'));
  setText('forwards-pending', count((f) => f.status !== 'settled' && f.status !== 'failed'));
  renderTable(state, 'forwards', all,
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

/** The JIT channels sold; the panel shows only on a hub that has sold one. */
function renderJit(state) {
  const d = state.data.jit;
  const all = d && Array.isArray(d.jit) ? d.jit : [];
  $('panel-jit').hidden = all.length === 0;
  if (!all.length) return;
  renderTable(state, 'jit', all,
    [['When'], ['State'], ['Client'], ['Channel'], ['Payment', 'num'], ['Opening fee', 'num']],
    (j) => h('tr', { data: { scid: j.jit_channel_scid, state: j.state } },
      h('td', {}, when(j.created_at)),
      h('td', {}, badge(j.state)),
      h('td', {}, h('span', { class: 'mono', title: j.client_node_id }, short(j.client_node_id, 8))),
      h('td', {}, j.channel_id ? h('span', { class: 'mono', title: j.channel_id }, short(j.channel_id, 6)) : j.jit_channel_scid),
      h('td', { class: 'num' }, j.payment_size_msat == null ? 'any' : msat(j.payment_size_msat)),
      h('td', { class: 'num' }, msat(j.fee_earned_msat == null ? j.opening_fee_msat : j.fee_earned_msat))),
    (j) => j.jit_channel_scid);
}

/** The channels bought over LSPS1; the panel shows only on a hub that has taken an order. */
function renderOrders(state) {
  const d = state.data.orders;
  const all = d && Array.isArray(d.orders) ? d.orders : [];
  $('panel-orders').hidden = all.length === 0;
  if (!all.length) return;
  renderTable(state, 'orders', all,
    [['When'], ['Order'], ['Payment'], ['Client'], ['Channel', 'num'], ['Fee', 'num']],
    (o) => h('tr', { data: { orderId: o.order_id, state: o.order_state } },
      h('td', {}, when(o.created_at)),
      h('td', {}, badge(o.order_state), o.failure && h('span', { class: 'sub', title: o.failure }, o.failure)),
      h('td', {}, badge(o.payment_state)),
      h('td', {}, h('span', { class: 'mono', title: o.client_node_id }, short(o.client_node_id, 8))),
      h('td', { class: 'num' }, sat(o.lsp_balance_sat + o.client_balance_sat)),
      h('td', { class: 'num' }, sat(o.fee_total_sat))),
    (o) => o.order_id);
}
