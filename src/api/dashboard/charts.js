// The dashboard's pictures, drawn as SVG into the empty <svg> elements of the page: activity
// over time (from `/v1/stats/activity`) and channel liquidity (from `/v1/channels`). Every bar
// carries its numbers in data attributes and a tooltip; text from the node only becomes text
// nodes.
import { msat, short } from './format.js';

/** The series of the activity chart: the bucket's field, its label, its class. */
const SERIES = [
  ['received_msat', 'received_count', 'received'],
  ['sent_msat', 'sent_count', 'sent'],
  ['forwarded_msat', 'forwarded_count', 'forwarded'],
];
const WIDTH = 600;
const BARS_HEIGHT = 120;
const FEES_HEIGHT = 36;
const AXIS = 16;

/** An SVG element in the namespace of `like` (an <svg> the HTML parser made). */
function s(like, tag, attrs, ...children) {
  const e = document.createElementNS(like.namespaceURI, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === 'data') Object.assign(e.dataset, v);
    else e.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function title(svg, text) {
  return s(svg, 'title', {}, text);
}

function label(start, bucketSecs) {
  const d = new Date(start * 1000);
  return bucketSecs < 86400
    ? String(d.getHours()).padStart(2, '0') + ':00'
    : d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

/** Draws one activity window into `svg`: grouped bars per bucket for received, sent and
 *  forwarded (one scale), and the fees earned below them (their own scale). */
export function drawActivity(svg, activity) {
  const buckets = activity && Array.isArray(activity.buckets) ? activity.buckets : [];
  const bucketSecs = (activity && activity.bucket_secs) || 3600;
  const height = BARS_HEIGHT + FEES_HEIGHT + AXIS + 8;
  svg.setAttribute('viewBox', '0 0 ' + WIDTH + ' ' + height);
  const n = Math.max(buckets.length, 1);
  const slot = WIDTH / n;
  const bar = slot / (SERIES.length + 1);
  const top = Math.max(1, ...buckets.flatMap((b) => SERIES.map(([k]) => b[k] || 0)));
  const topFee = Math.max(1, ...buckets.map((b) => b.fees_earned_msat || 0));
  const totals = { received: 0, sent: 0, forwarded: 0, fees: 0 };
  const nodes = [
    s(svg, 'line', { class: 'axis', x1: 0, x2: WIDTH, y1: BARS_HEIGHT, y2: BARS_HEIGHT }),
    s(svg, 'line', { class: 'axis', x1: 0, x2: WIDTH, y1: BARS_HEIGHT + 4 + FEES_HEIGHT, y2: BARS_HEIGHT + 4 + FEES_HEIGHT }),
  ];
  buckets.forEach((b, i) => {
    const when = label(b.start, bucketSecs);
    SERIES.forEach(([key, countKey, cls], j) => {
      const v = b[key] || 0;
      totals[cls] += v;
      const h = (BARS_HEIGHT * v) / top;
      nodes.push(s(svg, 'rect', {
        class: 'series ' + cls,
        x: (i * slot + (j + 0.5) * bar).toFixed(2), y: (BARS_HEIGHT - h).toFixed(2),
        width: bar.toFixed(2), height: h.toFixed(2),
        data: { series: cls, start: String(b.start), msat: String(v), count: String(b[countKey] || 0) },
      }, title(svg, when + ' · ' + cls + ' ' + msat(v) + ' (' + (b[countKey] || 0) + ')')));
    });
    const fee = b.fees_earned_msat || 0;
    totals.fees += fee;
    const fh = (FEES_HEIGHT * fee) / topFee;
    nodes.push(s(svg, 'rect', {
      class: 'series fees',
      x: (i * slot + 0.5 * bar).toFixed(2), y: (BARS_HEIGHT + 4 + FEES_HEIGHT - fh).toFixed(2),
      width: (SERIES.length * bar).toFixed(2), height: fh.toFixed(2),
      data: { series: 'fees', start: String(b.start), msat: String(fee) },
    }, title(svg, when + ' · fees earned ' + msat(fee))));
  });
  if (buckets.length) {
    const y = height - 4;
    nodes.push(
      s(svg, 'text', { class: 'tick', x: 0, y }, label(buckets[0].start, bucketSecs)),
      s(svg, 'text', { class: 'tick end', x: WIDTH, y, 'text-anchor': 'end' }, label(buckets[buckets.length - 1].start, bucketSecs)),
      s(svg, 'text', { class: 'tick', x: 2, y: 10 }, 'max ' + msat(top === 1 ? 0 : top)),
    );
  }
  svg.dataset.receivedMsat = String(totals.received);
  svg.dataset.sentMsat = String(totals.sent);
  svg.dataset.forwardedMsat = String(totals.forwarded);
  svg.dataset.feesMsat = String(totals.fees);
  svg.dataset.buckets = String(buckets.length);
  svg.replaceChildren(...nodes);
  return totals;
}

/** Draws the liquidity of the channels not closed into `svg`: the totals, outbound (ours)
 *  against inbound (theirs), then one bar per channel, largest first. */
export function drawLiquidity(svg, channels) {
  const open = (Array.isArray(channels) ? channels : [])
    .filter((c) => c.state !== 'closed')
    .sort((a, b) => b.capacity_sat - a.capacity_sat);
  const labelWidth = 150;
  const barWidth = WIDTH - labelWidth;
  const row = 22;
  const outbound = open.reduce((t, c) => t + (c.local_msat || 0), 0);
  const inbound = open.reduce((t, c) => t + (c.remote_msat || 0), 0);
  const pair = (y, local, remote, data, what) => {
    const total = local + remote;
    const lw = total > 0 ? (barWidth * local) / total : 0;
    return [
      s(svg, 'rect', { class: 'liq local', x: labelWidth, y, width: lw.toFixed(2), height: row - 6,
        data: Object.assign({ side: 'local', msat: String(local) }, data) },
      title(svg, what + ': ours (outbound) ' + msat(local))),
      s(svg, 'rect', { class: 'liq remote', x: (labelWidth + lw).toFixed(2), y, width: (barWidth - lw).toFixed(2), height: row - 6,
        data: Object.assign({ side: 'remote', msat: String(remote) }, data) },
      title(svg, what + ': theirs (inbound) ' + msat(remote))),
    ];
  };
  const nodes = [
    s(svg, 'text', { class: 'liq-label total', x: 0, y: 14 }, 'All channels'),
    ...pair(2, outbound, inbound, { total: 'true' }, 'all channels'),
    s(svg, 'text', { class: 'liq-sum', x: labelWidth, y: row + 14 }, 'outbound ' + msat(outbound)),
    s(svg, 'text', { class: 'liq-sum', x: WIDTH, y: row + 14, 'text-anchor': 'end' }, 'inbound ' + msat(inbound)),
  ];
  open.forEach((c, i) => {
    const y = 2 * row + 8 + i * row;
    nodes.push(
      s(svg, 'text', { class: 'liq-label mono', x: 0, y: y + 12 }, short(c.peer_node_id, 6), title(svg, c.peer_node_id)),
      ...pair(y, c.local_msat || 0, c.remote_msat || 0, { channel: c.channel_id }, 'channel ' + short(c.channel_id, 6)),
    );
  });
  if (!open.length) nodes.push(s(svg, 'text', { class: 'tick', x: labelWidth, y: 2 * row + 20 }, 'No open channels.'));
  svg.setAttribute('viewBox', '0 0 ' + WIDTH + ' ' + (2 * row + 8 + Math.max(open.length, 1) * row));
  svg.dataset.outboundMsat = String(outbound);
  svg.dataset.inboundMsat = String(inbound);
  svg.dataset.channels = String(open.length);
  svg.replaceChildren(...nodes);
}
