/**
 * `npm run bench:suspicion`: how often a live member is removed by mistake, and how
 * long a one-way cut into the coordinator stalls the rest, measured in the simulator
 * (deterministic: the same seeds give the same table).
 *
 * - **Pauses just under (and one over) the suspicion timeout.** Five members; one at a time, a
 *   random member (the coordinator too) is paused (as SIGSTOP would) for a fraction
 *   of `suspectTimeoutMs`, resumed, and left alone for a few seconds. Counted: live
 *   members removed (an exclusion makes the endpoint rejoin as a new incarnation).
 * - **One-way link cuts.** Five members; one at a time, the messages from one member
 *   to another (a random ordered pair) are lost for twice the suspicion timeout, then
 *   the link is restored. Counted: removals of the cut link's sender, of its
 *   receiver, and of bystanders.
 * - **One-way cut into the coordinator.** Nothing reaches the coordinator; its own
 *   messages still arrive. Measured: the time from the cut until a majority of the
 *   others delivers a message multicast after it.
 *
 * Prints one markdown table. Every member multicasts every 100 ms throughout.
 */
import { parseArgs } from 'node:util';
import { Simulation } from '../src/sim/simulation.js';
import type { Endpoint } from '../src/endpoint.js';

const usage = `usage: npm run bench:suspicion -- [--trials N] [--members N] [--seed S]

  --trials N    pauses per pause length, and link cuts (default 1000)
  --members N   members of the network (default 5)
  --seed S      first simulation seed (default 1)
  -h, --help    print this text`;

const suspectTimeoutMs = 1000;
const te = new TextEncoder();

/** A running network of `n` members in group g, each multicasting every 100 ms. */
async function network(seed: number, n: number): Promise<{ sim: Simulation; ids: string[] }> {
  const sim = new Simulation({ seed, endpoint: { suspectTimeoutMs } });
  const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  await sim.startAll(ids);
  const joined = new Set<string>();
  const talk = (): void => {
    for (const id of ids) {
      const ep: Endpoint = sim.endpoint(id);
      const key = `${id}#${ep.incarnation}`;
      if (!joined.has(key)) {
        joined.add(key);
        ep.join('g').catch(() => joined.delete(key));
        continue;
      }
      const g = ep.group('g');
      if (g?.view != null) g.multicast(te.encode('x')).catch(() => undefined);
    }
    sim.scheduler.after(100, talk);
  };
  talk();
  await sim.runFor(2000);
  return { sim, ids };
}

/** Removals of live members (counted by new incarnations: an excluded endpoint rejoins as one) per `trials` pauses of `fraction` × the suspicion timeout. */
async function pauses(seed: number, n: number, trials: number, fraction: number): Promise<number> {
  const { sim, ids } = await network(seed, n);
  let removed = 0;
  const inc = new Map(ids.map((id) => [id, sim.endpoint(id).incarnation]));
  for (let t = 0; t < trials; t++) {
    const id = ids[(t * 7 + seed) % ids.length]!;
    sim.pause(id);
    await sim.runFor(Math.round(fraction * suspectTimeoutMs));
    sim.resume(id);
    await sim.runFor(2500);
    for (const x of ids) {
      const now = sim.endpoint(x).incarnation;
      if (now !== inc.get(x)) {
        removed++;
        inc.set(x, now);
      }
    }
  }
  return removed;
}

