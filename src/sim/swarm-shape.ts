/**
 * The shape of one swarm run, drawn whole from its seed before anything runs: how many
 * endpoints, which groups they want, how large the state is, the endpoints' flow-control
 * windows and timings, how fast they send, and, for every kind of fault, how dense it
 * is. This is TigerBeetle's `options_swarm` (`src/vopr.zig`): instead of one fixed
 * attack, each seed picks a different corner of the configuration space, so that a
 * thousand seeds cover tiny windows with big states, many groups with few members,
 * one-way cuts during joins, and combinations nobody thought to script.
 *
 * Drawing the shape first, from its own stream, keeps a seed's shape stable when the
 * run's behaviour changes (a protocol fix changes the run, not what was attacked), and
 * it lets a fault kind be switched off without changing the rest of the shape: every
 * kind's density is always drawn, then zeroed when the kind is disabled.
 */
import type { SeededRng } from './rng.js';
import type { SimEndpointOptions } from './simulation.js';

/**
 * The kinds of fault a swarm run can inflict; each seed draws a density for each.
 * Values are what `--kinds` takes on the command line.
 */
export const FaultKind = {
  /** Crash an endpoint (SIGKILL); it usually restarts with the same id and seed list. */
  crash: 'crash',
  /** Crash the coordinator (`view.members[0]`, also the sequencer). */
  crashCoordinator: 'crash-coordinator',
  /** Make an endpoint join a group and crash the state's provider or the joiner during the transfer. */
  crashDuringTransfer: 'crash-during-transfer',
  /** Start a view change (crash, long pause or network join), then crash its proposer while it runs. */
  crashDuringViewChange: 'crash-during-view-change',
  /** Pause an endpoint for less than the suspicion timeout. */
  pauseShort: 'pause-short',
  /** Pause an endpoint for longer than the suspicion timeout (it is excluded and comes back). */
  pauseLong: 'pause-long',
  /** Split the network in two sides (majority/minority, or even). */
  partition2: 'partition-2',
  /** Split the network in three sides (often no majority anywhere). */
  partition3: 'partition-3',
  /** Cut one direction of links: A reaches B, B's messages to A are lost (or a whole node deaf or mute). */
  oneWayCut: 'one-way-cut',
  /** Cut A from B both ways while both still reach everyone else. */
  nonTransitiveCut: 'non-transitive-cut',
  /** A partition that comes and goes several times, faster than the suspicion timeout at times. */
  flapping: 'flapping',
  /** A burst of loss (up to 40%), duplication, reordering and delay. */
  lossBurst: 'loss-burst',
  /** Several new endpoints join the network at once. */
  joinBurst: 'join-burst',
  /** Existing endpoints join groups they were not in (with state transfer). */
  groupJoin: 'group-join',
  /** A member leaves a group gracefully, and usually joins again later. */
  leave: 'leave',
  /** A member leaves a group while a view change (flush) is under way. */
  leaveDuringFlush: 'leave-during-flush',
  /** One endpoint stops gracefully, and may start again later with the same seeds. */
  stop: 'stop',
  /** Every endpoint stops gracefully at once; then all start again together (a new network). */
  stopAll: 'stop-all',
  /**
   * Crash a majority of the latest view at once (all restart with the same ids and
   * seeds). The survivors must block (G9) and the restarted must not found a second
   * network beside them; liveness is then not judged (no living majority).
   */
  crashMajority: 'crash-majority',
  /**
   * Crashed (and singly stopped) endpoints start again with the same id and seed list.
   * Not scheduled: its density is the chance that a crashed endpoint restarts (off:
   * crashes are final). A total stop and a majority crash always restart everybody.
   */
  restart: 'restart',
  /**
   * An endpoint's application stops taking events for a while (its handler holds the
   * delivery queue): its queue fills, it holds its acks, the senders wait, and if it
   * lasts it is removed as a slow consumer (and comes back as after an exclusion).
   */
  slowConsumer: 'slow-consumer',
  // New kinds go at the end: the order is part of every seed's shape (densities and
  // fault times are drawn kind by kind in this order), and recorded seeds must replay.
} as const;
/** One of the {@link FaultKind} values. */
export type FaultKind = (typeof FaultKind)[keyof typeof FaultKind];

