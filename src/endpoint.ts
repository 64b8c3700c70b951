/**
 * The public API: an `Endpoint` (one per process) and its `Group` handles.
 *
 * The endpoint runs the loop around the deterministic core: an input (a message from
 * the transport, a timer, an API call) goes into the core; the core's output goes out
 * (messages to the transport, events to the groups' handlers). Time, timers,
 * randomness and the transport are injected, so the same code runs over TCP and in
 * the simulator.
 *
 * Events reach the application one at a time, in the endpoint's single delivery order
 * across all its groups: a handler that returns a promise holds the next event (of
 * any group) until it settles. That is what makes the order consistent across
 * overlapping groups (G2) observable by the application, and it is the backpressure:
 * a slow handler slows delivery, never the protocol (other members go on).
 *
 * This file holds the endpoint's lifecycle and its loop; the parts it composes live
 * beside it: `api/view.ts` (what the application sees), `api/options.ts` and
 * `api/option-checks.ts` (what it is started with), `api/group.ts` (the handles),
 * `api/delivery-queue.ts` and `api/pending-calls.ts` (the order of delivery and the
 * calls waiting on it), `api/ticker.ts` (the core's timer), `api/start.ts` and
 * `api/diagnosis.ts` (a real process's world, and what a start or join waits for),
 * and `ops/` (what it reports to operators: status, metrics, logs of retransmissions).
 */
import type { CoreConfig } from './core/config.js';
import type { GroupAccess } from './core/access.js';
import { CoreCounters } from './core/counters.js';
import { EndpointCore, leavePayload } from './core/endpoint-core.js';
import type { CoreEvent } from './core/endpoint-core.js';
import type { EndpointView, LeaveCause, MemberRef, Message, StatusReqMsg } from './core/types.js';
import { EntryKind, memberKey } from './core/types.js';
import { ClosedError, CohortError, ErrorCode, InputError, OptionError, assertNever } from './errors.js';
import { Fill } from './fill.js';
import { Logger } from './log.js';
import type { LoggerLike, LogLevel } from './log.js';
import type { Clock } from './runtime.js';
import { DeliveryQueue } from './api/delivery-queue.js';
import type { DeliveryHost } from './api/delivery-queue.js';
import { joinDiagnosis, startDiagnosis } from './api/diagnosis.js';
import { Group } from './api/group.js';
import type { LeaveOptions } from './api/group.js';
import { accessFrom, checkCanJoin, checkJoinOptions, checkOpenOptions, checkSignal } from './api/option-checks.js';
import type { QueueBounds } from './api/option-checks.js';
import type { EndpointOptions, EndpointWorld, JoinOptions } from './api/options.js';
import { deferred, settleWithin } from './api/promises.js';
import { prepareStart, waitStarted } from './api/start.js';
import { Ticker } from './api/ticker.js';
import type { TickerHost } from './api/ticker.js';
import { describeFailure, eventBytes, toMemberFailure } from './api/view.js';
import type { GroupEvent } from './api/view.js';
import { EndpointMetrics, newEndpointCounters, newGroupCounters, serveMetrics } from './ops/endpoint-metrics.js';
import type { EndpointCounters, MetricsServer } from './ops/endpoint-metrics.js';
import { RetransmitLog, debugEnabled } from './ops/retransmissions.js';
import { StatusReport, endpointSnapshot } from './ops/status-report.js';
import type { ReportInput } from './ops/status-report.js';
import { encodeStatus } from './ops/status.js';
import type { StatusDocument } from './ops/status.js';

// The old import paths of what moved out of this file (the simulator, the tools and
// the tests import them from here).
export { sha256hex } from './api/digest.js';
export { Group } from './api/group.js';
export type { LeaveOptions, MulticastOptions } from './api/group.js';
export type { EndpointOptions, EndpointWorld, JoinOptions } from './api/options.js';
export { describeFailure, viewReason } from './api/view.js';
export type { GroupEvent, GroupHandlers, MemberFailure, StateProgress, View } from './api/view.js';

