/**
 * The leave family, G11: a graceful leave is a view change, without a timeout. After a
 * member's `left`, the views of the group (as the others installed them) up to its
 * rejoin never name it as failed or as a member, and it receives nothing more of the
 * group until it rejoins.
 */
import { Guarantee } from './guarantees.js';
import type { ViewEvent } from './history.js';
import {
  describe,
  event,
  q,
  upperBound,
  type Collector,
  type GroupLog,
  type Member,
  type ViewRecord,
  type Run,
} from './run-index.js';

// ---------------------------------------------------------------------------------
// G11 Leave.

/**
 * G11: after a graceful leave, the member receives nothing of the group until it
 * rejoins, and the others' views up to its rejoin never name it as failed or as a member.
 */
export function checkLeave(run: Run, out: Collector): void {
  for (const m of run.members) {
    for (const [group, log] of m.groups) {
      const ids = run.viewIds.get(group) ?? [];
      const byId = run.views.get(group);
      let lastViewId: number | undefined;
      let leftAfter: number | undefined; // set while the member is out after a leave
      for (const i of log.received) {
        const e = event(m, i);
        if (leftAfter !== undefined) {
          // Rejoined: its first view lists it as joined, or (when the state's provider
          // departed before the transfer finished) is the later view its state was
          // taken at, which lists it as a member.
          if (e.type === 'view' && (e.joined.includes(m.name) || e.members.includes(m.name))) {
            leftAfter = undefined;
          } else {
            out.add(
              Guarantee.G11,
              `member ${m.label} left group ${q(group)} but then received a ${e.type} event of it` +
                (e.type === 'message' ? ` (${describe(e)})` : ''),
              e.type === 'message'
                ? { group, viewId: e.viewId, msgId: e.msgId, members: [m.name] }
                : { group, members: [m.name] },
            );
            leftAfter = undefined; // once per leave
            continue;
          }
        }
        if (e.type === 'view') lastViewId = e.viewId;
        if (e.type !== 'left') continue;
        leftAfter = i;
        if (lastViewId === undefined || byId === undefined) continue;
        checkViewsAfterLeave(out, { m, group, log, ids, byId, leftAt: i, lastViewId });
      }
    }
  }
}

/** Where a graceful leave happened, for {@link checkViewsAfterLeave}. */
interface LeaveAt {
  readonly m: Member;
  readonly group: string;
  readonly log: GroupLog;
  /** Every view id of the group anyone installed, ascending. */
  readonly ids: readonly number[];
  /** The group's views as first recorded. */
  readonly byId: ReadonlyMap<number, ViewRecord>;
  /** Index of the `left` event in the member's history. */
  readonly leftAt: number;
  /** The member's last view of the group before it left. */
  readonly lastViewId: number;
}

/**
 * G11 after one leave: the later views of the group, as the others installed them,
 * until the name shows up in one as joined or left (or the member's own rejoin view),
 * must not report it as failed or list it as a member.
 */
function checkViewsAfterLeave(out: Collector, at: LeaveAt): void {
  const { m, group, log, ids, byId, leftAt, lastViewId } = at;
  // The member's own next view of the group is its rejoin: from there on it is
  // in the group again, whether or not that view lists it as joined (it does not
  // when the state's provider departed first).
  const rejoinViewId = nextOwnViewId(m, log, leftAt);
  // The later views of the group, as the others installed them, until the name
  // shows up in one of them.
  for (let k = upperBound(ids, lastViewId); k < ids.length; k++) {
    const rec = byId.get(ids[k] as number);
    if (rec === undefined) continue;
    const v = rec.ev;
    if (v.viewId >= rejoinViewId) break;
    if (v.joined.includes(m.name) || v.left.includes(m.name)) break;
    if (rec.member === m) continue;
    // A view nobody recorded (the rejoiner was alone, or crashed before its first
    // view reached its application) may hide a rejoin: past a gap in the view ids,
    // a listing of the name is no evidence against the leave.
    if (v.viewId !== (ids[k - 1] ?? lastViewId) + 1 && (v.members.includes(m.name) || v.failed.includes(m.name))) break;
    if (v.failed.includes(m.name)) {
      out.add(
        Guarantee.G11,
        `member ${m.label} left group ${q(group)} gracefully after view ${lastViewId}, but view ` +
          `${v.viewId} (installed by ${rec.member.label}) reports it as failed, not as left`,
        { group, viewId: v.viewId, members: [m.name, rec.member.name] },
      );
      break;
    }
    if (v.members.includes(m.name)) {
      out.add(
        Guarantee.G11,
        `member ${m.label} left group ${q(group)} after view ${lastViewId}, but view ${v.viewId} ` +
          `(installed by ${rec.member.label}) still lists it as a member`,
        { group, viewId: v.viewId, members: [m.name, rec.member.name] },
      );
      break;
    }
  }
}

/** The id of the member's first view of the group after its event at `after`; Infinity if none. */
function nextOwnViewId(m: Member, log: GroupLog, after: number): number {
  for (const vi of log.views) if (vi > after) return (event(m, vi) as ViewEvent).viewId;
  return Infinity;
}
