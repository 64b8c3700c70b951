/**
 * The swarm's faults: one function per {@link FaultKind}. Each is called at a time the
 * schedule drew, looks at the cluster as it is then (who is up, who coordinates, who
 * provides a group's state), draws its victims and durations from the run's generator,
 * does its damage and schedules its own end. It returns one line saying what it did,
 * or null when the cluster offered nothing to attack (say, no member may crash without
 * losing the majority).
 *
 * Faults overlap freely. Partition-like faults share one generation counter so that
 * the end of an older partition does not end a newer one; link cuts are restored link
 * by link; loss bursts have their own counter. The liveness phase heals everything.
 */
import type { SwarmCluster } from './swarm-cluster.js';
import { FaultKind } from './swarm-shape.js';
import type { ScheduledFaultKind } from './swarm-shape.js';

/** What a fault did, in words, or null if it found nothing to do. */
export type FaultOutcome = string | null;

/** The fault functions, one per scheduled kind (`restart` is how `crash` ends, not a fault of its own). */
export const FAULTS: Readonly<Record<ScheduledFaultKind, (c: SwarmCluster) => FaultOutcome>> = {
  [FaultKind.crash]: crash,
  [FaultKind.crashCoordinator]: crashCoordinator,
  [FaultKind.crashMajority]: crashMajority,
  [FaultKind.crashDuringTransfer]: crashDuringTransfer,
  [FaultKind.crashDuringViewChange]: crashDuringViewChange,
  [FaultKind.pauseShort]: pauseShort,
  [FaultKind.pauseLong]: pauseLong,
  [FaultKind.partition2]: partition2,
  [FaultKind.partition3]: partition3,
  [FaultKind.oneWayCut]: oneWayCut,
  [FaultKind.nonTransitiveCut]: nonTransitiveCut,
  [FaultKind.flapping]: flapping,
  [FaultKind.lossBurst]: lossBurst,
  [FaultKind.joinBurst]: joinBurst,
  [FaultKind.groupJoin]: groupJoin,
  [FaultKind.leave]: leave,
  [FaultKind.leaveDuringFlush]: leaveDuringFlush,
  [FaultKind.stop]: stop,
  [FaultKind.stopAll]: stopAll,
  [FaultKind.slowConsumer]: slowConsumer,
};

/** How long a partition-like fault lasts: often shorter, often longer than the suspicion timeout. */
function faultDurationMs(c: SwarmCluster): number {
  return c.rng.between(300, 4_000);
}

// ---------------------------------------------------------------- crashes

function crash(c: SwarmCluster): FaultOutcome {
  const candidates = c.crashable();
  if (candidates.length === 0) return null;
  const id = c.rng.pick(candidates);
  c.crash(id);
  return `crash ${id}`;
}

function crashCoordinator(c: SwarmCluster): FaultOutcome {
  const id = c.coordinator();
  if (id === undefined || !c.crashable().includes(id)) return null;
  c.crash(id);
  return `crash coordinator ${id}`;
}

/**
 * A majority of the latest view crashes at once, the coordinator among them half the
 * time; every victim restarts 200–3000 ms later with its id and seed list. What
 * survives is a minority: it must block (G9), and the restarted endpoints must not
 * found a second network while it lives (a total restart needs every seed address
 * bootstrapping). Liveness cannot be asked of the run any more.
 */
function crashMajority(c: SwarmCluster): FaultOutcome {
  if (c.totalRestartUnderway) return null;
  const latest = c.latestView().map((k) => k.slice(0, k.indexOf('#')));
  const living = latest.filter((id) => c.sim.isUp(id) && !c.stopped.has(id));
  const majority = Math.floor(latest.length / 2) + 1;
  if (latest.length < 3 || living.length < majority) return null;
  const coordinator = c.coordinator();
  let victims = c.rng.shuffle(living).slice(0, majority);
  if (coordinator !== undefined && c.rng.chance(0.5) && !victims.includes(coordinator)) victims = [coordinator, ...victims.slice(1)];
  for (const id of victims) c.crash(id, true);
  return `crash ${victims.join(', ')} (a majority of ${latest.length}); all restart`;
}

