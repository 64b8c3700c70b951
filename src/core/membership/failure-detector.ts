/**
 * Failure detection: which members of the view this one suspects, and why.
 *
 * Intuition: a member is suspected for what it does not do — silence longer than
 * `suspectTimeoutMs`, or a refused connection (its process is gone) — or on its own
 * word: its heartbeats say it hears fewer than a majority (`isolated`) or that its
 * application is behind (`slow-consumer`), long enough. A suspicion is no verdict:
 * removing anyone still takes a view change with a majority. Hearing a member ends a
 * suspicion, except one on its own word, which ends only when it says otherwise.
 *
 * Two rules keep a detector honest about itself. A gap between this endpoint's own
 * inputs longer than `pauseThresholdMs` means it was paused: every peer gets a fresh
 * timeout rather than the blame. And a member that hears fewer than a majority of its
 * view, or is cut off from members a majority hears, is *isolated*: it proposes
 * nothing and says so in its heartbeats, so that the others remove it (Raft's
 * CheckQuorum makes a leader that hears no quorum step down the same way).
 */
import type { CoreContext } from '../context.js';
import { majority } from '../quorum.js';
import { memberKey, memberRef } from '../types.js';
import type { Failure, FailureCause, MemberRef } from '../types.js';

/** The suspicions of one member (see the module comment). */
export class FailureDetector {
  /** When each member of the view was last heard. */
  private lastHeard = new Map<string, number>();
  private readonly suspects = new Set<string>();
  /** Why each suspect is suspected: the cause reported if it is removed. */
  private readonly suspectCause = new Map<string, FailureCause>();
  /**
   * Since when this member hears fewer than a majority of its view (itself included);
   * null while it hears a majority (see `watchIsolation`).
   */
  private isolatedSinceValue: number | null = null;
  /**
   * Members this one cannot hear though a majority of the view can, as the promises
   * of its last proposal showed: the fault is on this member's side (a one-way or
   * partial cut into it), so it counts as isolated until it hears them again — rather
   * than have a lone observer remove a member the others hear well.
   */
  private readonly cutOffFrom = new Set<string>();
  /** Since when each member's heartbeats say it hears fewer than a majority. */
  private readonly peerIsolatedSince = new Map<string, number>();
  /**
   * Since when each member's heartbeats say its application is behind. Kept across
   * views (they may come faster than the lag timeout); its key names its incarnation.
   */
  private readonly peerBehindSince = new Map<string, number>();

  constructor(private readonly ctx: CoreContext) {}

  /** Since when this member is isolated; null: it hears a majority. */
  get isolatedSince(): number | null {
    return this.isolatedSinceValue;
  }

  /** Whether `k` is suspected. */
  isSuspected(k: string): boolean {
    return this.suspects.has(k);
  }

  /** The members suspected now (keys). */
  suspected(): string[] {
    return [...this.suspects];
  }

  /** Why `k` is suspected, if it is. */
  causeOf(k: string): FailureCause | undefined {
    return this.suspectCause.get(k);
  }

  /** Milliseconds since `k` was last heard (0 if never recorded), rounded. */
  heardAgoMs(now: number, k: string): number {
    return Math.max(0, Math.round(now - (this.lastHeard.get(k) ?? now)));
  }

  /** A new view: every member gets a fresh timeout, and suspicions start over. */
  enter(now: number, keys: readonly string[], rank: ReadonlyMap<string, number>): void {
    this.isolatedSinceValue = null;
    this.peerIsolatedSince.clear();
    // A slow consumer stays one across view changes (they may come faster than the lag
    // timeout); its key names its incarnation.
    for (const k of [...this.peerBehindSince.keys()]) if (!rank.has(k)) this.peerBehindSince.delete(k);
    this.cutOffFrom.clear();
    this.suspects.clear();
    this.suspectCause.clear();
    this.lastHeard = new Map(keys.map((k) => [k, now]));
  }

  /** This endpoint was paused for `gapMs`: its silence, not theirs. */
  onPause(now: number, gapMs: number): void {
    for (const k of this.lastHeard.keys()) this.lastHeard.set(k, now);
    this.suspects.clear();
    this.suspectCause.clear();
    this.peerIsolatedSince.clear();
    this.peerBehindSince.clear();
    this.cutOffFrom.clear();
    this.isolatedSinceValue = null;
    this.ctx.out.log(`paused for ${gapMs} ms: peers get a fresh timeout`, 'warn');
  }

  /** `k` was heard now. */
  heard(now: number, k: string): void {
    this.lastHeard.set(k, now);
    this.cutOffFrom.delete(k);
    // Heard, but it said it cannot hear us (or keep up): that suspicion ends only when
    // it says otherwise.
    if (this.saysSo(k)) return;
    if (this.suspects.delete(k)) {
      this.suspectCause.delete(k);
      this.ctx.out.log(`${k} heard again`, 'debug');
    }
  }

  /** What `k`'s heartbeat says of it: whether it hears a majority, whether its application is behind. */
  onHeartbeat(now: number, k: string, hears: boolean, behind: boolean): void {
    if (!hears) {
      if (!this.peerIsolatedSince.has(k)) this.peerIsolatedSince.set(k, now);
    } else if (this.peerIsolatedSince.delete(k) && this.suspectCause.get(k) === 'isolated') {
      this.suspects.delete(k);
      this.suspectCause.delete(k);
      this.ctx.out.log(`${k} hears a majority again`, 'info');
    }
    if (behind) {
      if (!this.peerBehindSince.has(k)) this.peerBehindSince.set(k, now);
    } else if (this.peerBehindSince.delete(k) && this.suspectCause.get(k) === 'slow-consumer') {
      this.suspects.delete(k);
      this.suspectCause.delete(k);
      this.ctx.out.log(`${k} caught up with its application's queue`, 'info');
    }
  }

