/**
 * A durable endpoint's side (option `persist`): its store, fed from the core's output
 * (`DurableStore`), and what the store asks of the endpoint — tell the core how far the
 * stream is on disk, close the endpoint when the disk fails, begin checkpoint rounds.
 * And the restart from the logs: what the log says at start (`readRestart`, also read
 * again for the next incarnation after an exclusion), the acceptor's votes kept on disk
 * before they are answered, and a restored group's state handed to the application.
 *
 * Intuition: the store knows the log, the endpoint knows the core and the application;
 * this is the seam between them, so that `endpoint.ts` only holds one of these, or none.
 */
import type { EndpointCore } from '../core/endpoint-core.js';
import type { Position } from '../core/types.js';
import { CohortError, ErrorCode } from '../errors.js';
import type { LogLevel } from '../log.js';
import type { Clock } from '../runtime.js';
import { DurableStore } from '../persist/store.js';
import type { SegmentLog } from '../persist/segment-log.js';
import { readRestart } from '../persist/restart-log.js';
import type { LogRestart, RestoredGroup } from '../persist/restart-log.js';
import { MemoryVoteFile } from '../persist/votes.js';
import type { Vote, VoteFile } from '../persist/votes.js';
import type { PersistOptions } from './options.js';
import { checkPersistOptions } from './option-checks.js';
import type { DeliveryQueue } from './delivery-queue.js';
import type { Group } from './group.js';
import type { Lifecycle } from './lifecycle.js';
import type { LogCheckpoints } from './log-checkpoint.js';

/** Option `persist` opened: the log, the votes, and what they say (null without `persist`). */
export function openDurable(opts: PersistOptions | undefined, id: string): { readonly persist: DurablePersist; readonly restart: LogRestart } | null {
  const log = opts?.log;
  if (log === undefined) return null;
  const votes = opts?.votes ?? new MemoryVoteFile();
  // What the log says of the network this endpoint was in: it restarts that network with
  // the others (when none runs), and restores its groups' state from it.
  return { persist: { log, votes, checkpointBytes: checkPersistOptions(opts).checkpointBytes }, restart: readRestart(log, id, votes.read()) };
}

/** What the durable side is made of. */
interface DurablePersist {
  readonly log: SegmentLog;
  readonly votes: VoteFile;
  readonly checkpointBytes: number;
}

/** What the durable side needs of its endpoint. */
export interface DurableEndpointHost {
  readonly id: string;
  readonly clock: Clock;
  readonly life: Pick<Lifecycle, 'closed' | 'guard'>;
  readonly groups: ReadonlyMap<string, Group>;
  readonly delivery: DeliveryQueue;
  /** The core now (it changes on a rejoin). */
  core(): EndpointCore;
  drive(): void;
  log(line: string, level: LogLevel): void;
  /** Close the endpoint with `err`. */
  close(err: CohortError): void;
}

/** The durable side of one endpoint (see the module comment). */
export class DurableEndpoint {
  readonly store: DurableStore;
  /** Where the delivery queue's checkpoint jobs for the log go. */
  readonly checkpoints: LogCheckpoints;

  private readonly votes: VoteFile;
  /** What the log holds of each group this endpoint was in, until restored (after a restart from the logs). */
  private restored: Map<string, RestoredGroup>;
  private readonly log: SegmentLog;

  constructor(
    persist: DurablePersist,
    restart: LogRestart,
    private readonly host: DurableEndpointHost,
  ) {
    const { log, checkpointBytes } = persist;
    this.log = log;
    this.votes = persist.votes;
    this.restored = new Map(restart.groups);
    this.store = new DurableStore(log, { durable: (pos) => this.durable(pos), failed: (err) => this.failed(err) }, { checkpointBytes });
    const store = this.store;
    this.checkpoints = {
      add: (group, pos, data) => store.addCheckpoint(group, pos, data),
      skip: (group, pos) => store.skipCheckpoint(group, pos),
      fail: (pos) => store.failCheckpoint(pos),
    };
    this.logRecovery(log, restart);
  }

  /**
   * What the log says now, for the next incarnation of an endpoint excluded from its
   * view: it restarts the network from the logs with the others if that network is
   * gone for good (a majority of its view restarted), and joins it if not.
   */
  reread(id: string): LogRestart {
    const restart = readRestart(this.log, id, this.votes.read());
    this.restored = new Map(restart.groups);
    return restart;
  }

