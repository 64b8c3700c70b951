/**
 * Bundles: several application messages of one sender to one group in one entry of the
 * order. Under load a sender's queued multicasts leave together, so the sequencer
 * orders, acknowledges, stabilises and collects one entry for many messages; alone, a
 * message is a bundle of one and waits for nothing.
 *
 * The payload of an `app` entry is always a bundle: each message as its length (LEB128,
 * at most five bytes) and then its bytes. Bundles concatenate: two bundles end to end are
 * the bundle of all their messages, so merging needs no re-encoding.
 */

/** Bytes of the LEB128 form of `n` (a length below 2^32). */
function prefixBytes(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Writes `message` with its length prefix at `at` of `out`; returns the end. */
function put(out: Uint8Array, at: number, message: Uint8Array): number {
  let n = message.length;
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[at++] = n;
  out.set(message, at);
  return at + message.length;
}

/** The bundle of one message (its bytes are copied: the caller may reuse its buffer). */
export function bundleOf(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefixBytes(message.length) + message.length);
  put(out, 0, message);
  return out;
}

/**
 * A bundle still being queued: messages are copied into it once, as they are
 * multicast. A lone message costs an exact-size buffer; the second one moves the
 * bundle to a buffer with room for more.
 */
export class BundleBuilder {
  private buf: Uint8Array;
  private used: number;

  constructor(first: Uint8Array) {
    this.buf = bundleOf(first);
    this.used = this.buf.length;
  }

  /** Appends `message` unless the bundle would exceed `maxBytes`; says whether it did. */
  add(message: Uint8Array, maxBytes: number): boolean {
    const need = prefixBytes(message.length) + message.length;
    if (this.used + need > maxBytes) return false;
    if (this.used + need > this.buf.length) {
      const grown = new Uint8Array(Math.min(maxBytes, Math.max(2 * this.buf.length, 16 * need, this.used + need)));
      grown.set(this.buf.subarray(0, this.used));
      this.buf = grown;
    }
    this.used = put(this.buf, this.used, message);
    return true;
  }

  /** The bundle so far. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.used);
  }
}

/** The bundle of all messages of `bundles`, in order (`bytes` is their total length). */
export function concatBundles(bundles: readonly Uint8Array[], bytes: number): Uint8Array {
  if (bundles.length === 1) return bundles[0]!;
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const b of bundles) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/**
 * The messages of a bundle, as views into it; null when it is malformed (a length runs
 * past the end, or a prefix is longer than five bytes). Every member reads the same
 * bytes, so every member makes the same decision.
 */
export function unbundle(bundle: Uint8Array): Uint8Array[] | null {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < bundle.length) {
    let n = 0;
    let shift = 0;
    for (;;) {
      if (at >= bundle.length || shift > 28) return null;
      const b = bundle[at++]!;
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
      shift += 7;
    }
    if (n > bundle.length - at) return null;
    out.push(bundle.subarray(at, at + n));
    at += n;
  }
  return out;
}