  /** Nothing listens at `k`'s address: suspected now. Returns whether that is news. */
  onRefused(k: string, addr: string): boolean {
    if (k === this.ctx.selfKey || this.suspects.has(k)) return false;
    this.suspect(k, 'refused', `suspect ${k}: ${addr} refuses connections (its process is gone)`);
    return true;
  }

  /**
   * The suspicion timers of the view's members, in rank order: silence, isolation on
   * their word, and slow consumers — never so many of those (with suspects and
   * `laggards`) that a majority of the view would not remain: a group too slow for its
   * senders loses its slowest members, not its quorum.
   */
  onSuspectTimeout(now: number, keys: readonly string[], laggards: ReadonlySet<string>): void {
    const cfg = this.ctx.cfg;
    for (const k of keys) {
      if (k === this.ctx.selfKey || this.suspects.has(k)) continue;
      const heard = this.lastHeard.get(k) ?? now;
      if (now - heard > cfg.suspectTimeoutMs) {
        this.suspect(k, 'silence', `suspect ${k} after ${now - heard} ms of silence`);
        continue;
      }
      const isolatedSince = this.peerIsolatedSince.get(k);
      if (isolatedSince !== undefined && now - isolatedSince > cfg.suspectTimeoutMs) {
        this.suspect(k, 'isolated', `suspect ${k}: for ${now - isolatedSince} ms it says it hears fewer than a majority of the view`);
        continue;
      }
      const behindSince = this.peerBehindSince.get(k);
      if (behindSince !== undefined && now - behindSince > cfg.lagTimeoutMs && this.keptWithout(k, keys, laggards) >= majority(keys.length)) {
        this.suspect(k, 'slow-consumer', `suspect ${k}: for ${now - behindSince} ms it says its application is behind (a slow consumer)`);
      }
    }
  }

  private suspect(k: string, cause: FailureCause, text: string): void {
    this.suspects.add(k);
    this.suspectCause.set(k, cause);
    this.ctx.counters.suspicions++;
    this.ctx.out.log(text, 'warn');
  }

  /**
   * Whether this member is isolated: it hears fewer than `quorum` of its view (itself
   * included; a member suspected only on its own word is still heard — counting it out
   * would let members cut off from each other for a while lock each other out for good
   * once they hear each other again), or it is cut off from members a majority hears.
   */
  watchIsolation(now: number, keys: readonly string[], quorum: number): void {
    let heard = 0;
    for (const k of keys) if (!this.suspects.has(k) || this.saysSo(k)) heard++;
    const isolated = keys.length > 1 && (heard < quorum || this.cutOffFrom.size > 0);
    if (isolated && this.isolatedSinceValue === null) {
      this.isolatedSinceValue = now;
      const why = this.cutOffFrom.size > 0 ? `cannot hear ${[...this.cutOffFrom].join(' ')}, whom a majority hears` : `hears ${heard} of ${keys.length} members`;
      this.ctx.out.log(`isolated: ${why}; proposes nothing until that changes`, 'warn');
    } else if (!isolated && this.isolatedSinceValue !== null) {
      this.isolatedSinceValue = null;
      this.ctx.out.log(`hears a majority again`, 'info');
    }
  }

  /** A majority hears these members, and this one does not: it is the one cut off. */
  cutOff(keys: readonly string[]): void {
    for (const k of keys) this.cutOffFrom.add(k);
  }

  /**
   * `k` is suspected on its own word: it said, long enough, that it hears fewer than a
   * majority (`isolated`) or that its application is behind (`slow-consumer`). It is
   * still heard, so hearing it does not end the suspicion, and it is removed although
   * it answers the view change.
   */
  saysSo(k: string): boolean {
    if (!this.suspects.has(k)) return false;
    const cause = this.suspectCause.get(k);
    return cause === 'isolated' || cause === 'slow-consumer';
  }

  /** Heard within the suspicion timeout and not suspected (this member itself: always). */
  alive(now: number, k: string): boolean {
    if (k === this.ctx.selfKey) return true;
    return !this.suspects.has(k) && now - (this.lastHeard.get(k) ?? -Infinity) < this.ctx.cfg.suspectTimeoutMs;
  }

  /** Members of the view (`keys`) that would remain if `k` were removed too (not suspected, not laggards). */
  keptWithout(k: string, keys: readonly string[], laggards: ReadonlySet<string>): number {
    let kept = 0;
    for (const xk of keys) if (xk !== k && !laggards.has(xk) && !this.suspects.has(xk)) kept++;
    return kept;
  }

  /** Why a proposer removes `m`: what every member will report for it. */
  failureOf(now: number, m: MemberRef, promised: boolean, replaced: boolean): Failure {
    const k = memberKey(m);
    const silentMs = this.heardAgoMs(now, k);
    const said = this.saysSo(k) ? this.suspectCause.get(k) : undefined;
    const laggard = this.peerBehindSince.has(k) ? 'slow-consumer' : 'laggard';
    const cause: FailureCause = replaced ? 'replaced' : (said ?? (!promised ? (this.suspectCause.get(k) ?? 'unresponsive') : laggard));
    return { member: memberRef(m), by: memberRef(this.ctx.self), cause, silentMs, verified: !promised || replaced };
  }
}