/** The kinds that strike at scheduled times (all but `restart`, which follows a crash). */
export type ScheduledFaultKind = Exclude<FaultKind, typeof FaultKind.restart>;

/** Every fault kind, in the fixed order in which densities are drawn. */
export const ALL_FAULT_KINDS: readonly FaultKind[] = Object.freeze(Object.values(FaultKind));

/**
 * Parses a comma-separated list of fault kinds (`all` for every kind).
 *
 * @throws Error naming the first unknown kind.
 */
export function parseFaultKinds(text: string): FaultKind[] {
  if (text.trim() === 'all') return [...ALL_FAULT_KINDS];
  const out: FaultKind[] = [];
  for (const part of text.split(',')) {
    const k = part.trim();
    if (k.length === 0) continue;
    if (!(ALL_FAULT_KINDS as readonly string[]).includes(k)) {
      throw new Error(`unknown fault kind ${JSON.stringify(k)}; kinds are: ${ALL_FAULT_KINDS.join(', ')}`);
    }
    out.push(k as FaultKind);
  }
  return out;
}

/** Everything one swarm run is made of, drawn from its seed. */
export interface SwarmShape {
  /** Ids of the endpoints started together at time 0 (each seeded with all the others). */
  readonly endpoints: readonly string[];
  /** Group names. */
  readonly groups: readonly string[];
  /** The groups each starting endpoint joins (at least one each; every group has a member). */
  readonly wants: ReadonlyMap<string, readonly string[]>;
  /** Probability that a member sends in a group it is in (some members only listen). */
  readonly senderShare: number;
  /** Bytes of padding in every checkpoint (the application state's size). */
  readonly stateBytes: number;
  /** Whether messages go through the real wire codec. */
  readonly codec: boolean;
  /** Whether the starting endpoints start within 300 ms of each other instead of at once. */
  readonly stagger: boolean;
  /** Options of every endpoint: timings, flow-control windows, ack delay, chunk size. */
  readonly endpoint: SimEndpointOptions;
  /** The suspicion timeout the endpoints run with (also in `endpoint`), ms. */
  readonly suspectTimeoutMs: number;
  /** A sender waits a time drawn from this range between two multicasts, ms. */
  readonly sendIntervalMs: readonly [number, number];
  /** Share of multicasts sent as safe. */
  readonly safeShare: number;
  /** Largest padding added to a multicast's payload, bytes (0: payloads are just their ids). */
  readonly paddingBytesMax: number;
  /** Length of the safety phase, virtual ms; the liveness phase follows. */
  readonly faultPhaseMs: number;
  /** Probability that a crashed endpoint is restarted (same id, same seeds); 0 when kind `restart` is off. */
  readonly restartChance: number;
  /** Most addresses the run may use, joiners included. */
  readonly addressesMax: number;
  /** Faults per virtual second of the safety phase, per kind (0: the kind is off in this run). */
  readonly densities: Readonly<Record<FaultKind, number>>;
}