/** Removals per `trials` one-way cuts of a random ordered pair, by role. */
async function cuts(seed: number, n: number, trials: number): Promise<{ sender: number; receiver: number; bystander: number; coordinatorCuts: number }> {
  const { sim, ids } = await network(seed, n);
  const out = { sender: 0, receiver: 0, bystander: 0, coordinatorCuts: 0 };
  const inc = new Map(ids.map((id) => [id, sim.endpoint(id).incarnation]));
  let cut: [string, string] | null = null;
  sim.network.dropWhen((from, to) => cut !== null && from === cut[0] && to === cut[1]);
  for (let t = 0; t < trials; t++) {
    const a = ids[(t * 3 + seed) % n]!;
    const b = ids[(t * 3 + seed + 1 + (t % (n - 1))) % n]!;
    if (a === b) continue;
    const coordinator = sim.endpoint(ids[0]!).view?.members[0]?.id;
    if (a === coordinator || b === coordinator) out.coordinatorCuts++;
    cut = [a, b];
    await sim.runFor(2 * suspectTimeoutMs);
    cut = null;
    await sim.runFor(4000);
    for (const x of ids) {
      const now = sim.endpoint(x).incarnation;
      if (now === inc.get(x)) continue;
      inc.set(x, now);
      if (x === a) out.sender++;
      else if (x === b) out.receiver++;
      else out.bystander++;
    }
  }
  return out;
}

/** Virtual ms from a one-way cut into the coordinator until a majority of the others delivers again. */
async function stall(seed: number, n: number): Promise<number> {
  const sim = new Simulation({ seed, endpoint: { suspectTimeoutMs } });
  const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const eps = await sim.startAll(ids);
  for (const ep of eps) await sim.run(ep.join('g'));
  await sim.runFor(500);
  const coordinator = eps[0]!.view!.members[0]!.id;
  let T = Infinity;
  const resumed = new Set<string>();
  const others = eps.filter((ep) => ep.id !== coordinator);
  const talk = (): void => {
    for (const ep of others) {
      const g = ep.group('g');
      if (g?.view == null) continue;
      const sentAt = sim.now;
      g.multicast(te.encode('x')).then(
        () => {
          if (sentAt > T) resumed.add(ep.id);
        },
        () => undefined,
      );
    }
    sim.scheduler.after(100, talk);
  };
  talk();
  await sim.runFor(1000);
  T = sim.now;
  sim.network.dropWhen((from, to) => to === coordinator && from !== coordinator);
  const need = Math.floor(n / 2) + 1;
  const limit = T + 120_000;
  while (resumed.size < need && sim.now < limit) await sim.runFor(50);
  return resumed.size >= need ? sim.now - T : Infinity;
}

async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { trials: { type: 'string' }, members: { type: 'string' }, seed: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help === true) {
    console.log(usage);
    return 0;
  }
  const trials = Number(values.trials ?? 1000);
  const n = Number(values.members ?? 5);
  const seed = Number(values.seed ?? 1);
  if (!Number.isSafeInteger(trials) || trials < 1 || !Number.isSafeInteger(n) || n < 3 || !Number.isSafeInteger(seed)) {
    console.error(usage);
    return 2;
  }
  const rows: string[] = [];
  for (const fraction of [0.5, 0.8, 0.9, 0.95, 1.2]) {
    const r = await pauses(seed, n, trials, fraction);
    rows.push(`| pause of ${Math.round(fraction * 100)}% of the suspicion timeout | ${trials} | ${r} live members removed (${((1000 * r) / trials).toFixed(1)} per 1,000) |`);
    process.stderr.write(`${rows[rows.length - 1]}\n`);
  }
  const c = await cuts(seed, n, trials);
  rows.push(
    `| one-way cut of one link for 2 × the timeout (${c.coordinatorCuts} of them to or from the coordinator) | ${trials} | ` +
      `removed: ${c.receiver} receivers (the member that could not hear), ${c.sender} senders, ${c.bystander} bystanders |`,
  );
  process.stderr.write(`${rows[rows.length - 1]}\n`);
  const stalls: number[] = [];
  for (let s = seed; s < seed + 10; s++) stalls.push(await stall(s, n));
  stalls.sort((a, b) => a - b);
  rows.push(`| one-way cut into the coordinator | 10 | the others deliver again after ${stalls[0]}–${stalls[stalls.length - 1]} ms (median ${stalls[5]} ms) |`);
  console.log(`${n} members, suspectTimeoutMs ${suspectTimeoutMs}, heartbeats every 100 ms, every member multicasting every 100 ms (simulated time)\n`);
  console.log('| fault | trials | outcome |');
  console.log('|---|---|---|');
  for (const r of rows) console.log(r);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
