// Formatting and element building for the dashboard. Strings from the node only ever become
// text nodes here: nothing is parsed as markup.
export const $ = (id) => document.getElementById(id);

export const groups = new Intl.NumberFormat('en-US');

/** `1,234 sat`, or `1,234.567 sat` when there are millisatoshis. */
export function msat(v) {
  if (typeof v !== 'number') return '—';
  const rest = v % 1000;
  return groups.format(Math.floor(v / 1000)) + (rest ? '.' + String(rest).padStart(3, '0') : '') + ' sat';
}

export function sat(v) {
  return typeof v === 'number' ? groups.format(v) + ' sat' : '—';
}

export function short(hex, n) {
  if (typeof hex !== 'string') return '—';
  const k = n || 8;
  return hex.length > 2 * k + 1 ? hex.slice(0, k) + '…' + hex.slice(-k) : hex;
}

export function ago(secs) {
  if (typeof secs !== 'number') return '—';
  const d = Math.max(0, Date.now() / 1000 - secs);
  if (d < 45) return 'just now';
  if (d < 3600) return Math.round(d / 60) + ' min ago';
  if (d < 86400) return Math.round(d / 3600) + ' h ago';
  return new Date(secs * 1000).toLocaleDateString();
}

export function when(secs) {
  return h('span', { title: typeof secs === 'number' ? new Date(secs * 1000).toLocaleString() : null }, ago(secs));
}

const BADGE = {
  active: 'ok', succeeded: 'ok', paid: 'ok', settled: 'ok',
  opening: 'info', pending: 'info', open: 'info', offered: 'info',
  closing: 'warn', expired: 'warn', cancelled: 'warn',
  failed: 'bad', closed: '',
};

export function badge(status) {
  const text = typeof status === 'string' ? status : 'unknown';
  return h('span', { class: 'badge ' + (BADGE[text] || '') }, text.replace(/_/g, ' '));
}

/** An element with text children only: strings become text nodes, never markup. */
export function h(tag, props, ...children) {
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

export function setText(id, text) {
  $(id).textContent = text;
}

export function newest(list) {
  return (Array.isArray(list) ? list.slice() : []).sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
}