/** Draws a run's shape. Kinds not in `enabled` get density 0 (their draws still happen). */
export function drawShape(rng: SeededRng, enabled: ReadonlySet<FaultKind>): SwarmShape {
  // About one seed in twenty runs a large network.
  const n = rng.below(20) === 0 ? rng.between(10, 16) : rng.between(3, 9);
  const endpoints = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const groupCount = rng.between(1, 6);
  const groups = Array.from({ length: groupCount }, (_, i) => `g${i}`);
  const wants = drawWants(rng, endpoints, groups);
  const suspectTimeoutMs = rng.pick([600, 1000, 1000, 1500]);
  const endpoint = drawEndpointOptions(rng, suspectTimeoutMs);
  const stateBytes = drawStateBytes(rng);
  const sendIntervalMs = rng.pick([
    [20, 80],
    [50, 200],
    [50, 200],
    [150, 600],
  ] as const);
  // The densities come from a stream of their own, drawn last: a kind added at the end
  // of FaultKind changes no other part of any seed's shape.
  const densityRng = rng.fork();
  const senderShare = rng.pick([1, 0.7, 0.4]);
  const codec = rng.below(4) !== 0;
  const stagger = rng.chance(0.4);
  const safeShare = rng.pick([0, 0, 0.3, 1]);
  const paddingBytesMax = rng.pick([0, 0, 0, 200, 4_000]);
  const faultPhaseMs = rng.between(3_000, 7_000);
  const restartChance = rng.pick([0.6, 0.9, 1]);
  const paced = paceSenders(sendIntervalMs, wants, groups, senderShare);
  const densities = {} as Record<FaultKind, number>;
  for (const kind of ALL_FAULT_KINDS) {
    const d = kind === FaultKind.restart ? restartChance : drawDensity(densityRng, kind);
    densities[kind] = enabled.has(kind) ? d : 0;
  }
  // Delivery queues from tiny to default, from the end of the densities' stream (no
  // other draw moves): with handlers that take every event at once they never fill,
  // so they matter only when a slow consumer stalls.
  // The lag timeout too (a slow consumer is removed after it): the default, or shorter.
  const deliveryQueue = {
    deliveryQueueMax: densityRng.pick([16, 256, 8192]),
    deliveryQueueBytesMax: densityRng.pick([4_096, 256 * 1024, 16 * 1024 * 1024]),
    lagTimeoutMs: suspectTimeoutMs * densityRng.pick([5, 2]),
  };
  return {
    endpoints,
    groups,
    wants,
    senderShare,
    stateBytes,
    codec,
    stagger,
    endpoint: { ...endpoint, ...deliveryQueue },
    suspectTimeoutMs,
    sendIntervalMs: paced,
    safeShare,
    paddingBytesMax,
    faultPhaseMs,
    restartChance: densities[FaultKind.restart],
    addressesMax: n + 6,
    densities,
  };
}

/** Deliveries per virtual second the starting workload may cause before senders slow down. */
const DELIVERIES_PER_SECOND_MAX = 3_000;

/**
 * Slow the senders down in large, busy shapes: deliveries grow with the square of a
 * group's size, and one seed of 15 endpoints in 6 groups sending every 20–80 ms cost
 * as much as a hundred ordinary seeds without attacking anything more. The estimate:
 * per group, senders × members, times one and a half (every fourth tick sends three),
 * over the mean interval.
 */
function paceSenders(
  interval: readonly [number, number],
  wants: ReadonlyMap<string, readonly string[]>,
  groups: readonly string[],
  senderShare: number,
): readonly [number, number] {
  let pairs = 0;
  for (const g of groups) {
    const members = [...wants.values()].filter((w) => w.includes(g)).length;
    pairs += members * members * senderShare;
  }
  const meanSeconds = (interval[0] + interval[1]) / 2 / 1000;
  const factor = Math.max(1, (pairs * 1.5) / meanSeconds / DELIVERIES_PER_SECOND_MAX);
  return factor === 1 ? interval : [Math.round(interval[0] * factor), Math.round(interval[1] * factor)];
}

/** Each starting endpoint wants some groups (about 60% of them), and every group gets a member. */
function drawWants(rng: SeededRng, endpoints: readonly string[], groups: readonly string[]): Map<string, string[]> {
  const share = rng.pick([0.3, 0.6, 0.9]);
  const wants = new Map<string, string[]>();
  for (const id of endpoints) {
    const mine = groups.filter(() => rng.chance(share));
    if (mine.length === 0) mine.push(rng.pick(groups));
    wants.set(id, mine);
  }
  for (const g of groups) {
    if ([...wants.values()].some((w) => w.includes(g))) continue;
    wants.get(rng.pick(endpoints))!.push(g);
  }
  return wants;
}

/**
 * Flow control from tiny to default (one entry in flight, an order window of one),
 * acks at once, soon or late, and state chunks from small to default. Bounds are those
 * `EndpointOptions` accepts (src/core/config.ts).
 */
