/**
 * The guarantee checker: judges the per-member histories of one run (simulated, or
 * rebuilt from `cohort member` outputs) against G1–G11 of SPEC.md.
 *
 * Method. A history is what one member incarnation's application saw, so every
 * guarantee is a relation between histories, and each is checked by indexing the
 * histories once and then joining the indexes, never by scanning all events per event:
 *
 * - `prepare()` walks every history once and builds, per member: the rank of each
 *   delivered message in its own delivery order (all groups together), and per group
 *   the positions of its views and of the events that end a stretch of membership
 *   (blocked, excluded, left). Across members it builds the index of sends by message
 *   id, and the registry of views by `(group, viewId)` as first recorded.
 * - Each guarantee is then one linear pass that looks up these maps. Total order first
 *   asks whether one order of all messages contains every member's delivery sequence
 *   (the graph of consecutive deliveries is acyclic; linear). Only if not does it
 *   compare pairs, each by walking one member's sequence through the other's ranks,
 *   which must be monotonic: O(deliveries) per pair instead of O(deliveries²).
 *
 * Non-uniform delivery. A member that crashed, was excluded or blocked may have
 * delivered, in its last view, messages that the survivors never delivered at all
 * (the flush keeps what survivors hold, not what the dead held). So comparisons that
 * would otherwise forbid this ("nothing lost" G7, equal digests G10) only use a
 * delivery when it is *final*: the member went on to install a later view of the
 * group, or it ended `up`/`stopped` without a `blocked` or `excluded` of the group
 * after the delivery. Every delivery, final or not, is still judged by G1–G6: a
 * crashed or excluded member must not, say, reorder, duplicate, or deliver a message
 * in another view than the members that deliver it too (what it delivered, it
 * delivered; "may not deliver" is allowed, "delivers differently" is not).
 *
 * Definitions, per group; "installed views" are a member's `view` events of the group
 * in order; a `send` is an API call, so the "no events after" rules ignore sends.
 *
 * - G1: each delivered msgId was sent by a history whose `member` is the message's
 *   `sender`, to the same group (judged only if that sender's history is present);
 *   no member delivers a msgId twice.
 * - G2: for every pair of members, the messages both delivered (over all groups) come
 *   in the same relative order; every history counts, final or not (crashed, excluded
 *   and blocked members included).
 * - G3: per member, group and sender, `senderSeq` increases; and when two successive
 *   deliveries of one sender (seqs a < c) fall in the same view, no seq between them
 *   was sent (from the sender's sends if present, else a+1 is missing by definition).
 *   A sender name appearing in `joined` starts afresh (new incarnation).
 * - G4: one member list (same order) and one joined/left/failed set (and reason) per
 *   `(group, viewId)`; a member's view ids strictly increase; a member is in every
 *   view it installs.
 * - G5: members that installed V and then V' consecutively (no leave or exclusion in
 *   between) delivered the same set of messages between the two view events.
 * - G6: a message's `viewId` is the member's current view; and every member's first
 *   delivery of one message carries the same viewId, final or not (a member later
 *   excluded or crashed that delivered a message in an older view than the survivors
 *   breaks it as much as a survivor would).
 * - G7: always: a send with `resolvedAt` was delivered by its sender; a resolved
 *   `safe` send delivered by its sender in view V was delivered by every other member
 *   that installed V and either installed a later view or (when `facts.quiescent`)
 *   ended up/stopped without a blocked/left/excluded after V; a run cut short may end
 *   before such a member delivered it. When `facts.quiescent`: members that ended up and
 *   are still in the group end on the same viewId; a member that ended up delivered
 *   each of its sends unless it left or was excluded from the group after the send;
 *   every message finally delivered in view V was delivered by every member that ended
 *   up, installed V and did not leave or get excluded after V.
 * - G8: nothing of a group is received after `excluded` from it; a member that
 *   delivered a message from S after installing a view with S in `failed` (S not
 *   re-`joined` since) breaks it; with both timing facts, a member whose first event of
 *   a group after crashedAt + suspectTimeoutMs + detectBoundMs is not blocked/excluded
 *   and which then still had the crashed member in its view breaks it (members that
 *   were blocked, or were themselves excluded, are not judged); when quiescent, no
 *   member that ended up has a crashed member in its final view.
 * - G9: the same `(group, viewId)` installed with two member lists, each lacking the
 *   other's installer; a fork: a member went from view p straight to n although some
 *   p < w < n was installed by another member with it as a member; a view sharing no
 *   member with the previous view of the group while a member of that previous view
 *   carried on (installed a later view, or ended up without leaving); a message
 *   (a blocked member's deliveries are judged by G2/G5/G6; see checkPrimary).
 * - G10: a `state` comes after the member's first view of the group (since its last
 *   leave) with no message between; its digest (and count, when both known) equals
 *   the state at the join view of every other member that installed that view and was
 *   not a joiner of it. A member's state at a view is its last digest from messages,
 *   states or view digests; `facts.initialDigest` (or 64 zeros) before any; unknown
 *   after a message without a digest. Skipped when none of those old members survived
 *   the join view (nobody holds the checkpoint; the joiner starts afresh). And final
 *   deliveries of one message leave the same digest everywhere.
 * - G11: after a member's `left`, views of the group (by id, as others installed them)
 *   up to the one naming it in `joined` or `left`, and before the member's own next
 *   view of the group (its rejoin, which need not list it as joined), never name it in
 *   `failed` or `members`; the member receives nothing more of the group until it
 *   rejoins.
 *
 * Names. Views and senders name members by their `member` string. In the simulator
 * that string includes the incarnation, so it is unique; real `cohort member` runs may
 * reuse an id for a restarted process. Checks that follow a name across views therefore
 * forget what they knew about a name when it appears in a view's `joined` list (a new
 * incarnation), and timing checks skip a crashed member whose name another history
 * also uses.
 *
 * Assumption. View ids of a group are never reused within one run: the same
 * `(group, viewId)` names one view everywhere (a group that empties and is created
 * again must continue with larger ids).
 *
 * The checker stops after {@link MAX_VIOLATIONS} violations (and keeps at most 40% of
 * that budget per guarantee, so one flood does not hide the other guarantees).
 */
