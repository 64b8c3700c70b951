/**
 * Swarm seeds that once broke a guarantee and lie outside the CI suites' range (or
 * were drawn with a narrower set of fault kinds), replayed on every run: a bug found
 * is a seed kept. Each names what it caught; the fixes have tests of their own too.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFirstViolations, swarmReplayCommand } from '../src/cli/replay.js';
import { runSwarm } from '../src/sim/swarm.js';
import { ALL_FAULT_KINDS, FaultKind } from '../src/sim/swarm-shape.js';

/** The kinds CI ran before restarts, total stops, majority crashes and non-transitive cuts were fixed. */
const narrow = ALL_FAULT_KINDS.filter((k) => k !== FaultKind.nonTransitiveCut && k !== FaultKind.stopAll && k !== FaultKind.crashMajority && k !== FaultKind.restart);

const cases: readonly { seed: number; kinds: readonly FaultKind[]; caught: string }[] = [
  { seed: 2312, kinds: narrow, caught: 'an excluded member delivered in an older view than the survivors (G6): delivery beyond the cut' },
  { seed: 5047, kinds: narrow, caught: 'delivery beyond the cut (G6)' },
  { seed: 3728, kinds: narrow, caught: '"entry N of the cut N is held by no promiser"' },
  { seed: 5961, kinds: narrow, caught: '"entry N of the cut N is held by no promiser"' },
  { seed: 5707, kinds: narrow, caught: 'a member never delivered its own multicasts, a leave never completed (G7)' },
  { seed: 2395, kinds: ALL_FAULT_KINDS, caught: 'restarted members founded a second network while the others were partitioned (G4, G9)' },
  { seed: 3632, kinds: ALL_FAULT_KINDS, caught: 'split brain after restarts (G4, G9)' },
  { seed: 4724, kinds: ALL_FAULT_KINDS, caught: 'a network left only in joiners, unfindable from the seeds, was judged for liveness' },
  { seed: 31234, kinds: ALL_FAULT_KINDS, caught: 'a paused coordinator took two incarnations of one id into a view (two pending joins), so a restart went uncounted and the view blocked for good (G7)' },
  { seed: 36946, kinds: ALL_FAULT_KINDS, caught: 'a member missed the accept of a view change whose proposer then crashed; the others could resend only a bare commit, so it stayed in the old epoch while the new view needed its promise (G7)' },
  { seed: 42516, kinds: ALL_FAULT_KINDS, caught: 'a view change sent a leave and a stateDone again in that order; the leave waited for the member to provide a state, which waited for the stateDone behind it (G7)' },
  { seed: 60204, kinds: ALL_FAULT_KINDS, caught: 'restarted seeds accepted a founding prepared with their earlier incarnations; every later founding proposed it again and none completed (G7)' },
  { seed: 51439, kinds: ALL_FAULT_KINDS, caught: 'under a full order window the sequencer served low ranks first and a high-rank sender starved (G7)' },
  { seed: 52479, kinds: ALL_FAULT_KINDS, caught: 'a proposer committed a view without itself and left; the joiners, the new coordinator among them, never got their welcome and the view blocked (G7)' },
  { seed: 44518, kinds: ALL_FAULT_KINDS, caught: 'every seed host restarted while the network lived on in joiners only, heard nothing of it, and founded a second network (G9); the test in founding.test.ts pins it' },
  { seed: 45114, kinds: ALL_FAULT_KINDS, caught: 'a joiner kept a gone epoch-8 contact and ignored the lower-epoch network that could take it in (G7); joining.test.ts pins it' },
  { seed: 36697, kinds: ALL_FAULT_KINDS, caught: 'every seed restarted while the network lived on in joiners only; the seeds that had heard of it founded a second one (G9)' },
  {
    seed: 33,
    kinds: [FaultKind.slowConsumer, FaultKind.crash, FaultKind.pauseLong, FaultKind.pauseShort, FaultKind.partition2, FaultKind.leave, FaultKind.groupJoin, FaultKind.lossBurst, FaultKind.crashCoordinator],
    caught: 'an application stalled past its exclusion never rejoined its group: the harness skipped the rejoin while the excluded handle was still open (G7)',
  },
  { seed: 24, kinds: [FaultKind.slowConsumer, FaultKind.crash], caught: "the coordinator's application stalled and caught up, but its stability was never computed again: the order window stayed shut for good (G7)" },
];

for (const c of cases) {
  const kinds = c.kinds === narrow ? 'narrow kinds' : c.kinds === ALL_FAULT_KINDS ? 'all kinds' : c.kinds.join(', ');
  test(`swarm seed ${c.seed} (${kinds}): once ${c.caught}`, async () => {
    const r = await runSwarm({ seed: c.seed, kinds: c.kinds });
    assert.equal(r.violations.length, 0, `seed ${c.seed}; replay with: ${swarmReplayCommand(c.seed, c.kinds)}\n  ${r.description}\n${formatFirstViolations(r.violations, 5)}`);
  });
}
