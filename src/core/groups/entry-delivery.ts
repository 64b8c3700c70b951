/**
 * Delivering one ordered entry: application messages to the application, and group
 * joins, leaves and state confirmations to the replicated group table, whose changes
 * become group views — at the same position at every member.
 *
 * Intuition: groups live inside the endpoint's one total order, so every member sees a
 * join or leave at the same place in the stream, and every decision here (who is in a
 * group, who owes a joiner its state, which entries an access policy skips) is made
 * from the same inputs in the same order everywhere. Only what this member's own
 * application sees differs: its own messages always come back (their promises settle),
 * and a joiner's first view waits in the stream for its state (`AppStream`).
 */
import { assert, assertNever } from '../../errors.js';
import type { GroupAccess } from '../access.js';
import type { AppStream } from '../app-stream.js';
import { unbundle } from '../bundle.js';
import { RestoreWait } from './restore-wait.js';
import type { CoreContext } from '../context.js';
import type { Epoch } from '../epoch.js';
import type { GroupView } from '../outbox.js';
import type { StateJoiner } from '../transfer/joiner.js';
import { decodePos } from '../transfer/joiner.js';
import type { StateProvider } from '../transfer/provider.js';
import { EntryKind, memberKey, sameMember } from '../types.js';
import type { DataMsg, Failure, LeaveCause, MemberRef, Position } from '../types.js';
import { GroupTable } from './group-table.js';
import type { GroupChange } from './group-table.js';

/** The payload of a leave entry whose member leaves because its checkpoint failed. */
const LEAVE_CANNOT_PROVIDE = 1;
/** The same, after the member's `onEvent` failed (it provides no state either). */
const LEAVE_HANDLER_FAILED = 2;

/** The payload of a leave entry that says why (see `LeaveCause`). */
export function leavePayload(cause: LeaveCause): Uint8Array {
  return cause === 'leave' ? new Uint8Array(0) : new Uint8Array([cause === 'checkpoint-failed' ? LEAVE_CANNOT_PROVIDE : LEAVE_HANDLER_FAILED]);
}

function leaveCauseOf(payload: Uint8Array): LeaveCause {
  const code = payload.length === 1 ? payload[0] : undefined;
  return code === LEAVE_CANNOT_PROVIDE ? 'checkpoint-failed' : code === LEAVE_HANDLER_FAILED ? 'handler-failed' : 'leave';
}

/** A failure whose reason was not recorded (not expected: every proposal carries them). */
function unknownFailure(m: MemberRef): Failure {
  return { member: m, by: m, cause: 'unresponsive', silentMs: 0, verified: false };
}

/** What delivery reads of the composition, when a group changes. */
export interface DeliveryHost {
  /** The current epoch (its failures name why members were removed). */
  epoch(): Epoch;
  /** The network's identity (see `EndpointCore.network`). */
  network(): string;
  /** The time of the current input. */
  now(): number;
}

/** The parts delivery hands things to. */
export interface DeliveryParts {
  readonly app: AppStream;
  readonly access: GroupAccess;
  readonly joiner: StateJoiner;
  readonly provider: StateProvider;
}

/** The group table and the delivery of entries into it (see the module comment). */
export class EntryDelivery {
  private tableValue = new GroupTable();
  /** After a restart from the logs: the groups awaiting their restorer. */
  readonly restore = new RestoreWait();
  /** Groups this member leaves because it cannot provide their state (see `EndpointCore.abandonProvision`). */
  private readonly abandoned = new Set<string>();
  private readonly app: AppStream;
  private readonly access: GroupAccess;
  private readonly joiner: StateJoiner;
  private readonly provider: StateProvider;

  constructor(
    private readonly ctx: CoreContext,
    parts: DeliveryParts,
    private readonly host: DeliveryHost,
  ) {
    this.app = parts.app;
    this.access = parts.access;
    this.joiner = parts.joiner;
    this.provider = parts.provider;
  }

  /** The replicated group table. */
  get table(): GroupTable {
    return this.tableValue;
  }

  /** A joiner takes the table its welcome carried. */
  adopt(table: GroupTable): void {
    this.tableValue = table;
  }

  /** Leave `group` although this member owes a state there. Returns false if it does already. */
  abandon(group: string): boolean {
    if (this.abandoned.has(group)) return false;
    this.abandoned.add(group);
    return true;
  }

  /** Whether this member leaves `group` unable to provide its state. */
  abandons(group: string): boolean {
    return this.abandoned.has(group);
  }

  /** Deliver `d`, ordered at `pos`; `localIds` are this member's ids when the entry is its own. */
  deliver(d: DataMsg, pos: Position, localIds: readonly number[] | null): void {
    if (d.kind === EntryKind.join && !this.access.allowed(d.group, d.sender.id)) {
      // The same decision at every member, at the same position: the entry is skipped.
      this.app.emit({ type: 'log', level: 'warn', text: `skipped a join of ${memberKey(d.sender)} to ${d.group}: not allowed in it` });
      // (Never our own: the endpoint checks the same policy before it submits anything.)
      return;
    }
    switch (d.kind) {
      case EntryKind.app:
        return this.deliverApp(d, localIds);
      case EntryKind.join:
        return this.deliverJoin(d, pos, localIds !== null);
      case EntryKind.leave:
        return this.deliverLeave(d, pos, localIds);
      case EntryKind.stateDone:
        return this.deliverStateDone(d, localIds !== null);
      default:
        assertNever(d.kind);
    }
  }

