/**
 * What a benchmark member does, independent of whether it runs Cohort or the raw TCP
 * mesh: the delivery sink that both feed, and the interface both implement.
 */
import { createHash } from 'node:crypto';
import { StreamDigest, Tally } from './accounting.js';

/** Where delivered messages go: the window counts and the stream digest. */
export class Sink {
  readonly tally = new Tally();
  private readonly digests: StreamDigest[];
  /** Called once `tally.delivered` reaches `expected`. */
  private expected = Number.POSITIVE_INFINITY;
  private onReached: (() => void) | null = null;

  /**
   * @param perSender one digest per sender instead of one for the whole stream: the raw
   *   mesh has no total order, only FIFO per connection, so only per-sender streams are
   *   comparable across members.
   */
  constructor(
    members: number,
    private readonly perSender: boolean,
  ) {
    this.digests = Array.from({ length: perSender ? members : 1 }, () => new StreamDigest());
  }

  /** One message `data[start, start + length)` from sender index `sender`, delivered at `now`. */
  message(sender: number, data: Uint8Array, start: number, length: number, now: number): void {
    this.digests[this.perSender ? sender : 0]!.add(sender, data, start, length);
    this.tally.count(now, 1, length);
    if (this.tally.delivered >= this.expected) this.reached();
  }

  /** Call `onReached` once `total` messages were delivered (at once if they already were). */
  expect(total: number, onReached: () => void): void {
    this.expected = total;
    this.onReached = onReached;
    if (this.tally.delivered >= total) this.reached();
  }

  /** The digest of the delivered stream (per-sender digests combined in index order). */
  digest(): string {
    if (!this.perSender) return this.digests[0]!.hex();
    const h = createHash('sha256');
    for (const d of this.digests) h.update(d.hex());
    return h.digest('hex');
  }

  private reached(): void {
    const f = this.onReached;
    this.onReached = null;
    this.expected = Number.POSITIVE_INFINITY;
    f?.();
  }
}

/**
 * What a sender did: how many it sent, and latency samples (ms) of the messages sent
 * inside the window — one at a time for a latency sender, under load for a flooding
 * one (multicast until its promise resolved, queueing included).
 */
export interface LatencyRun {
  readonly sent: number;
  readonly samples: number[];
}

/** One member's engine: Cohort or the raw TCP mesh. Times are in `performance.now()` ms. */
export interface Runner {
  /** Resolves with the rank order once this member sees every member (a full view or mesh). */
  readonly ready: Promise<readonly string[]>;
  /** Flood from now until `end`; `onStopped` gets what was sent, once, when sending stops; samples of messages sent at or after `from`. */
  flood(from: number, end: number, onStopped: (run: LatencyRun) => void): void;
  /** One message at a time until `end`; samples of messages sent at or after `from`. */
  latency(from: number, end: number): Promise<LatencyRun>;
  /** Raw latency mode: echo every received message back to its sender. */
  setEcho(echo: boolean): void;
  /** Protocol counters for diagnostics, if any. */
  stats(): Record<string, unknown> | null;
}

/** Reports something that invalidates the run (not fatal by itself). */
export type AnomalyReporter = (text: string) => void;
