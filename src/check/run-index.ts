/**
 * The index of one run, built once, and the collector of violations: what every family
 * of checks (`order.ts`, `views.ts`, `delivery.ts`, `failures.ts`, `state.ts`,
 * `leave.ts`) shares.
 *
 * Intuition: each guarantee is a relation between histories. Rather than scanning all
 * events per event, `prepare()` walks every history once and builds, per member, the
 * rank of each delivered message in its delivery order and, per group, the positions of
 * its views and of the events that end a stretch of membership; across members, the
 * sends by message id and the views by `(group, viewId)` as first recorded. Each check
 * is then a linear pass over these maps (see the module comment of `checker.ts`).
 */
import { assertNever } from '../errors.js';
import type { Guarantee } from './guarantees.js';
import type {
  HistoryEvent,
  MemberHistory,
  MessageEvent,
  RunFacts,
  SendEvent,
  ViewEvent,
  Violation,
} from './history.js';

// ---------------------------------------------------------------------------------
// The index built once per run.

/** One member's events of one group, located by index into its `events`. */
export interface GroupLog {
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
export interface DeliveryRef {
  readonly ev: MessageEvent;
  readonly idx: number;
}

/** A multicast call, located in its sender's history. */
export interface SendRef {
  readonly member: Member;
  readonly ev: SendEvent;
  readonly idx: number;
}

/** A view as first recorded by one of the members that installed it. */
export interface ViewRecord {
  readonly member: Member;
  readonly ev: ViewEvent;
}

/** One history with its indexes. */
export interface Member {
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
export interface Run {
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
// Collecting.

/** Thrown by the collector to stop every check once the budget is spent. */
export class Enough extends Error {}

/** Where a violation happened, copied into the violation's optional fields. */
export interface Where {
  readonly group?: string;
  readonly viewId?: number;
  readonly msgId?: string;
  readonly members?: readonly string[];
}

/**
 * Collects violations up to a budget, at most 40% of it (rounded up) per guarantee;
 * throws {@link Enough} once the budget is spent.
 */
export class Collector {
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

/** The indexes across members that {@link prepare} fills while it walks the histories. */
interface RunIndexes {
  readonly sendsById: Map<string, SendRef[]>;
  readonly views: Map<string, Map<number, ViewRecord>>;
  readonly sentSeqs: Map<string, number[]>;
}

/**
 * Builds the index of one run: walks every history once (see the module comment).
 * Histories sharing a `member` name get labels that say their position.
 */
export function prepare(histories: readonly MemberHistory[], facts: RunFacts): Run {
  const nameCount = new Map<string, number>();
  for (const h of histories) nameCount.set(h.member, (nameCount.get(h.member) ?? 0) + 1);

  const members: Member[] = [];
  const byName = new Map<string, Member[]>();
  const index: RunIndexes = { sendsById: new Map(), views: new Map(), sentSeqs: new Map() };

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
    indexHistory(m, index);
  });

  const { sendsById, views, sentSeqs } = index;
  for (const seqs of sentSeqs.values()) seqs.sort((a, b) => a - b);
  const viewIds = new Map<string, number[]>();
  for (const [group, byId] of views) viewIds.set(group, [...byId.keys()].sort((a, b) => a - b));
  return { members, facts, byName, sendsById, views, viewIds, sentSeqs };
}

/** Indexes one member's events: its own ranks and group logs, and the run's sends and views. */
function indexHistory(m: Member, index: RunIndexes): void {
  const { sendsById, views, sentSeqs } = index;
  const h = m.h;
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
}

/**
 * The member's log of `group`, created empty on first use (while indexing).
 */
export function groupLog(m: Member, group: string): GroupLog {
  let log = m.groups.get(group);
  if (log === undefined) {
    log = { views: [], viewAt: new Map(), received: [], lastView: -1, lastBad: -1, lastExit: -1, excluded: -1 };
    m.groups.set(group, log);
  }
  return log;
}

/** The log of a group the member is known to have events of. */
export function logOf(m: Member, group: string): GroupLog {
  return groupLog(m, group);
}

/**
 * Whether the delivery at `idx` is final (see the module comment): the member went on
 * to install a later view of the group, or ended up/stopped without being blocked or
 * excluded from the group afterwards.
 */
export function isFinal(m: Member, group: string, idx: number): boolean {
  const log = logOf(m, group);
  if (log.lastView > idx) return true;
  return (m.h.end === 'up' || m.h.end === 'stopped') && log.lastBad < idx;
}

/**
 * The member's event at `idx`, which the caller knows exists.
 */
export function event(m: Member, idx: number): HistoryEvent {
  return m.h.events[idx] as HistoryEvent;
}

/**
 * Is the view at `vi` the member's first view of a stay in the group: its first view
 * at all, or its first after leaving or being excluded (a rejoin whose view may not
 * list it as joined, when the state's provider departed first)?
 */
export function isFirstViewOfStay(m: Member, log: GroupLog, vi: number): boolean {
  let previous: HistoryEvent['type'] | undefined;
  for (const i of log.received) {
    if (i >= vi) break;
    previous = event(m, i).type === 'view' || event(m, i).type === 'left' || event(m, i).type === 'excluded' ? event(m, i).type : previous;
  }
  return previous === undefined || previous === 'left' || previous === 'excluded';
}

// ---------------------------------------------------------------------------------
// Small helpers.

/**
 * The key of a sender's stream in one group (`sender \0 group`).
 */
export function senderKey(sender: string, group: string): string {
  return `${sender}\0${group}`;
}

/** First index whose value is greater than `x` in an ascending array. */
export function upperBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A name quoted for a report (JSON string syntax).
 */
export function q(s: string): string {
  return JSON.stringify(s);
}

/**
 * Member names as a bracketed list for a report.
 */
export function list(names: readonly string[]): string {
  return `[${names.join(', ')}]`;
}

/**
 * A message as reports name it: its id and sender.
 */
export function describe(e: MessageEvent): string {
  return `message ${q(e.msgId)} from ${q(e.sender)}`;
}

/**
 * The first 12 characters of a digest, for reports.
 */
export function short(digest: string): string {
  return digest.length > 12 ? `${digest.slice(0, 12)}…` : digest;
}
