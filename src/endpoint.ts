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
 * This file holds the public class and wires its parts, which live beside it:
 * `api/view.ts` (what the application sees), `api/options.ts` and
 * `api/option-checks.ts` (what it is started with), `api/group.ts` and
 * `api/group-port.ts` (the handles, and the endpoint's side of them),
 * `api/network-input.ts` and `api/core-output.ts` (what goes into the core, and the
 * drain of its output), `api/delivery-queue.ts` and `api/pending-calls.ts` (the order
 * of delivery and the calls waiting on it), `api/lifecycle.ts` (stop, close, and a
 * broken invariant), `api/incarnations.ts` (the cores, and the rejoin after an
 * exclusion), `api/ticker.ts` (the core's timer), `api/start.ts` and
 * `api/diagnosis.ts` (a real process's world, and what a start or join waits for),
 * and `ops/` (what it reports to operators: status, metrics and their server, logs of
 * retransmissions).
 */
import type { CoreConfig } from './core/config.js';
import type { GroupAccess } from './core/access.js';
import { CoreCounters } from './core/counters.js';
import type { CoreStats } from './core/core-api.js';
import type { EndpointCore } from './core/endpoint-core.js';
import type { EndpointView } from './core/types.js';
import { EntryKind } from './core/types.js';
import { CohortError, ErrorCode, OptionError } from './errors.js';
import { Fill } from './fill.js';
import { Logger } from './log.js';
import type { LoggerLike, LogLevel } from './log.js';
import type { Clock } from './runtime.js';
import { CoreOutput } from './api/core-output.js';
import { DurableEndpoint, openDurable } from './api/durable-endpoint.js';
import type { DurableEndpointHost } from './api/durable-endpoint.js';
import type { CoreOutputHost } from './api/core-output.js';
import { DeliveryQueue } from './api/delivery-queue.js';
import type { DeliveryHost } from './api/delivery-queue.js';
import { joinDiagnosis, startDiagnosis } from './api/diagnosis.js';
import { Group } from './api/group.js';
import type { LeaveOptions } from './api/group.js';
import { EndpointPort } from './api/group-port.js';
import { Incarnations } from './api/incarnations.js';
import { Lifecycle } from './api/lifecycle.js';
import type { LifecycleHost } from './api/lifecycle.js';
import { NetworkInput } from './api/network-input.js';
import { accessFrom, checkCanJoin, checkJoinOptions, checkOpenOptions, checkSignal } from './api/option-checks.js';
import type { QueueBounds } from './api/option-checks.js';
import type { EndpointOptions, EndpointWorld, JoinOptions } from './api/options.js';
import { settleWithin } from './api/promises.js';
import { prepareStart, waitStarted } from './api/start.js';
import { Ticker } from './api/ticker.js';
import type { TickerHost } from './api/ticker.js';
import { newEndpointCounters, newGroupCounters } from './ops/endpoint-metrics.js';
import type { EndpointCounters } from './ops/endpoint-metrics.js';
import { MetricsWiring } from './ops/metrics-wiring.js';
import { RetransmitLog, debugEnabled } from './ops/retransmissions.js';
import { StatusReport, endpointSnapshot } from './ops/status-report.js';
import type { ReportInput } from './ops/status-report.js';
import type { StatusDocument } from './ops/status.js';

// The old import paths of what moved out of this file (the simulator, the tools and
// the tests import them from here).
export { sha256hex } from './api/digest.js';
export { Group } from './api/group.js';
export type { LeaveOptions, MulticastOptions } from './api/group.js';
export type { EndpointOptions, EndpointWorld, JoinOptions } from './api/options.js';
export { describeFailure, viewReason } from './api/view.js';
export type { GroupEvent, GroupHandlers, MemberFailure, StateProgress, View } from './api/view.js';

/** What `Endpoint.stats()` returns: the protocol's counters, the phase and the suspects. */
export interface EndpointStats extends CoreStats {
  /** `'bootstrapping'`, `'joining'`, `'member'` (in a view), `'stopped'` or `'excluded'`. */
  readonly phase: string;
  /** Member ids this endpoint suspects of having failed right now. */
  readonly suspects: string[];
}

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
  private readonly onLog: ((line: string, level: LogLevel) => void) | undefined;
  private readonly logger: LoggerLike | undefined;
  /** The core's counters, kept across incarnations. */
  private readonly coreCounters = new CoreCounters();
  /** @internal The endpoint's own counters (per group, view changes). */
  readonly counters: EndpointCounters = newEndpointCounters();
  private readonly metrics: MetricsWiring;
  private readonly retransmits = new RetransmitLog();
  /** The cores of this endpoint's incarnations: the first, and one per rejoin. */
  private readonly incarnations: Incarnations;
  private core: EndpointCore;
  private readonly groups = new Map<string, Group>();
  /** Bounds of the groups' delivery queues and of pending multicasts. */
  private readonly bounds: QueueBounds;
  /** The delivery order, and the calls waiting on it. */
  private readonly delivery: DeliveryQueue;
  /** The drain of the core's output. */
  private readonly output: CoreOutput;
  /** What the group handles call. */
  private readonly port: EndpointPort;
  /** Open, stopping, closed or failed; and the ways out. */
  private readonly life: Lifecycle;
  /** The timer that ticks the core. */
  private readonly ticker: Ticker;
  /** What comes from the network: messages, refusals, status probes. */
  private readonly input: NetworkInput;
  /** The status document's histories, samples and event-loop monitor. */
  private readonly report: StatusReport;
  /** Durable groups (option `persist`): the store the core's output is written to, or null. */
  private readonly durable: DurableEndpoint | null;

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
    this.life = new Lifecycle(this.lifecycleHost(opts.onFatal));
    this.ticker = new Ticker(world.clock, this.tickerHost());
    this.delivery = new DeliveryQueue(this.deliveryHost(opts.onHandlerError === 'exit', opts), bounds.pendingMulticasts, bounds.pendingBytes, opts.id);
    const durable = openDurable(opts.persist, opts.id);
    this.access = accessFrom(opts);
    this.seeds = [...(opts.seeds ?? [])];
    this.onLog = opts.onLog;
    this.logger = opts.logger ?? (opts.logLevel === undefined ? undefined : new Logger({ level: opts.logLevel, member: opts.id }));
    const spec = { id: this.id, world, seeds: this.seeds, cfg, access: this.access, counters: this.coreCounters, rejoin: opts.rejoin ?? true, persist: durable !== null };
    this.incarnations = new Incarnations(spec);
    this.core = this.incarnations.build(opts.incarnation ?? this.incarnations.draw(), undefined, durable?.restart.info ?? undefined);
    const metricsOn = opts.metrics !== undefined && opts.metrics !== false;
    this.metrics = new MetricsWiring(metricsOn, { member: this.id, core: this.coreCounters, endpoint: this.counters, snapshot: () => endpointSnapshot(this.reportInput(), this.address) });
    this.report = new StatusReport(this.counters, world.clock.now());
    // Before the output's host, which hands the store the core's output.
    const durableHost: DurableEndpointHost = { id: this.id, clock: world.clock, life: this.life, groups: this.groups, delivery: this.delivery, core: () => this.core, drive: () => this.drive(), log: (line, level) => this.log(line, level), close: (err) => this.close(err) };
    this.durable = durable === null ? null : new DurableEndpoint(durable.persist, durable.restart, durableHost);
    this.output = new CoreOutput(this.outputHost());
    this.input = new NetworkInput({ clock: world.clock, transport: world.transport, life: this.life, report: this.report, core: () => this.core, drive: () => this.drive(), status: () => this.status() });
    this.port = new EndpointPort({ clock: world.clock, delivery: this.delivery, messageBytesMax: cfg.messageBytesMax, life: this.life, core: () => this.core, drive: () => this.drive(), isDriving: () => this.output.driving > 0, persists: this.durable !== null });
  }

  /** What the ticker does: tick the core; then, at level debug, log retransmissions. */
  private tickerHost(): TickerHost {
    return {
      nextWakeAt: () => this.core.nextWakeAt(),
      isClosed: () => this.life.closed,
      tick: () =>
        this.life.guard(() => {
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
  private deliveryHost(exitOnHandlerError: boolean, opts: EndpointOptions): DeliveryHost {
    const now = (): number => this.world.clock.now();
    return {
      groups: this.groups,
      counters: this.counters,
      exitOnHandlerError,
      isClosed: () => this.life.closed,
      drive: () => this.drive(),
      took: (g, event) => this.port.took(g, event),
      canTellAppQueue: () => !this.life.closed && this.core.phase === 'member',
      tellAppQueue: (q) => this.core.setAppQueue(now(), q),
      provideState: (group, joiner, pos, data) =>
        this.life.guard(() => {
          this.core.provideState(now(), group, joiner, pos, data);
          this.drive();
        }),
      abandonProvision: (group) =>
        this.life.guard(() => {
          this.core.abandonProvision(now(), group);
          this.drive();
        }),
      log: (line, level, fields) => this.log(line, level, fields),
      ...(opts.persist === undefined
        ? {}
        : {
            persistCheckpoint: {
              add: (group, pos, data) => this.durable?.checkpoints.add(group, pos, data),
              skip: (group, pos) => this.durable?.checkpoints.skip(group, pos),
              fail: (pos) => this.durable?.checkpoints.fail(pos),
            },
          }),
    };
  }

  /** What the endpoint's life acts on: what closing releases, and how stopping leaves. */
  private lifecycleHost(onFatal: ((err: CohortError) => void) | undefined): LifecycleHost {
    return {
      id: this.id,
      checkInvariants: this.world.checkInvariants === true,
      onFatal,
      core: () => this.core,
      release: () => {
        this.report.close();
        this.ticker.stop();
        void this.world.transport.close();
        void this.durable?.store.close();
        this.metrics.close();
      },
      rejectCalls: (err) => this.delivery.calls.rejectAll(err),
      closeGroups: (err) => {
        for (const g of this.groups.values()) g.close(err);
      },
      leaveGroups: () => Promise.all([...this.groups.values()].map((g) => g.leave().catch(() => undefined))),
      leaveNetwork: () => {
        this.core.leave(this.world.clock.now());
        this.drive();
      },
      released: () => this.metrics.closed(),
      log: (line, level, fields) => this.log(line, level, fields),
    };
  }

  /** Where the core's output goes: the transport, the delivery queue, and the endpoint's events. */
  private outputHost(): CoreOutputHost {
    return {
      id: this.id,
      clock: this.world.clock,
      transport: this.world.transport,
      delivery: this.delivery,
      ticker: this.ticker,
      groups: this.groups,
      counters: this.counters,
      report: this.report,
      groupsMax: this.cfg.groupsPerEndpointMax,
      store: this.durable?.store ?? null,
      beginCheckpoint: () => this.durable?.beginCheckpoint(),
      vote: (v) => this.durable?.vote(v) ?? true,
      restore: (group) => this.durable?.restore(group),
      core: () => this.core,
      afterStep: () => this.metrics.afterStep(),
      inView: () => {
        this.life.started.resolve();
        this.input.inView();
      },
      excluded: () => {
        // A durable endpoint's next incarnation knows what its log says (restart.ts).
        this.core = this.incarnations.afterExclusion(this.core, this.delivery, (line, level) => this.log(line, level), this.durable?.reread(this.id).info ?? undefined);
        // The new core's first output is sent by the drive() that called us.
      },
      close: (reason) => this.close(reason),
      log: (line, level) => this.log(line, level),
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
      if (options.persist?.log !== undefined && opts.persist?.log === undefined) await options.persist.log.close();
      throw err;
    }
    if (plan.ownsTransport) ep.monitorEventLoop();
    if (metricsAt !== null) {
      // Serving starts before the endpoint is in a view, so a joiner that waits can be watched.
      let at: string;
      try {
        at = await ep.metrics.serve(metricsAt.host, metricsAt.port);
      } catch (err) {
        ep.close();
        throw new OptionError(`option metrics ${opts.metrics as string}: cannot listen (${(err as Error).message})`);
      }
      ep.log(`metrics at http://${at}/metrics`, 'info', { metrics: at });
    }
    const wait = { clock: ep.world.clock, started: ep.life.started.promise, isClosed: () => ep.life.closed, diagnose: () => ep.startDiagnosis(), log: (line: string, level: LogLevel) => ep.log(line, level), close: (err: CohortError) => ep.close(err) };
    await waitStarted(wait, plan.timeoutMs, plan.signal);
    return ep;
  }

  /** What a starting endpoint waits for (see `startDiagnosis`). */
  private startDiagnosis(): { text: string; code: ErrorCode | null } {
    return startDiagnosis({ seeds: this.seeds, core: this.core, transport: this.world.transport, heardFrom: this.input.heardFrom, address: this.address });
  }

  /**
   * Start an endpoint without waiting: `ready` resolves once it is in a view. The
   * simulator uses this to start many endpoints at the same virtual instant.
   */
  static open(opts: EndpointOptions): Endpoint {
    const { cfg, bounds, world } = checkOpenOptions(opts);
    const ep = new Endpoint(opts, world, cfg, bounds);
    world.transport.onMessage((from, msg) => ep.input.onMessage(from, msg));
    world.transport.onRefused((addr) => ep.input.onRefused(addr));
    ep.core.start(world.clock.now());
    ep.drive();
    ep.ticker.schedule();
    return ep;
  }

  /** Resolves once this endpoint is in a view of the network. */
  get ready(): Promise<void> {
    return this.life.started.promise;
  }

  /** @internal The clock this endpoint runs on (for the group handles' timers). */
  get clock(): Clock {
    return this.world.clock;
  }

  /** After a restart from the logs: the groups this endpoint restores, until it joins them (see the guide). */
  get restoring(): readonly string[] {
    return this.core.restoring;
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
    return this.metrics.address;
  }

  /**
   * The metrics now, in Prometheus' text exposition format 0.0.4 (what `/metrics`
   * serves).
   * @throws OptionError when the endpoint was started without option `metrics`.
   */
  metricsText(): string {
    return this.metrics.text();
  }

  /**
   * Protocol counters, for status displays and tests. A snapshot; the numbers and
   * their meaning may change between versions.
   */
  stats(): EndpointStats {
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
    const self = { id: this.id, incarnation: this.incarnation, address: this.address, phase: this.core.phase, rejoins: this.incarnations.rejoins };
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
    this.life.checkOpen();
    const { timeoutMs, signal } = checkJoinOptions(name, handlers, this.cfg.nameBytesMax);
    checkCanJoin({ name, id: this.id, groups: this.groups, groupsMax: this.cfg.groupsPerEndpointMax, access: this.access });
    let counters = this.counters.groups.get(name);
    if (counters === undefined) {
      counters = newGroupCounters();
      this.counters.groups.set(name, counters);
    }
    const g = new Group(this.port, name, handlers, counters, new Fill(this.bounds.deliveryEvents, this.bounds.deliveryBytes));
    this.groups.set(name, g);
    this.life.guard(() => {
      this.core.submit(this.world.clock.now(), EntryKind.join, name, new Uint8Array(0), false);
      this.drive();
    }, true);
    if (timeoutMs === 0 && signal === undefined) return g.joined.promise;
    return settleWithin(this.world.clock, g.joined.promise, timeoutMs, signal, (aborted) => {
      const why = joinDiagnosis(this.core, g.name, this.life.closed);
      // Whatever happens to the join now, this member does not stay in the group.
      if (!this.life.closed) g.leave().catch(() => undefined);
      return aborted
        ? new CohortError(ErrorCode.aborted, `join of group ${name} aborted: ${why}; leaving the group again`, { cause: signal?.reason })
        : new CohortError(ErrorCode.timeout, `join of group ${name} not complete after ${timeoutMs} ms (option timeoutMs): ${why}; leaving the group again`);
    });
  }

  /**
   * Leave every group, then the network, gracefully; resolves when done (a durable
   * endpoint: once its last writes are on disk and its log is closed). With
   * `signal`: an abort closes the endpoint at once and rejects with `ERR_ABORTED`
   * (a durable endpoint's once its log is closed, so its directory is free again).
   */
  async stop(options: LeaveOptions = {}): Promise<void> {
    const signal = checkSignal(options?.signal);
    const durable = this.durable;
    const stopped = durable === null ? this.life.stopGracefully() : durable.closeAfter(this.life.stopGracefully());
    if (signal === undefined) return stopped;
    const settled = settleWithin(this.world.clock, stopped, 0, signal, () => {
      const err = new CohortError(ErrorCode.aborted, `stop of endpoint ${this.id} aborted: closed at once`, { cause: signal.reason });
      this.close(err);
      return err;
    });
    return durable === null ? settled : durable.closeAfter(settled);
  }

  // ---------------------------------------------------------------- internals

  /** Measure event-loop delay for the status document (real processes; stopped at close). */
  private monitorEventLoop(): void {
    if (this.life.closed) return;
    this.report.monitorEventLoop(this.world.clock.now());
  }

  /** Move the core's output out (see `CoreOutput`). */
  private drive(): void {
    this.output.drive();
  }

  /** Close at once (see `Lifecycle.close`). */
  private close(reason?: CohortError): void {
    this.life.close(reason);
  }

  private log(line: string, level: LogLevel, fields?: Readonly<Record<string, unknown>>): void {
    this.onLog?.(`[${this.id}] ${line}`, level);
    this.logger?.[level]({ member: this.id, ...fields }, line);
  }
}
