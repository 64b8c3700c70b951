/**
 * The replicated table of lightweight groups. Every endpoint applies the same group
 * joins, leaves and departures at the same positions of the endpoint's total order,
 * so every endpoint holds the same table at the same position: group membership is
 * derived, never negotiated (the Spread/Horus two-level design).
 *
 * State transfer obligations live here too, because who owes a joiner its state must
 * be decided identically everywhere: the provider is the oldest member that has the
 * state; if it departs before the joiner says (in order) that it applied the state,
 * the next such member takes over at the view change that removed it.
 *
 * A group exists only while it has members. The change that empties it (a leave
 * entry, or a view install that removes its last members) drops its record at that
 * very position, at every endpoint alike; a later join creates it afresh. What such a
 * group must not forget is its view ids: members and the checker name a view by group
 * and id, and a member's ids must keep increasing even across the group's lives. One
 * number, the highest id any dropped group reached, stands for every dropped group:
 * new groups start above it. So the table (and the welcome that ships it) is as large
 * as the groups that have members, not as every name ever joined.
 */
import { assert } from '../../errors.js';
import type { AwaitingState, GroupRecord, MemberRef, Position } from '../types.js';
import { comparePositions, memberKey, sameMember } from '../types.js';

/** A change of one group's view, to be reported to that group's members. */
export interface GroupChange {
  readonly group: string;
  readonly viewId: number;
  readonly members: readonly MemberRef[];
  readonly joined: readonly MemberRef[];
  readonly left: readonly MemberRef[];
  readonly failed: readonly MemberRef[];
  /** State transfers (new or taken over) that start at this change. */
  readonly transfers: readonly AwaitingState[];
  /** Joiners that will get no state (nobody had it): they start empty. */
  readonly fresh: readonly MemberRef[];
  /**
   * Joiners that will get no state because the last member that had it left unable to
   * provide it (its checkpoint failed): the state exists but cannot be had, so they
   * must not start empty as if the group were new.
   */
  readonly lost: readonly MemberRef[];
}

interface Group {
  viewId: number;
  members: MemberRef[];
  awaiting: AwaitingState[];
}

export class GroupTable {
  private readonly groups = new Map<string, Group>();
  private floor = 0;

  /**
   * A table as a welcome ships it: the records of `snapshot()` and the `viewIdFloor`
   * of the table they were taken from (without it a joiner would restart a dropped
   * group's view ids lower than the other endpoints).
   */
  static from(records: readonly GroupRecord[], viewIdFloor: number): GroupTable {
    const table = new GroupTable();
    table.floor = viewIdFloor;
    for (const r of records) {
      table.groups.set(r.name, {
        viewId: r.viewId,
        members: [...r.members],
        awaiting: [...r.awaiting],
      });
    }
    return table;
  }

