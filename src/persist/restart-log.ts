/**
 * What a durable endpoint's log says at start, for a restart from the logs: the network
 * it was in (its last view, or the later view it voted for), how far its log holds the
 * order, each group's members at the end, and the state of each of its own groups —
 * the last state or checkpoint of the group, then the group's messages after it.
 *
 * Intuition: the log is the stream as this endpoint delivered it, so one pass in order
 * rebuilds it. The group table is followed as the core changes it: a base record sets
 * it, joins and leaves change it, and a view drops the members it no longer holds (a
 * new network starts it empty). A group of this endpoint's begins at its own join: it
 * then holds nothing (the group was new), until a received state replaces that; a
 * checkpoint replaces it too; the group's messages after that position follow. Its own
 * leave, or a view without it, ends the group. A restart's view record says which
 * groups this endpoint restores: its next join of each goes on from what the log held
 * before (as the restart's members do, see `RestoreWait`); its other groups end there.
 */
import { unbundle } from '../core/bundle.js';
import type { RestartInfo } from '../core/membership/restart.js';
import { comparePositions, EntryKind, memberKey } from '../core/types.js';
import type { EndpointView, GroupRecord, MemberRef, Position, Restored } from '../core/types.js';
import { decodeRecord } from './records.js';
import type { EntryRecord } from './records.js';
import type { SegmentLog } from './segment-log.js';
import type { Vote } from './votes.js';

/** One message of a restored group, as its log delivered it. */
export interface RestoredMessage {
  readonly sender: MemberRef;
  readonly data: Uint8Array;
  readonly safe: boolean;
  readonly pos: Position;
}

/** A group's state as its log holds it: the state (null: the group began empty) and the messages after it. */
export interface RestoredGroup {
  readonly state: Uint8Array | null;
  readonly pos: Position | null;
  readonly messages: RestoredMessage[];
}

/** What the log says (see the module comment). */
export interface LogRestart {
  /** What the core restarts from; null when the log names no view this endpoint was a member of. */
  readonly info: RestartInfo | null;
  /** The state of each group this endpoint was in at the end of its log. */
  readonly groups: ReadonlyMap<string, RestoredGroup>;
}

/** A group's members as the log has it; `carried` when they are of the network before a restart (nobody joined it since). */
interface TableGroup {
  members: MemberRef[];
  carried: boolean;
}

/** One pass over a log, in order (see the module comment). */
class LogReplay {
  network = '';
  view: EndpointView | null = null;
  end: Position | null = null;
  table = new Map<string, TableGroup>();
  /** This endpoint's groups: each one's state, as far as the log went. */
  groups = new Map<string, RestoredGroup>();
  /** The groups this endpoint restores, until its join of each (their state goes on through it). */
  private readonly restoring = new Set<string>();
  /** Groups this endpoint joined whose state (by transfer) is not in the log: it cannot restore them. */
  readonly awaiting = new Set<string>();

  constructor(private readonly id: string) {}

  own(m: MemberRef): boolean {
    return m.id === this.id;
  }

  onView(net: string, v: EndpointView, restored: readonly Restored[]): void {
    if (net !== this.network) {
      if (restored.length === 0) {
        // Another network (founded afresh, or joined): nothing of the one before goes on.
        this.table = new Map();
        this.groups = new Map();
      } else {
        // A restart from the logs: the groups go on, each from the log of its restorer;
        // until someone joins it, a group's members are those of the network before.
        for (const g of this.table.values()) g.carried = true;
        this.restoring.clear();
        for (const r of restored) if (v.members[r.by] !== undefined && this.own(v.members[r.by]!)) this.restoring.add(r.group);
        for (const g of [...this.groups.keys()]) if (!this.restoring.has(g)) this.groups.delete(g);
      }
      this.network = net;
    }
    const keys = new Set(v.members.map(memberKey));
    for (const [name, g] of this.table) {
      if (g.carried) continue;
      g.members = g.members.filter((m) => keys.has(memberKey(m)));
      if (g.members.length === 0) this.table.delete(name);
    }
    if (!v.members.some((m) => this.own(m))) this.groups = new Map();
    this.view = v;
    if (this.end === null || v.epoch > this.end.epoch) this.end = { epoch: v.epoch, gseq: 0 };
  }