/**
 * An endpoint joins a group it is not in; while the state streams to it, the state's
 * provider (the group's oldest member) or the joiner crashes. Larger states take
 * longer, so the crash is drawn within a window that grows with the state.
 */
function crashDuringTransfer(c: SwarmCluster): FaultOutcome {
  const g = c.rng.pick(c.shape.groups);
  const joiners = c.readyIds().filter((id) => c.sim.endpoint(id).group(g) === undefined && c.wants.get(id)?.has(g) !== true);
  if (joiners.length === 0 || c.groupOldest(g) === undefined) return null;
  const joiner = c.rng.pick(joiners);
  c.wants.get(joiner)?.add(g);
  c.joinGroup(c.sim.endpoint(joiner), g);
  const delayMs = c.rng.between(0, 30 + Math.floor(c.shape.stateBytes / 10_000));
  const provider = c.rng.chance(0.6);
  c.sim.scheduler.after(delayMs, () => {
    if (c.faultsOver) return;
    const victim = provider ? c.groupOldest(g) : joiner;
    if (victim === undefined || !c.crashable().includes(victim)) return;
    c.note(`crash-during-transfer: crash ${provider ? 'provider' : 'joiner'} ${victim} of ${g}`);
    c.crash(victim);
  });
  return `${joiner} joins ${g}; the ${provider ? 'provider' : 'joiner'} crashes ${delayMs} ms later`;
}

/** Start a view change, then crash the member that runs it (the coordinator or the next in rank) while it runs. */
function crashDuringViewChange(c: SwarmCluster): FaultOutcome {
  const suspect = c.shape.suspectTimeoutMs;
  const variant = c.rng.below(3);
  if (variant === 0) {
    // A crash starts it; the next proposer (first living member after the victim) dies mid-way.
    const candidates = c.crashable();
    if (candidates.length === 0) return null;
    const first = c.rng.pick(candidates);
    c.crash(first);
    const delayMs = suspect + c.rng.between(0, Math.floor(suspect / 2) + 300);
    c.sim.scheduler.after(delayMs, () => crashProposer(c, 'after a crash'));
    return `crash ${first}, then the proposer ${delayMs} ms later`;
  }
  if (variant === 1) {
    // A network join starts it (after the join batch); the coordinator dies at once.
    const joiner = c.addJoiner();
    if (joiner === null) return null;
    const delayMs = c.rng.between(0, 80);
    c.sim.scheduler.after(delayMs, () => crashProposer(c, `while ${joiner} joins`));
    return `${joiner} joins the network, the coordinator crashes ${delayMs} ms later`;
  }
  // A long pause starts it (the paused member is suspected); the coordinator dies mid-way.
  const ready = c.readyIds();
  if (ready.length < 3) return null;
  const sleeper = c.rng.pick(ready);
  c.pause(sleeper, suspect + c.rng.between(200, 2_000));
  const delayMs = suspect + c.rng.between(0, 400);
  c.sim.scheduler.after(delayMs, () => crashProposer(c, `while ${sleeper} sleeps`));
  return `pause ${sleeper}, then crash the proposer ${delayMs} ms later`;
}

function crashProposer(c: SwarmCluster, why: string): void {
  if (c.faultsOver) return;
  const id = c.coordinator() ?? c.latestView().map((k) => k.slice(0, k.indexOf('#'))).find((x) => c.sim.isUp(x) && !c.paused.has(x));
  if (id === undefined || !c.crashable().includes(id)) return;
  c.note(`crash-during-view-change: crash proposer ${id} ${why}`);
  c.crash(id);
}

// ---------------------------------------------------------------- pauses

/** A victim for a pause: the coordinator about two times in five, else anyone ready. */
function pauseVictim(c: SwarmCluster): string | undefined {
  const ready = c.readyIds();
  if (ready.length === 0) return undefined;
  const coordinator = c.coordinator();
  if (coordinator !== undefined && ready.includes(coordinator) && c.rng.chance(0.4)) return coordinator;
  return c.rng.pick(ready);
}

function pauseShort(c: SwarmCluster): FaultOutcome {
  const id = pauseVictim(c);
  if (id === undefined) return null;
  const ms = c.rng.between(50, Math.max(60, c.shape.suspectTimeoutMs - 100));
  c.pause(id, ms);
  return `pause ${id} for ${ms} ms (short)`;
}