/** Addresses remembered while starting (for `start`'s diagnosis): a bound, not a need. */
const HEARD_FROM_MAX = 4096;

/**
 * A process's membership in the network, and the factory of its group handles.
 *
 * @example
 * ```ts
 * const ep = await Endpoint.start({ id: 'ctl-1', listen: '127.0.0.1:7001', seeds: ['127.0.0.1:7002'] });
 * const sector = await ep.join('atc/sector-xyz', { onEvent: (e) => apply(e), checkpoint: () => encode(state) });
 * await sector.multicast(new TextEncoder().encode('hello'));
 * await ep.stop();
 * ```
 */
export class Endpoint {
  /** This member's name, as given in `EndpointOptions.id`. */
  readonly id: string;
  private readonly world: EndpointWorld;
  private readonly cfg: CoreConfig;
  private readonly access: GroupAccess;
  private readonly seeds: readonly string[];
  /** Join every group again after an exclusion (option `rejoin`). */
  private readonly rejoin: boolean;
  private readonly onLog: ((line: string, level: LogLevel) => void) | undefined;
  private readonly onFatal: ((err: CohortError) => void) | undefined;
  /** Set once an internal invariant broke: the endpoint is closed for good. */
  private fatalError: CohortError | null = null;
  private readonly logger: LoggerLike | undefined;
  /** The core's counters, kept across incarnations. */
  private readonly coreCounters = new CoreCounters();
  /** @internal The endpoint's own counters (per group, view changes). */
  readonly counters: EndpointCounters = newEndpointCounters();
  private readonly metrics: EndpointMetrics | null;
  private metricsServer: MetricsServer | null = null;
  private metricsServerClosed: Promise<void> = Promise.resolve();
  private readonly retransmits = new RetransmitLog();
  private core: EndpointCore;
  private readonly groups = new Map<string, Group>();
  /** Bounds of the groups' delivery queues and of pending multicasts. */
  private readonly bounds: QueueBounds;
  /** The delivery order, and the calls waiting on it. */
  private readonly delivery: DeliveryQueue;
  /** How many `drive` calls are running (they nest: a checkpoint given at once drives). */
  private driving = 0;
  private flushQueued = false;
  private readonly flushSends = (): void => {
    this.flushQueued = false;
    if (this.closed) return;
    this.guard(() => {
      this.core.flush(this.world.clock.now());
      this.drive();
    });
  };
  /** The timer that ticks the core. */
  private readonly ticker: Ticker;
  private started = deferred<void>();
  /** Until the first view: the addresses any message came from (what `start` waits on). */
  private heardFrom: Set<string> | null = new Set();
  private stoppedD = deferred<void>();
  private stopping = false;
  private closed = false;
  private incarnations = 0;
  /** The status document's histories, samples and event-loop monitor. */
  private readonly report: StatusReport;

  /**
   * @internal When the protocol delivered the event being handed to the application
   * (clock ms) — earlier than now when a slow handler held it in the queue. The
   * simulator's recorders time histories with it: a network's life is the protocol's.
   */
  get deliveredAt(): number {
    return this.delivery.eventAt;
  }

  private constructor(opts: EndpointOptions, world: EndpointWorld, cfg: CoreConfig, bounds: QueueBounds) {
    this.id = opts.id;
    this.world = world;
    this.cfg = cfg;
    this.bounds = bounds;
    this.ticker = new Ticker(world.clock, this.tickerHost());
    this.delivery = new DeliveryQueue(this.deliveryHost(opts.onHandlerError === 'exit'), bounds.pendingMulticasts, bounds.pendingBytes);
    this.access = accessFrom(opts);
    this.seeds = [...(opts.seeds ?? [])];
    this.rejoin = opts.rejoin ?? true;
    this.onLog = opts.onLog;
    this.onFatal = opts.onFatal;
    this.logger = opts.logger ?? (opts.logLevel === undefined ? undefined : new Logger({ level: opts.logLevel, member: opts.id }));
    const inc = opts.incarnation ?? this.drawIncarnation();
    this.core = this.newCore(inc);
    this.metrics =
      opts.metrics === undefined || opts.metrics === false
        ? null
        : new EndpointMetrics({ member: this.id, core: this.coreCounters, endpoint: this.counters, snapshot: () => endpointSnapshot(this.reportInput(), this.address) });
    this.report = new StatusReport(this.counters, world.clock.now());
  }