  /** A copy for a welcome message, sorted by name so that encodings are canonical. */
  snapshot(): GroupRecord[] {
    return [...this.groups.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, g]) => ({ name, viewId: g.viewId, members: [...g.members], awaiting: [...g.awaiting] }));
  }

  /**
   * The highest view id of any group dropped so far (0 if none): a group created now
   * has its first view above it, so that no view id of a group is ever used twice.
   */
  get viewIdFloor(): number {
    return this.floor;
  }

  members(group: string): readonly MemberRef[] {
    return this.groups.get(group)?.members ?? [];
  }

  viewId(group: string): number {
    return this.groups.get(group)?.viewId ?? 0;
  }

  has(group: string, member: MemberRef): boolean {
    return this.members(group).some((m) => sameMember(m, member));
  }

  awaiting(group: string, member: MemberRef): AwaitingState | undefined {
    return this.groups.get(group)?.awaiting.find((a) => sameMember(a.member, member));
  }

  /** Names of the groups `member` belongs to, sorted. */
  groupsOf(member: MemberRef): string[] {
    const out: string[] = [];
    for (const [name, g] of this.groups) if (g.members.some((m) => sameMember(m, member))) out.push(name);
    return out.sort();
  }

  /** `member` joins `group` at `pos`. Returns `null` when it is already a member. */
  join(group: string, member: MemberRef, pos: Position): GroupChange | null {
    let g = this.groups.get(group);
    if (g === undefined) {
      // A new group, or one dropped earlier: either way its ids continue above every
      // id a dropped group used, so a member that was in an earlier life of the group
      // still sees its view ids increase.
      g = { viewId: this.floor, members: [], awaiting: [] };
      this.groups.set(group, g);
    }
    if (g.members.some((m) => sameMember(m, member))) return null;
    const provider = this.firstWithState(g, member);
    g.members.push(member);
    g.viewId += 1;
    const transfers: AwaitingState[] = [];
    if (provider !== null) {
      const a: AwaitingState = { member, provider, pos };
      g.awaiting.push(a);
      transfers.push(a);
    }
    return {
      group,
      viewId: g.viewId,
      members: [...g.members],
      joined: [member],
      left: [],
      failed: [],
      transfers,
      fresh: provider === null ? [member] : [],
      lost: [],
    };
  }

  /**
   * `member` leaves `group` gracefully; `cannotProvide`: it leaves because its checkpoint
   * failed, so a joiner it owed a state that nobody else has gets none (`lost`).
   * Returns `null` when it was not a member.
   */
  leave(group: string, member: MemberRef, pos: Position, cannotProvide = false): GroupChange | null {
    return this.remove(group, new Map([[memberKey(member), 'left' as const]]), pos, false, cannotProvide);
  }

  /**
   * `member` has the state it was waiting for at `pos`. A confirmation of an older
   * obligation (one that moved to another provider since) changes nothing: the member
   * waits for the state at the new position.
   */
  stateDone(group: string, member: MemberRef, pos: Position): void {
    const g = this.groups.get(group);
    if (g === undefined) return;
    g.awaiting = g.awaiting.filter((a) => !(sameMember(a.member, member) && comparePositions(a.pos, pos) === 0));
  }

  /** Whether `provider` owes some member of `group` its state. */
  owes(group: string, provider: MemberRef): boolean {
    return this.groups.get(group)?.awaiting.some((a) => a.provider !== null && sameMember(a.provider, provider)) ?? false;
  }

  /**
   * A view change of the network: remove departed endpoints from every group. Returns
   * a change for every group with members, in name order (every endpoint reports them
   * in the same order).
   */
  removeEndpoints(departed: ReadonlyMap<string, 'left' | 'failed'>, pos: Position): GroupChange[] {
    const names = [...this.groups.keys()].sort();
    const changes: GroupChange[] = [];
    for (const name of names) {
      const change = this.remove(name, departed, pos, true);
      if (change !== null) changes.push(change);
    }
    return changes;
  }

  private remove(group: string, departed: ReadonlyMap<string, 'left' | 'failed'>, pos: Position, everyGroup = false, cannotProvide = false): GroupChange | null {
    const g = this.groups.get(group);
    if (g === undefined) return null;
    const left: MemberRef[] = [];
    const failed: MemberRef[] = [];
    const kept: MemberRef[] = [];
    for (const m of g.members) {
      const how = departed.get(memberKey(m));
      if (how === 'left') left.push(m);
      else if (how === 'failed') failed.push(m);
      else kept.push(m);
    }
    // A change of the network's membership is a new view of every group that has
    // members, even when none of them departed: the group's views then mark exactly
    // the flushes its messages are delivered between, and a member that reported
    // `blocked` learns from this view that its quorum is back.
    if (left.length === 0 && failed.length === 0 && (!everyGroup || g.members.length === 0)) return null;
    g.members = kept;
    g.viewId += 1;
    // Obligations of departed joiners lapse; those whose provider departed move to the
    // oldest member that has the state, at this very position, or lapse if none has it.
    const transfers: AwaitingState[] = [];
    const fresh: MemberRef[] = [];
    const lost: MemberRef[] = [];
    const stillAwaiting = g.awaiting.filter((a) => !departed.has(memberKey(a.member)));
    const orphans = stillAwaiting.filter((a) => a.provider !== null && departed.has(memberKey(a.provider)));
    // Choose the new providers while every orphan still counts as waiting: an orphan
    // has no state to give another.
    g.awaiting = stillAwaiting;
    const providers = orphans.map((a) => this.firstWithState(g, a.member));
    g.awaiting = stillAwaiting.filter((a) => !orphans.includes(a));
    for (const [i, a] of orphans.entries()) {
      const provider = providers[i] ?? null;
      if (provider === null) {
        (cannotProvide ? lost : fresh).push(a.member);
      } else {
        const moved: AwaitingState = { member: a.member, provider, pos };
        g.awaiting.push(moved);
        transfers.push(moved);
      }
    }
    if (g.members.length === 0) {
      // Only members await state, so an empty group owes nobody anything: its record
      // can go. Every endpoint reaches this at the same position of the order.
      assert(g.awaiting.length === 0, 'empty group with joiners awaiting state');
      this.groups.delete(group);
      this.floor = Math.max(this.floor, g.viewId);
    }
    return { group, viewId: g.viewId, members: [...g.members], joined: [], left, failed, transfers, fresh, lost };
  }

  /**
   * The provider for a joiner: the oldest member (other than `except`) that has the
   * group's state, preferring one that waits for no state in any group. A member that
   * waits holds its application stream (and so its checkpoints) until its own state
   * arrives; two such members providing for each other would wait forever.
   */
  private firstWithState(g: Group, except: MemberRef): MemberRef | null {
    let waiting: MemberRef | null = null;
    let cyclic: MemberRef | null = null;
    let obligations = 0;
    for (const x of this.groups.values()) obligations += x.awaiting.length;
    for (const m of g.members) {
      if (sameMember(m, except)) continue;
      if (g.awaiting.some((a) => sameMember(a.member, m))) continue;
      const chain = this.waitChain(m, except, obligations);
      if (chain === 'free') return m;
      if (chain === 'waits') waiting ??= m;
      else cyclic ??= m;
    }
    // A member that waits, but not (even indirectly) for the joiner, will provide once
    // its own state arrives; one that waits for the joiner would never: last resort.
    return waiting ?? cyclic;
  }

  /**
   * Does `m` wait for a state, and does that wait lead (provider after provider) to
   * `joiner`? Every step but the last is at a member that awaits, so a walk of more
   * steps than there are `obligations` (awaiting entries) goes round a loop. (The bound
   * counts obligations, not groups: the table holds only groups with members, however
   * many names were ever joined.)
   */
  private waitChain(m: MemberRef, joiner: MemberRef, obligations: number): 'free' | 'waits' | 'cycle' {
    let at: MemberRef = m;
    for (let steps = 0; steps <= obligations; steps++) {
      const provider = this.awaitedProvider(at);
      if (provider === undefined) return steps === 0 ? 'free' : 'waits';
      if (sameMember(provider, joiner)) return 'cycle';
      at = provider;
    }
    return 'cycle';
  }

  private awaitedProvider(m: MemberRef): MemberRef | undefined {
    for (const g of this.groups.values()) {
      for (const a of g.awaiting) if (sameMember(a.member, m) && a.provider !== null) return a.provider;
    }
    return undefined;
  }
}
