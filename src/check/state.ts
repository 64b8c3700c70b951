/**
 * The state family, G10: a joiner's state is the checkpoint taken at exactly its join
 * point, and final deliveries of one message leave the same digest everywhere.
 *
 * Intuition: each member's state at each view it installed is its last known digest
 * there (from messages, transferred states or view digests); a joiner's transferred
 * state must equal the state of every old member at the join view.
 */
import { INITIAL_DIGEST } from './digest.js';
import { assertNever } from '../errors.js';
import { Guarantee } from './guarantees.js';
import type { MessageEvent, ViewEvent } from './history.js';
import {
  describe,
  event,
  isFinal,
  isFirstViewOfStay,
  q,
  short,
  type Collector,
  type GroupLog,
  type Member,
  type Run,
} from './run-index.js';

// ---------------------------------------------------------------------------------
// G10 State transfer.

/** The application state as far as the history tells; `undefined` when unknown. */
interface DigestState {
  digest: string | undefined;
  count: number | undefined;
}

/**
 * G10: every joiner's transferred state equals the old members' state at its join
 * view, and comes before any message of that view; final deliveries of one message
 * leave the same digest everywhere.
 */
export function checkStateTransfer(run: Run, out: Collector): void {
  const initial = run.facts.initialDigest ?? INITIAL_DIGEST;
  const atView = statesAtViews(run, initial);
  checkJoinStates(run, out, atView);
  checkEqualDigests(run, out);
}

/** member → group → viewId → the member's state when it installed that view. */
type StatesAtViews = ReadonlyMap<Member, ReadonlyMap<string, ReadonlyMap<number, DigestState>>>;

/** Each member's state at each view it installed (its last known digest there). */
function statesAtViews(run: Run, initial: string): StatesAtViews {
  const atView = new Map<Member, Map<string, Map<number, DigestState>>>();
  for (const m of run.members) {
    const perGroup = new Map<string, Map<number, DigestState>>();
    atView.set(m, perGroup);
    for (const [group, log] of m.groups) perGroup.set(group, groupStatesAtViews(m, log, initial));
  }
  return atView;
}

/** One member's state at each view of one group, by following its events of the group. */
function groupStatesAtViews(m: Member, log: GroupLog, initial: string): Map<number, DigestState> {
  const byId = new Map<number, DigestState>();
  const st: DigestState = { digest: initial, count: 0 };
  for (const i of log.received) {
    const e = event(m, i);
    switch (e.type) {
      case 'message':
        st.digest = e.digest;
        st.count = e.count ?? (st.count === undefined ? undefined : st.count + 1);
        break;
      case 'state':
        st.digest = e.digest;
        st.count = e.count;
        break;
      case 'view':
        if (e.digest !== undefined) st.digest = e.digest;
        if (!byId.has(e.viewId)) byId.set(e.viewId, { digest: st.digest, count: st.count });
        break;
      case 'excluded':
      case 'left':
        // Out of the group: if it joins again, it starts from a new state (the one
        // transferred to it, or the empty one when nobody was left to provide it).
        st.digest = initial;
        st.count = 0;
        break;
      case 'blocked':
      case 'send':
        break;
      default:
        assertNever(e);
    }
  }
  return byId;
}

/**
 * The joiner's state equals every old member's state at the join view, and comes
 * before any message of that view.
 */
