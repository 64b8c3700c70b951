/**
 * An append-only log of records in segment files, group-committed through an injected
 * {@link Disk}: the storage brick of durable groups (issue 19).
 *
 * Intuition: `append` only frames the record in memory and gives it the next index;
 * `sync` writes everything appended since the last one and makes it durable with ONE
 * fsync (group commit: the cost of a flush is shared by the whole batch), then says
 * which index is durable. Records go into segment files of bounded size: when the
 * current one is full, it is made durable whole before the next is created, so that a
 * crash can only tear the last segment (see `segment-recovery.ts` for what opening does
 * with a torn or damaged file). `truncateBefore` drops whole segments behind a
 * checkpoint. Disk operations run one at a time, in call order; after a disk error the
 * log refuses every call with that error (like etcd's raft: storage errors are fatal,
 * because what is on disk is no longer known).
 *
 * Layout of the bytes: `segment-format.ts`.
 */
import type { Disk } from './disk.js';
import { ClosedError, CorruptLogError, ErrorCode, InputError, OptionError } from '../errors.js';
import { FRAME_BYTES, HEADER_BYTES, encodeHeader, encodeRecord, scanRecords, segmentName, type LogRecord } from './segment-format.js';
import { recoverSegments, type Recovery, type Segment } from './segment-recovery.js';

export type { LogRecord } from './segment-format.js';
export type { Recovery } from './segment-recovery.js';

/** Options of {@link SegmentLog.open}. */
export interface SegmentLogOptions {
  /** A segment is rolled over before it would pass this many bytes (a lone larger record still fits). Default 64 MiB. */
  segmentBytes?: number;
  /** The largest payload accepted, and believed at recovery. Default 16 MiB. */
  recordBytesMax?: number;
  /**
   * The index of the first record of a new, empty log (ignored when segments exist).
   * Default 0. Pass the same value at every open: a log whose first segment was never
   * durably created starts again from it.
   */
  firstIndex?: number;
}

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
const DEFAULT_RECORD_BYTES_MAX = 16 * 1024 * 1024;

/** A record appended but not yet durable: its index and its frame. */
interface Pending {
  readonly index: number;
  readonly frame: Uint8Array;
}

function intOption(value: number | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) throw new OptionError(`${name} must be an integer >= ${min}, got ${String(value)}`);
  return value;
}

/** Concatenate byte arrays. */
function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The log. Open it with {@link SegmentLog.open}.
 *
 * @example
 * ```ts
 * const log = await SegmentLog.open(new NodeDisk(dir));
 * for (const r of log.read()) replay(r);
 * log.append(KIND_MESSAGE, bytes);
 * const durable = await log.sync(); // every index <= durable is on disk
 * ```
 */