import { separateNetworks } from './networks.js';
import { assertNever } from '../errors.js';
import type {
  HistoryEvent,
  MemberHistory,
  MessageEvent,
  RunFacts,
  SendEvent,
  ViewEvent,
  Violation,
} from './history.js';

/** The guarantees of SPEC.md, as they appear in {@link Violation.guarantee}. */
export const Guarantee = {
  /** Integrity: only multicast messages are delivered, each at most once. */
  G1: 'G1',
  /** Total order: one order for every member, consistent across overlapping groups. */
  G2: 'G2',
  /** FIFO: a sender's messages in the order it sent them. */
  G3: 'G3',
  /** View agreement: the same views, in the same order, everywhere. */
  G4: 'G4',
  /** Virtual synchrony: members that go from view V to V' delivered the same messages in V. */
  G5: 'G5',
  /** Same-view delivery: a message is delivered in the same view everywhere. */
  G6: 'G6',
  /** Liveness and self-delivery: a live member's multicast reaches everyone live. */
  G7: 'G7',
  /** Failure detection: a crash is one agreed view change within a bounded time. */
  G8: 'G8',
  /** Primary component: only a majority of the previous view makes new views. */
  G9: 'G9',
  /** State transfer: a joiner's state is the checkpoint taken at exactly its join point. */
  G10: 'G10',
  /** Leave: a graceful leave is a view change, without a timeout. */
  G11: 'G11',
} as const;
/** One of `G1` … `G11`. */
export type Guarantee = (typeof Guarantee)[keyof typeof Guarantee];

/** Short names of the guarantees, for reports. */
export const GUARANTEE_TITLES: Readonly<Record<Guarantee, string>> = {
  G1: 'integrity',
  G2: 'total order',
  G3: 'FIFO',
  G4: 'view agreement',
  G5: 'virtual synchrony',
  G6: 'same-view delivery',
  G7: 'liveness and self-delivery',
  G8: 'failure detection',
  G9: 'primary component',
  G10: 'state transfer',
  G11: 'leave',
};

