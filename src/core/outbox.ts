/**
 * The core's output of one turn, in order: messages to send and events for the
 * endpoint (application events, logs). Every part writes here rather than returning
 * lists, so the order of output is the order in which the protocol decided it, and
 * nothing is allocated per message beyond the entry itself. `EndpointCore.takeOutput`
 * drains it at the end of each turn.
 */
import type { Ballot, DataMsg, EndpointView, Failure, LeaveCause, MemberRef, Message, Position, Restored } from './types.js';

/** A group view as reported to the application. */
export interface GroupView {
  /** The network the view belongs to (see `EndpointCore.network`). */
  readonly network: string;
  readonly id: number;
  readonly members: readonly MemberRef[];
  readonly joined: readonly MemberRef[];
  readonly left: readonly MemberRef[];
  readonly failed: readonly MemberRef[];
  /** Why each member of `failed` was removed, in the same order (agreed: the same at every member). */
  readonly failures: readonly Failure[];
  /** Why each member of `left` left, in the same order (agreed: its leave entry says it). */
  readonly leaveCauses: readonly LeaveCause[];
}

/** What the core asks its caller to deliver or do, in order. */
export type CoreEvent =
  | {
      readonly type: 'installed';
      readonly view: EndpointView;
      readonly joined: readonly MemberRef[];
      readonly left: readonly MemberRef[];
      readonly failed: readonly MemberRef[];
      readonly failures: readonly Failure[];
      /** A restart from the logs: the groups its members restore, and by whom (a rank in `view`). */
      readonly restored: readonly Restored[];
    }
  | { readonly type: 'view'; readonly group: string; readonly view: GroupView }
  /** The state of `group` this member joined for, taken at `pos`. */
  | { readonly type: 'state'; readonly group: string; readonly pos: Position; readonly data: Uint8Array }
  | {
      readonly type: 'message';
      readonly group: string;
      readonly sender: MemberRef;
      readonly data: Uint8Array;
      /** Set on the sender's own messages: the id `multicast()` returned. */
      readonly localId: number | null;
      readonly safe: boolean;
      /** Durable groups, own messages only: the members of the group's view it is delivered in. */
      readonly members: readonly MemberRef[] | null;
    }
  /** Bytes of `group`'s state received so far (a contiguous prefix), of `total`: not ordered. */
  | { readonly type: 'state-progress'; readonly group: string; readonly received: number; readonly total: number }
  /** Take the checkpoint of `group` now, in order, and hand it to `provideState`. */
  | { readonly type: 'state-request'; readonly group: string; readonly joiner: MemberRef; readonly pos: Position }
  /**
   * Our join of `group` can get no state: the last member that had it left unable to
   * provide it (its checkpoint failed). Delivered in order, instead of the first view.
   */
  | { readonly type: 'state-lost'; readonly group: string }
  /**
   * Durable groups, after a restart from the logs: this member restores `group` — its
   * join is delivered (its view just before), and the application gets the group's state
   * from the log now, before anything else of the group.
   */
  | { readonly type: 'restore'; readonly group: string }
  /**
   * Durable groups only: this acceptor accepted `view` (the next view after epoch
   * `epoch`) with `ballot`. It must be on disk before anything output with it is sent:
   * a restart from the logs counts on every vote that may have decided a view.
   */
  | { readonly type: 'vote'; readonly epoch: number; readonly ballot: Ballot; readonly view: EndpointView }
  /**
   * The network refused this endpoint for longer than two suspicion timeouts: a live
   * member at another address holds its id. It stops; it never joins.
   */
  | { readonly type: 'duplicate'; readonly live: MemberRef }
  /** Own leave of `group` is delivered: the handle is done. */
  | { readonly type: 'group-left'; readonly group: string; readonly localId: number }
  /** A view change cannot complete: this side has no majority (G9). */
  | { readonly type: 'blocked' }
  | { readonly type: 'excluded' }
  /** This endpoint left the network gracefully. */
  | { readonly type: 'stopped' }
  /**
   * Durable groups only: the entry delivered at `pos` (every entry, of every group,
   * before its own events), to write to disk; `localIds` when it is this member's own.
   */
  | { readonly type: 'persist'; readonly pos: Position; readonly entry: DataMsg; readonly localIds: readonly number[] | null }
  /** Durable groups only: `member` (this one too) has everything up to `pos` on disk. */
  | { readonly type: 'persisted'; readonly member: MemberRef; readonly pos: Position }
  /** Diagnostics (suspicions, proposals), for logs and traces, each with its level. */
  | { readonly type: 'log'; readonly level: CoreLogLevel; readonly text: string };

/**
 * How much a diagnostic matters: `error` the application's code failed, `warn` something
 * is wrong with a peer or with us (suspicions, exclusions, refusals), `info` the
 * protocol's milestones (views, proposals), `debug` its chatter.
 */
export type CoreLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Everything to send and deliver since the last drain, in order. */
export interface CoreOutput {
  readonly send: { to: string; msg: Message }[];
  readonly events: CoreEvent[];
}

/** The ordered output of the core's turns (see the module comment). */
export class Outbox {
  private out: CoreOutput = { send: [], events: [] };

  /** Send `msg` to the endpoint at address `to`. */
  send(to: string, msg: Message): void {
    this.out.send.push({ to, msg });
  }

  /** Hand an event to the endpoint, after everything output before it. */
  emit(e: CoreEvent): void {
    this.out.events.push(e);
  }

  /** A diagnostic line for the endpoint's log. */
  log(text: string, level: CoreLogLevel): void {
    this.out.events.push({ type: 'log', level, text });
  }

  /** Everything output since the last call, in order; the outbox starts empty again. */
  take(): CoreOutput {
    const o = this.out;
    this.out = { send: [], events: [] };
    return o;
  }
}