  /** What the ticker does: tick the core; then, at level debug, log retransmissions. */
  private tickerHost(): TickerHost {
    return {
      nextWakeAt: () => this.core.nextWakeAt(),
      isClosed: () => this.closed,
      tick: () =>
        this.guard(() => {
          this.core.tick(this.world.clock.now());
          this.drive();
        }),
      afterTick: () => {
        // Only with a logger that will write it (pino's isLevelEnabled, or a Logger's enabled).
        if (this.logger === undefined || !debugEnabled(this.logger)) return;
        const r = this.retransmits.report(this.world.clock.now(), this.coreCounters);
        if (r !== null) this.log(r.line, 'debug', r.fields);
      },
    };
  }

  /** What the delivery queue may do to this endpoint. */
  private deliveryHost(exitOnHandlerError: boolean): DeliveryHost {
    const now = (): number => this.world.clock.now();
    return {
      groups: this.groups,
      counters: this.counters,
      exitOnHandlerError,
      isClosed: () => this.closed,
      drive: () => this.drive(),
      took: (g, event) => this.took(g, event),
      canTellAppQueue: () => !this.closed && this.core.phase === 'member',
      tellAppQueue: (q) => this.core.setAppQueue(now(), q),
      provideState: (group, joiner, pos, data) =>
        this.guard(() => {
          this.core.provideState(now(), group, joiner, pos, data);
          this.drive();
        }),
      abandonProvision: (group) =>
        this.guard(() => {
          this.core.abandonProvision(now(), group);
          this.drive();
        }),
      log: (line, level, fields) => this.log(line, level, fields),
    };
  }

  /**
   * Start an endpoint and wait until it is a member of a network view (it founds one
   * when it has no seeds, or when started together with its seeds). Without `world`
   * it listens on TCP at `listen`.
   *
   * @throws OptionError when an option is missing, unknown or out of range (the
   *   message names it), or when listening beyond loopback without `secret`, `tls`
   *   or `insecure` (`ERR_INSECURE`).
   * @throws InputError when `id` is empty, too long or holds control characters.
   * @throws CohortError when it is not in a view within `startTimeoutMs`, or `signal`
   *   aborts it: everything it opened is closed first, and the code says why —
   *   `ERR_REFUSED` (a seed refused the handshake: another secret, an untrusted
   *   certificate, another network name), `ERR_UNREACHABLE` (no seed answered),
   *   `ERR_NO_QUORUM` (seeds answer, but not every seed is starting, so no network can
   *   be founded, or the network they are in cannot take this endpoint in), else
   *   `ERR_TIMEOUT`; `ERR_ABORTED` when aborted. The message names each seed's state.
   */
  static async start(opts: EndpointOptions): Promise<Endpoint> {
    const plan = await prepareStart(opts);
    const { options, metricsAt } = plan;
    let ep: Endpoint;
    try {
      ep = Endpoint.open(metricsAt === null ? options : { ...options, metrics: true });
    } catch (err) {
      // A bad option: the listener opened above must not keep the process running.
      if (plan.ownsTransport) await options.world!.transport.close();
      throw err;
    }
    if (plan.ownsTransport) ep.monitorEventLoop();
    if (metricsAt !== null) {
      // Serving starts before the endpoint is in a view, so a joiner that waits can be watched.
      try {
        ep.metricsServer = await serveMetrics(metricsAt.host, metricsAt.port, () => ep.metricsText());
      } catch (err) {
        ep.close();
        throw new OptionError(`option metrics ${opts.metrics as string}: cannot listen (${(err as Error).message})`);
      }
      ep.log(`metrics at http://${ep.metricsServer.address}/metrics`, 'info', { metrics: ep.metricsServer.address });
    }
    const wait = { clock: ep.world.clock, started: ep.started.promise, isClosed: () => ep.closed, diagnose: () => ep.startDiagnosis(), log: (line: string, level: LogLevel) => ep.log(line, level), close: (err: CohortError) => ep.close(err) };
    await waitStarted(wait, plan.timeoutMs, plan.signal);
    return ep;
  }

