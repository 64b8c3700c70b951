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
 * Checkpoints keep the log bounded: once `checkpointBytes` were appended since the
 * last round, the endpoint begins one at the position its stream reached (`beginRound`:
 * a `base` record with the view and the group table), each group's application gives
 * its `checkpoint()` in its turn (`addCheckpoint`), and once all are in, a `round`
 * record follows; when that is durable, the segments wholly before the base go.
 *
 * A disk error fails the store for good (what is on disk is no longer known): the
 * endpoint closes with it (`onFailed`).
 */
import type { CoreEvent } from '../core/outbox.js';
import { comparePositions, positionBefore } from '../core/types.js';
import type { Position } from '../core/types.js';
import type { EndpointView, GroupRecord } from '../core/types.js';
import { RecordKind, encodeBase, encodeEntry, encodeRound, encodeState, encodeView } from './records.js';
import type { SegmentLog } from './segment-log.js';

/** What the store tells its endpoint. */
export interface StoreHost {
  /** Everything delivered up to `pos` is on disk (called after each flush that moved it). */
  durable(pos: Position): void;
  /** The disk failed: the store takes nothing more. */
  failed(err: unknown): void;
}

/** How the store checkpoints (option `persist`). */
export interface StoreOptions {
  /** Log bytes appended after which a checkpoint round begins. */
  readonly checkpointBytes: number;
}

/** A checkpoint round under way. */
interface Round {
  /** Index of its `base` record. */
  readonly base: number;
  readonly pos: Position;
  /** Groups whose checkpoint is not in yet. */
  readonly waiting: Set<string>;
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
  /** The position of the last durable view or entry (what is reported, unless a state holds it back). */
  private lastDurable: Position | null = null;
  /** The position of the last view or entry appended (where a round would begin). */
  private lastPos: Position | null = null;
  /** Bytes of views, entries and states appended since the last round began (not of rounds themselves). */
  private sinceRound = 0;
  /** Bytes the last round wrote (its base and checkpoints): the next waits at least as long, so rounds cost at most half the log. */
  private lastRoundBytes = 0;
  /** Bytes the round under way wrote so far. */
  private roundBytes = 0;
  private round: Round | null = null;
  /** A complete round's `round` record (its index) and base: truncate once it is durable. */
  private truncateAt: { readonly index: number; readonly base: number } | null = null;

  constructor(
    private readonly log: SegmentLog,
    private readonly host: StoreHost,
    private readonly options: StoreOptions,
  ) {}

  /** Rounds completed, and segment files removed behind them (for tests and status). */
  readonly checkpoints = { rounds: 0, failed: 0, segmentsRemoved: 0 };

  /**
   * Whether a checkpoint round is due: enough appended since the last began, and none
   * under way — or one under way for twice that long, whose checkpoints will not come
   * (their jobs went with an exclusion, say): it is given up for a new one.
   */
  get checkpointDue(): boolean {
    const after = Math.max(this.options.checkpointBytes, this.lastRoundBytes);
    return this.failedWith === undefined && this.lastPos !== null && this.sinceRound >= (this.round === null ? after : 2 * after);
  }

  /**
   * Begin a checkpoint round at the position the stream reached: `view`, `table` and
   * `floor` are the core's now (every entry up to that position applied). Each of
   * `groups` must give its checkpoint (`addCheckpoint`) or fail it (`failCheckpoint`).
   * Returns the round's position.
   */
  beginRound(network: string, view: EndpointView, table: readonly GroupRecord[], floor: number, groups: readonly string[]): Position {
    const pos = this.lastPos!;
    if (this.round !== null) this.checkpoints.failed++;
    this.sinceRound = 0;
    this.roundBytes = 0;
    try {
      const base = this.appendRound(RecordKind.base, encodeBase(network, view, table, floor, pos));
      this.round = { base, pos, waiting: new Set(groups) };
      this.roundDone();
    } catch (err) {
      this.fail(err);
    }
    return pos;
  }

  /**
   * A new member's first view: the group table it starts from (its welcome's), as a
   * base record of no round, at the view's start.
   */
  noteTable(network: string, view: EndpointView, table: readonly GroupRecord[], floor: number): void {
    if (this.failedWith !== undefined) return;
    try {
      this.append(RecordKind.base, encodeBase(network, view, table, floor, { epoch: view.epoch, gseq: 0 }));
    } catch (err) {
      this.fail(err);
    }
  }

  /** `group`'s checkpoint at the round's position `pos`. */
  addCheckpoint(group: string, pos: Position, data: Uint8Array): void {
    const r = this.round;
    if (r === null || this.failedWith !== undefined || comparePositions(r.pos, pos) !== 0 || !r.waiting.has(group)) return;
    try {
      this.appendRound(RecordKind.checkpoint, encodeState(group, pos, data));
      r.waiting.delete(group);
      this.roundDone();
    } catch (err) {
      this.fail(err);
    }
  }

  /** `group` needs no checkpoint in the round at `pos` (the endpoint left it meanwhile). */
  skipCheckpoint(group: string, pos: Position): void {
    const r = this.round;
    if (r === null || comparePositions(r.pos, pos) !== 0) return;
    r.waiting.delete(group);
    this.roundDone();
  }

  /** `group`'s checkpoint failed: this round truncates nothing; the next one tries again. */
  failCheckpoint(pos: Position): void {
    if (this.round === null || comparePositions(this.round.pos, pos) !== 0) return;
    this.round = null;
    this.checkpoints.failed++;
  }

  /** Every checkpoint of the round is in: say so, and truncate once that is durable. */
  private roundDone(): void {
    const r = this.round;
    if (r === null || r.waiting.size > 0) return;
    this.round = null;
    this.checkpoints.rounds++;
    this.lastRoundBytes = this.roundBytes;
    this.truncateAt = { index: this.appendRound(RecordKind.round, encodeRound(r.base)), base: r.base };
  }

  /** Append a view, an entry or a state: it counts toward the next round. */
  private append(kind: number, payload: Uint8Array): number {
    this.sinceRound += payload.length;
    return this.log.append(kind, payload);
  }

  /** Append a record of a round: it counts toward the round's own size. */
  private appendRound(kind: number, payload: Uint8Array): number {
    this.roundBytes += payload.length;
    return this.log.append(kind, payload);
  }

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
          this.add(this.append(RecordKind.entry, encodeEntry(e.pos, e.entry)), e.pos, false);
          return;
        case 'installed':
          this.add(this.append(RecordKind.view, encodeView(network(), e.view, e.restored)), { epoch: e.view.epoch, gseq: 0 }, false);
          return;
        case 'state':
          this.add(this.append(RecordKind.state, encodeState(e.group, e.pos, e.data)), e.pos, true);
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
    if (!state) this.lastPos = pos;
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
    while (this.head < this.unsynced.length && (this.unsynced[this.head] as Unsynced).index <= durable) {
      const u = this.unsynced[this.head++] as Unsynced;
      if (!u.state) this.lastDurable = u.pos;
    }
    let last = this.lastDurable;
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
    const t = this.truncateAt;
    if (t !== null && durable >= t.index) {
      this.truncateAt = null;
      this.log.truncateBefore(t.base).then(
        (n) => (this.checkpoints.segmentsRemoved += n),
        (err: unknown) => this.fail(err),
      );
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
