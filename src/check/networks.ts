/**
 * Histories of several networks. A network founded anew after a total failure (every
 * seed restarted) starts its groups over: view ids from 1 again, empty states. Judged
 * as one history, its groups would look like a fork of the old network's (G4, G9);
 * they are a new history. So each member incarnation's events are judged within its
 * network (`ViewEvent.network`; an incarnation is in one network all its life), as if
 * its groups were named apart, and across networks one rule holds instead: two
 * networks are never live at the same time. That is what a split brain is (G9): a
 * network founded while another still installs views or delivers messages. A network
 * is live from its first view to its last view or delivery; histories without times
 * (`cohort member` output) are judged within their networks only.
 */
import type { HistoryEvent, MemberHistory, Violation } from './history.js';

/** The network of a history: that of its first view that names one ('' if none does). */
function networkOf(h: MemberHistory): string {
  for (const e of h.events) if (e.type === 'view' && e.network !== undefined && e.network !== '') return e.network;
  return '';
}

interface Span {
  readonly network: string;
  start: number;
  end: number;
  readonly members: string[];
}

/**
 * Histories with each group renamed to `group @network` when more than one network
 * appears (unchanged otherwise), and the G9 violations of networks live at once.
 */
export function separateNetworks(histories: readonly MemberHistory[]): { histories: readonly MemberHistory[]; violations: Violation[] } {
  const networks = histories.map(networkOf);
  const distinct = new Set(networks.filter((n) => n !== ''));
  if (distinct.size < 2) return { histories, violations: [] };
  const renamed = histories.map((h, i) => {
    const n = networks[i]!;
    if (n === '') return h;
    const events = h.events.map((e): HistoryEvent => ({ ...e, group: `${e.group} @${n}` }));
    return { ...h, events };
  });
  return { histories: renamed, violations: overlaps(histories, networks) };
}

/** Pairs of networks whose live spans (first view to last view or delivery) overlap. */
function overlaps(histories: readonly MemberHistory[], networks: readonly string[]): Violation[] {
  const spans = new Map<string, Span>();
  histories.forEach((h, i) => {
    const n = networks[i]!;
    if (n === '') return;
    for (const e of h.events) {
      if ((e.type !== 'view' && e.type !== 'message') || e.time === undefined) continue;
      let s = spans.get(n);
      if (s === undefined) {
        s = { network: n, start: e.time, end: e.time, members: [] };
        spans.set(n, s);
      }
      s.start = Math.min(s.start, e.time);
      s.end = Math.max(s.end, e.time);
      if (!s.members.includes(h.member)) s.members.push(h.member);
    }
  });
  const list = [...spans.values()].sort((a, b) => a.start - b.start);
  const out: Violation[] = [];
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const a = list[i]!;
      const b = list[j]!;
      if (b.start >= a.end) continue;
      out.push({
        guarantee: 'G9',
        message:
          `two networks live at once: network ${a.network} (${a.members.join(', ')}) was live from ${a.start} to ${a.end} ms, ` +
          `and network ${b.network} (${b.members.join(', ')}) was founded at ${b.start} ms (a second primary component)`,
        members: [...a.members, ...b.members],
      });
    }
  }
  return out;
}
