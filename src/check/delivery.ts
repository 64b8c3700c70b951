/**
 * The delivery family, G7: liveness and self-delivery, and safe delivery.
 *
 * Intuition: some of G7 holds in every run (a resolved multicast was delivered by its
 * sender; a resolved safe multicast reaches every survivor of its view), the rest only
 * when the run ended quiescent (`facts.quiescent`): the members still up converge on one
 * view and deliver what anyone finally delivered in the views they shared.
 */
import { Guarantee } from './guarantees.js';
import type { ViewEvent } from './history.js';
import {
  event,
  isFinal,
  logOf,
  q,
  type Collector,
  type Member,
  type Run,
} from './run-index.js';

// ---------------------------------------------------------------------------------
// G7 Liveness and self-delivery; safe delivery.

/**
 * G7: a resolved multicast was delivered by its sender; a resolved safe multicast by
 * every survivor of its view; and, when `facts.quiescent`, the quiescent checks.
 */
export function checkLiveness(run: Run, out: Collector): void {
  // Always: a multicast whose promise resolved was delivered by its sender (SPEC:
  // `multicast` "resolves once delivered locally").
  for (const m of run.members) {
    for (const s of m.sends) {
      if (s.ev.resolvedAt !== undefined && !m.rank.has(s.ev.msgId)) {
        out.add(
          Guarantee.G7,
          `member ${m.label} multicast ${q(s.ev.msgId)} to group ${q(s.ev.group)} and its promise ` +
            `resolved at ${s.ev.resolvedAt}, but ${m.label} never delivered it`,
          { group: s.ev.group, msgId: s.ev.msgId, members: [m.name] },
        );
      }
    }
  }
  checkSafe(run, out);
  if (run.facts.quiescent === true) checkQuiescent(run, out);
}

/** A resolved safe multicast is delivered by every survivor of its view. */
function checkSafe(run: Run, out: Collector): void {
  for (const m of run.members) {
    for (const s of m.sends) {
      if (s.ev.safe !== true || s.ev.resolvedAt === undefined) continue;
      const d = m.order[m.rank.get(s.ev.msgId) ?? -1];
      if (d === undefined) continue; // reported above
      const group = s.ev.group;
      const viewId = d.ev.viewId;
      for (const o of run.members) {
        if (o === m) continue;
        const log = o.groups.get(group);
        const vi = log?.viewAt.get(viewId);
        if (log === undefined || vi === undefined) continue;
        // Survived V: went on to a later view (the flush delivered V's cut first), or,
        // when the run ended quiescent, ended in V still running. A run cut short may
        // end while a member that holds the message (which is what let the sender's
        // promise resolve) has not delivered it yet: that is late, not lost.
        const survived =
          log.lastView > vi ||
          (run.facts.quiescent === true && (o.h.end === 'up' || o.h.end === 'stopped') && log.lastBad < vi && log.lastExit < vi);
        if (survived && !o.rank.has(s.ev.msgId)) {
          out.add(
            Guarantee.G7,
            `safe message ${q(s.ev.msgId)} of ${m.label} resolved at ${s.ev.resolvedAt} and was delivered ` +
              `in view ${viewId} of group ${q(group)}, but ${o.label}, which installed that view and ` +
              `survived it, never delivered it`,
            { group, viewId, msgId: s.ev.msgId, members: [o.name, m.name] },
          );
        }
      }
    }
  }
}

/** G7 when the run ended quiescent: one last view, self-delivery, nothing lost. */
function checkQuiescent(run: Run, out: Collector): void {
  checkLastViewsAgree(run, out);
  checkQuiescentSelfDelivery(run, out);
  checkNothingLost(run, out);
}

/** G7 (a), quiescent: the members that ended up in a group agree on its last view. */
function checkLastViewsAgree(run: Run, out: Collector): void {
  const lastViews = new Map<string, Map<number, Member[]>>();
  for (const m of run.members) {
    if (m.h.end !== 'up') continue;
    for (const [group, log] of m.groups) {
      if (log.lastView < 0 || log.lastExit > log.lastView) continue;
      const id = (event(m, log.lastView) as ViewEvent).viewId;
      let byId = lastViews.get(group);
      if (byId === undefined) lastViews.set(group, (byId = new Map()));
      let ms = byId.get(id);
      if (ms === undefined) byId.set(id, (ms = []));
      ms.push(m);
    }
  }
  for (const [group, byId] of lastViews) {
    if (byId.size <= 1) continue;
    const parts = [...byId].map(([id, ms]) => `${ms.map((x) => x.label).join(', ')} at view ${id}`);
    out.add(
      Guarantee.G7,
      `the run ended quiescent but the members still up in group ${q(group)} did not converge on ` +
        `one view: ${parts.join('; ')}`,
      { group, members: [...byId.values()].flat().map((x) => x.name) },
    );
  }
}

/** G7 (b), quiescent: self-delivery of every multicast by a member that stayed up and in the group. */
function checkQuiescentSelfDelivery(run: Run, out: Collector): void {
  for (const m of run.members) {
    if (m.h.end !== 'up') continue;
    for (const s of m.sends) {
      if (s.ev.resolvedAt !== undefined) continue; // judged already
      if (logOf(m, s.ev.group).lastExit > s.idx) continue;
      if (!m.rank.has(s.ev.msgId)) {
        out.add(
          Guarantee.G7,
          `the run ended quiescent but ${m.label}, up and still in group ${q(s.ev.group)}, never ` +
            `delivered its own multicast ${q(s.ev.msgId)}`,
          { group: s.ev.group, msgId: s.ev.msgId, members: [m.name] },
        );
      }
    }
  }
}

/**
 * G7 (c), quiescent: nothing lost. A final delivery in view V is made by every member
 * that ended up and was in the group from V on.
 */
function checkNothingLost(run: Run, out: Collector): void {
  const inView = new Map<string, Map<number, Map<string, Member>>>();
  for (const m of run.members) {
    for (const d of m.order) {
      if (!isFinal(m, d.ev.group, d.idx)) continue;
      let byId = inView.get(d.ev.group);
      if (byId === undefined) inView.set(d.ev.group, (byId = new Map()));
      let msgs = byId.get(d.ev.viewId);
      if (msgs === undefined) byId.set(d.ev.viewId, (msgs = new Map()));
      if (!msgs.has(d.ev.msgId)) msgs.set(d.ev.msgId, m);
    }
  }
  for (const m of run.members) {
    if (m.h.end !== 'up') continue;
    for (const [group, log] of m.groups) {
      const byId = inView.get(group);
      if (byId === undefined) continue;
      for (const [viewId, vi] of log.viewAt) {
        if (log.lastExit > vi) continue;
        const msgs = byId.get(viewId);
        if (msgs === undefined) continue;
        for (const [msgId, by] of msgs) {
          if (m.rank.has(msgId)) continue;
          out.add(
            Guarantee.G7,
            `the run ended quiescent but ${m.label}, up and in view ${viewId} of group ${q(group)}, ` +
              `never delivered ${q(msgId)}, which ${by.label} delivered in that view`,
            { group, viewId, msgId, members: [m.name, by.name] },
          );
        }
      }
    }
  }
}
