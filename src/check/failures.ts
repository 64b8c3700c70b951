/**
 * The failures family: G8 failure detection (a crash is one agreed view change within a
 * bounded time; nothing is received after exclusion, nothing delivered from a failed
 * incarnation) and G9 primary component (no forks, no second history of a group).
 *
 * Intuition: failure detection is judged from the crashed member's side (its crash
 * time plus the bounds of `facts` is a deadline every other member's first event past
 * it must respect); the primary component from the registry of views (a member that
 * skipped a view another member installed with it, a view disjoint from its predecessor).
 */
import { assertNever } from '../errors.js';
import { Guarantee } from './guarantees.js';
import type { HistoryEvent, ViewEvent } from './history.js';
import {
  describe,
  event,
  list,
  q,
  upperBound,
  type Collector,
  type GroupLog,
  type Member,
  type Run,
} from './run-index.js';

// ---------------------------------------------------------------------------------
// G8 Failure detection.

/**
 * G8: nothing of a group is received after exclusion from it; a crash is agreed within
 * `suspectTimeoutMs + detectBoundMs` (when the facts give both); when quiescent, nobody
 * up still holds a crashed member; nothing from a failed incarnation is delivered
 * after the view that failed it.
 */
export function checkFailureDetection(run: Run, out: Collector): void {
  checkNothingAfterExclusion(run, out);
  checkDetectionDeadline(run, out);
  if (run.facts.quiescent === true) checkNoCrashedInFinalView(run, out);
  checkNothingFromFailed(run, out);
}

/** G8 (a): what the application received of a group ends with its exclusion. */
function checkNothingAfterExclusion(run: Run, out: Collector): void {
  // (a) Nothing of a group after being excluded from it. (A `send` is an API call the
  // library rejects after exclusion; only what the application received counts.)
  for (const m of run.members) {
    for (const [group, log] of m.groups) {
      let excludedAt = -1;
      for (const i of log.received) {
        const e = event(m, i);
        if (excludedAt >= 0) {
          out.add(
            Guarantee.G8,
            `member ${m.label} was excluded from group ${q(group)} but then received a ${e.type} event ` +
              `of it${e.type === 'message' ? ` (${describe(e)})` : ''}`,
            e.type === 'message'
              ? { group, viewId: e.viewId, msgId: e.msgId, members: [m.name] }
              : { group, members: [m.name] },
          );
          break;
        }
        if (e.type === 'excluded') excludedAt = i;
      }
    }
  }
}

/** G8 (b): every member past the deadline has a view without the crashed member. */
function checkDetectionDeadline(run: Run, out: Collector): void {
  // (b) A crash is agreed within suspectTimeoutMs + detectBoundMs.
  const { suspectTimeoutMs, detectBoundMs } = run.facts;
  if (suspectTimeoutMs === undefined || detectBoundMs === undefined) return;
  for (const x of run.members) {
    if (x.h.end !== 'crashed' || x.h.crashedAt === undefined) continue;
    // Another history with the same name (a restarted process) makes views ambiguous.
    if ((run.byName.get(x.name)?.length ?? 0) > 1) continue;
    const deadline = x.h.crashedAt + suspectTimeoutMs + detectBoundMs;
    for (const [group, xlog] of x.groups) {
      if (xlog.lastView < 0 || xlog.lastExit > xlog.lastView) continue;
      for (const m of run.members) {
        // A member that was itself cut off (excluded in the end) may lag behind the
        // others by as long as it was cut off; its lateness is not the detector's.
        if (m === x || m.h.end === 'excluded') continue;
        const log = m.groups.get(group);
        if (log === undefined || log.excluded >= 0) continue;
        lateDetection(out, x, m, group, log, deadline);
      }
    }
  }
}

