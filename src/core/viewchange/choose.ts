/**
 * What a proposer proposes, once its promises are in: pure decisions with no state of
 * their own (raft keeps the like in `confchange/`).
 *
 * Paxos first: a proposal some promiser accepted must be proposed again — the one with
 * the highest ballot — so a proposer that failed half-way cannot make two different
 * next views. Otherwise the next view is the old one without the members leaving or
 * removed, plus the joiners; and the cut is the longest prefix of the old epoch the
 * promisers hold between them. It covers everything any of them delivered, because
 * each delivered only what a majority held, and any majority meets the promisers.
 */
import { compareBallots, memberKey, memberRef, sameMember } from '../types.js';
import type { Failure, LogEntry, MemberInfo, MemberRef, PromiseMsg, Proposal } from '../types.js';

/**
 * The accepted proposal with the highest ballot among the promises, if any. A founding
 * (`epoch` 0) names its founders, who are its whole quorum: one naming an incarnation
 * that did not promise now was never installed by anyone still here, and proposing it
 * again could never complete.
 */
export function highestAccepted(promises: ReadonlyMap<string, PromiseMsg>, epoch: number): PromiseMsg | null {
  let best: PromiseMsg | null = null;
  for (const pr of promises.values()) {
    if (pr.acceptedBallot === null || pr.accepted === null) continue;
    if (epoch === 0 && !pr.accepted.view.members.every((m) => promises.has(memberKey(m)))) continue;
    if (best === null || compareBallots(pr.acceptedBallot, best.acceptedBallot!) > 0) best = pr;
  }
  return best;
}

/** Entries at or below this are held by every member of the old view: the highest stable prefix heard. */
export function floorOf(stable: number, promises: ReadonlyMap<string, PromiseMsg>): number {
  let s = stable;
  for (const pr of promises.values()) s = Math.max(s, pr.stable);
  return s;
}

/** The union of what the promisers hold beyond the stable prefix, by gseq (the first holder's copy). */
export function gatherCutLog(promises: ReadonlyMap<string, PromiseMsg>): Map<number, LogEntry> {
  const log = new Map<number, LogEntry>();
  for (const pr of promises.values()) {
    for (const e of pr.log) if (e.payload !== null && !log.has(e.gseq)) log.set(e.gseq, e);
  }
  return log;
}

/** The longest prefix from `floor` without a gap in `cutLog`. */
export function cutOf(floor: number, cutLog: ReadonlyMap<number, LogEntry>): number {
  let cut = floor;
  while (cutLog.has(cut + 1)) cut++;
  return cut;
}

/** Entries of (from, cut] that an acceptor holding up to `from` lacks. */
export function cutEntries(cutLog: ReadonlyMap<number, LogEntry>, cut: number, from: number): LogEntry[] {
  const out: LogEntry[] = [];
  for (let g = from + 1; g <= cut; g++) {
    const e = cutLog.get(g);
    if (e !== undefined) out.push(e);
  }
  return out;
}

/** The founding view: every promiser (at its address), sorted by id and incarnation. */
export function foundingProposal(promises: ReadonlyMap<string, PromiseMsg>): Proposal {
  const members = [...promises.values()]
    .map((x) => ({ id: x.from.id, inc: x.from.inc, addr: x.addr }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.inc - b.inc));
  return { view: { epoch: 1, members }, cut: 0, joined: members.map(memberRef), left: [], failed: [], failures: [], restored: [] };
}

/** What the next view is made of, as the proposer sees it. */
export interface NextViewInput {
  /** The epoch being changed. */
  readonly epoch: number;
  readonly members: readonly MemberInfo[];
  /** Joiners, in the order their requests came (the order they get in the view). */
  readonly joiners: readonly MemberInfo[];
  /** Members leaving gracefully (keys). */
  readonly leaving: ReadonlySet<string>;
  /** Who promised (keys). */
  readonly promises: ReadonlyMap<string, unknown>;
  /** Members to remove although they promised: laggards, and those suspected on their own word. */
  readonly removed: (key: string) => boolean;
  /** Why the proposer removes a member: what every member will report for it. */
  readonly failureOf: (m: MemberInfo, promised: boolean, replaced: boolean) => Failure;
}

/**
 * The next view: the members that promised and are not removed, then the joiners.
 * A member whose id or address a joiner takes is *replaced* (its process restarted).
 */
export function nextView(x: NextViewInput, cut: number): Proposal {
  const replacedIds = new Set(x.joiners.map((j) => j.id));
  const replacedAddrs = new Set(x.joiners.map((j) => j.addr));
  const members: MemberInfo[] = [];
  const left: MemberRef[] = [];
  const failed: MemberRef[] = [];
  const failures: Failure[] = [];
  for (const m of x.members) {
    const k = memberKey(m);
    const replaced = replacedIds.has(m.id) || replacedAddrs.has(m.addr);
    if (x.leaving.has(k)) left.push(memberRef(m));
    else if (!x.promises.has(k) || replaced || x.removed(k)) {
      failed.push(memberRef(m));
      failures.push(x.failureOf(m, x.promises.has(k), replaced));
    } else members.push(m);
  }
  members.push(...x.joiners);
  return { view: { epoch: x.epoch + 1, members }, cut, joined: x.joiners.map(memberRef), left, failed, failures, restored: [] };
}

/** Whether `proposal`'s next view holds `m`. */
export function keeps(proposal: Proposal, m: MemberRef): boolean {
  return proposal.view.members.some((x) => sameMember(x, m));
}
