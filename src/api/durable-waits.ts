/**
 * Multicasts waiting to be on disk: durable groups' `multicast(data, { durable })`
 * resolves once its message is delivered here AND on disk at this member (`local`),
 * at a majority of the members of the group's view it was delivered in (`majority`),
 * or at all of them (`all`).
 *
 * Intuition: every durable member tells the view how far its delivered stream is on
 * disk (a position, after each flush: `persisted` events of the core, its own
 * included). A message at position `p` is on disk at a member once that member told a
 * position at or past `p`. Waits queue per group in delivery order and settle from the
 * front, so a group's durable multicasts settle in the order they were sent. Members
 * count as the incarnations they were in that view: a member that crashed and came
 * back is a new incarnation, whose disk may hold neither the message nor (until its
 * state transfer is on disk) its effect, so its word counts only for later views. A wait
 * that can no longer be met — too many of its members left the network before they
 * told — rejects with `ERR_NOT_DURABLE`: the message was delivered, but is not known
 * to be on disk where asked.
 */
import { CohortError, ErrorCode } from '../errors.js';
import { comparePositions, memberKey } from '../core/types.js';
import type { MemberRef, Position } from '../core/types.js';

/** How far a multicast must be on disk before its promise resolves. */
export type Durability = 'none' | 'local' | 'majority' | 'all';

/** The values of {@link Durability}, for option checks. */
export const durabilities: readonly Durability[] = ['none', 'local', 'majority', 'all'];

/** One multicast waiting for durability. */
export interface DurableWait {
  readonly level: Exclude<Durability, 'none'>;
  readonly group: string;
  /** Where it was delivered in the endpoint's stream (its entry's `persist` event). */
  pos: Position | null;
  /** The members of its group's view when it was delivered (`message` event). */
  members: readonly MemberRef[] | null;
  /** Settled otherwise (rejected at an exclusion or a close): dropped from its queue. */
  done: boolean;
  /** Settle the multicast's promise (and release its room): ok, or the error. */
  readonly settle: (err: Error | null) => void;
}

/** The waits of one endpoint (see the module comment). */
export class DurableWaits {
  /** The furthest position each member incarnation (by `memberKey`) told on disk. */
  private readonly told = new Map<string, Position>();
  /** The furthest position this endpoint told on disk (a `local` wait), whatever its incarnation. */
  private selfTold: Position | null = null;
  /** Delivered waits per group, in delivery order. */
  private readonly queues = new Map<string, DurableWait[]>();
  /** The member keys of the endpoint's current view: members gone from it tell nothing more. */
  private inView: ReadonlySet<string> = new Set();

  /** @param selfId this endpoint's id (a `local` wait counts only it). */
  constructor(private readonly selfId: string) {}

  /** How many waits are delivered and not yet on disk where asked. */
  get size(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  /** The message of `w` was delivered here: wait for its durability, in its group's order. */
  delivered(w: DurableWait): void {
    let q = this.queues.get(w.group);
    if (q === undefined) {
      q = [];
      this.queues.set(w.group, q);
    }
    q.push(w);
    if (q.length === 1) this.settle(w.group, q);
  }

  /** `member` told its stream is on disk up to `pos`. */
  onTold(member: MemberRef, pos: Position): void {
    const key = memberKey(member);
    const before = this.told.get(key);
    if (before !== undefined && comparePositions(pos, before) <= 0) return;
    this.told.set(key, pos);
    if (member.id === this.selfId && (this.selfTold === null || comparePositions(pos, this.selfTold) > 0)) this.selfTold = pos;
    for (const [group, q] of this.queues) this.settle(group, q);
  }

  /** A new endpoint view: its members' ids. Waits that can no longer be met reject. */
  view(members: readonly MemberRef[]): void {
    this.inView = new Set(members.map(memberKey));
    if (this.queues.size === 0) {
      // Nobody waits: forget what members gone from the view told.
      for (const key of this.told.keys()) if (!this.inView.has(key)) this.told.delete(key);
      return;
    }
    for (const [group, q] of this.queues) this.settle(group, q);
  }

  /** Settle the front of `group`'s queue while it is met or cannot be. */
  private settle(group: string, q: DurableWait[]): void {
    let n = 0;
    while (n < q.length) {
      const w = q[n] as DurableWait;
      const verdict = this.judge(w);
      if (verdict === 'waiting') break;
      n++;
      w.settle(verdict === 'met' ? null : this.notDurable(w));
    }
    if (n === 0) return;
    q.splice(0, n);
    if (q.length === 0) this.queues.delete(group);
  }

  /** Whether `w` is met, cannot be met any more, or waits. */
  private judge(w: DurableWait): 'met' | 'lost' | 'waiting' {
    if (w.done) return 'met';
    const pos = w.pos;
    const members = w.level === 'local' || w.members === null ? null : w.members;
    if (pos === null) return 'waiting';
    if (members === null) {
      const t = this.selfTold;
      return t !== null && comparePositions(t, pos) >= 0 ? 'met' : 'waiting';
    }
    const need = w.level === 'all' ? members.length : Math.floor(members.length / 2) + 1;
    let have = 0;
    let gone = 0;
    for (const m of members) {
      const key = memberKey(m);
      const t = this.told.get(key);
      if (t !== undefined && comparePositions(t, pos) >= 0) have++;
      else if (!this.inView.has(key)) gone++;
    }
    if (have >= need) return 'met';
    return members.length - gone < need ? 'lost' : 'waiting';
  }

  private notDurable(w: DurableWait): CohortError {
    const members = w.members ?? [];
    const missing = members.filter((m) => {
      const t = this.told.get(memberKey(m));
      return t === undefined || w.pos === null || comparePositions(t, w.pos) < 0;
    });
    return new CohortError(
      ErrorCode.notDurable,
      `multicast to group ${w.group} was delivered, but cannot be on disk at ${w.level === 'all' ? 'all' : 'a majority'} of the ${members.length} members of its view: ${missing.map((m) => m.id).join(', ')} left the network before they had it on disk`,
    );
  }

  /** The endpoint closed or was excluded: every wait rejects with `err`. */
  rejectAll(err: Error): void {
    const qs = [...this.queues.values()];
    this.queues.clear();
    for (const q of qs) for (const w of q) w.settle(err);
  }
}