function pauseLong(c: SwarmCluster): FaultOutcome {
  const id = pauseVictim(c);
  if (id === undefined) return null;
  const ms = c.shape.suspectTimeoutMs + c.rng.between(100, 3_000);
  c.pause(id, ms);
  return `pause ${id} for ${ms} ms (long)`;
}

/**
 * An application stops taking events (its handler holds the queue), from a short while
 * to twice the lag timeout, ending at most a lag timeout and 2 s into the liveness
 * phase (so that, removed as a slow consumer, it can still come back in time).
 */
function slowConsumer(c: SwarmCluster): FaultOutcome {
  const id = pauseVictim(c);
  if (id === undefined) return null;
  const lagMs = c.shape.endpoint.lagTimeoutMs ?? 5 * c.shape.suspectTimeoutMs;
  const ms = Math.min(c.rng.between(100, 2 * lagMs), Math.max(1, c.shape.faultPhaseMs + lagMs + 2_000 - c.sim.now));
  c.stall(id, ms);
  return `stall the application of ${id} for ${ms} ms (slow consumer)`;
}

// ---------------------------------------------------------------- partitions and cuts

/** Set a partition now and end it after `ms`, unless a newer partition-like fault took over. */
function partitionFor(c: SwarmCluster, sides: string[][], ms: number): void {
  const generation = ++c.partitionGeneration;
  c.sim.partition(sides);
  c.sim.scheduler.after(ms, () => {
    if (c.partitionGeneration === generation) c.sim.partition([]);
  });
}

/** Two sides of the live endpoints: majority/minority, even, or any split. */
function twoSides(c: SwarmCluster): string[][] | null {
  const all = c.rng.shuffle(c.liveIds());
  if (all.length < 2) return null;
  const r = c.rng.below(10);
  const cut =
    r < 5
      ? c.rng.between(1, Math.max(1, Math.floor((all.length - 1) / 2)))
      : r < 8 && all.length % 2 === 0
        ? all.length / 2
        : c.rng.between(1, all.length - 1);
  return [all.slice(0, cut), all.slice(cut)];
}

function partition2(c: SwarmCluster): FaultOutcome {
  const sides = twoSides(c);
  if (sides === null) return null;
  const ms = faultDurationMs(c);
  partitionFor(c, sides, ms);
  return `partition ${sides.map((s) => s.join(',')).join(' | ')} for ${ms} ms`;
}

function partition3(c: SwarmCluster): FaultOutcome {
  const all = c.rng.shuffle(c.liveIds());
  if (all.length < 3) return null;
  const a = c.rng.between(1, all.length - 2);
  const b = c.rng.between(a + 1, all.length - 1);
  const sides = [all.slice(0, a), all.slice(a, b), all.slice(b)];
  const ms = faultDurationMs(c);
  partitionFor(c, sides, ms);
  return `partition ${sides.map((s) => s.join(',')).join(' | ')} for ${ms} ms`;
}

/** Cut directed links now and restore exactly those after `ms`. */
function cutFor(c: SwarmCluster, links: [string, string][], ms: number): void {
  for (const [from, to] of links) c.sim.cutLink(from, to);
  c.sim.scheduler.after(ms, () => {
    for (const [from, to] of links) c.sim.restoreLink(from, to);
  });
}

/**
 * A one-way cut: A can send to B but B's messages to A are lost; or a node that hears
 * nobody (deaf), or that nobody hears (mute). The coordinator is the victim about two
 * times in five.
 */
function oneWayCut(c: SwarmCluster): FaultOutcome {
  const live = c.liveIds();
  if (live.length < 2) return null;
  const coordinator = c.coordinator();
  const a = coordinator !== undefined && c.rng.chance(0.4) ? coordinator : c.rng.pick(live);
  const others = live.filter((x) => x !== a);
  const ms = faultDurationMs(c);
  const variant = c.rng.below(4);
  if (variant === 0) {
    cutFor(c, others.map((x): [string, string] => [x, a]), ms);
    return `${a} deaf (hears nobody, is heard) for ${ms} ms`;
  }
  if (variant === 1) {
    cutFor(c, others.map((x): [string, string] => [a, x]), ms);
    return `${a} mute (hears everyone, is heard by nobody) for ${ms} ms`;
  }
  const b = c.rng.pick(others);
  cutFor(c, [[b, a]], ms);
  return `one-way cut: ${a} reaches ${b}, ${b}'s messages to ${a} are lost, for ${ms} ms`;
}