/** G8, quiescent: no member that ended up has a crashed member in its final view. */
function checkNoCrashedInFinalView(run: Run, out: Collector): void {
  // Quiescent: nobody up still holds a crashed member in its final view.
  for (const m of run.members) {
    if (m.h.end !== 'up') continue;
    for (const [group, log] of m.groups) {
      if (log.lastView < 0 || log.lastExit > log.lastView) continue;
      const v = event(m, log.lastView) as ViewEvent;
      for (const name of v.members) {
        const hs = run.byName.get(name);
        if (hs === undefined || !hs.every((x) => x.h.end === 'crashed')) continue;
        out.add(
          Guarantee.G8,
          `the run ended quiescent but ${m.label}'s final view ${v.viewId} of group ${q(group)} ` +
            `still contains ${q(name)}, which crashed`,
          { group, viewId: v.viewId, members: [name, m.name] },
        );
      }
    }
  }
}

/** G8 (c): nothing from a failed incarnation after the view that reported it failed. */
function checkNothingFromFailed(run: Run, out: Collector): void {
  // (c) Nothing from a failed incarnation is delivered after the view that failed it.
  for (const m of run.members) {
    const failed = new Map<string, Set<string>>();
    const reported = new Set<string>();
    const events = m.h.events;
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as HistoryEvent;
      if (e.type === 'view') {
        let set = failed.get(e.group);
        if (set === undefined) failed.set(e.group, (set = new Set()));
        for (const f of e.failed) set.add(f);
        for (const j of e.joined) set.delete(j); // a name reused by a new incarnation
        continue;
      }
      if (e.type !== 'message' || failed.get(e.group)?.has(e.sender) !== true) continue;
      const key = `${e.group}\0${e.sender}`;
      if (reported.has(key)) continue;
      reported.add(key);
      out.add(
        Guarantee.G8,
        `member ${m.label} delivered ${describe(e)} in view ${e.viewId} of group ${q(e.group)} after ` +
          `installing a view that reported ${q(e.sender)} as failed`,
        { group: e.group, viewId: e.viewId, msgId: e.msgId, members: [e.sender, m.name] },
      );
    }
  }
}

/**
 * Whether `m` still had crashed `x` in its view of `group` when it received its first
 * event of the group after the deadline. A member that is blocked (no quorum) or is
 * being excluded owes no view change, so it is skipped.
 */
function lateDetection(
  out: Collector,
  x: Member,
  m: Member,
  group: string,
  log: GroupLog,
  deadline: number,
): void {
  let current: ViewEvent | undefined;
  let blocked = false;
  for (const i of log.received) {
    const e = event(m, i);
    if (e.time !== undefined && e.time > deadline) {
      if (
        current !== undefined &&
        !blocked &&
        e.type !== 'blocked' &&
        e.type !== 'excluded' &&
        current.members.includes(x.name)
      ) {
        out.add(
          Guarantee.G8,
          `${x.label} crashed at ${x.h.crashedAt ?? '?'} but ${m.label} still had it in view ` +
            `${current.viewId} of group ${q(group)} at time ${e.time}, past the detection deadline ${deadline} ` +
            `(crash + suspectTimeoutMs + detectBoundMs)`,
          { group, viewId: current.viewId, members: [x.name, m.name] },
        );
      }
      return;
    }
    switch (e.type) {
      case 'view':
        current = e;
        blocked = false;
        break;
      case 'blocked':
        blocked = true;
        break;
      case 'left':
      case 'excluded':
        current = undefined;
        break;
      case 'message':
      case 'state':
      case 'send':
        break;
      default:
        assertNever(e);
    }
  }
}

// ---------------------------------------------------------------------------------
// G9 Primary component.

/**
 * G9: no fork (a member skipping a view that another member installed with it) and no
 * view disjoint from its predecessor while a member of that predecessor carried on.
 */