  onBase(net: string, v: EndpointView, records: readonly GroupRecord[]): void {
    this.onView(net, v, []);
    const carried = [...this.table].filter(([, g]) => g.carried);
    this.table = new Map(records.map((g) => [g.name, { members: [...g.members], carried: false }]));
    for (const [name, g] of carried) if (!this.table.has(name)) this.table.set(name, g);
  }

  onEntry(entry: EntryRecord['entry'], pos: Position): void {
    this.end = pos;
    if (entry.kind === EntryKind.join) {
      const g = this.table.get(entry.group);
      // Joining a group that has members: its state comes by transfer (a state record).
      if (this.own(entry.sender)) {
        if (g !== undefined && g.members.length > 0 && !this.restoring.has(entry.group)) this.awaiting.add(entry.group);
        else this.awaiting.delete(entry.group);
      }
      if (g === undefined || g.carried) this.table.set(entry.group, { members: [entry.sender], carried: false });
      // One incarnation of a member at a time: a new one replaces the one before.
      else g.members = [...g.members.filter((m) => m.id !== entry.sender.id), entry.sender];
      // Our join: the group starts here, empty until a state comes — unless we
      // restore it, and it goes on from what the log held.
      if (this.own(entry.sender) && !this.restoring.delete(entry.group)) this.groups.set(entry.group, { state: null, pos, messages: [] });
    } else if (entry.kind === EntryKind.leave) {
      const g = this.table.get(entry.group);
      if (g !== undefined) {
        g.members = g.members.filter((m) => memberKey(m) !== memberKey(entry.sender));
        if (g.members.length === 0) this.table.delete(entry.group);
      }
      if (this.own(entry.sender)) this.groups.delete(entry.group);
    } else if (entry.kind === EntryKind.app) {
      for (const m of unbundle(entry.payload) ?? []) {
        this.groups.get(m.group)?.messages.push({ sender: entry.sender, data: m.data.slice(), safe: entry.safe, pos });
      }
    }
  }

  /** A state received, or a checkpoint taken, of `group` at `pos`: the messages before it are in it. */
  onState(group: string, pos: Position, data: Uint8Array): void {
    const g = this.groups.get(group);
    if (g === undefined) return;
    this.awaiting.delete(group);
    this.groups.set(group, { state: data, pos, messages: g.messages.filter((m) => comparePositions(m.pos, pos) > 0) });
  }
}

/** Read `log` (and the last `vote`) of the endpoint with id `id` (see the module comment). */
export function readRestart(log: SegmentLog, id: string, vote: Vote | null): LogRestart {
  const replay = new LogReplay(id);
  for (const r of log.read()) {
    const rec = decodeRecord(r.index, r.kind, r.payload);
    if (rec.kind === 'view') replay.onView(rec.network, rec.view, rec.restored);
    else if (rec.kind === 'base') replay.onBase(rec.network, rec.view, rec.table);
    else if (rec.kind === 'entry') replay.onEntry(rec.entry, rec.pos);
    else if (rec.kind === 'state' || rec.kind === 'checkpoint') replay.onState(rec.group, rec.pos, rec.data);
  }
  const { view: last, end, network, table } = replay;
  const groups = new Map([...replay.groups].filter(([g]) => !replay.awaiting.has(g)));
  const self = last?.members.find((m) => replay.own(m));
  if (last === null || end === null || self === undefined) return { info: null, groups: new Map() };
  // A view voted for after the last one installed, in its network (or a restart of it:
  // a founding's vote names no network yet), may have been decided (see restart.ts).
  const voted = vote !== null && vote.view.epoch > last.epoch && (vote.network === network || vote.network === '');
  const info: RestartInfo = {
    was: { id: self.id, inc: self.inc },
    last,
    vote: voted ? { view: vote.view, ballot: vote.ballot, founding: vote.network === '' } : null,
    end,
    groups: [...table].map(([name, g]) => ({ name, members: g.members, carried: g.carried })),
    restorable: [...groups.keys()],
  };
  return { info, groups };
}
