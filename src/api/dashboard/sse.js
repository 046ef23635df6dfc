// A Server-Sent Events parser for the dashboard's stream: no DOM, no state of the page.
/** A line this long is not an event stream: drop the connection rather than buffer it. */
const MAX_LINE = 1 << 20;

/** A Server-Sent Events parser (the WHATWG rules): fields `event`, `data`, `id`, `retry`,
 *  comments, and any of `\r\n`, `\n`, `\r` as line ends, across chunk boundaries. */
export class SseParser {
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