/** A and B cannot talk, but both reach everyone else; sometimes two such pairs. */
function nonTransitiveCut(c: SwarmCluster): FaultOutcome {
  const live = c.liveIds();
  if (live.length < 3) return null;
  const pairs = c.rng.chance(0.3) && live.length >= 4 ? 2 : 1;
  const links: [string, string][] = [];
  const names: string[] = [];
  for (let i = 0; i < pairs; i++) {
    const [a, b] = c.rng.shuffle(live) as [string, string];
    links.push([a, b], [b, a]);
    names.push(`${a}-${b}`);
  }
  const ms = faultDurationMs(c);
  cutFor(c, links, ms);
  return `non-transitive cut ${names.join(' ')} for ${ms} ms`;
}

/** A partition that comes and goes 3–10 times, each phase 50–800 ms. */
function flapping(c: SwarmCluster): FaultOutcome {
  const sides = twoSides(c);
  if (sides === null) return null;
  const generation = ++c.partitionGeneration;
  const flips = c.rng.between(3, 10);
  let at = 0;
  for (let i = 0; i < flips; i++) {
    const on = i % 2 === 0;
    c.sim.scheduler.after(at, () => {
      if (c.partitionGeneration !== generation) return;
      c.sim.partition(on ? sides : []);
    });
    at += c.rng.between(50, 800);
  }
  c.sim.scheduler.after(at, () => {
    if (c.partitionGeneration === generation) c.sim.partition([]);
  });
  return `flapping partition ${sides.map((s) => s.join(',')).join(' | ')}: ${flips} flips over ${at} ms`;
}

// ---------------------------------------------------------------- the network's quality

/** Loss up to 40%, duplication, reordering and longer delays for a while. */
function lossBurst(c: SwarmCluster): FaultOutcome {
  const generation = ++c.lossGeneration;
  const faults = {
    dropProbability: c.rng.between(1, 40) / 100,
    duplicateProbability: c.rng.below(10) / 100,
    reorderProbability: c.rng.below(30) / 100,
    delayMaxMs: c.rng.between(5, 60),
  };
  const ms = c.rng.between(300, 3_000);
  c.sim.configure(faults);
  c.sim.scheduler.after(ms, () => {
    if (c.lossGeneration === generation) c.sim.configure(CLEAN_NETWORK);
  });
  return `loss ${Math.round(faults.dropProbability * 100)}% dup ${Math.round(faults.duplicateProbability * 100)}% reorder ${Math.round(faults.reorderProbability * 100)}% delay<=${faults.delayMaxMs} ms for ${ms} ms`;
}

/** The network's quality outside loss bursts. */
export const CLEAN_NETWORK = Object.freeze({ dropProbability: 0, duplicateProbability: 0, reorderProbability: 0, delayMaxMs: 10 });

// ---------------------------------------------------------------- joins and leaves

/** 1–4 new endpoints join the network at the same instant. */
function joinBurst(c: SwarmCluster): FaultOutcome {
  if (c.totalRestartUnderway) return null;
  const count = c.rng.between(1, 4);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = c.addJoiner();
    if (id !== null) ids.push(id);
  }
  return ids.length === 0 ? null : `join burst: ${ids.join(', ')}`;
}

/** 1–3 endpoints join groups they were not in, at once (each gets the state). */
function groupJoin(c: SwarmCluster): FaultOutcome {
  const count = c.rng.between(1, 3);
  const done: string[] = [];
  for (let i = 0; i < count; i++) {
    const ready = c.readyIds();
    if (ready.length === 0) break;
    const id = c.rng.pick(ready);
    const want = c.wants.get(id);
    const missing = c.shape.groups.filter((g) => want?.has(g) !== true && c.sim.endpoint(id).group(g) === undefined);
    if (want === undefined || missing.length === 0) continue;
    const g = c.rng.pick(missing);
    want.add(g);
    c.decide(id, g);
    c.joinGroup(c.sim.endpoint(id), g);
    done.push(`${id}->${g}`);
  }
  return done.length === 0 ? null : `group joins ${done.join(' ')}`;
}

