/**
 * Tests of the swarm simulation's machinery (the swarm suites run it over thousands of
 * seeds; these check that what they run is what a seed says).
 *
 * Goal: a seed replays exactly; a seed's shape covers the promised ranges; switching a
 * fault kind off removes only that kind; a run without faults converges and passes.
 * Method: fixed seeds and virtual time only; shapes are drawn without running them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatViolations } from '../src/check/checker.js';
import { scenarioReplayCommand, swarmReplayCommand } from '../src/cli/replay.js';
import { SeededRng } from '../src/sim/rng.js';
import { Simulation } from '../src/sim/simulation.js';
import { runSwarm } from '../src/sim/swarm.js';
import { ALL_FAULT_KINDS, FaultKind, drawSchedule, drawShape, parseFaultKinds } from '../src/sim/swarm-shape.js';

const allKinds = new Set(ALL_FAULT_KINDS);

describe('swarm shape', () => {
  it('covers 3-9 endpoints (up to 16 in about one seed in twenty), 1-6 groups, every group wanted', () => {
    let large = 0;
    let bigState = 0;
    const groupCounts = new Set<number>();
    for (let seed = 1; seed <= 2000; seed++) {
      const s = drawShape(new SeededRng(seed), allKinds);
      const n = s.endpoints.length;
      assert.ok(n >= 3 && n <= 16, `seed ${seed}: ${n} endpoints`);
      if (n > 9) large++;
      if (s.stateBytes >= 1_000_000) bigState++;
      assert.ok(s.groups.length >= 1 && s.groups.length <= 6);
      groupCounts.add(s.groups.length);
      for (const id of s.endpoints) assert.ok((s.wants.get(id)?.length ?? 0) >= 1, `seed ${seed}: ${id} wants no group`);
      for (const g of s.groups) assert.ok([...s.wants.values()].some((w) => w.includes(g)), `seed ${seed}: nobody wants ${g}`);
      assert.ok(s.faultPhaseMs >= 3_000 && s.faultPhaseMs <= 7_000);
    }
    assert.ok(large > 50 && large < 150, `${large} large networks in 2000 seeds`);
    assert.ok(bigState > 10 && bigState < 100, `${bigState} states of 1 MB or more in 2000 seeds`);
    assert.equal(groupCounts.size, 6);
  });

  it('draws endpoint options that endpoints accept, from tiny windows to the defaults', () => {
    const sendWindows = new Set<number>();
    const ackDelays = new Set<number>();
    for (let seed = 1; seed <= 300; seed++) {
      const s = drawShape(new SeededRng(seed), allKinds);
      sendWindows.add(s.endpoint.sendWindowMax ?? -1);
      ackDelays.add(s.endpoint.ackDelayMs ?? -1);
      if (seed <= 30) {
        // Opening an endpoint validates every option.
        const sim = new Simulation({ seed, endpoint: s.endpoint });
        sim.open('a');
      }
    }
    assert.ok(sendWindows.has(1) && sendWindows.has(1024), `send windows ${[...sendWindows].join(',')}`);
    assert.deepEqual([...ackDelays].sort((a, b) => a - b), [0, 2, 20]);
  });

  it('switching kinds off zeroes only their densities and removes only their faults', () => {
    const some = new Set<FaultKind>([FaultKind.crash, FaultKind.oneWayCut, FaultKind.stopAll]);
    for (let seed = 1; seed <= 200; seed++) {
      const full = drawShape(new SeededRng(seed), allKinds);
      const part = drawShape(new SeededRng(seed), some);
      assert.deepEqual({ ...part, densities: null, restartChance: null }, { ...full, densities: null, restartChance: null }, `seed ${seed}: the rest of the shape changed`);
      assert.equal(part.restartChance, 0, 'restarts are off with kind restart');
      for (const k of ALL_FAULT_KINDS) assert.equal(part.densities[k], some.has(k) ? full.densities[k] : 0);
      const fullSchedule = drawSchedule(new SeededRng(seed * 7), full);
      const partSchedule = drawSchedule(new SeededRng(seed * 7), part);
      assert.deepEqual(partSchedule, fullSchedule.filter((f) => some.has(f.kind)), `seed ${seed}: the schedule of the kinds left on changed`);
      for (let i = 1; i < fullSchedule.length; i++) assert.ok(fullSchedule[i - 1]!.at <= fullSchedule[i]!.at);
      for (const f of fullSchedule) assert.ok(f.at >= 800 && f.at <= full.faultPhaseMs);
    }
  });

  it('every kind is on in some seeds and off in others; everyone stopping and a majority crashing strike once at most', () => {
    const on = new Map<FaultKind, number>();
    for (let seed = 1; seed <= 600; seed++) {
      const s = drawShape(new SeededRng(seed), allKinds);
      for (const k of ALL_FAULT_KINDS) if (s.densities[k] > 0) on.set(k, (on.get(k) ?? 0) + 1);
      const schedule = drawSchedule(new SeededRng(seed), s);
      assert.ok(schedule.filter((f) => f.kind === FaultKind.stopAll).length <= 1);
      assert.ok(schedule.filter((f) => f.kind === FaultKind.crashMajority).length <= 1);
    }
    assert.equal(on.get(FaultKind.restart), 600, 'restarts follow crashes in every run that has them on');
    for (const k of ALL_FAULT_KINDS) {
      if (k === FaultKind.restart) continue;
      const n = on.get(k) ?? 0;
      assert.ok(n > 30 && n < 570, `${k} is on in ${n} of 600 seeds`);
    }
  });

  it('parses fault kind lists and names an unknown kind', () => {
    assert.deepEqual(parseFaultKinds('all'), [...ALL_FAULT_KINDS]);
    assert.deepEqual(parseFaultKinds('crash, one-way-cut,'), [FaultKind.crash, FaultKind.oneWayCut]);
    assert.deepEqual(parseFaultKinds(''), []);
    assert.throws(() => parseFaultKinds('crash,bogus'), /unknown fault kind "bogus"/);
  });

  it('prints replay commands with the kinds only when some are off', () => {
    assert.equal(swarmReplayCommand(42), 'npm run sim -- --swarm --seed 42');
    assert.equal(swarmReplayCommand(42, ALL_FAULT_KINDS), 'npm run sim -- --swarm --seed 42');
    assert.equal(swarmReplayCommand(42, [FaultKind.crash, FaultKind.leave]), 'npm run sim -- --swarm --seed 42 --kinds crash,leave');
    assert.equal(scenarioReplayCommand(7), 'npm run sim -- --seed 7');
  });
});

describe('runSwarm', () => {
  it('replays a seed exactly: the same histories, events and faults', async () => {
    const a = await runSwarm({ seed: 10 });
    const b = await runSwarm({ seed: 10 });
    assert.ok(Object.keys(a.faults).length > 0, 'faults struck');
    assert.equal(a.events, b.events);
    assert.equal(a.virtualMs, b.virtualMs);
    assert.deepEqual(a.faults, b.faults);
    assert.deepEqual(a.histories, b.histories);
    assert.deepEqual(a.violations, b.violations);
    const c = await runSwarm({ seed: 11 });
    assert.notDeepEqual(a.histories, c.histories);
  });

  it('without faults, every seed converges soon after the safety phase and breaks nothing', async () => {
    for (let seed = 1; seed <= 8; seed++) {
      const r = await runSwarm({ seed, kinds: [] });
      assert.deepEqual(r.faults, {});
      assert.equal(r.violations.length, 0, `seed ${seed}: ${formatViolations(r.violations)}`);
      assert.ok(r.livenessChecked, `seed ${seed}: liveness judged`);
      assert.ok(r.convergedAfterMs !== null && r.convergedAfterMs <= 3_000, `seed ${seed}: converged after ${r.convergedAfterMs} ms`);
      assert.ok(r.delivered > 0, `seed ${seed}: delivered ${r.delivered}`);
    }
  });

  it('traces the shape, every fault that struck and the liveness phase', async () => {
    const lines: string[] = [];
    const r = await runSwarm({ seed: 10, trace: (l) => lines.push(l) });
    assert.match(lines[0] ?? '', /^SWARM seed=10 n=\d+ groups=\d+/);
    const faultLines = lines.filter((l) => / SWARM FAULT /.test(l));
    assert.equal(faultLines.length, Object.values(r.faults).reduce((s, n) => s + (n ?? 0), 0));
    assert.ok(lines.some((l) => l.includes('LIVENESS PHASE')));
  });
});
