/**
 * Bundles: several application messages of one sender in one entry of the order. Under
 * load a sender's queued multicasts leave together, so the sequencer orders,
 * acknowledges, stabilises and collects one entry for many messages; alone, a message
 * is a bundle of one and waits for nothing. Messages to different groups share a
 * bundle, so a sender that spreads its multicasts over many groups bundles as well as
 * one that uses one group.
 *
 * The payload of an `app` entry is always a bundle, a sequence of records:
 *
 *     LEB128(2 × length + g)  [g = 1: LEB128(group bytes) group (UTF-8)]  message
 *
 * A record with g = 1 names the group of its message and of the records after it, up
 * to the next that names one; the first record of a bundle always names its group. So
 * every bundle stands alone, and two bundles end to end are the bundle of all their
 * messages: merging needs no re-encoding.
 */

/** Bytes of the LEB128 form of `n` (below 2^33). */
function leb128Bytes(n: number): number {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

/** Writes `n` as LEB128 at `at` of `out`; returns the end. */
function putLeb128(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Group names as UTF-8, cached: a sender names the same few groups again and again. */
const groupBytes = new Map<string, Uint8Array>();
const GROUP_CACHE_MAX = 4096;

function encodeGroup(group: string): Uint8Array {
  let g = groupBytes.get(group);
  if (g === undefined) {
    if (groupBytes.size >= GROUP_CACHE_MAX) groupBytes.clear();
    g = utf8.encode(group);
    groupBytes.set(group, g);
  }
  return g;
}

/**
 * Small bundles are cut from a shared slab, as Node's `Buffer.allocUnsafe` does: a view
 * of an existing buffer costs far less than a typed array with a backing store of its
 * own, which a lone multicast would otherwise pay. A piece is never written after its
 * bundle is complete (a bundle that grows moves to a buffer of its own), and a live
 * piece pins at most its slab (8 pieces' worth at the largest).
 */
const SLAB_BYTES = 32 * 1024;

/**
 * A buffer every byte of which is written before anyone can read it (a bundle's
 * records, then `seal` zeroes what is left over): not zero-filled first, which under a
 * flood of large messages cost the sender more than copying the messages in. A plain
 * Uint8Array over the buffer, so that messages delivered from it are not Buffers.
 */
const uninitialized: (bytes: number) => Uint8Array =
  typeof Buffer === 'function'
    ? (bytes) => {
        const b = Buffer.allocUnsafeSlow(bytes);
        return new Uint8Array(b.buffer, b.byteOffset, bytes);
      }
    : (bytes) => new Uint8Array(bytes);
const SLAB_PIECE_MAX = 4 * 1024;
let slab = new Uint8Array(0);
let slabUsed = 0;

function allocate(bytes: number): Uint8Array {
  if (bytes > SLAB_PIECE_MAX) return uninitialized(bytes);
  if (slabUsed + bytes > slab.length) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const piece = slab.subarray(slabUsed, slabUsed + bytes);
  slabUsed += (bytes + 7) & ~7;
  return piece;
}

/** Bytes of the record of `message`, naming `group` when given. */
function recordBytes(message: Uint8Array, group: Uint8Array | null): number {
  const head = leb128Bytes(message.length * 2 + 1);
  return group === null ? head + message.length : head + leb128Bytes(group.length) + group.length + message.length;
}

function putRecord(out: Uint8Array, at: number, message: Uint8Array, group: Uint8Array | null): number {
  at = putLeb128(out, at, message.length * 2 + (group === null ? 0 : 1));
  if (group !== null) {
    at = putLeb128(out, at, group.length);
    out.set(group, at);
    at += group.length;
  }
  out.set(message, at);
  return at + message.length;
}

/**
 * A bundle still being queued: messages are copied into it once, as they are
 * multicast (the caller may reuse its buffer at once). A lone message costs an
 * exact-size buffer; the second one moves the bundle to a buffer with room for more.
 * Given `capacity` (the size bundles have been reaching lately), the first buffer has
 * that much room: under a flood of large messages the move would otherwise allocate
 * and copy every bundle twice.
 */
export class BundleBuilder {
  private buf: Uint8Array;
  private used: number;
  private group: string;

  constructor(first: Uint8Array, group: string, capacity = 0) {
    const g = encodeGroup(group);
    this.buf = allocate(Math.max(recordBytes(first, g), capacity));
    this.used = putRecord(this.buf, 0, first, g);
    this.group = group;
  }

  /** Appends `message` to `group` unless the bundle would exceed `maxBytes`; says whether it did. */
  add(message: Uint8Array, group: string, maxBytes: number): boolean {
    const g = group === this.group ? null : encodeGroup(group);
    const need = recordBytes(message, g);
    if (this.used + need > maxBytes) return false;
    if (this.used + need > this.buf.length) {
      const grown = uninitialized(Math.min(maxBytes, Math.max(2 * this.buf.length, 16 * need, this.used + need)));
      grown.set(this.buf.subarray(0, this.used));
      this.buf = grown;
    }
    this.used = putRecord(this.buf, this.used, message, g);
    this.group = group;
    return true;
  }

  /** The bundle so far. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.used);
  }

  /**
   * The finished bundle. Mostly empty room is given back: the bundle moves to a buffer
   * of its own size, so that an entry in flight, or a delivered message the application
   * keeps, never pins more than twice its bytes (a small one: its share of a slab).
   * Otherwise the room left over, which
   * nothing wrote, is zeroed (a delivered message is a view into the buffer, and its
   * `.buffer` reaches all of it).
   */
  seal(): Uint8Array {
    if (this.buf.length > SLAB_PIECE_MAX && this.used * 2 < this.buf.length) {
      const exact = allocate(this.used);
      exact.set(this.buf.subarray(0, this.used));
      this.buf = exact;
    } else if (this.used < this.buf.length) this.buf.fill(0, this.used);
    return this.view();
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

/** One message of a bundle. */
export interface BundledMessage {
  readonly group: string;
  /** A view into the bundle. */
  readonly data: Uint8Array;
}

/** Reads a LEB128 number at `at`; returns [value, end], or null past the end or beyond 2^35. */
function getLeb128(b: Uint8Array, at: number): [number, number] | null {
  let n = 0;
  let scale = 1;
  for (let i = 0; i < 5; i++) {
    if (at >= b.length) return null;
    const x = b[at++]!;
    n += (x & 0x7f) * scale;
    if (x < 0x80) return [n, at];
    scale *= 128;
  }
  return null;
}

/**
 * The last group name decoded, and its bytes: a stream names the same few groups over
 * and over, and a byte comparison costs less than decoding the name again.
 */
let lastGroupBytes = new Uint8Array(0);
let lastGroup = '';

/** The group named by `bytes`; null when they are not UTF-8. */
function decodeGroup(bytes: Uint8Array): string | null {
  const n = bytes.length;
  if (n === lastGroupBytes.length && n <= 64) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (bytes[i] !== lastGroupBytes[i]) {
        same = false;
        break;
      }
    }
    if (same) return lastGroup;
  }
  let group: string;
  try {
    group = utf8Strict.decode(bytes);
  } catch {
    return null;
  }
  lastGroupBytes = bytes.slice();
  lastGroup = group;
  return group;
}

/**
 * The messages of a bundle, with their groups; null when it is malformed (a length
 * runs past the end, the first record names no group, a group is not UTF-8). Every
 * member reads the same bytes, so every member makes the same decision.
 */
export function unbundle(bundle: Uint8Array): BundledMessage[] | null {
  const out: BundledMessage[] = [];
  let group: string | null = null;
  let at = 0;
  while (at < bundle.length) {
    const head = getLeb128(bundle, at);
    if (head === null) return null;
    at = head[1];
    const length = Math.floor(head[0] / 2);
    if (head[0] % 2 === 1) {
      const g = getLeb128(bundle, at);
      if (g === null || g[0] > bundle.length - g[1]) return null;
      group = decodeGroup(bundle.subarray(g[1], g[1] + g[0]));
      if (group === null) return null;
      at = g[1] + g[0];
    }
    if (group === null || length > bundle.length - at) return null;
    out.push({ group, data: bundle.subarray(at, at + length) });
    at += length;
  }
  return out;
}