/**
 * How many violations {@link checkHistories} collects before it stops: a broken run
 * usually breaks the same guarantee many times, and the first few say everything.
 */
export const MAX_VIOLATIONS = 50;

/** Options of {@link checkHistories}. */
export interface CheckOptions {
  /**
   * Stop after this many violations. At most 40% of it (rounded up) is spent on any
   * one guarantee.
   * @default MAX_VIOLATIONS (50)
   */
  readonly maxViolations?: number;
}

/** The digest of a new group's empty state, as `cohort member` computes it. */
const INITIAL_DIGEST = '0'.repeat(64);

// ---------------------------------------------------------------------------------
// The index built once per run.

/** One member's events of one group, located by index into its `events`. */
interface GroupLog {
  /** Indices of this group's view events, in order. */
  readonly views: number[];
  /** viewId → index of the first view event with that id. */
  readonly viewAt: Map<number, number>;
  /** Indices of this group's events other than `send` (what the application received). */
  readonly received: number[];
  /** Index of the last view event of the group; -1 if none. */
  lastView: number;
  /** Index of the last `blocked` or `excluded` event of the group; -1 if none. */
  lastBad: number;
  /** Index of the last `left` or `excluded` event of the group; -1 if none. */
  lastExit: number;
  /** Index of the last `excluded` event of the group; -1 if none. */
  excluded: number;
}

/** A delivery, located in its member's history. */
interface DeliveryRef {
  readonly ev: MessageEvent;
  readonly idx: number;
}

/** A multicast call, located in its sender's history. */
interface SendRef {
  readonly member: Member;
  readonly ev: SendEvent;
  readonly idx: number;
}

/** A view as first recorded by one of the members that installed it. */
interface ViewRecord {
  readonly member: Member;
  readonly ev: ViewEvent;
}

/** One history with its indexes. */
interface Member {
  readonly h: MemberHistory;
  readonly name: string;
  /** How reports name this member: quoted, with the history's position if shared. */
  readonly label: string;
  /** msgId → position of its first delivery in this member's delivery order. */
  readonly rank: Map<string, number>;
  /** First deliveries, in delivery order over all groups. */
  readonly order: DeliveryRef[];
  readonly groups: Map<string, GroupLog>;
  readonly sends: SendRef[];
}

/** Everything the checks share. */
interface Run {
  readonly members: readonly Member[];
  readonly facts: RunFacts;
  readonly byName: ReadonlyMap<string, readonly Member[]>;
  readonly sendsById: ReadonlyMap<string, readonly SendRef[]>;
  /** group → viewId → the view as first recorded. */
  readonly views: ReadonlyMap<string, ReadonlyMap<number, ViewRecord>>;
  /** group → every viewId anyone installed, ascending. */
  readonly viewIds: ReadonlyMap<string, readonly number[]>;
  /** `sender \0 group` → the sender seqs its histories sent, ascending. */
  readonly sentSeqs: ReadonlyMap<string, readonly number[]>;
}

// ---------------------------------------------------------------------------------
// Public API.

/**
 * Judges the histories of one run against G1–G11 (see the module comment and SPEC.md
 * for the exact definitions) and returns what is broken; an empty array means every
 * guarantee held.
 *
 * @param histories one per member incarnation, each in the order its application saw
 *   events.
 * @param facts what the run guarantees about itself: timing bounds for failure
 *   detection (G8) and whether it ended quiescent, so that liveness can be demanded
 *   (G7).
 * @param options limits; see {@link CheckOptions}.
 * @returns at most `options.maxViolations` violations, grouped by the check that found
 *   them (G1 first, G11 last; a same-id conflict of views is reported as G4 and G9).
 *
 * @example
 * ```ts
 * import { checkHistories, formatViolations } from 'cohort/check';
 * const violations = checkHistories(run.histories, { quiescent: true });
 * if (violations.length > 0) throw new Error(formatViolations(violations));
 * ```
 */