export function checkPrimaryComponent(run: Run, out: Collector): void {
  // (a) Same view id, disjoint installers: reported with G4 above.

  checkForks(run, out);
  checkDisjointViews(run, out);

  // A blocked member delivers nothing of its own making: it cannot, because a
  // delivery needs a majority to hold the message (committed). What it may still
  // deliver after `blocked` is the agreed end of its view when a view change decided
  // by a majority reaches it (the flush cut); those deliveries are judged like any
  // other by G2, G5 and G6. The application's histories do not show the cut, so there
  // is no separate check of the blocked stretch here.
}

/**
 * G9 (b), forks: a member that moved from view p to view n without installing a view w
 * (p < w < n) that lists it as a member. Someone else went p → … → w, so the two
 * members' histories split after p.
 */
function checkForks(run: Run, out: Collector): void {
  for (const m of run.members) {
    for (const [group, log] of m.groups) {
      const ids = run.viewIds.get(group) ?? [];
      const byId = run.views.get(group);
      let prev: ViewEvent | undefined;
      for (const i of log.received) {
        const e = event(m, i);
        if (e.type === 'left' || e.type === 'excluded') {
          prev = undefined;
          continue;
        }
        if (e.type !== 'view') continue;
        if (prev !== undefined && byId !== undefined) {
          for (let k = upperBound(ids, prev.viewId); k < ids.length; k++) {
            const w = ids[k] as number;
            if (w >= e.viewId) break;
            const rec = byId.get(w);
            if (rec === undefined || rec.member === m || !rec.ev.members.includes(m.name)) continue;
            out.add(
              Guarantee.G9,
              `fork in group ${q(group)} after view ${prev.viewId}: ${rec.member.label} installed view ${w} ` +
                `with ${m.label} as a member, but ${m.label} went from view ${prev.viewId} straight to ` +
                `view ${e.viewId}`,
              { group, viewId: w, members: [m.name, rec.member.name] },
            );
            break;
          }
        }
        prev = e;
      }
    }
  }
}

/**
 * G9 (c): a view that shares no member with the view before it, while a member of that
 * earlier view carried on in the group: two primary components.
 */
function checkDisjointViews(run: Run, out: Collector): void {
  for (const [group, ids] of run.viewIds) {
    const byId = run.views.get(group);
    if (byId === undefined) continue;
    for (let k = 1; k < ids.length; k++) {
      const p = byId.get(ids[k - 1] as number);
      const n = byId.get(ids[k] as number);
      if (p === undefined || n === undefined) continue;
      if (n.ev.members.some((x) => p.ev.members.includes(x))) continue;
      const survivor = carriedOn(run, group, p.ev);
      if (survivor === undefined) continue;
      out.add(
        Guarantee.G9,
        `two histories of group ${q(group)}: view ${n.ev.viewId} ${list(n.ev.members)} (installed by ` +
          `${n.member.label}) shares no member with the previous view ${p.ev.viewId} ` +
          `${list(p.ev.members)}, while ${survivor.label} of that view carried on`,
        { group, viewId: n.ev.viewId, members: [n.member.name, survivor.name] },
      );
    }
  }
}

/**
 * A member of view `p` that carried on in the group after it: it installed the next
 * view without leaving or being excluded in between, or ended up still in it.
 */
function carriedOn(run: Run, group: string, p: ViewEvent): Member | undefined {
  for (const name of p.members) {
    for (const m of run.byName.get(name) ?? []) {
      const log = m.groups.get(group);
      const vi = log?.viewAt.get(p.viewId);
      if (log === undefined || vi === undefined) continue;
      // Carried on: its next event of the group after p that is a view or an exit is
      // a view (a leave or exclusion first means it did not), or it has none and ended up.
      let next: 'view' | 'exit' | undefined;
      for (const i of log.received) {
        if (i <= vi) continue;
        const t = event(m, i).type;
        if (t === 'view') next = 'view';
        else if (t === 'left' || t === 'excluded') next = 'exit';
        if (next !== undefined) break;
      }
      if (next === 'view' || (next === undefined && m.h.end === 'up')) return m;
    }
  }
  return undefined;
}
