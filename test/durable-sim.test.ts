/**
 * The durability claim under crashes, in the simulator: three durable endpoints whose
 * logs sit on simulated disks (each flush takes a drawn time; a crash keeps the synced
 * bytes and a drawn part of the rest), multicasting at `durable: 'majority'` while
 * members crash — disk and process together — and come back as new incarnations that
 * reopen their logs (a torn tail is cut off). The moment a multicast's promise
 * resolves, every member's disk is imaged as the worst crash would leave it (synced
 * bytes only), and the message must be in the logs of at least two of the three
 * images. Seeds are printed on failure; `COHORT_SEED=N` runs one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unbundle } from '../src/core/bundle.js';
import type { Endpoint, Group } from '../src/index.js';
import { decodeRecord } from '../src/persist/records.js';
import { SegmentLog } from '../src/persist/segment-log.js';
import { SimDisk } from '../src/persist/sim-disk.js';
import { SeededRng } from '../src/sim/rng.js';
import { Simulation } from '../src/sim/simulation.js';
import { multicastDurable } from './durable-send.js';

const dec = new TextDecoder();

/** The application messages (their text) in the log on `disk`. */
async function messagesOn(disk: SimDisk): Promise<Set<string>> {
  const log = await SegmentLog.open(disk);
  const out = new Set<string>();
  for (const r of log.read()) {
    const rec = decodeRecord(r.index, r.kind, r.payload);
    if (rec.kind !== 'entry' || rec.entry.kind !== 0) continue;
    for (const m of unbundle(rec.entry.payload) ?? []) out.add(dec.decode(m.data));
  }
  await log.close();
  return out;
}

interface Member {
  readonly id: string;
  readonly disk: SimDisk;
  ep: Endpoint | null;
  group: Group | null;
}

async function runSeed(seed: number): Promise<{ resolved: number; checked: number; crashes: number }> {
  const rng = new SeededRng(seed);
  const sim = new Simulation({ seed, endpoint: { heartbeatMs: 20, suspectTimeoutMs: 200 } });
  const ids = ['a', 'b', 'c'];
  const members: Member[] = ids.map((id) => {
    const m: Member = {
      id,
      ep: null,
      group: null,
      // A flush completes after 0.2 to 3 ms of virtual time (a crash in between fails it: see SimDisk.handle).
      disk: new SimDisk(rng.fork(), { defer: (done) => void sim.scheduler.after(0.2 + rng.below(29) / 10, done) }),
    };
    return m;
  });
  const open = async (m: Member, seeds: readonly string[]): Promise<Endpoint> => {
    // Reopening a crashed disk may cut a torn tail and flush: virtual time must run.
    const log = await sim.run(SegmentLog.open(m.disk.handle()), 10_000);
    const ep = sim.open(m.id, seeds, { persist: { log } });
    m.ep = ep;
    return ep;
  };
  await Promise.all(members.map((m) => open(m, ids.filter((x) => x !== m.id))));
  await sim.run(Promise.all(members.map((m) => m.ep!.ready)), 30_000);
  for (const m of members) m.group = await sim.run(m.ep!.join('g'), 30_000);

  const checks: Promise<void>[] = [];
  const problems: string[] = [];
  let resolved = 0;
  let sent = 0;
  let crashes = 0;
  const send = (m: Member): void => {
    if (m.group === null) return;
    const text = `${m.id}-${sent++}`;
    const p = multicastDurable(m.group, text);
    if (p === null) return; // closed or full: this member is down or going down
    p.then(
      () => {
        resolved++;
        // Image every disk now, as the worst crash would leave it; judge later.
        const images = members.map((x) => x.disk.durableImage(new SeededRng(1)));
        checks.push(
          Promise.all(images.map(messagesOn)).then((sets) => {
            const holders = sets.filter((s) => s.has(text)).length;
            if (holders < 2) problems.push(`${text} resolved at ${sim.now} ms on disk at ${holders} of 3`);
          }),
        );
      },
      () => undefined, // rejected: the sender crashed or left; nothing was claimed
    );
  };

  // 3 seconds of traffic with crashes: at most one member down at a time, back after a while.
  let down: Member | null = null;
  let downUntil = 0;
  for (let t = 0; t < 3_000; t += 10) {
    for (const m of members) if (m !== down && rng.below(3) === 0) send(m);
    if (down === null && rng.below(60) === 0) {
      down = members[rng.below(3)]!;
      sim.crash(down.id);
      down.disk.crash();
      down.group = null;
      down.ep = null;
      crashes++;
      downUntil = sim.now + 300 + rng.below(700);
    } else if (down !== null && sim.now >= downUntil) {
      const back = down;
      down = null;
      const ep = await open(back, ids.filter((x) => x !== back.id));
      await sim.run(ep.ready, 30_000);
      back.group = await sim.run(ep.join('g'), 30_000);
    }
    await sim.runFor(10);
  }
  await Promise.all(checks);
  assert.deepEqual(problems, [], `seed ${seed}`);
  return { resolved, checked: checks.length, crashes };
}

test('a multicast resolved at durable majority is in the crash-proof log of a majority, through crashes and restarts', async () => {
  const only = process.env.COHORT_SEED;
  const seeds = only !== undefined ? [Number(only)] : Array.from({ length: Number(process.env.COHORT_SEED_COUNT ?? 24) }, (_, i) => 9100 + i);
  let resolved = 0;
  let crashes = 0;
  for (const seed of seeds) {
    try {
      const r = await runSeed(seed);
      resolved += r.resolved;
      crashes += r.crashes;
    } catch (err) {
      process.stderr.write(`durable-sim: seed ${seed} failed; replay: COHORT_SEED=${seed} node --test dist/test/durable-sim.test.js\n`);
      throw err;
    }
  }
  assert.ok(resolved > 100 * seeds.length, `only ${resolved} multicasts resolved`);
  assert.ok(crashes >= seeds.length / 2, `only ${crashes} crashes`);
});