  /** A bundle of application messages: each to the application, if this member is in its group (own ones always). */
  private deliverApp(d: DataMsg, localIds: readonly number[] | null): void {
    const messages = unbundle(d.payload);
    assert(localIds === null || localIds.length === messages?.length, `own bundle ${d.seq} does not hold its ${localIds?.length} messages`);
    if (messages === null) {
      // Never from a correct sender; the same bytes everywhere make the same decision.
      this.app.emit({ type: 'log', level: 'warn', text: `skipped a malformed bundle of ${memberKey(d.sender)}` });
      return;
    }
    const self = this.ctx.self;
    let allowed: string | null = null;
    for (let i = 0; i < messages.length; i++) {
      const { group, data } = messages[i]!;
      const localId = localIds === null ? null : localIds[i]!;
      // Own messages always: the endpoint settles their promises, in the group or not.
      if (localId === null && !this.tableValue.has(group, self)) continue;
      if (group !== allowed) {
        if (!this.access.allowed(group, d.sender.id)) {
          // Never our own: the endpoint checks the same policy before it submits.
          this.app.emit({ type: 'log', level: 'warn', text: `skipped a message of ${memberKey(d.sender)} to ${group}: not allowed in it` });
          continue;
        }
        allowed = group;
      }
      const members = localId !== null && this.ctx.persist ? [...this.tableValue.members(group)] : null;
      this.app.emit({ type: 'message', group, sender: d.sender, data, localId, safe: d.safe, members });
    }
  }

  /** A group join, at `pos`: a new group view (and a state to transfer), at every member alike. */
  private deliverJoin(d: DataMsg, pos: Position, own: boolean): void {
    const change = this.tableValue.join(d.group, d.sender, pos);
    const restores = this.restore.onJoin(d.group, d.sender);
    if (change !== null) this.onGroupChange(change);
    else if (own) this.app.emit({ type: 'log', level: 'info', text: `already a member of ${d.group}` });
    // The restorer's application gets the group's state from its log, after the view.
    if (restores && own) this.app.emit({ type: 'restore', group: d.group });
  }

  /** A group leave, at `pos`, with its cause; our own ends the handle. */
  private deliverLeave(d: DataMsg, pos: Position, localIds: readonly number[] | null): void {
    const cause = leaveCauseOf(d.payload);
    const change = this.tableValue.leave(d.group, d.sender, pos, cause === 'checkpoint-failed');
    if (localIds !== null) {
      this.abandoned.delete(d.group);
      this.dropMarker(d.group);
      this.app.emit({ type: 'group-left', group: d.group, localId: localIds[0] ?? 0 });
    }
    if (change !== null) this.onGroupChange(change, cause);
  }

  /** A joiner confirms it holds the state of its join: the transfer is over, at every member alike. */
  private deliverStateDone(d: DataMsg, own: boolean): void {
    const done = decodePos(d.payload);
    if (done === null) return;
    this.tableValue.stateDone(d.group, d.sender, done);
    if (own) this.joiner.confirm(d.group, done);
    this.provider.onStateDone(d.group, d.sender, done);
  }

  /** Report a group view change to this endpoint's application, and start transfers. */
  onGroupChange(c: GroupChange, leaveCause: LeaveCause = 'leave'): void {
    const self = this.ctx.self;
    if (!c.members.some((m) => sameMember(m, self))) return;
    const epoch = this.host.epoch();
    // Members leave groups as failed only when the endpoint view removes them: the
    // reasons are those of the view being installed.
    const failures = c.failed.map((f) => epoch.failures.find((x) => sameMember(x.member, f)) ?? unknownFailure(f));
    const view: GroupView = { network: this.host.network(), id: c.viewId, members: c.members, joined: c.joined, left: c.left, failed: c.failed, failures, leaveCauses: c.left.map(() => leaveCause) };
    // A transfer to us: our own join, or a provider that departed while we still
    // waited — in the order's eyes, which is until our stateDone is delivered: a state
    // that arrived before that is dropped and the new provider's awaited, so that every
    // member decides the same (the table cannot know what arrived where).
    const ownJoin = c.joined.some((m) => sameMember(m, self));
    const mine = c.transfers.find((t) => sameMember(t.member, self) && (ownJoin || this.joiner.waitsFor(c.group)));
    if (mine !== undefined) {
      // Our first view of the group waits for the state taken at this very position.
      this.dropMarker(c.group);
      this.app.hold(c.group, mine.pos, view);
      this.joiner.begin(this.host.now(), c.group, mine.pos, epoch.position());
    } else if (c.fresh.some((m) => sameMember(m, self)) && this.app.markerOf(c.group) !== undefined) {
      // Nobody is left who has the state: start from this view, empty.
      this.dropMarker(c.group);
      this.app.emit({ type: 'view', group: c.group, view });
    } else if (c.lost.some((m) => sameMember(m, self)) && this.app.markerOf(c.group) !== undefined) {
      // The state exists but nobody can provide it: no first view, the join fails.
      this.dropMarker(c.group);
      this.joiner.forget(c.group);
      this.app.emit({ type: 'state-lost', group: c.group });
    } else {
      this.app.emit({ type: 'view', group: c.group, view });
    }
    for (const t of c.transfers) {
      if (t.provider !== null && sameMember(t.provider, self) && !sameMember(t.member, self)) {
        this.app.emit({ type: 'state-request', group: c.group, joiner: t.member, pos: t.pos });
      }
    }
    this.app.release();
  }

  /** Forget a state no longer awaited: its marker, held events, and the transfer. */
  private dropMarker(group: string): void {
    if (this.app.dropMarker(group)) this.joiner.forget(group);
  }
}