  /** What a starting endpoint waits for (see `startDiagnosis`). */
  private startDiagnosis(): { text: string; code: ErrorCode | null } {
    return startDiagnosis({ seeds: this.seeds, core: this.core, transport: this.world.transport, heardFrom: this.heardFrom, address: this.address });
  }

  /**
   * Start an endpoint without waiting: `ready` resolves once it is in a view. The
   * simulator uses this to start many endpoints at the same virtual instant.
   */
  static open(opts: EndpointOptions): Endpoint {
    const { cfg, bounds, world } = checkOpenOptions(opts);
    const ep = new Endpoint(opts, world, cfg, bounds);
    world.transport.onMessage((from, msg) => ep.onMessage(from, msg));
    world.transport.onRefused((addr) => ep.onRefused(addr));
    ep.core.start(world.clock.now());
    ep.drive();
    ep.ticker.schedule();
    return ep;
  }

  /** Resolves once this endpoint is in a view of the network. */
  get ready(): Promise<void> {
    return this.started.promise;
  }

  /** @internal The clock this endpoint runs on (for the group handles' timers). */
  get clock(): Clock {
    return this.world.clock;
  }

  /** This endpoint's current incarnation (changes when it rejoins after exclusion). */
  get incarnation(): number {
    return this.core.self.inc;
  }

  /** The address other endpoints reach this one at. */
  get address(): string {
    return this.world.transport.address;
  }

  /** The endpoint-level view this endpoint has installed. */
  get view(): EndpointView {
    return this.core.currentView;
  }

  /** The handle of a group this endpoint joined (or is joining), if any. */
  group(name: string): Group | undefined {
    return this.groups.get(name);
  }

  /**
   * Where the metrics are served (`host:port`, the port picked when 0 was asked), or
   * `null` without option `metrics: 'HOST:PORT'`.
   */
  get metricsAddress(): string | null {
    return this.metricsServer?.address ?? null;
  }

  /**
   * The metrics now, in Prometheus' text exposition format 0.0.4 (what `/metrics`
   * serves).
   * @throws OptionError when the endpoint was started without option `metrics`.
   */
  metricsText(): string {
    if (this.metrics === null) throw new OptionError('metrics are off: start the endpoint with option metrics');
    return this.metrics.expose();
  }

  /**
   * Protocol counters, for status displays and tests. A snapshot; the numbers and
   * their meaning may change between versions.
   */
  stats(): ReturnType<EndpointCore['stats']> & {
    /** `'bootstrapping'`, `'joining'`, `'member'` (in a view), `'stopped'` or `'excluded'`. */
    phase: string;
    /** Member ids this endpoint suspects of having failed right now. */
    suspects: string[];
  } {
    return { ...this.core.stats(), phase: this.core.phase, suspects: this.core.suspected() };
  }

  /**
   * This endpoint's status document: view and coordinator, suspects, groups and their
   * members, counters and rates, flow control, event-loop delay and the last view
   * changes — what `cohort status` shows. Rates are measured since the previous call
   * that is at least a second old (or since start), and the event-loop histogram is
   * reset by each call, so two probes polling one endpoint share those windows.
   */
  status(): StatusDocument {
    const self = { id: this.id, incarnation: this.incarnation, address: this.address, phase: this.core.phase, rejoins: this.incarnations };
    return this.report.document(self, this.reportInput());
  }

