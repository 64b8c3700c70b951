/**
 * Opening a segment log: read every segment, validate every record, cut a torn tail,
 * refuse damage anywhere else.
 *
 * Intuition: the writer (`segment-log.ts`) makes a segment durable, whole, before it
 * creates the next one, so after a crash only the LAST segment can end in a partial
 * write. There a bad record with nothing intact behind it is that partial write: it is
 * cut off (the file truncated and synced) and reported. A bad record with an intact
 * record after it, a bad record in any earlier segment, or a header that does not
 * match its name or continue the previous segment, is damage the log cannot explain by
 * a crash: opening refuses it with a `CorruptLogError` naming the file and offset,
 * rather than silently drop what follows.
 *
 * One crash leftover is removed rather than refused: a last segment whose header was
 * never wholly written (shorter than a header, or all zeros). A segment that a
 * truncation removed may come back after a crash (the writer syncs the directory after
 * each removal, oldest first, so only the oldest can): it just makes the log start
 * earlier. A gap between segments is a missing file, and refused.
 * The ambiguity left: damage to the very last record of the last segment looks like a
 * torn write, and is cut (etcd's WAL makes the same call).
 */
import type { Disk } from './disk.js';
import { CorruptLogError } from '../errors.js';
import { HEADER_BYTES, decodeHeader, intactRecordAfter, parseSegmentName, scanRecords } from './segment-format.js';

/** A segment as the log tracks it. */
export interface Segment {
  readonly name: string;
  /** Index of its first record. */
  readonly first: number;
  /** Index after its last record (== first when empty). */
  end: number;
  /** Bytes in the file, header included (including bytes not yet written, while a flush plans). */
  size: number;
  /** Bytes known durable. */
  synced: number;
  /** Whether its directory entry is known durable. */
  named: boolean;
}

/** What opening found and did, for logs and tests. */
export interface Recovery {
  /** Segments kept. */
  segments: number;
  /** Records found, in the segments kept. */
  records: number;
  /** Bytes cut off the end of the last segment (a torn write); 0 if none. */
  tornBytes: number;
  /** Why the cut record was bad, when bytes were cut. */
  tornReason: string | undefined;
  /** Segment files removed: a last one whose header was never wholly written. */
  removed: string[];
}

/** Whether every byte is zero (a file extended by a crash but never written). */
function allZero(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}

/** Validate one segment's header against its name and the previous segment. */
function checkHeader(name: string, bytes: Uint8Array, first: number): void {
  const h = decodeHeader(bytes);
  if ('bad' in h) throw new CorruptLogError(name, 0, h.bad);
  if (h.first !== first) throw new CorruptLogError(name, 8, `header says first index ${h.first}, the name says ${first}`);
}

/** The segment files in the directory, in index order. */
function segmentFiles(disk: Disk): { name: string; first: number }[] {
  const out: { name: string; first: number }[] = [];
  for (const name of disk.list()) {
    const first = parseSegmentName(name);
    if (first !== undefined) out.push({ name, first });
  }
  return out.sort((a, b) => a.first - b.first);
}

/**
 * Recover the segments of `disk`: validate, cut a torn tail, remove crash leftovers.
 * Throws CorruptLogError on damage a crash cannot explain. The flushes that make the
 * cut and the removals durable are returned, not run (`syncs`): the log runs them
 * before its first write.
 */
export function recoverSegments(disk: Disk, recordBytesMax: number): { segments: Segment[]; recovery: Recovery; syncs: (() => Promise<void>)[] } {
  const syncs: (() => Promise<void>)[] = [];
  const recovery: Recovery = { segments: 0, records: 0, tornBytes: 0, tornReason: undefined, removed: [] };
  const files = segmentFiles(disk);
  const segments: Segment[] = [];
  for (let i = 0; i < files.length; i++) {
    const { name, first } = files[i] as { name: string; first: number };
    const last = i === files.length - 1;
    const bytes = disk.read(name);
    if (last && (bytes.length < HEADER_BYTES || allZero(bytes))) {
      disk.remove(name);
      recovery.removed.push(name);
      continue;
    }
    checkHeader(name, bytes, first);
    const prev = segments[segments.length - 1];
    if (prev !== undefined && prev.end !== first) {
      const why = prev.end > first ? 'overlaps' : 'does not follow (a segment is missing between them)';
      throw new CorruptLogError(name, 8, `first index ${first} ${why} ${prev.name}, which ends before ${prev.end}`);
    }
    const scan = scanRecords(bytes, first, recordBytesMax);
    const end = first + scan.records.length;
    if (scan.bad !== undefined) {
      if (!last || intactRecordAfter(bytes, scan.end, end, recordBytesMax)) throw new CorruptLogError(name, scan.end, scan.bad);
      disk.truncate(name, scan.end);
      syncs.push(() => disk.sync(name));
      recovery.tornBytes = bytes.length - scan.end;
      recovery.tornReason = scan.bad;
    }
    segments.push({ name, first, end, size: scan.end, synced: scan.end, named: true });
  }
  if (recovery.removed.length > 0) syncs.push(() => disk.syncDir());
  recovery.segments = segments.length;
  recovery.records = segments.reduce((n, s) => n + (s.end - s.first), 0);
  return { segments, recovery, syncs };
}