export function checkHistories(
  histories: readonly MemberHistory[],
  facts: RunFacts = {},
  options: CheckOptions = {},
): Violation[] {
  const max = options.maxViolations ?? MAX_VIOLATIONS;
  if (!(max > 0)) return [];
  const out = new Collector(max);
  // Each network's groups are judged apart; networks live at once are a split (G9).
  const separated = separateNetworks(histories);
  const run = prepare(separated.histories, facts);
  try {
    for (const v of separated.violations) out.add('G9', v.message, v.members === undefined ? {} : { members: v.members });
    checkIntegrity(run, out);
    checkTotalOrder(run, out);
    checkFifo(run, out);
    checkViewAgreement(run, out);
    checkVirtualSynchrony(run, out);
    checkSameView(run, out);
    checkLiveness(run, out);
    checkFailureDetection(run, out);
    checkPrimaryComponent(run, out);
    checkStateTransfer(run, out);
    checkLeave(run, out);
  } catch (error) {
    // Collector throws Enough to unwind every loop at once when the budget is spent.
    if (!(error instanceof Enough)) throw error;
  }
  return out.violations;
}

/**
 * Renders violations for a test failure or a terminal: one numbered line each, with
 * the guarantee's number and name; `"no violations"` for an empty list.
 */
export function formatViolations(violations: readonly Violation[]): string {
  if (violations.length === 0) return 'no violations';
  const lines = violations.map((v, i) => {
    const title = isGuarantee(v.guarantee) ? ` (${GUARANTEE_TITLES[v.guarantee]})` : '';
    return `${i + 1}. ${v.guarantee}${title}: ${v.message}`;
  });
  const head =
    violations.length >= MAX_VIOLATIONS
      ? `${violations.length} violations (the checker stops collecting at ${MAX_VIOLATIONS}; there may be more):`
      : `${violations.length} violation${violations.length === 1 ? '' : 's'}:`;
  return [head, ...lines].join('\n');
}

function isGuarantee(s: string): s is Guarantee {
  return Object.hasOwn(Guarantee, s);
}

// ---------------------------------------------------------------------------------
// Collecting.

/** Thrown by the collector to stop every check once the budget is spent. */
class Enough extends Error {}

/** Where a violation happened, copied into the violation's optional fields. */
interface Where {
  readonly group?: string;
  readonly viewId?: number;
  readonly msgId?: string;
  readonly members?: readonly string[];
}

class Collector {
  readonly violations: Violation[] = [];
  private readonly perGuarantee = new Map<Guarantee, number>();
  private readonly perGuaranteeMax: number;

  constructor(private readonly max: number) {
    this.perGuaranteeMax = Math.max(1, Math.ceil(max * 0.4));
  }

  add(guarantee: Guarantee, message: string, where: Where = {}): void {
    const n = this.perGuarantee.get(guarantee) ?? 0;
    if (n >= this.perGuaranteeMax) return;
    this.perGuarantee.set(guarantee, n + 1);
    this.violations.push({ guarantee, message, ...where });
    if (this.violations.length >= this.max) throw new Enough();
  }
}

// ---------------------------------------------------------------------------------
// Indexing.

