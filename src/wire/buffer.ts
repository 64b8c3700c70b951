/**
 * The two primitives the wire codec is built from: a `Writer` that appends to a
 * growable byte buffer, and a `Reader` that walks a frame with a bounds-checked cursor.
 *
 * Both speak the same four scalar encodings, and each rule the `Reader` enforces is
 * one the `Writer` obeys (the `Writer` asserts it, the `Reader` throws `WireError`):
 *
 * - **varint**: unsigned LEB128, 7 bits per byte, least significant group first, high
 *   bit set on every byte but the last. Values are integers in [0, 2^53 - 1], so at
 *   most 8 bytes (8 × 7 = 56 bits ≥ 53). The encoding is *minimal*: a multi-byte
 *   varint never ends in a 0x00 byte. Minimality makes every value, and so every
 *   message, have exactly one encoding, which keeps the format easy to fuzz
 *   (`encode(decode(x))` is `x` byte for byte) and closes a channel for smuggling
 *   variations of the same frame.
 * - **bool**: one byte, 0 or 1; anything else is rejected.
 * - **string**: varint byte length, then that many bytes of well-formed UTF-8.
 * - **bytes**: varint length, then the raw bytes.
 *
 * The `Reader` never trusts a length: it checks it against the caller's limit and
 * against the bytes left in the frame before it touches or allocates anything.
 */

import { assert, WireError } from '../errors.js';

/** 2^53 - 1: the largest integer a varint may carry. */
const MAX_VARINT = Number.MAX_SAFE_INTEGER;

/** Bytes a varint of `MAX_VARINT` takes: ceil(53 / 7). Longer varints are rejected. */
export const VARINT_BYTES_MAX = 8;

const encoder = new TextEncoder();
// `fatal` turns malformed UTF-8 into an exception instead of U+FFFD, and `ignoreBOM`
// keeps a leading U+FEFF in the string instead of silently dropping it, so a
// string that starts with one survives the round trip.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strings up to this many bytes that turn out to be ASCII skip `TextDecoder`. */
const ASCII_FAST_PATH_BYTES = 64;

/** Beyond this capacity, `Writer.release()` drops the buffer instead of keeping it. */
const RETAIN_BYTES_MAX = 1 << 20;

/**
 * Appends the wire encodings to a growable buffer. Meant to be reused: `reset()`
 * rewinds it without giving the memory back, so steady-state encoding allocates
 * only the output copy.
 *
 * Every method asserts that its input is encodable (a safe non-negative integer, a
 * well-formed string within its limit, ...): handing it anything else is a bug of the
 * caller, never bad input from the network.
 */
export class Writer {
  /** The backing store; valid bytes are `[0, pos)`. Replaced when it grows. */
  buf: Uint8Array;
  /** Number of bytes written since the last `reset()`. */
  pos = 0;
  /** Writing past this many bytes is an assertion failure (a frame size limit). */
  maxBytes: number;

  /**
   * @param initialCapacity - Bytes to allocate up front; it doubles as needed.
   * @param maxBytes - Largest total the writer may hold; by default unlimited.
   */
  constructor(initialCapacity = 256, maxBytes = Number.MAX_SAFE_INTEGER) {
    this.buf = new Uint8Array(initialCapacity);
    this.maxBytes = maxBytes;
  }

  /** Rewinds to empty, keeping the allocated buffer for the next message. */
  reset(): void {
    this.pos = 0;
  }

  /**
   * Rewinds, and drops the buffer if a large message made it grow past 1 MiB, so
   * that one big state chunk does not pin megabytes for the life of the process.
   */
  release(): void {
    this.pos = 0;
    if (this.buf.length > RETAIN_BYTES_MAX) this.buf = new Uint8Array(256);
  }

  /**
   * Rewinds onto `buf`, a fresh buffer that `detach` will hand over: for a large
   * message, encoding straight into the output spares the copy out of a reused buffer.
   * It grows like any other if the message needs more.
   */
  resetOnto(buf: Uint8Array): void {
    this.buf = buf;
    this.pos = 0;
  }

