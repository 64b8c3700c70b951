/**
 * The installed view as lookup tables, built once per view and never changed: who the
 * members are, in rank order, by key and by address, and this member's own rank.
 *
 * Intuition: every message of an epoch is checked against the view before anything
 * else (who may speak), so the common case — a member of this epoch at the address it
 * speaks from — is one map lookup by the address string the transport hands over,
 * with no key built per message. A fresh roster per view makes "reset the tables" a
 * single assignment.
 */
import { memberKey } from '../types.js';
import type { EndpointView, MemberInfo, MemberRef } from '../types.js';

/** The lookup tables of one installed view (see the module comment). */
export class Roster {
  /** `memberKey` of each member of the view, in rank order. */
  readonly keys: readonly string[];
  /** Rank of each member, by key. */
  readonly rank: ReadonlyMap<string, number>;
  /** Rank by address (the first fast check of who speaks). */
  readonly rankByAddr: ReadonlyMap<string, number>;
  /** This member's rank in the view (0 when it is not in it). */
  readonly selfRank: number;

  constructor(
    readonly view: EndpointView,
    selfKey: string,
  ) {
    this.keys = view.members.map(memberKey);
    this.rank = new Map(this.keys.map((k, i) => [k, i]));
    this.rankByAddr = new Map(view.members.map((m, i) => [m.addr, i]));
    this.selfRank = this.rank.get(selfKey) ?? 0;
  }

  /**
   * The rank of `from` if it is the member at `addr` (the hot path of every message of
   * this epoch); -1 otherwise.
   */
  rankAt(addr: string, from: MemberRef): number {
    const r = this.rankByAddr.get(addr);
    if (r === undefined) return -1;
    const m = this.view.members[r]!;
    return m.id === from.id && m.inc === from.inc ? r : -1;
  }

  /** The member of this view at `addr`, if any. */
  memberAt(addr: string): MemberInfo | undefined {
    const r = this.rankByAddr.get(addr);
    return r === undefined ? undefined : this.view.members[r];
  }
}