function prepare(histories: readonly MemberHistory[], facts: RunFacts): Run {
  const nameCount = new Map<string, number>();
  for (const h of histories) nameCount.set(h.member, (nameCount.get(h.member) ?? 0) + 1);

  const members: Member[] = [];
  const byName = new Map<string, Member[]>();
  const sendsById = new Map<string, SendRef[]>();
  const views = new Map<string, Map<number, ViewRecord>>();
  const sentSeqs = new Map<string, number[]>();

  histories.forEach((h, position) => {
    const label =
      (nameCount.get(h.member) ?? 0) > 1 ? `${q(h.member)} (history #${position})` : q(h.member);
    const m: Member = {
      h,
      name: h.member,
      label,
      rank: new Map(),
      order: [],
      groups: new Map(),
      sends: [],
    };
    members.push(m);
    let same = byName.get(h.member);
    if (same === undefined) byName.set(h.member, (same = []));
    same.push(m);

    const events = h.events;
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as HistoryEvent;
      const log = groupLog(m, e.group);
      if (e.type !== 'send') log.received.push(i);
      switch (e.type) {
        case 'view': {
          log.views.push(i);
          if (!log.viewAt.has(e.viewId)) log.viewAt.set(e.viewId, i);
          log.lastView = i;
          let byId = views.get(e.group);
          if (byId === undefined) views.set(e.group, (byId = new Map()));
          if (!byId.has(e.viewId)) byId.set(e.viewId, { member: m, ev: e });
          break;
        }
        case 'message':
          if (!m.rank.has(e.msgId)) {
            m.rank.set(e.msgId, m.order.length);
            m.order.push({ ev: e, idx: i });
          }
          break;
        case 'send': {
          const ref: SendRef = { member: m, ev: e, idx: i };
          m.sends.push(ref);
          let refs = sendsById.get(e.msgId);
          if (refs === undefined) sendsById.set(e.msgId, (refs = []));
          refs.push(ref);
          if (e.senderSeq !== undefined) {
            const key = senderKey(h.member, e.group);
            let seqs = sentSeqs.get(key);
            if (seqs === undefined) sentSeqs.set(key, (seqs = []));
            seqs.push(e.senderSeq);
          }
          break;
        }
        case 'blocked':
          log.lastBad = i;
          break;
        case 'excluded':
          log.lastBad = i;
          log.lastExit = i;
          log.excluded = i;
          break;
        case 'left':
          log.lastExit = i;
          break;
        case 'state':
          break;
        default:
          assertNever(e);
      }
    }
  });

  for (const seqs of sentSeqs.values()) seqs.sort((a, b) => a - b);
  const viewIds = new Map<string, number[]>();
  for (const [group, byId] of views) viewIds.set(group, [...byId.keys()].sort((a, b) => a - b));
  return { members, facts, byName, sendsById, views, viewIds, sentSeqs };
}

function groupLog(m: Member, group: string): GroupLog {
  let log = m.groups.get(group);
  if (log === undefined) {
    log = { views: [], viewAt: new Map(), received: [], lastView: -1, lastBad: -1, lastExit: -1, excluded: -1 };
    m.groups.set(group, log);
  }
  return log;
}

/** The log of a group the member is known to have events of. */
function logOf(m: Member, group: string): GroupLog {
  return groupLog(m, group);
}

/**
 * Whether the delivery at `idx` is final (see the module comment): the member went on
 * to install a later view of the group, or ended up/stopped without being blocked or
 * excluded from the group afterwards.
 */
function isFinal(m: Member, group: string, idx: number): boolean {
  const log = logOf(m, group);
  if (log.lastView > idx) return true;
  return (m.h.end === 'up' || m.h.end === 'stopped') && log.lastBad < idx;
}

function event(m: Member, idx: number): HistoryEvent {
  return m.h.events[idx] as HistoryEvent;
}

// ---------------------------------------------------------------------------------
// G1 Integrity: only messages that were multicast, each at most once.