export class SegmentLog {
  /** Appended, not yet taken by a flush. */
  private queued: Pending[] = [];
  /** Taken by the flush under way, not yet durable. */
  private inflight: Pending[] = [];
  private next: number;
  private durable: number;
  private first: number;
  /** Disk operations, one after the other. */
  private chain: Promise<unknown> = Promise.resolve();
  private failed: unknown = undefined;
  private closed = false;
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly disk: Disk,
    private readonly segments: Segment[],
    /** What opening found: segments, records, a torn tail cut, files removed. */
    readonly recovery: Recovery,
    private readonly segmentBytes: number,
    private readonly recordBytesMax: number,
    firstIndex: number,
  ) {
    const head = segments[0];
    const tail = segments[segments.length - 1];
    this.first = head?.first ?? firstIndex;
    this.next = tail?.end ?? firstIndex;
    this.durable = this.next - 1;
  }

  /**
   * Open the log in `disk`'s directory (a new one if it holds no segment): recovers
   * it, cutting a torn last write off the last segment (see `recovery`).
   *
   * @throws CorruptLogError (code `ERR_CORRUPT`) if a record or header before the tail is damaged.
   * @throws OptionError on a bad option.
   */
  static async open(disk: Disk, options: SegmentLogOptions = {}): Promise<SegmentLog> {
    const log = SegmentLog.openNow(disk, options);
    // The recovery's flushes (a cut tail, removed files): done, or the open fails.
    await log.serial(() => Promise.resolve());
    return log;
  }

  /**
   * {@link SegmentLog.open} without waiting: recovery reads and cuts at once, and its
   * flushes run before the log's first write (a failure fails the log). For a caller
   * that cannot wait, like an endpoint opened synchronously in the simulator.
   */
  static openNow(disk: Disk, options: SegmentLogOptions = {}): SegmentLog {
    const segmentBytes = intOption(options.segmentBytes, 'segmentBytes', DEFAULT_SEGMENT_BYTES, HEADER_BYTES + 1);
    const recordBytesMax = intOption(options.recordBytesMax, 'recordBytesMax', DEFAULT_RECORD_BYTES_MAX, 0);
    const firstIndex = intOption(options.firstIndex, 'firstIndex', 0, 0);
    const { segments, recovery, syncs } = recoverSegments(disk, recordBytesMax);
    const log = new SegmentLog(disk, segments, recovery, segmentBytes, recordBytesMax, firstIndex);
    if (syncs.length > 0) {
      log.serial(async () => {
        for (const s of syncs) await s();
      }).catch(() => undefined);
    }
    return log;
  }

  /** The index of the first record held (records before it were truncated away). */
  get firstIndex(): number {
    return this.first;
  }

  /** The index the next `append` gets; the log holds `[firstIndex, nextIndex)`. */
  get nextIndex(): number {
    return this.next;
  }

  /** The last durable index (every record up to it is on stable storage); `firstIndex - 1` if none. */
  get durableIndex(): number {
    return this.durable;
  }

  private usable(): void {
    if (this.failed !== undefined) throw this.failed;
    if (this.closed) throw new ClosedError('the segment log is closed');
  }

  /** Run a disk operation after the ones before it; a failure fails the log for good. */
  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.chain.then(async () => {
      if (this.failed !== undefined) throw this.failed;
      try {
        return await op();
      } catch (err) {
        this.failed ??= err;
        throw err;
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Append a record (in memory: durable after the next `sync`).
   *
   * @param kind A type byte, 0..255.
   * @returns The record's index.
   * @throws InputError (`ERR_MESSAGE_TOO_LARGE`) above `recordBytesMax`; the disk's error if the log failed.
   */
  append(kind: number, payload: Uint8Array): number {
    this.usable();
    if (!Number.isInteger(kind) || kind < 0 || kind > 255) throw new OptionError(`kind must be a byte 0..255, got ${String(kind)}`);
    if (payload.length > this.recordBytesMax) {
      throw new InputError(ErrorCode.messageTooLarge, `record of ${payload.length} bytes over recordBytesMax ${this.recordBytesMax}`);
    }
    const index = this.next++;
    this.queued.push({ index, frame: encodeRecord(index, kind, payload) });
    return index;
  }

  /**
   * Make every record appended so far durable: one write and one fsync for the whole
   * batch (plus one per segment rolled over, and a directory sync when a segment was
   * created). Calls made while one is under way are served in turn; one that finds
   * nothing new touches no disk.
   *
   * @returns The last durable index (`firstIndex - 1` if the log is empty).
   */
  sync(): Promise<number> {
    try {
      this.usable();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.serial(() => this.flush());
  }

  private async flush(): Promise<number> {
    if (this.queued.length === 0) return this.durable;
    const batch = this.queued;
    this.queued = [];
    this.inflight = batch;
    let seg = this.segments[this.segments.length - 1];
    let parts: Uint8Array[] = [];
    for (const rec of batch) {
      if (seg === undefined || (seg.size + rec.frame.length > this.segmentBytes && seg.end > seg.first)) {
        if (seg !== undefined) await this.writeOut(seg, parts);
        parts = [];
        seg = this.createSegment(rec.index);
      }
      parts.push(rec.frame);
      seg.size += rec.frame.length;
      seg.end = rec.index + 1;
    }
    if (seg !== undefined) await this.writeOut(seg, parts);
    this.inflight = [];
    this.durable = (batch[batch.length - 1] as Pending).index;
    return this.durable;
  }

  /** Write a segment's planned bytes, fsync it, and sync the directory if it is new. */
  private async writeOut(seg: Segment, parts: readonly Uint8Array[]): Promise<void> {
    if (parts.length > 0) this.disk.append(seg.name, concat(parts));
    if (seg.synced < seg.size) {
      await this.disk.sync(seg.name);
      seg.synced = seg.size;
    }
    if (!seg.named) {
      await this.disk.syncDir();
      seg.named = true;
    }
  }

  private createSegment(first: number): Segment {
    const name = segmentName(first);
    this.disk.create(name);
    this.disk.append(name, encodeHeader(first));
    const seg: Segment = { name, first, end: first, size: HEADER_BYTES, synced: 0, named: false };
    this.segments.push(seg);
    return seg;
  }

  /**
   * The records from index `from` (default: the first held) to the last appended,
   * durable or not, in order. Reads the segment files as it goes: a record damaged
   * since opening throws CorruptLogError.
   */
  *read(from: number = this.first): Generator<LogRecord> {
    this.usable();
    let next = Math.max(from, this.first);
    for (const seg of [...this.segments]) {
      if (seg.end <= next) continue;
      const bytes = this.disk.read(seg.name);
      const scan = scanRecords(bytes, seg.first, this.recordBytesMax);
      if (scan.bad !== undefined) throw new CorruptLogError(seg.name, scan.end, scan.bad);
      for (const r of scan.records) {
        if (r.index < next) continue;
        yield r;
        next = r.index + 1;
      }
    }
    for (const p of [...this.inflight, ...this.queued]) {
      if (p.index < next) continue;
      yield { index: p.index, kind: p.frame[8] as number, payload: p.frame.subarray(FRAME_BYTES) };
      next = p.index + 1;
    }
  }

  /**
   * Drop the segments whose records all come before `index` (behind a checkpoint at
   * `index`). The last segment always stays. Removes oldest first, syncing the
   * directory after each (truncation is rare: one directory sync per segment is cheap).
   *
   * @returns How many segment files were removed.
   */
  truncateBefore(index: number): Promise<number> {
    try {
      this.usable();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.serial(async () => {
      let n = 0;
      // Oldest first, a directory sync after each: a crash can bring back only the
      // oldest one removed, so the segments left always follow each other.
      while (this.segments.length > 1 && (this.segments[1] as Segment).first <= index) {
        const seg = this.segments.shift() as Segment;
        this.first = (this.segments[0] as Segment).first;
        this.disk.remove(seg.name);
        await this.disk.syncDir();
        n++;
      }
      return n;
    });
  }

  /** Sync what is appended, then release the disk. Later calls throw. Idempotent: every call settles once the disk is released. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    const done = this.failed === undefined ? this.serial(() => this.flush()) : Promise.resolve();
    this.closed = true;
    try {
      await done;
    } finally {
      this.disk.close();
    }
  }
}
