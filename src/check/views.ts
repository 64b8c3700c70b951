/**
 * The views family: G4 view agreement (one member list and one set of changes per
 * `(group, viewId)`, increasing ids), G5 virtual synchrony (members that go from V to V'
 * delivered the same messages in V) and G6 same-view delivery.
 *
 * Intuition: the first recording of each view, from the run index, is the reference
 * every other recording of the same view is compared with; a conflict where neither
 * installer is in the other's list is two primary components and is reported as G9 too.
 */
import { assertNever } from '../errors.js';
import { Guarantee } from './guarantees.js';
import type { HistoryEvent, ViewEvent } from './history.js';
import {
  describe,
  list,
  q,
  type Collector,
  type Member,
  type Run,
  type Where,
} from './run-index.js';

// ---------------------------------------------------------------------------------
// G4 View agreement (and G9's "two histories" when the same view id differs).

/**
 * G4: one member list and one set of changes per `(group, viewId)`, strictly
 * increasing view ids per member, each member in its own views; a conflict whose
 * installers exclude each other is also G9 (two primary components).
 */
export function checkViewAgreement(run: Run, out: Collector): void {
  const reported = new Set<string>();
  for (const m of run.members) {
    const lastId = new Map<string, number>();
    const events = m.h.events;
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as HistoryEvent;
      if (e.type !== 'view') continue;
      const where: Where = { group: e.group, viewId: e.viewId, members: [m.name] };
      if (!e.members.includes(m.name)) {
        out.add(
          Guarantee.G4,
          `member ${m.label} installed view ${e.viewId} of group ${q(e.group)} whose members ` +
            `${list(e.members)} do not include itself`,
          where,
        );
      }
      const prev = lastId.get(e.group);
      if (prev !== undefined && e.viewId <= prev) {
        out.add(
          Guarantee.G4,
          `member ${m.label} installed view ${e.viewId} of group ${q(e.group)} after view ${prev}: ` +
            `view ids must strictly increase`,
          where,
        );
      }
      lastId.set(e.group, e.viewId);

      const rec = run.views.get(e.group)?.get(e.viewId);
      if (rec === undefined || rec.ev === e) continue;
      const other = rec.ev;
      if (!sameList(other.members, e.members)) {
        const key = `m\0${e.group}\0${e.viewId}\0${e.members.join('\0')}`;
        if (reported.has(key)) continue;
        reported.add(key);
        const both: Where = { group: e.group, viewId: e.viewId, members: [m.name, rec.member.name] };
        out.add(
          Guarantee.G4,
          `members ${rec.member.label} and ${m.label} installed view ${e.viewId} of group ${q(e.group)} ` +
            `with different member lists: ${list(other.members)} and ${list(e.members)}`,
          both,
        );
        if (!e.members.includes(rec.member.name) && !other.members.includes(m.name)) {
          out.add(
            Guarantee.G9,
            `two histories of group ${q(e.group)}: ${rec.member.label} installed view ${e.viewId} as ` +
              `${list(other.members)} and ${m.label} installed view ${e.viewId} as ${list(e.members)}, ` +
              `each without the other (two primary components)`,
            both,
          );
        }
      } else if (!sameChanges(other, e)) {
        const key = `c\0${e.group}\0${e.viewId}\0${changesKey(e)}`;
        if (reported.has(key)) continue;
        reported.add(key);
        out.add(
          Guarantee.G4,
          `members ${rec.member.label} and ${m.label} disagree on the changes of view ${e.viewId} ` +
            `of group ${q(e.group)}: ${changesText(other)} versus ${changesText(e)}`,
          { group: e.group, viewId: e.viewId, members: [m.name, rec.member.name] },
        );
      }
    }
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function changesKey(v: ViewEvent): string {
  return JSON.stringify([[...v.joined].sort(), [...v.left].sort(), [...v.failed].sort()]);
}

function sameChanges(a: ViewEvent, b: ViewEvent): boolean {
  return changesKey(a) === changesKey(b) && (a.reason === undefined || b.reason === undefined || a.reason === b.reason);
}

function changesText(v: ViewEvent): string {
  const reason = v.reason === undefined ? '' : ` (${JSON.stringify(v.reason)})`;
  return `joined ${list(v.joined)}, left ${list(v.left)}, failed ${list(v.failed)}${reason}`;
}

// ---------------------------------------------------------------------------------
// G5 Virtual synchrony: same V then same V' ⇒ same messages in V.

/**
 * G5: members that installed V and then V' consecutively delivered the same messages
 * between the two.
 */
export function checkVirtualSynchrony(run: Run, out: Collector): void {
  const firstPair = new Map<string, { member: Member; delivered: Set<string> }>();
  for (const m of run.members) {
    const open = new Map<string, { viewId: number; delivered: Set<string> }>();
    const events = m.h.events;
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as HistoryEvent;
      switch (e.type) {
        case 'view': {
          const cur = open.get(e.group);
          if (cur !== undefined) {
            const key = `${e.group}\0${cur.viewId}\0${e.viewId}`;
            const ref = firstPair.get(key);
            if (ref === undefined) firstPair.set(key, { member: m, delivered: cur.delivered });
            else compareSets(out, e.group, cur.viewId, e.viewId, ref.member, ref.delivered, m, cur.delivered);
          }
          open.set(e.group, { viewId: e.viewId, delivered: new Set() });
          break;
        }
        case 'message':
          open.get(e.group)?.delivered.add(e.msgId);
          break;
        case 'left':
        case 'excluded':
          // Not a move from V to a next view: the member's stretch in the group ended.
          open.delete(e.group);
          break;
        case 'state':
        case 'send':
        case 'blocked':
          break;
        default:
          assertNever(e);
      }
    }
  }
}