function drawEndpointOptions(rng: SeededRng, suspectTimeoutMs: number): SimEndpointOptions {
  const tiny = rng.chance(0.3);
  return {
    suspectTimeoutMs,
    ackDelayMs: rng.pick([0, 2, 20]),
    sendWindowMax: tiny ? rng.pick([1, 2, 4]) : rng.pick([16, 64, 1024]),
    sendWindowBytesMax: tiny ? rng.pick([512, 4_096]) : rng.pick([64 * 1024, 16 * 1024 * 1024]),
    bundleBytesMax: rng.pick([256, 4_096, 64 * 1024]),
    orderWindowMax: tiny ? rng.pick([1, 2, 8]) : rng.pick([64, 8192]),
    orderWindowBytesMax: tiny ? rng.pick([2_048, 16 * 1024]) : rng.pick([1024 * 1024, 16 * 1024 * 1024]),
    stateChunkBytes: rng.pick([4_096, 16 * 1024, 64 * 1024]),
  };
}

/** Mostly small states; one run in ten above 100 KB, one in fifty of 1–3 MB. */
function drawStateBytes(rng: SeededRng): number {
  const r = rng.below(50);
  if (r === 0) return rng.between(1_000_000, 3_000_000);
  if (r < 5) return rng.between(100_000, 1_000_000);
  if (r < 12) return rng.between(10_000, 100_000);
  return rng.below(2_000);
}

/** How often a kind strikes, per virtual second: off in about a third of runs, else sparse to dense. */
function drawDensity(rng: SeededRng, kind: FaultKind): number {
  const level = rng.pick([0, 0, 1, 1, 2, 3]);
  // Everyone stopping at once, and a majority crashing at once, happen at most once a
  // run, in about one run in six (both end the run's liveness verdict or restart it).
  if (kind === FaultKind.stopAll || kind === FaultKind.crashMajority) return level === 3 ? 0.1 : 0;
  const scale = kind === FaultKind.joinBurst || kind === FaultKind.flapping ? 0.5 : 1;
  return [0, 0.08, 0.2, 0.4][level]! * scale;
}

/** One line describing the shape (for traces and failure reports). */
export function describeShape(s: SwarmShape): string {
  const e = s.endpoint;
  const kinds = Object.entries(s.densities)
    .filter(([, d]) => d > 0)
    .map(([k, d]) => `${k}:${d}`)
    .join(' ');
  return (
    `n=${s.endpoints.length} groups=${s.groups.length} state=${s.stateBytes}B codec=${s.codec} ` +
    `suspect=${s.suspectTimeoutMs}ms ackDelay=${e.ackDelayMs}ms sendWindow=${e.sendWindowMax}/${e.sendWindowBytesMax}B ` +
    `orderWindow=${e.orderWindowMax}/${e.orderWindowBytesMax}B bundle=${e.bundleBytesMax}B chunk=${e.stateChunkBytes}B ` +
    `deliveryQueue=${e.deliveryQueueMax}/${e.deliveryQueueBytesMax}B ` +
    `send=${s.sendIntervalMs[0]}-${s.sendIntervalMs[1]}ms senders=${s.senderShare} safe=${s.safeShare} padding=${s.paddingBytesMax}B ` +
    `faults=${s.faultPhaseMs}ms restart=${s.restartChance} [${kinds}]`
  );
}

/** The fault schedule of the safety phase: (time, kind) pairs in time order. */
export function drawSchedule(rng: SeededRng, s: SwarmShape): { at: number; kind: ScheduledFaultKind }[] {
  const out: { at: number; kind: ScheduledFaultKind }[] = [];
  const from = 800;
  const to = Math.max(from + 1, s.faultPhaseMs - 200);
  for (const kind of ALL_FAULT_KINDS) {
    // A stream per kind: switching one kind off leaves the others' times unchanged.
    const krng = rng.fork();
    const d = s.densities[kind];
    if (d === 0 || kind === FaultKind.restart) continue; // a restart follows a crash; it is not scheduled
    const mean = (d * (to - from)) / 1000;
    // Between half and one and a half of the mean, at least one when the kind is on.
    const once = kind === FaultKind.stopAll || kind === FaultKind.crashMajority;
    const count = once ? 1 : Math.max(1, Math.round(mean * (0.5 + krng.nextFloat())));
    for (let i = 0; i < count; i++) out.push({ at: krng.between(from, to), kind: kind as ScheduledFaultKind });
  }
  out.sort((a, b) => a.at - b.at);
  return out;
}