  /** The bytes written, as a view of the buffer, which the writer gives up. */
  detach(): Uint8Array {
    const out = this.buf.subarray(0, this.pos);
    this.buf = new Uint8Array(256);
    this.pos = 0;
    return out;
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    if (need > this.maxBytes) {
      assert(false, `wire: encoded frame would exceed ${this.maxBytes} bytes`);
    }
    let cap = this.buf.length * 2;
    if (cap < need) cap = need;
    if (cap > this.maxBytes) cap = this.maxBytes;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** Appends one byte. `v` must be an integer in [0, 255]. */
  u8(v: number): void {
    if (!(v >= 0 && v <= 255 && Number.isInteger(v))) {
      assert(false, `wire: byte value out of range: ${String(v)}`);
    }
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  /** Appends `v` as a one-byte boolean: 0 or 1. */
  bool(v: boolean): void {
    if (typeof v !== 'boolean') assert(false, `wire: not a boolean: ${String(v)}`);
    this.ensure(1);
    this.buf[this.pos++] = v ? 1 : 0;
  }

  /**
   * Appends `v` as a minimal unsigned LEB128 varint. `what` names the field for the
   * assertion message. `-0` is written as 0.
   */
  varint(v: number, what: string): void {
    if (!(Number.isSafeInteger(v) && v >= 0)) {
      assert(false, `wire: ${what} must be a safe non-negative integer, got ${String(v)}`);
    }
    this.ensure(VARINT_BYTES_MAX);
    const buf = this.buf;
    let pos = this.pos;
    // Bitwise operators work on 32 bits, so the high groups of a large value are
    // peeled off with arithmetic first; most values never take that loop.
    while (v > 0x7fffffff) {
      buf[pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    while (v > 0x7f) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.pos = pos;
  }

  /**
   * Appends a varint byte length and the UTF-8 of `s`, which must be well-formed
   * UTF-16 (no lone surrogates: `TextEncoder` would turn them into U+FFFD and the
   * receiver would see a different string) and at most `maxBytes` bytes long.
   */
  string(s: string, maxBytes: number, what: string): void {
    if (typeof s !== 'string') assert(false, `wire: ${what} must be a string`);
    const n = s.length;
    // One pass counts the UTF-8 bytes and finds lone surrogates; ids and group
    // names are usually ASCII, which then needs no TextEncoder at all.
    let size = n;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) continue;
      if (c < 0x800) {
        size += 1;
      } else if (c < 0xd800 || c > 0xdfff) {
        size += 2;
      } else {
        const d = s.charCodeAt(i + 1);
        if (c > 0xdbff || !(d >= 0xdc00 && d <= 0xdfff)) {
          assert(false, `wire: ${what} contains a lone surrogate at index ${i}`);
        }
        size += 2; // a pair is 2 code units and 4 bytes
        i++;
      }
    }
    if (size > maxBytes) {
      assert(false, `wire: ${what} is ${size} bytes, more than the limit of ${maxBytes}`);
    }
    this.varint(size, what);
    this.ensure(size);
    const buf = this.buf;
    const pos = this.pos;
    if (size === n) {
      for (let i = 0; i < n; i++) buf[pos + i] = s.charCodeAt(i);
    } else {
      const r = encoder.encodeInto(s, buf.subarray(pos, pos + size));
      assert(r.written === size, 'wire: UTF-8 length mismatch');
    }
    this.pos = pos + size;
  }

  /** Appends a varint length and the bytes of `b`, at most `maxBytes` of them. */
  bytes(b: Uint8Array, maxBytes: number, what: string): void {
    if (!(b instanceof Uint8Array)) assert(false, `wire: ${what} must be a Uint8Array`);
    const n = b.length;
    if (n > maxBytes) {
      assert(false, `wire: ${what} is ${n} bytes, more than the limit of ${maxBytes}`);
    }
    this.varint(n, what);
    this.ensure(n);
    this.buf.set(b, this.pos);
    this.pos += n;
  }

  /** Appends an array length, asserting it is at most `max`. */
  count(n: number, max: number, what: string): void {
    if (n > max) assert(false, `wire: ${what} has ${n} elements, more than the limit of ${max}`);
    this.varint(n, what);
  }

  /** A view of the bytes written so far; overwritten by the next use of the writer. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** A fresh copy of the bytes written so far, safe to keep. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/**
 * A bounds-checked cursor over one frame. Every read checks that the bytes exist,
 * that lengths fit both the frame and the caller's limit, and that the value is one
 * the `Writer` could have produced; otherwise it throws `WireError` naming the field
 * (`what`) and the offset. It never throws anything else.
 */
export class Reader {
  /** The frame being read. */
  readonly bytes: Uint8Array;
  /** Offset of the next byte to read. */
  pos: number;
  /** Offset just past the last byte of the frame. */
  readonly end: number;

  /** Reads `bytes` from offset 0 to its end. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.pos = 0;
    this.end = bytes.length;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.end - this.pos;
  }

  /** Throws the `WireError` for a read of `need` bytes that runs off the end. */
  truncated(what: string, need: number): never {
    const left = this.end - this.pos;
    throw new WireError(
      `truncated frame: ${what} at byte ${this.pos} needs ${need} bytes, ${left} left`,
    );
  }

  /** Reads one byte. */
  u8(what: string): number {
    if (this.pos >= this.end) this.truncated(what, 1);
    return this.bytes[this.pos++]!;
  }

  /** Reads a one-byte boolean, rejecting anything but 0 and 1. */
  bool(what: string): boolean {
    if (this.pos >= this.end) this.truncated(what, 1);
    const b = this.bytes[this.pos]!;
    if (b > 1) {
      throw new WireError(`bad ${what} at byte ${this.pos}: boolean byte ${b} is not 0 or 1`);
    }
    this.pos++;
    return b === 1;
  }

  /**
   * Reads a minimal unsigned LEB128 varint in [0, 2^53 - 1]. Rejects varints longer
   * than 8 bytes, non-minimal ones (ending in 0x00) and values above 2^53 - 1.
   */
  varint(what: string): number {
    const bytes = this.bytes;
    const end = this.end;
    const start = this.pos;
    let pos = start;
    if (pos >= end) this.truncated(what, 1);
    let b = bytes[pos++]!;
    if (b < 0x80) {
      this.pos = pos;
      return b;
    }
    let value = b & 0x7f;
    let scale = 0x80;
    for (let i = 1; ; i++) {
      if (pos >= end) {
        throw new WireError(`truncated frame: varint ${what} at byte ${start} runs off the end`);
      }
      b = bytes[pos++]!;
      // Each term is exact (at most 7 bits times a power of two), and the sum stays
      // exact while it is below 2^53; a sum that reaches 2^53 is rejected below, and
      // rounding cannot carry it back under the limit.
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (b === 0) throw new WireError(`bad ${what} at byte ${start}: non-minimal varint`);
        if (value > MAX_VARINT) {
          throw new WireError(`bad ${what} at byte ${start}: varint exceeds 2^53 - 1`);
        }
        this.pos = pos;
        return value;
      }
      if (i === VARINT_BYTES_MAX - 1) {
        throw new WireError(
          `bad ${what} at byte ${start}: varint longer than ${VARINT_BYTES_MAX} bytes`,
        );
      }
      scale *= 0x80;
    }
  }

  /**
   * Reads a length prefix and checks it against `max` and against the bytes left,
   * given that each counted item takes at least `minItemBytes` bytes. Lengths of
   * strings and byte arrays use 1; arrays use the smallest encoding of an element.
   * This is what keeps a forged length from driving a huge allocation or loop.
   */
  length(what: string, max: number, minItemBytes: number): number {
    const at = this.pos;
    const n = this.varint(what);
    if (n > max) {
      throw new WireError(`bad ${what} at byte ${at}: length ${n} exceeds the limit of ${max}`);
    }
    const left = this.end - this.pos;
    if (n * minItemBytes > left) {
      throw new WireError(
        `truncated frame: ${what} at byte ${at} declares length ${n}, only ${left} bytes left`,
      );
    }
    return n;
  }

  /** Reads a varint-length-prefixed string of well-formed UTF-8, at most `maxBytes` long. */
  string(what: string, maxBytes: number): string {
    const n = this.length(what, maxBytes, 1);
    const bytes = this.bytes;
    const start = this.pos;
    const end = start + n;
    if (n <= ASCII_FAST_PATH_BYTES) {
      // Ids and group names are short and usually ASCII: built a character at a time,
      // without the view and the call with arguments that `fromCharCode.apply` needs.
      let s = '';
      let i = start;
      for (; i < end; i++) {
        const b = bytes[i]!;
        if (b >= 0x80) break;
        s += String.fromCharCode(b);
      }
      if (i === end) {
        this.pos = end;
        return s;
      }
    }
    let s: string;
    try {
      s = decoder.decode(bytes.subarray(start, end));
    } catch {
      throw new WireError(`bad ${what} at byte ${start}: invalid UTF-8`);
    }
    this.pos = end;
    return s;
  }

  /**
   * Reads a varint-length-prefixed byte array, at most `maxBytes` long. The result
   * is a plain `Uint8Array` *view* into the frame, not a copy: it shares memory with
   * the input, so whoever keeps it must not let the frame's buffer be reused.
   */
  bytesView(what: string, maxBytes: number): Uint8Array {
    const n = this.length(what, maxBytes, 1);
    const start = this.pos;
    this.pos = start + n;
    // `new Uint8Array(buffer, ...)` rather than `subarray`, so that a Node `Buffer`
    // frame still yields a plain Uint8Array (a Buffer is not deep-equal to one).
    return new Uint8Array(this.bytes.buffer, this.bytes.byteOffset + start, n);
  }

  /** Reads a presence byte of an optional field: `true` when the value follows. */
  present(what: string): boolean {
    if (this.pos >= this.end) this.truncated(what, 1);
    const b = this.bytes[this.pos]!;
    if (b > 1) {
      throw new WireError(`bad ${what} at byte ${this.pos}: presence byte ${b} is not 0 or 1`);
    }
    this.pos++;
    return b === 1;
  }

  /** Throws unless the whole frame has been read. */
  expectEnd(): void {
    if (this.pos !== this.end) {
      const extra = this.end - this.pos;
      throw new WireError(`trailing bytes: ${extra} after the message ends at byte ${this.pos}`);
    }
  }
}