function checkIntegrity(run: Run, out: Collector): void {
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

function checkTotalOrder(run: Run, out: Collector): void {
  // Fast path, linear in the deliveries: if one order of all messages contains every
  // member's sequence, every pair agrees. Only when none exists are pairs compared, to
  // name the two members that disagree (a cycle spread over three or more members
  // with no disagreeing pair is not a G2 violation as SPEC.md words it).
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

function checkFifo(run: Run, out: Collector): void {
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

// ---------------------------------------------------------------------------------
// G4 View agreement (and G9's "two histories" when the same view id differs).

function checkViewAgreement(run: Run, out: Collector): void {
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

function checkVirtualSynchrony(run: Run, out: Collector): void {
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

function checkSameView(run: Run, out: Collector): void {
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

// ---------------------------------------------------------------------------------
// G7 Liveness and self-delivery; safe delivery.

function checkLiveness(run: Run, out: Collector): void {
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

function checkQuiescent(run: Run, out: Collector): void {
  // (a) Members that ended up in a group agree on its last view.
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

  // (b) Self-delivery of every multicast by a member that stayed up and in the group.
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

  // (c) Nothing lost: a final delivery in view V is made by every member that ended up
  // and was in the group from V on.
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

// ---------------------------------------------------------------------------------
// G8 Failure detection.

function checkFailureDetection(run: Run, out: Collector): void {
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

  // (b) A crash is agreed within suspectTimeoutMs + detectBoundMs.
  const { suspectTimeoutMs, detectBoundMs } = run.facts;
  if (suspectTimeoutMs !== undefined && detectBoundMs !== undefined) {
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

  // Quiescent: nobody up still holds a crashed member in its final view.
  if (run.facts.quiescent === true) {
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

function checkPrimaryComponent(run: Run, out: Collector): void {
  // (a) Same view id, disjoint installers: reported with G4 above.

  // (b) Forks: a member that moved from view p to view n without installing a view w
  // (p < w < n) that lists it as a member. Someone else went p → … → w, so the two
  // members' histories split after p.
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

  // (c) A view that shares no member with the view before it, while a member of that
  // earlier view carried on in the group: two primary components.
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

  // A blocked member delivers nothing of its own making: it cannot, because a
  // delivery needs a majority to hold the message (committed). What it may still
  // deliver after `blocked` is the agreed end of its view when a view change decided
  // by a majority reaches it (the flush cut); those deliveries are judged like any
  // other by G2, G5 and G6. The application's histories do not show the cut, so there
  // is no separate check of the blocked stretch here.
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

// ---------------------------------------------------------------------------------
// G10 State transfer.

/** The application state as far as the history tells; `undefined` when unknown. */
interface DigestState {
  digest: string | undefined;
  count: number | undefined;
}

function checkStateTransfer(run: Run, out: Collector): void {
  const initial = run.facts.initialDigest ?? INITIAL_DIGEST;

  // Each member's state at each view it installed (its last known digest there).
  const atView = new Map<Member, Map<string, Map<number, DigestState>>>();
  for (const m of run.members) {
    const perGroup = new Map<string, Map<number, DigestState>>();
    atView.set(m, perGroup);
    for (const [group, log] of m.groups) {
      const byId = new Map<number, DigestState>();
      perGroup.set(group, byId);
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
    }
  }

  // The joiner's state equals every old member's state at the join view, and comes
  // before any message of that view.
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

  // Equal digests at equal positions: every final delivery of a message leaves every
  // member with the same state (catches a wrong state that no old member's view digest
  // could reveal, once the joiner delivers a message).
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
  atView: ReadonlyMap<Member, ReadonlyMap<string, ReadonlyMap<number, DigestState>>>,
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

// ---------------------------------------------------------------------------------
// G11 Leave.

function checkLeave(run: Run, out: Collector): void {
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
        // The member's own next view of the group is its rejoin: from there on it is
        // in the group again, whether or not that view lists it as joined (it does not
        // when the state's provider departed first).
        const rejoinViewId = nextOwnViewId(m, log, i);
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
    }
  }
}

/** The id of the member's first view of the group after its event at `after`; Infinity if none. */
function nextOwnViewId(m: Member, log: GroupLog, after: number): number {
  for (const vi of log.views) if (vi > after) return (event(m, vi) as ViewEvent).viewId;
  return Infinity;
}

/**
 * Is the view at `vi` the member's first view of a stay in the group: its first view
 * at all, or its first after leaving or being excluded (a rejoin whose view may not
 * list it as joined, when the state's provider departed first)?
 */
function isFirstViewOfStay(m: Member, log: GroupLog, vi: number): boolean {
  let previous: HistoryEvent['type'] | undefined;
  for (const i of log.received) {
    if (i >= vi) break;
    previous = event(m, i).type === 'view' || event(m, i).type === 'left' || event(m, i).type === 'excluded' ? event(m, i).type : previous;
  }
  return previous === undefined || previous === 'left' || previous === 'excluded';
}

// ---------------------------------------------------------------------------------
// Small helpers.

function senderKey(sender: string, group: string): string {
  return `${sender}\0${group}`;
}

/** First index whose value is greater than `x` in an ascending array. */
function upperBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function q(s: string): string {
  return JSON.stringify(s);
}

function list(names: readonly string[]): string {
  return `[${names.join(', ')}]`;
}

function describe(e: MessageEvent): string {
  return `message ${q(e.msgId)} from ${q(e.sender)}`;
}

function short(digest: string): string {
  return digest.length > 12 ? `${digest.slice(0, 12)}…` : digest;
}
