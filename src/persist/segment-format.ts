/**
 * The byte layout of a log segment, and the scanner that validates one.
 *
 * Intuition: a segment is a header saying "this file starts at index N", then records
 * back to back, each framed by its length and a checksum over everything else in it,
 * so that a reader can walk the file and tell, at every record, "whole and intact" from
 * "cut short" or "damaged". All integers are little-endian.
 *
 *   header (24 bytes)   0 magic "CSEG" | 4 version u16 = 1 | 6 zero u16
 *                       8 first index u64 | 16 CRC32C of bytes 0..16 | 20 zero u32
 *   record (17 + n)     0 payload length n u32 | 4 CRC32C of bytes 0..4 and 8..17+n
 *                       8 kind u8 | 9 index u64 | 17 payload (n bytes)
 *
 * The index in every record lets the scanner check that the records follow each other
 * (a record from elsewhere, or a stale one, is caught even if its checksum is right).
 */
import { crc32c } from './crc32c.js';

/** Bytes of a segment header. */
export const HEADER_BYTES = 24;
/** Bytes of a record's frame before its payload. */
export const FRAME_BYTES = 17;
/** "CSEG" read as a little-endian u32. */
const MAGIC = 0x47455343;
/** The only format version so far. */
export const FORMAT_VERSION = 1;

const TWO_POW_32 = 4294967296;

/** One record of the log. */
export interface LogRecord {
  /** Its position in the log: consecutive, from the log's first index. */
  readonly index: number;
  /** A type byte, 0..255, the log's user's to define. */
  readonly kind: number;
  /** The bytes appended. */
  readonly payload: Uint8Array;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function setU64(dv: DataView, at: number, n: number): void {
  dv.setUint32(at, n >>> 0, true);
  dv.setUint32(at + 4, Math.floor(n / TWO_POW_32), true);
}

function getU64(dv: DataView, at: number): number {
  const hi = dv.getUint32(at + 4, true);
  // Above 2^53 is no index of ours: make it unsafe so that the index check refuses it.
  return hi >= 0x200000 ? Number.MAX_VALUE : hi * TWO_POW_32 + dv.getUint32(at, true);
}

/** The header of a segment whose first record has index `first`. */
export function encodeHeader(first: number): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES);
  const dv = view(out);
  dv.setUint32(0, MAGIC, true);
  dv.setUint16(4, FORMAT_VERSION, true);
  setU64(dv, 8, first);
  dv.setUint32(16, crc32c(out, 0, 16), true);
  return out;
}

/** The first index a header names, or a sentence saying what is wrong with it. */
export function decodeHeader(bytes: Uint8Array): { first: number } | { bad: string } {
  if (bytes.length < HEADER_BYTES) return { bad: `header cut short (${bytes.length} of ${HEADER_BYTES} bytes)` };
  const dv = view(bytes);
  if (dv.getUint32(0, true) !== MAGIC) return { bad: 'no segment magic' };
  if (dv.getUint32(16, true) !== crc32c(bytes, 0, 16)) return { bad: 'header checksum mismatch' };
  const version = dv.getUint16(4, true);
  if (version !== FORMAT_VERSION) return { bad: `format version ${version}, this build reads ${FORMAT_VERSION}` };
  return { first: getU64(dv, 8) };
}

/** The checksum of the record framed at `bytes[at, at + 17 + n)`. */
function recordCrc(bytes: Uint8Array, at: number, n: number): number {
  return crc32c(bytes, at + 8, at + FRAME_BYTES + n, crc32c(bytes, at, at + 4));
}

/** A framed record, ready to append. */
export function encodeRecord(index: number, kind: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_BYTES + payload.length);
  const dv = view(out);
  dv.setUint32(0, payload.length, true);
  dv.setUint8(8, kind);
  setU64(dv, 9, index);
  out.set(payload, FRAME_BYTES);
  dv.setUint32(4, recordCrc(out, 0, payload.length), true);
  return out;
}

/** The record framed at `at`, if it is whole, intact and has index `expect`; else why not. */
function readRecord(
  bytes: Uint8Array,
  at: number,
  expect: number,
  recordBytesMax: number,
): { record: LogRecord; end: number } | { bad: string } {
  if (bytes.length - at < FRAME_BYTES) return { bad: `record frame cut short (${bytes.length - at} bytes)` };
  const dv = view(bytes);
  const n = dv.getUint32(at, true);
  if (n > recordBytesMax) return { bad: `record length ${n} over the limit ${recordBytesMax}` };
  if (at + FRAME_BYTES + n > bytes.length) return { bad: `record cut short (${bytes.length - at} of ${FRAME_BYTES + n} bytes)` };
  if (dv.getUint32(at + 4, true) !== recordCrc(bytes, at, n)) return { bad: 'record checksum mismatch' };
  const index = getU64(dv, at + 9);
  if (index !== expect) return { bad: `record index ${index}, expected ${expect}` };
  const record = { index, kind: dv.getUint8(at + 8), payload: bytes.subarray(at + FRAME_BYTES, at + FRAME_BYTES + n) };
  return { record, end: at + FRAME_BYTES + n };
}

/** What a scan of one segment found. */
export interface SegmentScan {
  /** The records, whole and in order (payloads are views into the scanned bytes). */
  readonly records: LogRecord[];
  /** The offset just after the last good record (the header's end if none). */
  readonly end: number;
  /** Why the scan stopped before the file's end, if it did. */
  readonly bad: string | undefined;
}

/** Walk the records of a segment whose header said `first`, from its header's end. */
export function scanRecords(bytes: Uint8Array, first: number, recordBytesMax: number): SegmentScan {
  const records: LogRecord[] = [];
  let at = HEADER_BYTES;
  // Each round consumes at least FRAME_BYTES, so the loop is bounded by the file's size.
  while (at < bytes.length) {
    const r = readRecord(bytes, at, first + records.length, recordBytesMax);
    if ('bad' in r) return { records, end: at, bad: r.bad };
    records.push(r.record);
    at = r.end;
  }
  return { records, end: at, bad: undefined };
}

/**
 * Whether an intact record with an index at or after `expect` starts anywhere after
 * offset `from`: the test that tells a damaged record with good data behind it (refuse)
 * from a torn last write (cut). Candidates with an implausible index or length are
 * skipped before any checksum is computed, so a torn tail of garbage or zeros is cheap.
 */
export function intactRecordAfter(bytes: Uint8Array, from: number, expect: number, recordBytesMax: number): boolean {
  const dv = view(bytes);
  const indexMax = expect + Math.ceil((bytes.length - from) / FRAME_BYTES);
  for (let at = from + 1; at + FRAME_BYTES <= bytes.length; at++) {
    const index = getU64(dv, at + 9);
    if (index < expect || index > indexMax) continue;
    const n = dv.getUint32(at, true);
    if (n > recordBytesMax || at + FRAME_BYTES + n > bytes.length) continue;
    if (dv.getUint32(at + 4, true) === recordCrc(bytes, at, n)) return true;
  }
  return false;
}

/** The file name of the segment starting at `first`: zero-padded, so names sort by index. */
export function segmentName(first: number): string {
  return `seg-${String(first).padStart(20, '0')}.log`;
}

/** The first index a segment's file name gives, or undefined if it is no segment's name. */
export function parseSegmentName(name: string): number | undefined {
  const m = /^seg-(\d{20})\.log$/.exec(name);
  if (m === null) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}