  /** The state the operators' reports read. */
  private reportInput(): ReportInput {
    const d = this.delivery;
    return { now: this.world.clock.now(), core: this.core, groups: this.groups, pending: d.calls.size, events: d.jobs.length, transport: this.world.transport };
  }

  /**
   * Join a group. Resolves once this member's first view of the group (and its state,
   * if the group has one) has been delivered to `onEvent`. An endpoint joins one
   * group at a time: a second `join` waits for the first.
   *
   * @param name - the group's name (1–256 UTF-8 bytes, no control characters)
   * @param handlers - `onEvent` for the group's events (without it, iterate the
   *   returned group) and `checkpoint` for its state
   * @throws CohortError `ERR_ALREADY_JOINED` when already in the group, `ERR_LIMIT`
   *   beyond `groupsPerEndpointMax`, `ERR_ACCESS_DENIED` when `groupAccess` forbids it.
   * @throws InputError when the name is empty, too long or malformed.
   * @throws ClosedError when the endpoint is stopped (and the promise rejects with it
   *   when the endpoint is excluded while joining).
   */
  async join(name: string, handlers: JoinOptions = {}): Promise<Group> {
    this.checkOpen();
    const { timeoutMs, signal } = checkJoinOptions(name, handlers, this.cfg.nameBytesMax);
    checkCanJoin({ name, id: this.id, groups: this.groups, groupsMax: this.cfg.groupsPerEndpointMax, access: this.access });
    let counters = this.counters.groups.get(name);
    if (counters === undefined) {
      counters = newGroupCounters();
      this.counters.groups.set(name, counters);
    }
    const g = new Group(this, name, handlers, counters, new Fill(this.bounds.deliveryEvents, this.bounds.deliveryBytes));
    this.groups.set(name, g);
    this.guard(() => {
      this.core.submit(this.world.clock.now(), EntryKind.join, name, new Uint8Array(0), false);
      this.drive();
    }, true);
    if (timeoutMs === 0 && signal === undefined) return g.joined.promise;
    return settleWithin(this.world.clock, g.joined.promise, timeoutMs, signal, (aborted) => {
      const why = joinDiagnosis(this.core, g.name, this.closed);
      // Whatever happens to the join now, this member does not stay in the group.
      if (!this.closed) g.leave().catch(() => undefined);
      return aborted
        ? new CohortError(ErrorCode.aborted, `join of group ${name} aborted: ${why}; leaving the group again`, { cause: signal?.reason })
        : new CohortError(ErrorCode.timeout, `join of group ${name} not complete after ${timeoutMs} ms (option timeoutMs): ${why}; leaving the group again`);
    });
  }

  /**
   * Leave every group, then the network, gracefully; resolves when done. With
   * `signal`: an abort closes the endpoint at once and rejects with `ERR_ABORTED`.
   */
  async stop(options: LeaveOptions = {}): Promise<void> {
    const signal = checkSignal(options?.signal);
    if (signal === undefined) return this.stopGracefully();
    return settleWithin(this.world.clock, this.stopGracefully(), 0, signal, () => {
      const err = new CohortError(ErrorCode.aborted, `stop of endpoint ${this.id} aborted: closed at once`, { cause: signal.reason });
      this.close(err);
      return err;
    });
  }

  private async stopGracefully(): Promise<void> {
    if (this.closed) return;
    if (!this.stopping) {
      this.stopping = true;
      await Promise.all([...this.groups.values()].map((g) => g.leave().catch(() => undefined)));
      if (!this.closed) {
        this.guard(() => {
          this.core.leave(this.world.clock.now());
          this.drive();
        }, true);
      }
    }
    await this.stoppedD.promise;
    await this.metricsServerClosed;
  }

  // ---------------------------------------------------------------- internals used by Group

