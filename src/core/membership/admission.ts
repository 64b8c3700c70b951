/**
 * The coordinator's pending membership changes: joins and graceful leaves waiting for
 * the next view change.
 *
 * Intuition: joins are batched (`joinBatchMs`), so that a burst of joiners costs one
 * view change, and bounded (`pendingJoinsMax`, `membersMax`), so that a flood of join
 * requests cannot grow the next view, or this table, without end. One process listens
 * at an address and an id names one process: a request from a new incarnation (or a
 * new process at the same address) replaces the earlier one's, so a view never holds
 * two of them. A leave request marks its member to go at the next view change. Only the
 * coordinator keeps joins across a view change (the next coordinator's joiners ask it
 * again); leaves start over with every view.
 */
import type { CoreContext } from '../context.js';
import type { Roster } from './roster.js';
import type { MemberInfo, MemberRef } from '../types.js';
import { memberKey } from '../types.js';

/** Joins and leaves waiting for the next view change (see the module comment). */
export class Admission {
  /** Joiners by key, in the order their requests came: their order in the next view. */
  private readonly joins = new Map<string, MemberInfo>();
  private firstJoinAt = 0;
  /** Members leaving gracefully (keys). */
  private readonly leavesSet = new Set<string>();
  private lastLimitLogAt = -Infinity;

  constructor(private readonly ctx: CoreContext) {}

  /** Members that asked to leave (keys). */
  get leaves(): ReadonlySet<string> {
    return this.leavesSet;
  }

  /** Joiners, in the order their requests came. */
  joiners(): MemberInfo[] {
    return [...this.joins.values()];
  }

  /** Whether joins have waited `joinBatchMs` (the batch is due). */
  joinsDue(now: number): boolean {
    return this.joins.size > 0 && now - this.firstJoinAt >= this.ctx.cfg.joinBatchMs;
  }

  /**
   * A join request of `from` at `addr`, checked against the bounds of a view of `size`
   * members. Returns false when it is ignored (a bound reached: logged at most once per
   * retransmission interval).
   */
  mayJoin(now: number, from: MemberRef, size: number): boolean {
    const cfg = this.ctx.cfg;
    if (this.joins.has(memberKey(from))) return true;
    if (this.joins.size >= cfg.pendingJoinsMax) return this.logLimit(now, `${this.joins.size} joins pending (pendingJoinsMax)`);
    if (size + this.joins.size >= cfg.membersMax) return this.logLimit(now, `the view would exceed membersMax (${cfg.membersMax})`);
    return true;
  }

  /**
   * A new incarnation of an id, or a new process at an address, replaces the earlier
   * one's request (a view never holds two of them, which would also hide a restart
   * from those counting them by address).
   */
  replaceEarlier(from: MemberRef, addr: string): void {
    const k = memberKey(from);
    for (const [pk, pj] of this.joins) {
      if (pk !== k && (pj.id === from.id || pj.addr === addr)) this.joins.delete(pk);
    }
  }

  /** Add a join request (the batch starts with the first). */
  addJoin(now: number, from: MemberRef, addr: string): void {
    if (this.joins.size === 0) this.firstJoinAt = now;
    this.joins.set(memberKey(from), { id: from.id, inc: from.inc, addr });
  }

  /** `k` asks to leave at the next view change. */
  addLeave(k: string): void {
    this.leavesSet.add(k);
  }

  /**
   * A new view (`roster`): leaves start over; the coordinator (`coordinator`) keeps the
   * joins not yet in, as a batch that starts now; any other member forgets them.
   */
  enter(now: number, roster: Roster, coordinator: boolean): void {
    this.leavesSet.clear();
    if (coordinator) {
      for (const k of [...this.joins.keys()]) if (roster.rank.has(k)) this.joins.delete(k);
      if (this.joins.size > 0) this.firstJoinAt = now;
    } else {
      this.joins.clear();
    }
  }

  private logLimit(now: number, why: string): false {
    if (now - this.lastLimitLogAt >= this.ctx.cfg.retransmitMs) {
      this.lastLimitLogAt = now;
      this.ctx.out.log(`join request ignored: ${why}`, 'warn');
    }
    return false;
  }
}
