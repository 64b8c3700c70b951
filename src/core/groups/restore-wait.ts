/**
 * Durable groups, after a restart from the logs: the groups whose state members of the
 * restart restore from their logs, until each group's restorer has joined it.
 *
 * Intuition: a restored state exists only in its restorer's log (the longest log that
 * holds the group), and reaches the group only through that member's application,
 * when it joins the group again. Until that join is delivered, another member joining
 * would create the group empty, and the state would be lost for good; so every other
 * member's join of such a group waits (and what it queued after it, FIFO), and the
 * coordinator admits no new member. After the join, the others join as usual and get
 * the state by transfer from the restorer. The same entries at the same positions
 * clear the wait at every member alike.
 */
import { memberKey } from '../types.js';
import type { MemberInfo, MemberRef, Restored } from '../types.js';

/** The groups awaiting their restorer (see the module comment). */
export class RestoreWait {
  /** Restorer (key) by group. */
  private readonly pending = new Map<string, string>();
  private readonly lostLogged = new Set<string>();

  /** A restart was installed: each of `restored` awaits its restorer, a member of `members`. */
  begin(members: readonly MemberInfo[], restored: readonly Restored[]): void {
    for (const r of restored) {
      const by = members[r.by];
      if (by !== undefined) this.pending.set(r.group, memberKey(by));
    }
  }

  /** Whether any group still awaits its restorer (the coordinator admits nobody then). */
  get blocking(): boolean {
    return this.pending.size > 0;
  }

  /** The groups still awaiting their restorer. */
  get groups(): readonly string[] {
    return [...this.pending.keys()];
  }

  /** Whether `self`'s join of `group` must wait for the restorer's. */
  holds(group: string, self: MemberRef): boolean {
    const by = this.pending.get(group);
    return by !== undefined && by !== memberKey(self);
  }

  /** A join of `group` by `sender` was delivered: true when it is the restorer's (the group's state comes back with it). */
  onJoin(group: string, sender: MemberRef): boolean {
    if (this.pending.get(group) !== memberKey(sender)) return false;
    this.pending.delete(group);
    return true;
  }

  /**
   * Members left the view: for restorers among them that had not restored their groups
   * yet, the text to log once (those groups wait for the next restart from the logs),
   * else null.
   */
  onRemoved(departed: ReadonlySet<string>): string | null {
    const lost = [...this.pending].filter(([g, by]) => departed.has(by) && !this.lostLogged.has(g));
    if (lost.length === 0) return null;
    for (const [g] of lost) this.lostLogged.add(g);
    return `members restoring groups from their logs left before their applications joined them (${lost.map(([g, by]) => `${g} by ${by}`).join(', ')}): those groups wait, and no new member is admitted, until the network restarts from the logs again`;
  }
}
