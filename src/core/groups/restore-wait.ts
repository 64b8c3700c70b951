/**
 * Durable groups, after a restart from the logs: the groups whose state members of the
 * restart restore from their logs, until each group's restorer has joined it.
 *
 * Intuition: a restored state exists only in its restorer's log (the longest log that
 * holds the group), and reaches the group only through that member's application,
 * when it joins the group again. Until that join is delivered, another member joining
 * would create the group empty, and the state would be lost for good; so every other
 * member's join of such a group waits (and what it queued after it, FIFO); a member
 * admitted meanwhile learns which groups wait from its welcome. After the restorer's
 * join, the others join as usual and get the state by transfer from it. The same
 * entries at the same positions clear the wait at every member alike. A restorer that
 * leaves first takes the group's state with it: the group waits for the next restart
 * from the logs (said once, in the log).
 */
import { memberKey } from '../types.js';
import type { MemberInfo, MemberRef, Restored } from '../types.js';

/** The groups awaiting their restorer (see the module comment). */
export class RestoreWait {
  /** Restorer (key) by group. */
  private readonly pending = new Map<string, string>();
  private readonly lostLogged = new Set<string>();

  /**
   * A restart was installed (or a welcome names the groups that still wait): each of
   * `restored` awaits its restorer, a member of `members` — or nobody, when its rank is
   * beyond them (the restorer left).
   */
  begin(members: readonly MemberInfo[], restored: readonly Restored[]): void {
    for (const r of restored) {
      const by = members[r.by];
      this.pending.set(r.group, by === undefined ? '' : memberKey(by));
    }
  }

  /** The groups still waiting, as a welcome to the view of `members` tells them. */
  told(members: readonly MemberInfo[]): Restored[] {
    return [...this.pending].map(([group, key]) => {
      const i = members.findIndex((m) => memberKey(m) === key);
      return { group, by: i < 0 ? members.length : i };
    });
  }

  /** The groups still awaiting `member` as their restorer. */
  restoredBy(member: MemberRef): string[] {
    const k = memberKey(member);
    return [...this.pending].filter(([, by]) => by === k).map(([g]) => g);
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
