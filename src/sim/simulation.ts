/**
 * Run real `Endpoint`s — with your own `onEvent` and `checkpoint` code — on a
 * simulated network under a virtual clock, and attack them with crashes, pauses,
 * partitions, loss, duplication and reordering. Everything is drawn from one seed,
 * so a failing run replays exactly: print the seed, run it again, read the trace.
 *
 * @example
 * ```ts
 * import { Simulation } from 'cohort-vsync/sim';
 * const sim = new Simulation({ seed: 7 });
 * const [a, b, c] = await sim.startAll(['a', 'b', 'c']);
 * const ga = await sim.run(a.join('g', { onEvent: (e) => log.push(e) }));
 * sim.crash('c');
 * await sim.runFor(3000);   // virtual milliseconds
 * ```
 */
import { decodeMessage, encodeMessage } from '../wire/codec.js';
import { Endpoint } from '../endpoint.js';
import type { EndpointOptions } from '../endpoint.js';
import { OptionError } from '../errors.js';
import { WireDigest } from './golden.js';
import { SimNetwork } from './network.js';
import type { NetworkFaults, SimNode } from './network.js';
import { SeededRng } from './rng.js';
import { Scheduler } from './scheduler.js';

/** Endpoint options a simulation may set (timings, windows, limits). */
export type SimEndpointOptions = Omit<EndpointOptions, 'id' | 'world' | 'listen' | 'seeds'>;

/** Options of a {@link Simulation}: its seed, faults, and the endpoints' options. */
export interface SimulationOptions {
  /** Everything random in the run is drawn from this. */
  readonly seed: number;
  /** Network faults at the start (change them later with `configure`). @default no loss, 1–10 ms delay */
  readonly faults?: Partial<NetworkFaults>;
  /**
   * Options for every endpoint (per-endpoint options override them). One default
   * differs from a real endpoint's: `rejoin` is `false`, so that a group handle ends at
   * an exclusion and each incarnation's history is its own, as the checker reads
   * histories; give `rejoin: true` to test an application that relies on it.
   */
  readonly endpoint?: SimEndpointOptions;
  /**
   * Encode and decode every message with the real wire codec, as TCP would.
   * @default true
   */
  readonly codec?: boolean;
  /** Receives one readable line per network event and endpoint log line. */
  readonly trace?: (line: string) => void;
  /** Guard against runaway runs. @default 5,000,000 */
  readonly maxEvents?: number;
  /**
   * Keep a digest of every message the network carries (see {@link Simulation.wireDigest}).
   * @default false
   */
  readonly digestWire?: boolean;
}

/** A simulated run: a network, a clock, and the endpoints on it. */
export class Simulation {
  /** The seed everything in this run was drawn from: print it to replay a failure. */
  readonly seed: number;
  /** The virtual clock and event queue (for fine-grained stepping). */
  readonly scheduler: Scheduler;
  /** The simulated network (faults, partitions, statistics). */
  readonly network: SimNetwork;
  private readonly rng: SeededRng;
  private readonly endpointOptions: SimEndpointOptions;
  private readonly trace: ((line: string) => void) | undefined;
  private readonly maxEvents: number;
  private readonly nodes = new Map<string, { node: SimNode; endpoint: Endpoint }>();
  private readonly wire: WireDigest | null;

  /**
   * A new simulation with no endpoints yet, at virtual time 0.
   *
   * @throws OptionError when `seed` is not a safe integer.
   */
  constructor(opts: SimulationOptions) {
    if (!Number.isSafeInteger(opts.seed)) throw new OptionError('option seed must be an integer');
    this.seed = opts.seed;
    this.rng = new SeededRng(opts.seed);
    this.scheduler = new Scheduler({ maxEvents: opts.maxEvents ?? 5_000_000 });
    this.maxEvents = opts.maxEvents ?? 5_000_000;
    this.trace = opts.trace;
    this.endpointOptions = opts.endpoint ?? {};
    this.wire = opts.digestWire === true ? new WireDigest() : null;
    this.network = new SimNetwork({
      scheduler: this.scheduler,
      rng: this.rng.fork(),
      ...(opts.faults ?? {}),
      ...(opts.codec === false ? {} : { codec: { encode: encodeMessage, decode: (b: Uint8Array) => decodeMessage(b) } }),
      ...(opts.trace === undefined ? {} : { onTrace: opts.trace }),
      ...(this.wire === null ? {} : { onSend: this.wire.add.bind(this.wire) }),
    });
  }

  /** The digest of every message carried so far (`count:hex`), or null without `digestWire`. */
  wireDigest(): string | null {
    return this.wire === null ? null : this.wire.digest();
  }

  /** Virtual time, in milliseconds since the start. */
  get now(): number {
    return this.scheduler.now;
  }

  /**
   * Start an endpoint named `id` (its address is `id` too) without waiting for it to
   * join; `seeds` are ids of other endpoints. An id whose endpoint crashed starts again
   * as a new incarnation at the same address.
   */
  open(id: string, seeds: readonly string[] = [], options: SimEndpointOptions = {}): Endpoint {
    const existing = this.nodes.get(id);
    if (existing !== undefined && existing.node.isUp) throw new OptionError(`endpoint ${id} is already running`);
    const node = this.network.addNode(id);
    const trace = this.trace;
    const endpoint = Endpoint.open({
      rejoin: false,
      ...this.endpointOptions,
      ...options,
      id,
      seeds,
      world: { transport: node.transport, clock: node.clock, rng: this.rng.fork(), checkInvariants: true },
      ...(trace === undefined ? {} : { onLog: (line: string) => trace(`${this.now} ${line}`) }),
    });
    this.nodes.set(id, { node, endpoint });
    return endpoint;
  }

