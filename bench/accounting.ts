/**
 * Per-member accounting of delivered messages: counts inside the measured window, and
 * a running digest of the stream that the driver compares across members.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';

/** Bytes of one digest record: sender index (u16), payload length (u32), first 16 payload bytes. */
const RECORD_BYTES = 2 + 4 + 16;
/** Records staged before one `hash.update`: ~64 KiB. */
const STAGED_RECORDS = 2978;

/**
 * A running SHA-256 of a delivered stream, one record per message: the sender's index,
 * the payload length and the payload's first 16 bytes (zero-padded). The payloads
 * carry the sender's sequence number in their first bytes, so a reordering, a loss or
 * a duplicate changes the digest.
 *
 * Records are staged in a buffer and hashed 64 KiB at a time: SHA-256 of a
 * concatenation does not depend on how it is chunked, and one native call per message
 * would cost more than the rest of the accounting together at a million messages per
 * second.
 */
export class StreamDigest {
  private readonly hash: Hash = createHash('sha256');
  private readonly staged = Buffer.alloc(RECORD_BYTES * STAGED_RECORDS);
  private offset = 0;

  /** Add the message `data[start, start + length)` from sender `sender`. */
  add(sender: number, data: Uint8Array, start: number, length: number): void {
    const b = this.staged;
    let o = this.offset;
    b[o] = sender & 0xff;
    b[o + 1] = sender >>> 8;
    b.writeUInt32LE(length, o + 2);
    o += 6;
    const n = length < 16 ? length : 16;
    for (let i = 0; i < n; i++) b[o + i] = data[start + i]!;
    for (let i = n; i < 16; i++) b[o + i] = 0;
    this.offset = o + 16;
    if (this.offset === b.length) this.flush();
  }

  /** The digest so far, in hex (the stream can go on afterwards). */
  hex(): string {
    this.flush();
    return this.hash.copy().digest('hex');
  }

  private flush(): void {
    if (this.offset === 0) return;
    this.hash.update(this.staged.subarray(0, this.offset));
    this.offset = 0;
  }
}

/** Counts of one member: everything delivered, and what fell in the window. */
export class Tally {
  delivered = 0;
  windowMsgs = 0;
  windowBytes = 0;
  /** Messages delivered in each whole second of the window, from its start. */
  readonly perSecond: number[] = [];
  /** The window in this process's `performance.now()` scale; empty until started. */
  private from = Number.POSITIVE_INFINITY;
  private to = Number.NEGATIVE_INFINITY;

  setWindow(from: number, to: number): void {
    this.from = from;
    this.to = to;
    this.perSecond.length = 0;
    for (let t = from; t + 1000 <= to; t += 1000) this.perSecond.push(0);
  }

  /** Count `count` messages of `bytes` payload bytes each, delivered at `now`. */
  count(now: number, count: number, bytes: number): void {
    this.delivered += count;
    if (now >= this.from && now < this.to) {
      this.windowMsgs += count;
      this.windowBytes += count * bytes;
      const second = Math.floor((now - this.from) / 1000);
      if (second < this.perSecond.length) this.perSecond[second]! += count;
    }
  }
}

/** Nearest-rank percentile of ascending `sorted` (`q` in 0..1); NaN when empty. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

/** Write `seq` little-endian into as many of the first 8 bytes of `buf` as it has. */
export function writeSeq(buf: Uint8Array, at: number, size: number, seq: number): void {
  let v = seq;
  const n = size < 8 ? size : 8;
  for (let i = 0; i < n; i++) {
    buf[at + i] = v & 0xff;
    v = Math.floor(v / 256);
  }
}
