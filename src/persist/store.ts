/**
 * A durable endpoint's store: its segment log, fed in order from the core's output,
 * and group-committed — one flush to disk for whatever gathered since the last one.
 *
 * Intuition: the core says what it installed and delivered (`installed`, `persist` and
 * `state` events); the store appends each as a record (`records.ts`) and, at the end
 * of the drive step, starts a flush unless one is under way (then one more follows it,
 * for everything appended meanwhile). Each flush that completes says how far the
 * endpoint's stream is on disk — the position of the last durable view or entry — and
 * the endpoint tells the core, which tells the view. A group's state received by
 * transfer holds that position back until its record is durable too: entries after
 * the join restore nothing without the state they apply to.
 *
 * A disk error fails the store for good (what is on disk is no longer known): the
 * endpoint closes with it (`onFailed`).
 */
import type { CoreEvent } from '../core/outbox.js';
import { comparePositions, positionBefore } from '../core/types.js';
import type { Position } from '../core/types.js';
import { RecordKind, encodeEntry, encodeState, encodeView } from './records.js';
import type { SegmentLog } from './segment-log.js';

/** What the store tells its endpoint. */
export interface StoreHost {
  /** Everything delivered up to `pos` is on disk (called after each flush that moved it). */
  durable(pos: Position): void;
  /** The disk failed: the store takes nothing more. */
  failed(err: unknown): void;
}

/** A record written and not yet durable that moves the durable position. */
interface Unsynced {
  readonly index: number;
  readonly pos: Position;
  /** A group's received state: the durable position stays before `pos` until it is on disk. */
  readonly state: boolean;
}

/** The store of one endpoint (see the module comment). */
export class DurableStore {
  /** Records not yet durable, oldest first (`head` is the first still unsynced). */
  private unsynced: Unsynced[] = [];
  private head = 0;
  private flushing = false;
  private again = false;
  private failedWith: unknown = undefined;
  /** The durable position last reported. */
  private reported: Position | null = null;

  constructor(
    private readonly log: SegmentLog,
    private readonly host: StoreHost,
  ) {}

  /** Whether the disk failed. */
  get failed(): boolean {
    return this.failedWith !== undefined;
  }

  /** Records appended since the store opened (for status and tests). */
  get nextIndex(): number {
    return this.log.nextIndex;
  }

  /** Take one event of the core's output (others are ignored). */
  onEvent(e: CoreEvent, network: () => string): void {
    if (this.failedWith !== undefined) return;
    try {
      switch (e.type) {
        case 'persist':
          this.add(this.log.append(RecordKind.entry, encodeEntry(e.pos, e.entry)), e.pos, false);
          return;
        case 'installed':
          this.add(this.log.append(RecordKind.view, encodeView(network(), e.view)), { epoch: e.view.epoch, gseq: 0 }, false);
          return;
        case 'state':
          this.add(this.log.append(RecordKind.state, encodeState(e.group, e.pos, e.data)), e.pos, true);
          return;
        default:
          return;
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private add(index: number, pos: Position, state: boolean): void {
    this.unsynced.push({ index, pos, state });
  }

  /** End of a drive step: flush what was appended (after the flush under way, if any). */
  commit(): void {
    if (this.failedWith !== undefined || this.head === this.unsynced.length) return;
    if (this.flushing) {
      this.again = true;
      return;
    }
    this.flushing = true;
    this.log.sync().then(
      (durable) => this.onFlushed(durable),
      (err: unknown) => this.fail(err),
    );
  }

  private onFlushed(durable: number): void {
    this.flushing = false;
    let last: Position | null = null;
    while (this.head < this.unsynced.length && (this.unsynced[this.head] as Unsynced).index <= durable) {
      const u = this.unsynced[this.head++] as Unsynced;
      if (!u.state) last = u.pos;
    }
    if (this.head > 1024 && this.head * 2 > this.unsynced.length) {
      this.unsynced = this.unsynced.slice(this.head);
      this.head = 0;
    }
    // A received state not yet durable keeps the position before it.
    for (let i = this.head; i < this.unsynced.length && last !== null; i++) {
      const u = this.unsynced[i] as Unsynced;
      if (u.state && comparePositions(u.pos, last) <= 0) last = positionBefore(u.pos);
    }
    if (last !== null && (this.reported === null || comparePositions(last, this.reported) > 0)) {
      this.reported = last;
      this.host.durable(last);
    }
    if (this.again) {
      this.again = false;
      this.commit();
    }
  }

  private fail(err: unknown): void {
    if (this.failedWith !== undefined) return;
    this.failedWith = err;
    this.flushing = false;
    this.host.failed(err);
  }

  /** Flush what is appended and release the disk. */
  async close(): Promise<void> {
    try {
      await this.log.close();
    } catch {
      // Closing after a failure: the error was reported when it happened.
    }
  }
}