  /** Start endpoints at the same instant, each seeded with all the others; wait until all are in. */
  async startAll(ids: readonly string[], options: SimEndpointOptions = {}, limitMs = 60_000): Promise<Endpoint[]> {
    const eps = ids.map((id) => this.open(id, ids.filter((x) => x !== id), options));
    await this.run(Promise.all(eps.map((e) => e.ready)), limitMs);
    return eps;
  }

  /** The endpoint running as `id`. */
  endpoint(id: string): Endpoint {
    const n = this.nodes.get(id);
    if (n === undefined) throw new OptionError(`no endpoint ${id}`);
    return n.endpoint;
  }

  /** Crash `id` (like SIGKILL): it stops at once, its timers and messages are lost. */
  crash(id: string): void {
    this.node(id).crash();
    this.trace?.(`${this.now} CRASH ${id}`);
  }

  /** Pause `id` (like SIGSTOP): no timers fire and messages wait until `resume`. */
  pause(id: string): void {
    this.node(id).pause();
    this.trace?.(`${this.now} PAUSE ${id}`);
  }

  /** Resume `id` after `pause`: its overdue timers fire and held messages arrive. */
  resume(id: string): void {
    this.node(id).resume();
    this.trace?.(`${this.now} RESUME ${id}`);
  }

  /** Cut the network into sides (ids); ids not listed form one more side. */
  partition(sides: readonly (readonly string[])[]): void {
    this.network.partition(sides.map((s) => [...s]));
    this.trace?.(`${this.now} PARTITION ${sides.map((s) => s.join(',')).join(' | ')}`);
  }

  /** Delay every message from `from` to `to` (ids, one direction) by `extraMs` more; 0 removes it. */
  slowLink(from: string, to: string, extraMs: number): void {
    this.network.slowLink(from, to, extraMs);
    this.trace?.(`${this.now} SLOW ${from}->${to} +${extraMs}ms`);
  }

  /**
   * Lose every message from `from` to `to` (ids, one direction) until `restoreLink` or
   * `heal`: `to` still reaches `from`. Cut both directions of a pair for a
   * non-transitive cut (both still reach the others).
   */
  cutLink(from: string, to: string): void {
    this.network.cutLink(from, to);
    this.trace?.(`${this.now} CUT ${from}->${to}`);
  }

  /** Undo `cutLink(from, to)`. */
  restoreLink(from: string, to: string): void {
    this.network.restoreLink(from, to);
    this.trace?.(`${this.now} RESTORE ${from}->${to}`);
  }

  /** End the partition and every link cut: all endpoints reach each other again (slow links stay). */
  heal(): void {
    this.network.heal();
    this.trace?.(`${this.now} HEAL`);
  }

  /** Change loss, duplication, delay and reordering from now on. */
  configure(faults: Partial<NetworkFaults>): void {
    this.network.configure(faults);
  }

  /** Whether `id` is running (started and not crashed; a paused endpoint is up). */
  isUp(id: string): boolean {
    return this.nodes.get(id)?.node.isUp ?? false;
  }

  /** Advance virtual time by `ms`, letting promise callbacks run between events. */
  async runFor(ms: number): Promise<void> {
    await this.scheduler.runUntilAsync(this.scheduler.now + ms, { maxEvents: this.maxEvents });
  }

  /** Advance virtual time by `ms` synchronously (fast; promise callbacks run afterwards). */
  runForSync(ms: number): void {
    this.scheduler.runUntil(this.scheduler.now + ms, { maxEvents: this.maxEvents });
  }

  /**
   * Run the simulation until `promise` settles, at most `limitMs` of virtual time;
   * returns its value, or throws if it did not settle in time.
   */
  async run<T>(promise: Promise<T>, limitMs = 60_000): Promise<T> {
    let settled = false;
    let value: T | undefined;
    let error: unknown;
    let failed = false;
    promise.then(
      (v) => {
        settled = true;
        value = v;
      },
      (e: unknown) => {
        settled = true;
        failed = true;
        error = e;
      },
    );
    const deadline = this.scheduler.now + limitMs;
    await new Promise<void>((r) => setImmediate(r));
    while (!settled && this.scheduler.now < deadline) {
      if (!this.scheduler.step()) break;
      await new Promise<void>((r) => setImmediate(r));
    }
    if (!settled) throw new Error(`simulation seed ${this.seed}: not settled after ${limitMs} virtual ms (at ${this.scheduler.now} ms)`);
    if (failed) throw error;
    return value as T;
  }

  /** Run until `done()` is true (checked between events), at most `limitMs` of virtual time. */
  async runUntil(done: () => boolean, limitMs = 60_000): Promise<void> {
    const deadline = this.scheduler.now + limitMs;
    while (!done()) {
      if (this.scheduler.now >= deadline || !this.scheduler.step()) {
        throw new Error(`simulation seed ${this.seed}: condition not met after ${limitMs} virtual ms`);
      }
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  private node(id: string): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new OptionError(`no endpoint ${id}`);
    return n.node;
  }
}
