/**
 * The order family: G1 integrity (only multicast messages, each at most once), G2 total
 * order (one order of every member's deliveries, across overlapping groups) and G3 FIFO
 * (a sender's messages in the order it sent them, without gaps inside one view).
 *
 * Intuition: G2 first asks whether one order of all messages contains every member's
 * delivery sequence (the graph of consecutive deliveries is acyclic, a linear test);
 * only when none exists are pairs of members compared, to name the two that disagree.
 */
import { Guarantee } from './guarantees.js';
import type { HistoryEvent, MessageEvent } from './history.js';
import {
  describe,
  q,
  senderKey,
  upperBound,
  type Collector,
  type Member,
  type Run,
} from './run-index.js';

// ---------------------------------------------------------------------------------
// G1 Integrity: only messages that were multicast, each at most once.

/**
 * G1: each delivered message was multicast by its sender to that group (judged when
 * the sender's history records its sends), and no member delivers it twice.
 */
export function checkIntegrity(run: Run, out: Collector): void {
  const reportedUnsent = new Set<string>();
  // msgId → the (sender, group) already found among the sends: every member delivers
  // the same message, so the send index is searched once per message, not per delivery.
  const verified = new Map<string, MessageEvent>();
  for (const m of run.members) {
    const events = m.h.events;
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as HistoryEvent;
      if (e.type !== 'message') continue;
      const first = m.order[m.rank.get(e.msgId) ?? -1];
      if (first !== undefined && first.idx !== i) {
        out.add(
          Guarantee.G1,
          `member ${m.label} delivered ${describe(e)} twice in group ${q(e.group)}: ` +
            `in view ${first.ev.viewId} and again in view ${e.viewId}`,
          { group: e.group, viewId: e.viewId, msgId: e.msgId, members: [m.name] },
        );
        continue;
      }
      // Only judge "was it sent" when the named sender's history is in the input.
      const known = verified.get(e.msgId);
      if (known !== undefined && known.sender === e.sender && known.group === e.group) continue;
      // Only senders whose histories record their multicasts can be judged (the
      // simulator records them; `cohort member` outputs do not).
      const senders = run.byName.get(e.sender);
      if (senders === undefined || !senders.some((x) => x.sends.length > 0) || reportedUnsent.has(e.msgId)) continue;
      const refs = run.sendsById.get(e.msgId) ?? [];
      if (refs.some((r) => r.member.name === e.sender && r.ev.group === e.group)) {
        verified.set(e.msgId, e);
      } else {
        reportedUnsent.add(e.msgId);
        out.add(
          Guarantee.G1,
          `member ${m.label} delivered ${describe(e)} in group ${q(e.group)} view ${e.viewId}, ` +
            `but ${q(e.sender)} never multicast it to that group`,
          { group: e.group, viewId: e.viewId, msgId: e.msgId, members: [m.name, e.sender] },
        );
      }
    }
  }
}

// ---------------------------------------------------------------------------------
// G2 Total order, across overlapping groups too.

/**
 * G2: every pair of members delivered the messages they share in the same relative
 * order, across groups too; names one disagreeing pair per inversion.
 */
export function checkTotalOrder(run: Run, out: Collector): void {
  // Fast path, linear in the deliveries: if one order of all messages contains every
  // member's sequence, every pair agrees. Only when none exists are pairs compared, to
  // name the two members that disagree (a cycle spread over three or more members
  // with no disagreeing pair is not a G2 violation as docs/guarantees.md words it).
  if (commonOrderExists(run.members)) return;
  const ms = run.members;
  for (let i = 0; i < ms.length; i++) {
    const a = ms[i] as Member;
    if (a.order.length === 0) continue;
    for (let j = i + 1; j < ms.length; j++) {
      const b = ms[j] as Member;
      if (b.order.length === 0 || !shareGroup(a, b)) continue;
      // Walk the shorter sequence and look the messages up in the other's ranks: the
      // common messages must come with increasing ranks.
      const [p, r] = a.order.length <= b.order.length ? [a, b] : [b, a];
      let maxRank = -1;
      let maxEv: MessageEvent | undefined;
      for (const d of p.order) {
        const rank = r.rank.get(d.ev.msgId);
        if (rank === undefined) continue;
        if (rank < maxRank && maxEv !== undefined) {
          const x = maxEv;
          const y = d.ev;
          const cross = x.group === y.group ? '' : ' (cross-group order)';
          out.add(
            Guarantee.G2,
            `members ${p.label} and ${r.label} deliver two messages in different orders${cross}: ` +
              `${p.label} delivered ${describe(x)} (group ${q(x.group)} view ${x.viewId}) before ` +
              `${describe(y)} (group ${q(y.group)} view ${y.viewId}), ${r.label} delivered them the other way round`,
            { group: y.group, viewId: y.viewId, msgId: y.msgId, members: [p.name, r.name] },
          );
          break; // one inversion per pair says enough
        }
        maxRank = rank;
        maxEv = d.ev;
      }
    }
  }
}