  /**
   * `p`, then the log closed: a stop is done once the last writes are flushed and the
   * data directory is free again (an aborted stop's too: it closed the endpoint at once).
   */
  closeAfter(p: Promise<void>): Promise<void> {
    return p.then(
      () => this.store.close(),
      async (err: unknown) => {
        await this.store.close().catch(() => undefined);
        throw err;
      },
    );
  }

  /** Keep the acceptor's vote on disk, before its answer leaves; false when the disk failed (the endpoint closes). */
  vote(vote: Vote): boolean {
    if (this.store.failed) return false;
    try {
      this.votes.write(vote);
      return true;
    } catch (err) {
      this.failed(err);
      return false;
    }
  }

  /**
   * After a restart from the logs, this endpoint restores `group` (its join is
   * delivered, its first view queued): the application gets the state the log holds —
   * the group's last state or checkpoint, then its messages after it — before anything
   * else of the group.
   */
  restore(group: string): void {
    const h = this.host;
    const g = this.restored.get(group);
    this.restored.delete(group);
    if (g === undefined) {
      h.log(`restart from the logs: the log holds no state of group ${group}, which this endpoint was to restore`, 'error');
      return;
    }
    const handle = h.groups.get(group);
    if (g.state !== null) h.delivery.queueEvent(group, handle, { type: 'state', data: g.state }, null);
    for (const m of g.messages) h.delivery.onMessage(group, m.sender, m.data, m.safe, null, true);
    const from = g.state === null ? 'its start' : `a state of ${g.state.length} bytes`;
    h.log(`restored group ${group} from the log: ${from}, then ${g.messages.length} messages`, 'info');
  }

  /** How far the stream is on disk: to the core, which tells the view. */
  private durable(pos: Position): void {
    const h = this.host;
    if (h.life.closed) return;
    h.life.guard(() => {
      h.core().persisted(h.clock.now(), pos);
      h.drive();
    });
  }

  /** The disk failed: what is on it is no longer known, so the endpoint stops. */
  private failed(err: unknown): void {
    const h = this.host;
    if (h.life.closed) return;
    const why = err instanceof Error ? err.message : String(err);
    const e = new CohortError(ErrorCode.disk, `the disk of durable endpoint ${h.id} failed (${why}): what is on it is no longer known, so the endpoint stops`, { cause: err });
    h.log(e.message, 'error');
    h.close(e);
  }

  /**
   * A checkpoint round of the durable log, at the position the stream reached: only as
   * a member, and only when no group's state is awaited (its events wait in the core,
   * so the application's state is not yet that of the position). Each group's
   * checkpoint is taken in its turn, after every event up to the position.
   */
  beginCheckpoint(): void {
    const core = this.host.core();
    if (core.phase !== 'member' || core.stateAwaited) return;
    const groups = [...this.host.groups.values()].filter((g) => !g.left && g.failed === null).map((g) => g.name);
    const table = core.groupTable;
    const pos = this.store.beginRound(core.network, core.currentView, table.snapshot(), table.viewIdFloor, groups);
    for (const group of groups) this.host.delivery.push({ kind: 'persist-checkpoint', group, pos });
  }

  /** Say what opening the data directory found: a torn write cut off, an earlier run's records. */
  private logRecovery(log: SegmentLog, restart: LogRestart): void {
    const r = log.recovery;
    const say = (line: string, level: LogLevel): void => this.host.log(`data directory: ${line}`, level);
    if (r.tornBytes > 0) say(`cut a torn last write of ${r.tornBytes} bytes (${r.tornReason ?? 'incomplete'}) off the log`, 'warn');
    for (const f of r.removed) say(`removed ${f}, a segment whose header was never wholly written`, 'warn');
    const i = restart.info;
    if (i !== null) {
      say(`${r.records} records of an earlier run, in the view of epoch ${i.last.epoch}; joins the network if one runs, else restarts it from the logs with a majority of that view`, 'info');
    } else if (r.records > 0) {
      say(`${r.records} records of an earlier run, not a member at their end; this endpoint joins as a new member (its groups' state comes by transfer) and appends after them`, 'info');
    }
  }
}
