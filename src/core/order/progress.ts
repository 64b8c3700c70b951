/**
 * The sequencer's view of its members' progress: who holds the order window shut.
 *
 * Intuition (raft's `tracker/`): the order window waits for stability, so the slowest
 * member sets everyone's pace. A member that holds the window shut — a majority holds
 * more than it, so only it keeps entries unstable — and does not catch up to where that
 * majority was within `lagTimeoutMs` is a *laggard*, removed at the next view change.
 * Its heartbeats say it is alive, not that the group can afford to wait for it. Never
 * more laggards (with suspects) than keeps a majority of the view.
 *
 * This part outlives epochs: when the window was last seen full is remembered across a
 * view change (each of the laggard's acks opens the window for a moment, which must not
 * restart its clock).
 */
import type { CoreContext } from '../context.js';
import type { FailureDetector } from '../membership/failure-detector.js';
import type { Roster } from '../membership/roster.js';
import { majority } from '../quorum.js';

/** Laggards and the window's recent history (see the module comment). */
export class Progress {
  /** Members lagging while the order window is full: since when, and the majority-held prefix they must reach. */
  private readonly lagging = new Map<string, { since: number; target: number }>();
  /** Members to exclude for staying behind past `lagTimeoutMs` (they still heartbeat). */
  private readonly laggardSet = new Set<string>();
  /** The order window was found full since `onLagTimeout` last looked. */
  private windowFullSeen = false;
  /** When the order window was last seen full. */
  private windowFullAt = -Infinity;

  constructor(private readonly ctx: CoreContext) {}

  /** Members to remove as laggards (keys). */
  get laggards(): ReadonlySet<string> {
    return this.laggardSet;
  }

  /** The sequencer found its order window full. */
  sawWindowFull(): void {
    this.windowFullSeen = true;
  }

  /** A new view: nobody lags yet. */
  enter(): void {
    this.lagging.clear();
    this.laggardSet.clear();
  }

  /**
   * Look for laggards, while the order window is full now (`windowFull`) or was lately.
   * `acked(k)` is what member `k` reported holding; `committed` what a majority holds.
   * Only the sequencer (`sequencer`), and not while a view change holds delivery.
   */
  onLagTimeout(
    now: number,
    x: { readonly windowFull: boolean; readonly sequencer: boolean; readonly wedged: boolean; readonly roster: Roster; readonly committed: number; readonly acked: (k: string) => number; readonly detector: FailureDetector },
  ): void {
    const cfg = this.ctx.cfg;
    // Full now or lately: each ack of the laggard opens the window for a moment, which
    // must not restart its clock — and with deferred acks (`ackDelayMs`) it opens by
    // many entries at once, and the senders may take a while to fill it again.
    if (x.windowFull || this.windowFullSeen) this.windowFullAt = now;
    this.windowFullSeen = false;
    const full = now - this.windowFullAt <= Math.max(2 * cfg.heartbeatMs, 2 * cfg.ackDelayMs);
    if (!x.sequencer || x.wedged || !full) {
      this.lagging.clear();
      return;
    }
    const keys = x.roster.keys;
    for (const k of keys) {
      if (k === this.ctx.selfKey || this.laggardSet.has(k)) continue;
      const held = x.acked(k);
      const lag = this.lagging.get(k);
      if (lag === undefined || held >= lag.target) {
        if (held < x.committed) this.lagging.set(k, { since: now, target: x.committed });
        else this.lagging.delete(k);
        continue;
      }
      if (now - lag.since <= cfg.lagTimeoutMs) continue;
      if (x.detector.keptWithout(k, keys, this.laggardSet) < majority(keys.length)) continue;
      this.laggardSet.add(k);
      this.ctx.out.log(`laggard ${k}: holds ${held}, a majority held ${lag.target} ${Math.round(now - lag.since)} ms ago`, 'warn');
    }
  }
}