  /** @internal */
  submitMessage(group: string, data: Uint8Array, safe: boolean): Promise<void> {
    this.checkOpen();
    if (!(data instanceof Uint8Array)) throw new InputError(ErrorCode.badOption, 'multicast data must be a Uint8Array');
    if (data.length > this.cfg.messageBytesMax) {
      throw new InputError(ErrorCode.messageTooLarge, `message is ${data.length} bytes; the limit is ${this.cfg.messageBytesMax} (option messageBytesMax)`);
    }
    // The core copies the payload: the caller may reuse its buffer once this returns.
    // Multicasts of one synchronous run leave together, as bundles, when it ends.
    // Not through `guard`: a closure per multicast on the hot path.
    this.delivery.calls.refuseIfFull(group);
    let localId: number;
    try {
      localId = this.core.queue(this.world.clock.now(), EntryKind.app, group, data, safe);
    } catch (err) {
      throw this.fail(err);
    }
    const promise = this.delivery.calls.addMulticast(localId, data.length);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushSends);
    }
    return promise;
  }

  /** @internal */
  submitLeave(group: string, cause: LeaveCause = 'leave'): Promise<void> {
    let localId = 0;
    this.guard(() => {
      localId = this.core.submit(this.world.clock.now(), EntryKind.leave, group, leavePayload(cause), false);
    }, true);
    const promise = this.delivery.calls.addLeave(localId);
    this.guard(() => this.drive(), true);
    return promise;
  }

  /** @internal The application took `event` of `g` (its handler got it, or its iterator), or it was dropped. */
  took(g: Group, event: GroupEvent): void {
    this.delivery.fill(g, eventBytes(event), false);
    // Caught up outside a step (an iterator took it): tell the core now. (Within a
    // step, its end tells it.)
    if (this.driving === 0 && this.delivery.appQueue() !== this.delivery.toldQueue && !this.closed) this.guard(() => this.drive());
  }

  /** @internal Resolves when `multicast` takes messages again (see `Group.ready`). */
  room(): Promise<void> {
    if (this.fatalError !== null) return Promise.reject(this.fatalError);
    if (this.closed || this.stopping) return Promise.reject(new ClosedError(`endpoint ${this.id} is stopped`));
    return this.delivery.calls.room();
  }

  private checkOpen(): void {
    if (this.fatalError !== null) throw this.fatalError;
    if (this.closed || this.stopping) throw new ClosedError(`endpoint ${this.id} is stopped`);
  }

  // ---------------------------------------------------------------- the loop

  /** A fresh incarnation number, drawn from the world's rng (seeded in the simulator, so that runs replay). */
  private drawIncarnation(): number {
    return this.world.rng.nextU32() * 2048 + this.world.rng.below(2048);
  }

  /**
   * A core for incarnation `inc`, with this endpoint's seeds, configuration, access
   * policy and counters: the one place a core is built, so that a rejoin cannot forget
   * any of them. After an exclusion, `rejoin` gives the view it was excluded from and
   * the first local id (local ids stay unique across incarnations: old ones may still
   * be pending).
   */
  private newCore(inc: number, rejoin?: { readonly lastView: EndpointView; readonly firstLocalId: number }): EndpointCore {
    return new EndpointCore({
      self: { id: this.id, inc },
      addr: this.world.transport.address,
      seeds: [...this.seeds],
      ...(rejoin === undefined ? {} : { lastView: rejoin.lastView, firstLocalId: rejoin.firstLocalId }),
      config: this.cfg,
      rng: this.world.rng,
      access: this.access,
      counters: this.coreCounters,
    });
  }

  private onMessage(from: string, msg: Message): void {
    if (this.closed) return;
    // An operator's probe is answered here and never reaches the core: a prober is not
    // a member, so it can neither join, be suspected, nor change a view.
    if (msg.t === 'status-req') return this.answerStatus(from, msg);
    if (msg.t === 'status-reply') return;
    if (this.heardFrom !== null && this.heardFrom.size < HEARD_FROM_MAX) this.heardFrom.add(from);
    // `guard`, written out: a closure per received message would sit on the hot path.
    try {
      this.core.receive(this.world.clock.now(), from, msg);
      this.drive();
      if (this.world.checkInvariants === true) this.core.checkInvariants();
    } catch (err) {
      const fatal = this.fail(err);
      if (this.onFatal === undefined) throw fatal;
    }
  }

  /** Answer a `status-req` to the address it came from, within the status reports' rate limit. */
  private answerStatus(from: string, msg: StatusReqMsg): void {
    if (!this.report.mayReply(this.world.clock.now())) return;
    this.world.transport.send(from, { t: 'status-reply', from: this.core.self, id: msg.id, doc: encodeStatus(this.status()) });
  }

  /** Measure event-loop delay for the status document (real processes; stopped at close). */
  private monitorEventLoop(): void {
    if (this.closed) return;
    this.report.monitorEventLoop(this.world.clock.now());
  }

  private onRefused(addr: string): void {
    if (this.closed) return;
    this.guard(() => {
      this.core.refused(this.world.clock.now(), addr);
      this.drive();
    });
  }

  /** Move the core's output out: messages to the transport, events to the queue. */
  private drive(): void {
    this.driving++;
    try {
      this.step();
    } finally {
      this.driving--;
    }
  }

  private step(): void {
    this.delivery.stepAt = this.world.clock.now();
    do {
      // Loop when an event replaced the core (exclusion): the new one has output too.
      for (let core = null; core !== this.core; ) {
        core = this.core;
        const out = core.takeOutput();
        for (const s of out.send) this.world.transport.send(s.to, s.msg);
        for (const e of out.events) this.onCoreEvent(e);
      }
      this.metrics?.afterStep();
      this.delivery.pump();
      // The application fell behind or caught up: the core's acks change (its output too).
    } while (this.delivery.syncBehind());
    this.ticker.wakeBy(this.core.nextWakeAt());
  }

  /** Route one event of the core: group events to the delivery queue, the endpoint's own here. */
  private onCoreEvent(e: CoreEvent): void {
    const delivery = this.delivery;
    switch (e.type) {
      case 'installed':
        return this.onInstalled(e);
      case 'view':
        if (!this.groups.has(e.group)) return;
        this.report.onGroupView(e.group, e.view, this.groups, this.cfg.groupsPerEndpointMax);
        return delivery.onView(e.group, e.view);
      case 'state':
        return delivery.queueEvent(e.group, this.groups.get(e.group), { type: 'state', data: e.data }, null);
      case 'message':
        return delivery.onMessage(e.group, e.sender, e.data, e.safe, e.localId);
      case 'state-progress':
        return delivery.onStateProgress(e.group, e.received, e.total);
      case 'state-request':
        return delivery.push({ kind: 'checkpoint', group: e.group, joiner: e.joiner, pos: e.pos });
      case 'state-lost':
        return delivery.push({ kind: 'state-lost', group: e.group });
      case 'duplicate':
        return this.onDuplicate(e.live);
      case 'group-left':
        return delivery.onGroupLeft(e.group, e.localId);
      case 'blocked':
        return delivery.onBlocked();
      case 'excluded':
        return this.onExcluded();
      case 'stopped':
        return this.close();
      case 'log':
        return this.log(e.text, e.level);
      default:
        assertNever(e);
    }
  }

  /** A network view was installed: count and log it, and `start` is done. */
  private onInstalled(e: Extract<CoreEvent, { type: 'installed' }>): void {
    const c = this.counters;
    c.viewsInstalled++;
    if (e.joined.length > 0) c.viewChangesJoin++;
    if (e.left.length > 0) c.viewChangesLeave++;
    if (e.failed.length > 0) c.viewChangesFailure++;
    this.log(`view ${e.view.epoch}: ${e.view.members.map(memberKey).join(' ')}`, 'info');
    for (const f of e.failures) this.log(`view ${e.view.epoch}: ${describeFailure(toMemberFailure(f))}`, 'info');
    this.report.onInstalled(e.view.epoch, { ...e, members: e.view.members });
    this.started.resolve();
    this.heardFrom = null;
  }

  /** Another live member holds this endpoint's id: it stops, and never joins. */
  private onDuplicate(live: MemberRef): void {
    const err = new CohortError(ErrorCode.duplicateId, `id ${this.id} is taken: ${live.id}#${live.inc}, a live member of the network at another address, holds it (ids are unique; a restart listens at the same address, or waits for the old one to be gone)`);
    this.log(err.message, 'error');
    this.close(err);
  }

  /** Excluded: tell every group, fail what is pending, and come back as a new incarnation. */
  private onExcluded(): void {
    this.log(`excluded from the network; rejoining as a new incarnation`, 'warn');
    const err = new ClosedError(`endpoint ${this.id} was excluded from the view`, ErrorCode.excluded);
    const rejoin = this.delivery.onExcluded(err, this.rejoin);
    const lastView = this.core.currentView;
    this.incarnations += 1;
    const inc = this.drawIncarnation();
    this.core = this.newCore(inc, { lastView, firstLocalId: this.core.nextLocalIdValue });
    this.core.start(this.world.clock.now());
    // Its first entries: the joins of the groups it was in, ahead of any new multicast.
    for (const g of rejoin) this.core.submit(this.world.clock.now(), EntryKind.join, g.name, new Uint8Array(0), false);
    if (rejoin.length > 0) this.log(`rejoining ${rejoin.length === 1 ? 'group' : 'groups'} ${rejoin.map((g) => g.name).join(', ')} as the new incarnation`, 'info');
    // The new core's first output is sent by the drive() that called us.
  }

  /**
   * Run a step of the core. A throw from it is a broken invariant (a bug): the endpoint
   * stops at once rather than go on half-alive with a core in an unknown state — its
   * connections close, so the others remove it as crashed — and the error is reported:
   * logged, passed to `onFatal`, and thrown (always from an API call, which must not
   * appear to succeed; from an event of the network or a timer only without `onFatal`).
   */
  private guard(step: () => void, fromApi = false): void {
    if (this.fatalError !== null) throw this.fatalError;
    try {
      step();
      if (this.world.checkInvariants === true) this.core.checkInvariants();
    } catch (err) {
      const fatal = this.fail(err);
      if (fromApi || this.onFatal === undefined) throw fatal;
    }
  }

  /** Stop for good after a broken invariant; returns the error every later call gets. */
  private fail(err: unknown): CohortError {
    if (this.fatalError !== null) return this.fatalError;
    const what = err instanceof Error ? err.message : String(err);
    const fatal = new CohortError(ErrorCode.internal, `endpoint ${this.id}: internal error, endpoint stopped: ${what}`, { cause: err });
    this.fatalError = fatal;
    const stack = err instanceof Error && err.stack !== undefined ? { stack: err.stack } : undefined;
    this.log(`fatal: ${fatal.message}`, 'error', stack);
    this.close(fatal);
    for (const g of this.groups.values()) g.close(fatal);
    this.started.reject(fatal);
    this.onFatal?.(fatal);
    return fatal;
  }

  private close(reason?: CohortError): void {
    if (this.closed) return;
    this.closed = true;
    this.report.close();
    this.ticker.stop();
    void this.world.transport.close();
    this.metrics?.close();
    if (this.metricsServer !== null) this.metricsServerClosed = this.metricsServer.close();
    const err = reason ?? new ClosedError(`endpoint ${this.id} is stopped`);
    // Never in a view: `ready` (and `start`) must not wait for ever.
    this.started.reject(err);
    this.delivery.calls.rejectAll(err);
    this.stoppedD.resolve();
  }

  private log(line: string, level: LogLevel, fields?: Readonly<Record<string, unknown>>): void {
    this.onLog?.(`[${this.id}] ${line}`, level);
    this.logger?.[level]({ member: this.id, ...fields }, line);
  }
}