/**
 * Whether the graph whose edges are every member's consecutive deliveries is acyclic
 * (Kahn's algorithm): then a topological order contains every member's sequence.
 */
function commonOrderExists(members: readonly Member[]): boolean {
  const node = new Map<string, number>();
  let edges = 0;
  for (const m of members) {
    for (const d of m.order) if (!node.has(d.ev.msgId)) node.set(d.ev.msgId, node.size);
    if (m.order.length > 1) edges += m.order.length - 1;
  }
  const n = node.size;
  // Adjacency as linked lists in typed arrays: no per-edge allocation.
  const head = new Int32Array(n).fill(-1);
  const next = new Int32Array(edges);
  const to = new Int32Array(edges);
  const indegree = new Int32Array(n);
  let e = 0;
  for (const m of members) {
    let prev = -1;
    for (const d of m.order) {
      const cur = node.get(d.ev.msgId) as number;
      if (prev >= 0) {
        to[e] = cur;
        next[e] = head[prev] as number;
        head[prev] = e;
        e++;
        indegree[cur] = (indegree[cur] as number) + 1;
      }
      prev = cur;
    }
  }
  const queue = new Int32Array(n);
  let tail = 0;
  for (let v = 0; v < n; v++) if (indegree[v] === 0) queue[tail++] = v;
  for (let qi = 0; qi < tail; qi++) {
    for (let k = head[queue[qi] as number] as number; k >= 0; k = next[k] as number) {
      const w = to[k] as number;
      const left = (indegree[w] as number) - 1;
      indegree[w] = left;
      if (left === 0) queue[tail++] = w;
    }
  }
  return tail === n;
}

function shareGroup(a: Member, b: Member): boolean {
  const [small, big] = a.groups.size <= b.groups.size ? [a, b] : [b, a];
  for (const g of small.groups.keys()) if (big.groups.has(g)) return true;
  return false;
}

// ---------------------------------------------------------------------------------
// G3 FIFO: per sender, increasing sender seq; no gap within one view.

/**
 * G3: per member, group and sender, sender seqs increase, and no seq sent between two
 * deliveries of the same view is missing.
 */
export function checkFifo(run: Run, out: Collector): void {
  for (const m of run.members) {
    const last = new Map<string, { seq: number; viewId: number; msgId: string }>();
    const events = m.h.events;
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as HistoryEvent;
      if (e.type === 'view') {
        // A name in `joined` is a new incarnation: its seqs start again.
        for (const j of e.joined) last.delete(senderKey(j, e.group));
        continue;
      }
      if (e.type !== 'message' || e.senderSeq === undefined) continue;
      const key = senderKey(e.sender, e.group);
      const prev = last.get(key);
      if (prev === undefined) {
        last.set(key, { seq: e.senderSeq, viewId: e.viewId, msgId: e.msgId });
        continue;
      }
      if (prev.msgId === e.msgId) continue; // a duplicate: G1's business
      if (e.senderSeq <= prev.seq) {
        out.add(
          Guarantee.G3,
          `member ${m.label} delivered ${describe(e)} (sender seq ${e.senderSeq}) after ` +
            `${q(prev.msgId)} (sender seq ${prev.seq}) from the same sender in group ${q(e.group)}`,
          { group: e.group, viewId: e.viewId, msgId: e.msgId, members: [m.name, e.sender] },
        );
        continue; // keep the highest seq, so one inversion is reported once
      }
      if (e.senderSeq > prev.seq + 1 && prev.viewId === e.viewId) {
        const missing = sentBetween(run, e.sender, e.group, prev.seq, e.senderSeq);
        if (missing !== undefined) {
          out.add(
            Guarantee.G3,
            `member ${m.label} delivered sender seqs ${prev.seq} and ${e.senderSeq} of ${q(e.sender)} ` +
              `in view ${e.viewId} of group ${q(e.group)} (${describe(e)}) but not seq ${missing} in between`,
            { group: e.group, viewId: e.viewId, msgId: e.msgId, members: [m.name, e.sender] },
          );
        }
      }
      last.set(key, { seq: e.senderSeq, viewId: e.viewId, msgId: e.msgId });
    }
  }
}

/**
 * A sender seq strictly between `low` and `high` that the sender multicast to the
 * group: from its sends when its history is present, else `low + 1` (seqs have no
 * gaps by definition).
 */
function sentBetween(
  run: Run,
  sender: string,
  group: string,
  low: number,
  high: number,
): number | undefined {
  if (!run.byName.has(sender)) return low + 1;
  const seqs = run.sentSeqs.get(senderKey(sender, group));
  if (seqs === undefined) return undefined;
  const k = upperBound(seqs, low);
  const s = seqs[k];
  return s !== undefined && s < high ? s : undefined;
}
