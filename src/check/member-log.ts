/**
 * Rebuild checker histories from `cohort member` outputs (one file of JSON lines per
 * member process). A process that was excluded and rejoined becomes several histories:
 * each `excluded` line ends one incarnation's history, and the next lines start the
 * next. Messages are identified by sender and text, so a test should multicast
 * distinct lines.
 */
import type { HistoryEvent, MemberHistory } from './history.js';

/** A line that is not a `cohort member` event: file and line number say where. */
export class MemberLogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemberLogError';
  }
}

interface Line {
  readonly event?: unknown;
  readonly group?: unknown;
  readonly view?: unknown;
  readonly members?: unknown;
  readonly joined?: unknown;
  readonly left?: unknown;
  readonly failed?: unknown;
  readonly reason?: unknown;
  readonly network?: unknown;
  readonly self?: unknown;
  readonly sender?: unknown;
  readonly data?: unknown;
  readonly count?: unknown;
  readonly digest?: unknown;
  readonly restored?: unknown;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/**
 * Parse one member's output. `name` labels it in errors; `crashed` marks the last
 * history as crashed (the process was killed) instead of up.
 */
export function parseMemberLog(text: string, name: string, opts: { crashed?: boolean } = {}): MemberHistory[] {
  const histories: MemberHistory[] = [];
  let events: HistoryEvent[] = [];
  let self: string | undefined;
  const views: (readonly string[])[] = [];
  const finish = (end: MemberHistory['end']): void => {
    if (events.length === 0) return;
    const member = self ?? views.reduce<readonly string[] | undefined>((acc, v) => (acc === undefined ? v : acc.filter((x) => v.includes(x))), undefined)?.[0] ?? name;
    histories.push({ member, events, end });
    events = [];
    views.length = 0;
  };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '') continue;
    const where = `${name}:${i + 1}`;
    const l = parseLine(raw, where);
    const e = lineEvent(l, where);
    if (e.type === 'view') {
      if (typeof l.self === 'string') self = l.self;
      views.push(e.members);
    }
    // A message replayed from the log after a restart is part of the restored state:
    // the history holds that state, as the last replayed message leaves it.
    const last = events[events.length - 1];
    if (e.type === 'state' && l.restored === true && last !== undefined && last.type === 'state' && last.group === e.group) events[events.length - 1] = e;
    else events.push(e);
    if (e.type === 'excluded') finish('excluded');
  }
  finish(opts.crashed === true ? 'crashed' : 'up');
  return histories;
}

/** One line as a JSON object; `where` (file:line) names it in the error. */
function parseLine(raw: string, where: string): Line {
  try {
    return JSON.parse(raw) as Line;
  } catch {
    throw new MemberLogError(`${where}: not a JSON line: ${raw.slice(0, 80)}`);
  }
}

/** The history event one `cohort member` line stands for; `where` (file:line) names it in errors. */
function lineEvent(l: Line, where: string): HistoryEvent {
  const group = typeof l.group === 'string' ? l.group : undefined;
  if (group === undefined) throw new MemberLogError(`${where}: no group`);
  switch (l.event) {
    case 'view': {
      if (typeof l.view !== 'number') throw new MemberLogError(`${where}: view without a view id`);
      return {
        type: 'view',
        group,
        viewId: l.view,
        members: strings(l.members),
        joined: strings(l.joined),
        left: strings(l.left),
        failed: strings(l.failed),
        ...(typeof l.reason === 'string' ? { reason: l.reason } : {}),
        ...(typeof l.network === 'string' ? { network: l.network } : {}),
      };
    }
    case 'state':
      return {
        type: 'state',
        group,
        digest: String(l.digest),
        ...(typeof l.count === 'number' ? { count: l.count } : {}),
      };
    case 'message': {
      if (l.restored === true) return { type: 'state', group, digest: String(l.digest), ...(typeof l.count === 'number' ? { count: l.count } : {}) };
      if (typeof l.sender !== 'string' || typeof l.data !== 'string' || typeof l.view !== 'number') {
        throw new MemberLogError(`${where}: message without sender, data or view`);
      }
      return {
        type: 'message',
        group,
        viewId: l.view,
        sender: l.sender,
        msgId: `${l.sender}\u0000${l.data}`,
        ...(typeof l.digest === 'string' ? { digest: l.digest } : {}),
        ...(typeof l.count === 'number' ? { count: l.count } : {}),
      };
    }
    case 'blocked':
      return { type: 'blocked', group };
    case 'excluded':
      return { type: 'excluded', group };
    default:
      throw new MemberLogError(`${where}: unknown event ${JSON.stringify(l.event)}`);
  }
}
