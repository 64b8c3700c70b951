/**
 * A durable endpoint's side (option `persist`): its store, fed from the core's output
 * (`DurableStore`), and what the store asks of the endpoint — tell the core how far the
 * stream is on disk, close the endpoint when the disk fails, begin checkpoint rounds.
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
import type { DeliveryQueue } from './delivery-queue.js';
import type { Group } from './group.js';
import type { Lifecycle } from './lifecycle.js';
import type { LogCheckpoints } from './log-checkpoint.js';

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

  constructor(
    log: SegmentLog,
    checkpointBytes: number,
    private readonly host: DurableEndpointHost,
  ) {
    this.store = new DurableStore(log, { durable: (pos) => this.durable(pos), failed: (err) => this.failed(err) }, { checkpointBytes });
    const store = this.store;
    this.checkpoints = {
      add: (group, pos, data) => store.addCheckpoint(group, pos, data),
      skip: (group, pos) => store.skipCheckpoint(group, pos),
      fail: (pos) => store.failCheckpoint(pos),
    };
    this.logRecovery(log);
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
  private logRecovery(log: SegmentLog): void {
    const r = log.recovery;
    const say = (line: string, level: LogLevel): void => this.host.log(`data directory: ${line}`, level);
    if (r.tornBytes > 0) say(`cut a torn last write of ${r.tornBytes} bytes (${r.tornReason ?? 'incomplete'}) off the log`, 'warn');
    for (const f of r.removed) say(`removed ${f}, a segment whose header was never wholly written`, 'warn');
    if (r.records > 0) say(`${r.records} records of an earlier run; this endpoint joins as a new member (its groups' state comes by transfer) and appends after them`, 'info');
  }
}
