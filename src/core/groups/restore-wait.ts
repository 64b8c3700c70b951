/**
 * Durable groups, after a restart from the logs: the groups whose state the restart's
 * first member (the longest log) restores, until it has joined each of them.
 *
 * Intuition: the restored state exists only in that member's log, and reaches the
 * group only through its application, when it joins the group again. Until that join
 * is delivered, another member joining would create the group empty, and the state
 * would be lost for good; so every other member's join of such a group waits (and
 * what it queued after it, FIFO), and the coordinator admits no new member. After the
 * join, the others join as usual and get the state by transfer from the restorer.
 * The same entries at the same positions clear the wait at every member alike.
 */
import { memberKey } from '../types.js';
import type { MemberRef } from '../types.js';

/** The groups awaiting their restorer (see the module comment). */
export class RestoreWait {
  private readonly pending = new Set<string>();
  private source: string | null = null;
  private lostLogged = false;

  /** A restart was installed: `source` (its view's first member) restores `groups`. */
  begin(source: MemberRef, groups: readonly string[]): void {
    this.source = memberKey(source);
    for (const g of groups) this.pending.add(g);
  }

  /** Whether any group still awaits its restorer (the coordinator admits nobody then). */
  get blocking(): boolean {
    return this.pending.size > 0;
  }

  /** The groups still awaiting their restorer. */
  get groups(): readonly string[] {
    return [...this.pending];
  }

  /** Whether `self`'s join of `group` must wait for the restorer's. */
  holds(group: string, self: MemberRef): boolean {
    return this.pending.has(group) && memberKey(self) !== this.source;
  }

  /** A join of `group` by `sender` was delivered: true when it is the restorer's (the group's state comes back with it). */
  onJoin(group: string, sender: MemberRef): boolean {
    if (!this.pending.has(group) || memberKey(sender) !== this.source) return false;
    this.pending.delete(group);
    return true;
  }

  /**
   * The restorer is gone from the view before it restored every group: the text to log
   * once (those groups wait for the next restart from the logs), else null.
   */
  onRemoved(departed: ReadonlySet<string>): string | null {
    if (this.source === null || !departed.has(this.source) || this.pending.size === 0 || this.lostLogged) return null;
    this.lostLogged = true;
    return `the member restoring groups ${[...this.pending].join(', ')} from its log (${this.source}) left before its application joined them: they wait, and no new member is admitted, until the network restarts from the logs again`;
  }
}
