/**
 * The swarm with durable endpoints: every address writes its log to a simulated disk of
 * its own, a crash is a power cut for it too, and every multicast resolves at
 * `durable: 'majority'`. Beyond G1–G11, every tenth multicast is checked the moment it
 * resolves: the worst crash then (each disk keeping only its synced bytes) leaves it in
 * the logs of a majority of the members of the view it was delivered in. Seed 11 is the
 * one that caught a member back from a crash counted for its earlier incarnation. Total
 * failures (stop-all, crash-majority) restart from the logs: the endpoints' applications
 * join what their endpoints restore, and G1–G11 judge the restored states as states.
 * `COHORT_SEED=N` runs one seed, `COHORT_SEED_COUNT=N` narrows the range.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFirstViolations } from '../src/cli/replay.js';
import { runSwarm } from '../src/sim/swarm.js';

const only = process.env.COHORT_SEED;
const count = Number(process.env.COHORT_SEED_COUNT ?? 40);
// 38, 136 and 143: restarts from the logs that waited for ever (a member whose first
// view never reached its disk could not count); 80030: an excluded survivor's next
// incarnation did not restart from its log.
const seeds = only !== undefined ? [Number(only)] : [11, 38, 136, 143, ...Array.from({ length: count }, (_, i) => 80_001 + i)];

test(`durable swarm: ${seeds.length} seeds judged on G1-G11 and on the durability of majority multicasts`, async () => {
  let checked = 0;
  const failed: string[] = [];
  for (const seed of seeds) {
    const r = await runSwarm({ seed, durable: true });
    checked += r.durableChecked;
    if (r.violations.length > 0) failed.push(`seed ${seed} (replay: COHORT_SEED=${seed} node --test dist/test/swarm-durable.test.js)\n  ${r.description}\n${formatFirstViolations(r.violations, 3)}`);
  }
  assert.deepEqual(failed, []);
  assert.ok(checked >= seeds.length * 5, `only ${checked} multicasts checked on the disks`);
  process.stdout.write(`# durable swarm: ${seeds.length} seeds, ${checked} majority multicasts checked on the disks\n`);
});
