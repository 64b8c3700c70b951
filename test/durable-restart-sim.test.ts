/**
 * Restart from the logs after a total failure, in the simulator: three or five durable
 * endpoints on simulated disks (a crash keeps the synced bytes and a drawn part of the
 * rest, torn) multicast at `durable: 'majority'` through single crashes, then every
 * member crashes at once, in the middle of the traffic. A drawn majority restarts (in a
 * drawn order, sometimes crashing all over again part-way through the restart), then
 * the rest. Checked: every multicast whose promise resolved is in every member's state
 * afterwards; every member's state is the same list; nothing is in it twice. Seeds are
 * printed on failure; `COHORT_SEED=N` runs one. Besides 9600–9639, the seeds that
 * caught bugs: 9626 (a restart's view record dropped the groups it handed on), 9706 (a
 * torn record split the restorer's join from its mark), 9799 (a group awaiting an
 * earlier restart's restorer waited on its old members), 9819 (a member whose vote
 * was for the restart view could not count for it), 9960 (a member joined by transfer
 * whose state never reached its log restored an empty group).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Endpoint, Group } from '../src/index.js';
import { SegmentLog } from '../src/persist/segment-log.js';
import { SimDisk } from '../src/persist/sim-disk.js';
import { MemoryVoteFile } from '../src/persist/votes.js';
import { SeededRng } from '../src/sim/rng.js';
import { Simulation } from '../src/sim/simulation.js';
import { multicastDurable } from './durable-send.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** One member: its disk and vote (kept across crashes), its endpoint and its list (the group's state) while up. */
interface Member {
  readonly id: string;
  readonly disk: SimDisk;
  readonly votes: MemoryVoteFile;
  ep: Endpoint | null;
  group: Group | null;
  items: string[];
}

async function runSeed(seed: number): Promise<{ resolved: number; restarts: number }> {
  const rng = new SeededRng(seed);
  const sim = new Simulation({ seed, endpoint: { heartbeatMs: 20, suspectTimeoutMs: 200 } });
  const n = rng.below(2) === 0 ? 3 : 5;
  const ids = ['a', 'b', 'c', 'd', 'e'].slice(0, n);
  const members: Member[] = ids.map((id) => ({
    id,
    ep: null,
    group: null,
    items: [],
    votes: new MemoryVoteFile(),
    disk: new SimDisk(rng.fork(), { defer: (done) => void sim.scheduler.after(0.2 + rng.below(29) / 10, done) }),
  }));
  const seedsOf = (m: Member): string[] => ids.filter((x) => x !== m.id);
  /** Open `m` on its disk (a torn tail cut off), and join `g` with a fresh list. */
  const up = async (m: Member): Promise<void> => {
    const log = await sim.run(SegmentLog.open(m.disk.handle()), 10_000);
    const trace = process.env.COHORT_TEST_LOG === undefined ? {} : { onLog: (l: string) => process.stderr.write(`${sim.now.toFixed(1)} ${m.id} ${l}\n`) };
    const ep = sim.open(m.id, seedsOf(m), { persist: { log, votes: m.votes }, ...trace });
    m.ep = ep;
    m.items = [];
    const joined = ep.join('g', {
      onEvent: (e) => {
        if (e.type === 'state') m.items = JSON.parse(dec.decode(e.data)) as string[];
        else if (e.type === 'message') m.items.push(dec.decode(e.data));
      },
      checkpoint: () => enc.encode(JSON.stringify(m.items)),
    });
    joined.then(
      (g) => {
        if (m.ep === ep) m.group = g;
      },
      () => undefined,
    );
  };
  const down = (m: Member): void => {
    if (m.ep === null) return;
    sim.crash(m.id);
    m.disk.crash();
    m.ep = null;
    m.group = null;
  };
  const resolvedTexts: string[] = [];
  let sent = 0;
  const send = (m: Member): void => {
    if (m.group === null) return;
    const text = `${m.id}-${sent++}`;
    const p = multicastDurable(m.group, text);
    if (p === null) return;
    p.then(
      () => resolvedTexts.push(text),
      () => undefined,
    );
  };
  const traffic = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 10) {
      for (const m of members) if (rng.below(3) === 0) send(m);
      await sim.runFor(10);
    }
  };

  await Promise.all(members.map(up));
  await sim.runUntil(() => members.every((m) => m.group !== null), 30_000);
  // Traffic, with one single crash and restart on the way.
  await traffic(300 + rng.below(500));
  const victim = members[rng.below(n)]!;
  down(victim);
  await traffic(200 + rng.below(300));
  await up(victim);
  await sim.runUntil(() => victim.group !== null, 30_000);
  await traffic(200 + rng.below(500));
  // Total failure, in the middle of the traffic: every member at once.
  for (const m of members) down(m);

  // A majority restarts, in a drawn order; sometimes all crash again part-way.
  const order = [...members].sort(() => rng.below(3) - 1);
  const majority = order.slice(0, Math.floor(n / 2) + 1);
  let restarts = 0;
  for (let attempt = 0; ; attempt++) {
    for (const m of majority) {
      await up(m);
      await sim.runFor(rng.below(60));
    }
    restarts++;
    if (attempt < 2 && rng.below(3) === 0) {
      await sim.runFor(rng.below(200));
      for (const m of majority) down(m);
      continue;
    }
    break;
  }
  await sim.runUntil(() => majority.every((m) => m.group !== null), 60_000);
  await traffic(200);
  // The rest come back.
  for (const m of members) if (m.ep === null) await up(m);
  await sim.runUntil(() => members.every((m) => m.group !== null), 60_000);
  // A last multicast at 'all': once every member has it, their lists must be one.
  const last = members[0]!.group!.multicast(enc.encode('end'), { durable: 'all' });
  await sim.run(last, 30_000);
  await sim.runUntil(() => members.every((m) => m.items.includes('end')), 30_000);
  await sim.runFor(100);

  const lists = members.map((m) => m.items.slice(0, m.items.indexOf('end') + 1));
  for (const [i, l] of lists.entries()) {
    assert.deepEqual(l, lists[0], `seed ${seed}: ${members[i]!.id}'s state differs from ${members[0]!.id}'s`);
    assert.equal(new Set(l).size, l.length, `seed ${seed}: ${members[i]!.id}'s state holds a message twice`);
  }
  const have = new Set(lists[0]);
  const lost = resolvedTexts.filter((t) => !have.has(t));
  assert.deepEqual(lost, [], `seed ${seed}: acknowledged at majority, lost in the restart`);
  return { resolved: resolvedTexts.length, restarts };
}

test('restart from the logs after a total failure: nothing acknowledged at majority is lost, and every member restores the same state', async () => {
  const only = process.env.COHORT_SEED;
  const count = Number(process.env.COHORT_SEED_COUNT ?? 40);
  const seeds = only !== undefined ? [Number(only)] : [...Array.from({ length: count }, (_, i) => 9600 + i), ...(count > 360 ? [] : [9706, 9799, 9819, 9960])];
  let resolved = 0;
  let restarts = 0;
  for (const seed of seeds) {
    try {
      const r = await runSeed(seed);
      resolved += r.resolved;
      restarts += r.restarts;
    } catch (err) {
      process.stderr.write(`durable-restart-sim: seed ${seed} failed; replay: COHORT_SEED=${seed} node --test dist/test/durable-restart-sim.test.js\n`);
      throw err;
    }
  }
  assert.ok(resolved > 20 * seeds.length, `only ${resolved} multicasts resolved`);
  assert.ok(restarts >= seeds.length, `only ${restarts} restarts`);
});
