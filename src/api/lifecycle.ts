/**
 * An endpoint's life: whether it is open, stopping, closed, or stopped by a broken
 * invariant — and the three ways out: `stop` (leave every group, then the network),
 * `close` (at once) and `fail` (a bug: at once, and reported).
 *
 * Intuition: every step of the core runs under `guard`, so a throw from the core —
 * always a bug — stops the endpoint instead of leaving it half-alive with a core in an
 * unknown state; its connections close and the others remove it as crashed. Closing
 * is one sequence, whatever the cause: release the timers, the transport and the
 * metrics, then reject what waits (`ready`, pending calls) and resolve `stopped`.
 */
import type { EndpointCore } from '../core/endpoint-core.js';
import { ClosedError, CohortError, ErrorCode } from '../errors.js';
import type { LogLevel } from '../log.js';
import { deferred } from './promises.js';

/** What the life of an endpoint acts on. */
export interface LifecycleHost {
  /** The endpoint's id, for the errors' messages. */
  readonly id: string;
  /** Check the core's invariants after every step (the world's `checkInvariants`). */
  readonly checkInvariants: boolean;
  /** Option `onFatal`. */
  readonly onFatal: ((err: CohortError) => void) | undefined;
  /** The core now (it changes on a rejoin). */
  core(): EndpointCore;
  /** Release the status report's monitor, the timer, the transport and the metrics. */
  release(): void;
  /** Reject every call waiting for its entry's delivery. */
  rejectCalls(err: CohortError): void;
  /** Close every group handle with `err`. */
  closeGroups(err: CohortError): void;
  /** Leave every group (settles, never rejects, once each leave is done or failed). */
  leaveGroups(): Promise<unknown>;
  /** Leave the network: the core's leave, and its output out. */
  leaveNetwork(): void;
  /** Settles once what `release` closes asynchronously (the metrics server) is closed. */
  released(): Promise<void>;
  log(line: string, level: LogLevel, fields?: Readonly<Record<string, unknown>>): void;
}

/** The state of an endpoint's life, and its ways out (see the module's comment). */
export class Lifecycle {
  /** Set once an internal invariant broke: the endpoint is closed for good. */
  fatalError: CohortError | null = null;
  /** A graceful stop began (new calls are refused). */
  stopping = false;
  /** Closed: nothing runs any more. */
  closed = false;
  /** Resolves at the first view (`ready`, `start`); rejects when closed before it. */
  readonly started = deferred<void>();
  private readonly stopped = deferred<void>();
  private readonly host: LifecycleHost;

  /** The life of an open endpoint. */
  constructor(host: LifecycleHost) {
    this.host = host;
  }

  /** Throw unless API calls are taken: the fatal error, or `ClosedError` once stopped or stopping. */
  checkOpen(): void {
    if (this.fatalError !== null) throw this.fatalError;
    if (this.closed || this.stopping) throw new ClosedError(`endpoint ${this.host.id} is stopped`);
  }

  /**
   * Run a step of the core. A throw from it is a broken invariant (a bug): the endpoint
   * stops at once, and the error is reported: logged, passed to `onFatal`, and thrown
   * (always from an API call, which must not appear to succeed; from an event of the
   * network or a timer only without `onFatal`).
   */
  guard(step: () => void, fromApi = false): void {
    if (this.fatalError !== null) throw this.fatalError;
    try {
      step();
      this.checkInvariants();
    } catch (err) {
      const fatal = this.fail(err);
      if (fromApi || this.host.onFatal === undefined) throw fatal;
    }
  }

  /** After a step: check the core's invariants when the world asks for it. */
  checkInvariants(): void {
    if (this.host.checkInvariants) this.host.core().checkInvariants();
  }

  /** A step from the network threw `err`: stop for good, and throw unless `onFatal` takes it. */
  failFromNetwork(err: unknown): void {
    const fatal = this.fail(err);
    if (this.host.onFatal === undefined) throw fatal;
  }

  /** Stop for good after a broken invariant; returns the error every later call gets. */
  fail(err: unknown): CohortError {
    if (this.fatalError !== null) return this.fatalError;
    const what = err instanceof Error ? err.message : String(err);
    const fatal = new CohortError(ErrorCode.internal, `endpoint ${this.host.id}: internal error, endpoint stopped: ${what}`, { cause: err });
    this.fatalError = fatal;
    const stack = err instanceof Error && err.stack !== undefined ? { stack: err.stack } : undefined;
    this.host.log(`fatal: ${fatal.message}`, 'error', stack);
    this.close(fatal);
    this.host.closeGroups(fatal);
    this.started.reject(fatal);
    this.host.onFatal?.(fatal);
    return fatal;
  }

  /** Close at once; what waits is rejected with `reason` (else `ClosedError`). */
  close(reason?: CohortError): void {
    if (this.closed) return;
    this.closed = true;
    this.host.release();
    const err = reason ?? new ClosedError(`endpoint ${this.host.id} is stopped`);
    // Never in a view: `ready` (and `start`) must not wait for ever.
    this.started.reject(err);
    this.host.rejectCalls(err);
    this.stopped.resolve();
  }

  /** Leave every group, then the network; settles once closed and released. */
  async stopGracefully(): Promise<void> {
    if (this.closed) return;
    if (!this.stopping) {
      this.stopping = true;
      await this.host.leaveGroups();
      if (!this.closed) this.guard(() => this.host.leaveNetwork(), true);
    }
    await this.stopped.promise;
    await this.host.released();
  }
}