function checkJoinStates(run: Run, out: Collector, atView: StatesAtViews): void {
  for (const j of run.members) {
    for (const [group, log] of j.groups) {
      let firstView: ViewEvent | undefined;
      let between: MessageEvent | undefined;
      for (const i of log.received) {
        const e = event(j, i);
        if (e.type === 'left' || e.type === 'excluded') {
          firstView = undefined;
          between = undefined;
          continue;
        }
        if (e.type === 'view') {
          firstView ??= e;
          continue;
        }
        if (e.type === 'message') {
          if (firstView !== undefined) between ??= e;
          continue;
        }
        if (e.type !== 'state') continue;
        if (firstView === undefined) {
          out.add(
            Guarantee.G10,
            `member ${j.label} received the state of group ${q(group)} before installing any view of it`,
            { group, members: [j.name] },
          );
          continue;
        }
        if (between !== undefined) {
          out.add(
            Guarantee.G10,
            `member ${j.label} delivered ${describe(between)} in group ${q(group)} between its first ` +
              `view ${firstView.viewId} and its state transfer`,
            { group, viewId: firstView.viewId, msgId: between.msgId, members: [j.name] },
          );
        }
        compareJoinState(run, out, atView, j, group, firstView, e.digest, e.count);
      }
    }
  }

}

/**
 * Equal digests at equal positions: every final delivery of a message leaves every
 * member with the same state (catches a wrong state that no old member's view digest
 * could reveal, once the joiner delivers a message).
 */
function checkEqualDigests(run: Run, out: Collector): void {
  const after = new Map<string, { member: Member; digest: string }>();
  for (const m of run.members) {
    const reported = new Set<string>();
    for (const d of m.order) {
      if (d.ev.digest === undefined || reported.has(d.ev.group)) continue;
      if (!isFinal(m, d.ev.group, d.idx)) continue;
      const ref = after.get(d.ev.msgId);
      if (ref === undefined) {
        after.set(d.ev.msgId, { member: m, digest: d.ev.digest });
      } else if (ref.digest !== d.ev.digest) {
        reported.add(d.ev.group);
        out.add(
          Guarantee.G10,
          `states diverged in group ${q(d.ev.group)}: after ${describe(d.ev)} (view ${d.ev.viewId}) ` +
            `${ref.member.label} has digest ${short(ref.digest)} but ${m.label} has ${short(d.ev.digest)}`,
          { group: d.ev.group, viewId: d.ev.viewId, msgId: d.ev.msgId, members: [m.name, ref.member.name] },
        );
      }
    }
  }
}

function compareJoinState(
  run: Run,
  out: Collector,
  atView: StatesAtViews,
  j: Member,
  group: string,
  join: ViewEvent,
  digest: string,
  count: number | undefined,
): void {
  // Only members that were in the group before the join view carry its state.
  const old: { member: Member; state: DigestState | undefined }[] = [];
  let anySurvived = false;
  for (const m of run.members) {
    if (m === j) continue;
    const log = m.groups.get(group);
    const vi = log?.viewAt.get(join.viewId);
    if (log === undefined || vi === undefined) continue;
    const mv = event(m, vi) as ViewEvent;
    if (mv.joined.includes(m.name) || isFirstViewOfStay(m, log, vi)) continue;
    old.push({ member: m, state: atView.get(m)?.get(group)?.get(join.viewId) });
    if (log.lastView > vi || m.h.end === 'up' || m.h.end === 'stopped') anySurvived = true;
  }
  // When every old member departed before handing the state over, nobody holds the
  // checkpoint any more and the joiner starts the group afresh: nothing to compare.
  if (!anySurvived) return;
  for (const { member: m, state: st } of old) {
    if (st === undefined || st.digest === undefined) continue;
    const digestDiffers = st.digest !== digest;
    const countDiffers = st.count !== undefined && count !== undefined && st.count !== count;
    if (!digestDiffers && !countDiffers) continue;
    const what = digestDiffers
      ? `digest ${short(digest)} but ${m.label}'s state there was ${short(st.digest)}`
      : `count ${count ?? '?'} but ${m.label}'s count there was ${st.count ?? '?'}`;
    out.add(
      Guarantee.G10,
      `member ${j.label} joined group ${q(group)} at view ${join.viewId} and received a state with ${what}`,
      { group, viewId: join.viewId, members: [j.name, m.name] },
    );
    return; // one old member that disagrees says it
  }
}
