/**
 * Stream framing for the TCP transport: a byte stream cut into length-prefixed frames.
 *
 * Intuition: TCP delivers bytes in arbitrary chunks, and a peer may be hostile, so the
 * parser checks every frame's announced length against a limit *before* buffering
 * anything for it, and grows a frame's buffer geometrically only as its bytes actually
 * arrive: four bytes of header cannot make us allocate 64 MiB. Each frame is handed
 * out in a buffer the parser never touches again, because decoded messages keep views
 * into it. The limit is read at every length prefix, since it grows once the handshake
 * completes.
 *
 * Wire format: every frame is a 4-byte big-endian unsigned length, then that many bytes.
 */

/** The largest value a 4-byte length prefix can hold. */
export const FRAME_LENGTH_MAX = 0xffff_ffff;
/** Bytes of the big-endian length before every frame. */
export const LENGTH_PREFIX_BYTES = 4;
/** A frame body buffer starts at this size (unless the chunk at hand holds the whole frame) and doubles. */
const BODY_INITIAL_BYTES = 64 * 1024;

/**
 * Splits a byte stream into length-prefixed frames. Each frame is handed out in a
 * fresh buffer that the parser never touches again, so decoded views stay valid.
 * One parser serves one stream (one connection); it holds at most the frame being read.
 */
export class FrameParser {
  private readonly header = Buffer.alloc(LENGTH_PREFIX_BYTES);
  private headerLen = 0;
  /** Length of the frame being read, or -1 while reading a length prefix. */
  private need = -1;
  private body: Buffer | null = null;
  private bodyLen = 0;

  /**
   * Feeds `chunk`. Calls `onFrame` for every complete frame and stops early when it
   * returns false. `limit()` is read at each length prefix (it changes once the
   * handshake completes). Returns an error text when a length exceeds the limit (the
   * stream is then unusable), else null.
   */
  push(chunk: Buffer, limit: () => number, onFrame: (frame: Buffer) => boolean): string | null {
    const n = chunk.length;
    let off = 0;
    while (off < n) {
      if (this.need < 0) {
        let len: number;
        if (this.headerLen === 0 && n - off >= LENGTH_PREFIX_BYTES) {
          len = chunk.readUInt32BE(off);
          off += LENGTH_PREFIX_BYTES;
        } else {
          const k = Math.min(LENGTH_PREFIX_BYTES - this.headerLen, n - off);
          chunk.copy(this.header, this.headerLen, off, off + k);
          this.headerLen += k;
          off += k;
          if (this.headerLen < LENGTH_PREFIX_BYTES) return null;
          this.headerLen = 0;
          len = this.header.readUInt32BE(0);
        }
        const max = limit();
        if (len > max) return `a frame of ${len} bytes exceeds the limit of ${max}`;
        if (len === 0) {
          if (!onFrame(Buffer.alloc(0))) return null;
          continue;
        }
        this.need = len;
        // The chunk may end right after the length prefix: wait for the body.
        if (off === n) return null;
      }
      const avail = n - off;
      const rest = this.need - this.bodyLen;
      if (this.body === null && avail >= rest) {
        // The common case: the whole frame is in this chunk. A large part of the chunk
        // is used as it is (it pins at most four times its size); a small frame gets an
        // exact-size copy, so that it does not pin the chunk.
        let frame: Buffer;
        if (rest * 4 >= n) frame = chunk.subarray(off, off + rest);
        else {
          frame = Buffer.allocUnsafe(rest);
          chunk.copy(frame, 0, off, off + rest);
        }
        off += rest;
        this.need = -1;
        if (!onFrame(frame)) return null;
        continue;
      }
      const k = Math.min(avail, rest);
      this.reserve(this.bodyLen + k);
      chunk.copy(this.body!, this.bodyLen, off, off + k);
      this.bodyLen += k;
      off += k;
      if (this.bodyLen === this.need) {
        const body = this.body!;
        const frame = body.length === this.need ? body : body.subarray(0, this.need);
        this.body = null;
        this.bodyLen = 0;
        this.need = -1;
        if (!onFrame(frame)) return null;
      }
    }
    return null;
  }

  /** Grows the body buffer to hold `size` bytes: geometric, so memory follows the bytes received. */
  private reserve(size: number): void {
    const cap = this.body === null ? 0 : this.body.length;
    if (size <= cap) return;
    const next = Buffer.allocUnsafe(Math.min(this.need, Math.max(size, cap * 2, BODY_INITIAL_BYTES)));
    if (this.body !== null) this.body.copy(next, 0, 0, this.bodyLen);
    this.body = next;
  }
}