/** A member leaves one of its groups; it joins again later, seven times in ten. */
function leaveOne(c: SwarmCluster, exclude?: string): string | null {
  const candidates = c.readyIds().filter((id) => id !== exclude && [...(c.wants.get(id) ?? [])].some((g) => (c.sim.endpoint(id).group(g)?.view ?? null) !== null));
  if (candidates.length === 0) return null;
  const id = c.rng.pick(candidates);
  const groups = [...(c.wants.get(id) ?? [])].filter((g) => (c.sim.endpoint(id).group(g)?.view ?? null) !== null);
  const g = c.rng.pick(groups);
  const rejoinAfterMs = c.rng.chance(0.7) ? c.rng.between(300, 3_000) : null;
  if (!c.leave(id, g, rejoinAfterMs)) return null;
  return `${id} leaves ${g}${rejoinAfterMs === null ? '' : ` (back ${rejoinAfterMs} ms after)`}`;
}

function leave(c: SwarmCluster): FaultOutcome {
  return leaveOne(c);
}

/** A view change starts (a crash or a long pause); while its flush runs, a member leaves a group. */
function leaveDuringFlush(c: SwarmCluster): FaultOutcome {
  const suspect = c.shape.suspectTimeoutMs;
  let trigger: string;
  if (c.rng.chance(0.6)) {
    const candidates = c.crashable();
    if (candidates.length === 0) return null;
    trigger = c.rng.pick(candidates);
    c.crash(trigger);
  } else {
    const ready = c.readyIds();
    if (ready.length < 3) return null;
    trigger = c.rng.pick(ready);
    c.pause(trigger, suspect + c.rng.between(300, 2_000));
  }
  const delayMs = suspect + c.rng.between(0, Math.floor(suspect / 2) + 200);
  const victim = trigger;
  c.sim.scheduler.after(delayMs, () => {
    if (c.faultsOver) return;
    const what = leaveOne(c, victim);
    if (what !== null) c.note(`leave-during-flush: ${what}`);
  });
  return `${trigger} fails; a member leaves a group ${delayMs} ms later`;
}

// ---------------------------------------------------------------- stops

/** One endpoint stops gracefully; it starts again (same seeds) later, sometimes. */
function stop(c: SwarmCluster): FaultOutcome {
  const ready = c.readyIds();
  if (ready.length <= 2 || c.totalRestartUnderway) return null;
  const candidates = c.crashable().filter((id) => ready.includes(id));
  if (candidates.length === 0) return null;
  const id = c.rng.pick(candidates);
  c.stop(id);
  if (c.rng.chance(c.shape.restartChance * 0.7)) {
    const ms = c.rng.between(500, 3_000);
    c.later(ms, () => {
      if (c.stopped.has(id) && !c.totalRestartUnderway) c.start(id);
    });
    return `stop ${id}; it starts again ${ms} ms later`;
  }
  return `stop ${id}`;
}

/**
 * Everybody stops gracefully at once. After up to 3 s (a stop that hangs, on a
 * partitioned or paused member, is then killed), every address starts again at the
 * same instant with its own seed list: a total restart founds a new network.
 */
function stopAll(c: SwarmCluster): FaultOutcome {
  if (c.totalRestartUnderway) return null;
  c.totalRestartUnderway = true;
  c.resumeAll();
  const live = c.liveIds();
  for (const id of live) c.stop(id);
  const waitMs = c.rng.between(1_000, 3_000);
  c.later(waitMs, () => {
    c.era += 1;
    const hung = c.allIds.filter((id) => c.stopping.has(id));
    for (const id of c.allIds) c.kill(id);
    c.note(`stop-all: total restart of ${c.allIds.length} addresses (era ${c.era})${hung.length > 0 ? `; killed first: ${hung.join(',')}` : ''}`);
    c.stopped.clear();
    c.totalRestartUnderway = false;
    for (const id of c.allIds) c.start(id);
  });
  return `stop all ${live.length} endpoints; all start again ${waitMs} ms later`;
}