function compareSets(
  out: Collector,
  group: string,
  viewId: number,
  nextId: number,
  a: Member,
  sa: ReadonlySet<string>,
  b: Member,
  sb: ReadonlySet<string>,
): void {
  const onlyA = difference(sa, sb, 3);
  const onlyB = difference(sb, sa, 3);
  if (onlyA.length === 0 && onlyB.length === 0) return;
  const parts: string[] = [];
  if (onlyA.length > 0) parts.push(`${b.label} lacks ${onlyA.map(q).join(', ')}`);
  if (onlyB.length > 0) parts.push(`${a.label} lacks ${onlyB.map(q).join(', ')}`);
  const first = onlyA[0] ?? onlyB[0];
  out.add(
    Guarantee.G5,
    `members ${a.label} and ${b.label} both installed view ${viewId} then view ${nextId} of group ` +
      `${q(group)} but delivered different messages in view ${viewId}: ${parts.join('; ')}`,
    first === undefined
      ? { group, viewId, members: [b.name, a.name] }
      : { group, viewId, msgId: first, members: [b.name, a.name] },
  );
}

/** Up to `limit` elements of `a` not in `b`. */
function difference(a: ReadonlySet<string>, b: ReadonlySet<string>, limit: number): string[] {
  const r: string[] = [];
  for (const x of a) {
    if (!b.has(x)) {
      r.push(x);
      if (r.length >= limit) break;
    }
  }
  return r;
}

// ---------------------------------------------------------------------------------
// G6 Same-view delivery.

/**
 * G6: a message is delivered in the member's current view, and in the same view by
 * every member that delivers it.
 */
export function checkSameView(run: Run, out: Collector): void {
  const first = new Map<string, { member: Member; viewId: number; reported: boolean }>();
  for (const m of run.members) {
    const current = new Map<string, number>();
    const events = m.h.events;
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as HistoryEvent;
      if (e.type === 'view') {
        current.set(e.group, e.viewId);
        continue;
      }
      if (e.type !== 'message') continue;
      const cur = current.get(e.group);
      if (cur === undefined) {
        out.add(
          Guarantee.G6,
          `member ${m.label} delivered ${describe(e)} in group ${q(e.group)} before installing any view of it`,
          { group: e.group, viewId: e.viewId, msgId: e.msgId, members: [m.name] },
        );
      } else if (cur !== e.viewId) {
        out.add(
          Guarantee.G6,
          `member ${m.label} delivered ${describe(e)} marked as view ${e.viewId} of group ${q(e.group)} ` +
            `while its current view was ${cur}`,
          { group: e.group, viewId: e.viewId, msgId: e.msgId, members: [m.name] },
        );
      }
      if ((m.order[m.rank.get(e.msgId) ?? -1]?.idx ?? -1) !== i) continue; // duplicate: G1
      // Every delivery counts, final or not: a member that goes on to be excluded or
      // to crash may deliver less than the survivors, never in another view.
      const ref = first.get(e.msgId);
      if (ref === undefined) {
        first.set(e.msgId, { member: m, viewId: e.viewId, reported: false });
      } else if (ref.viewId !== e.viewId && !ref.reported) {
        ref.reported = true;
        out.add(
          Guarantee.G6,
          `${describe(e)} of group ${q(e.group)} was delivered in view ${ref.viewId} by ${ref.member.label} ` +
            `but in view ${e.viewId} by ${m.label}`,
          { group: e.group, viewId: e.viewId, msgId: e.msgId, members: [m.name, ref.member.name] },
        );
      }
    }
  }
}
