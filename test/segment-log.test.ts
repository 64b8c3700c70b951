/**
 * The segment log (`src/persist/`), over the simulated disk and the real one: what is
 * appended is read back in order, across roll-overs and reopenings; a torn last write
 * is cut off at every byte offset; a damaged record before the tail is refused with
 * ERR_CORRUPT naming the file and offset; and a crash at every write point of a
 * scripted run leaves a log that opens, is a prefix of what was appended, and holds at
 * least everything a resolved `sync` called durable. Every loop is bounded.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { CohortError, CorruptLogError } from '../src/errors.js';
import { crc32c } from '../src/persist/crc32c.js';
import { NodeDisk } from '../src/persist/node-disk.js';
import { FRAME_BYTES, HEADER_BYTES, segmentName } from '../src/persist/segment-format.js';
import { SegmentLog, type LogRecord } from '../src/persist/segment-log.js';
import { SimDisk, SimDiskCrash } from '../src/persist/sim-disk.js';
import { SeededRng } from '../src/sim/rng.js';

/** A record as appended: kind and payload. */
interface Rec {
  kind: number;
  payload: Uint8Array;
}

/** The `i`-th record of a deterministic stream: sizes vary from 0 to ~90 bytes. */
function rec(i: number): Rec {
  const payload = new Uint8Array((i * 37) % 91);
  for (let j = 0; j < payload.length; j++) payload[j] = (i * 31 + j * 7) & 0xff;
  return { kind: i % 256, payload };
}

function all(log: SegmentLog, from?: number): LogRecord[] {
  return [...log.read(from)].map((r) => ({ index: r.index, kind: r.kind, payload: r.payload.slice() }));
}

function assertRecords(got: readonly LogRecord[], want: readonly Rec[], first: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} records, expected ${want.length}`);
  got.forEach((r, i) => {
    assert.equal(r.index, first + i, `${what}: index`);
    assert.equal(r.kind, want[i]?.kind, `${what}: kind of ${r.index}`);
    assert.deepEqual(r.payload, want[i]?.payload, `${what}: payload of ${r.index}`);
  });
}

/** A sim disk holding `n` records of the stream, synced, closed; with segment size `segmentBytes`. */
async function written(n: number, segmentBytes = 1 << 20, seed = 1): Promise<SimDisk> {
  const disk = new SimDisk(new SeededRng(seed));
  const log = await SegmentLog.open(disk, { segmentBytes });
  for (let i = 0; i < n; i++) log.append(rec(i).kind, rec(i).payload);
  await log.sync();
  await log.close();
  return disk;
}

const isCorrupt =
  (file: string, offset: number) =>
  (e: unknown): boolean =>
    e instanceof CorruptLogError && e instanceof CohortError && e.code === 'ERR_CORRUPT' && e.file === file && e.offset === offset && e.message.includes(file);

test('crc32c matches the standard check value', () => {
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
});

test('round trip by property: batches of records read back in order, before and after reopening', async () => {
  const record = fc.record({ kind: fc.integer({ min: 0, max: 255 }), payload: fc.uint8Array({ maxLength: 200 }) });
  await fc.assert(
    fc.asyncProperty(fc.array(fc.array(record, { maxLength: 12 }), { maxLength: 8 }), fc.integer({ min: 40, max: 600 }), fc.nat(1000), async (batches, segmentBytes, first) => {
      const disk = new SimDisk(new SeededRng(first));
      const log = await SegmentLog.open(disk, { segmentBytes, firstIndex: first });
      const want: Rec[] = [];
      for (const batch of batches) {
        for (const r of batch) assert.equal(log.append(r.kind, r.payload), first + want.push(r) - 1);
        assert.equal(await log.sync(), first + want.length - 1);
      }
      assertRecords(all(log), want, first, 'before close');
      await log.close();
      const again = await SegmentLog.open(disk, { segmentBytes });
      assert.equal(again.recovery.tornBytes, 0);
      assertRecords(all(again), want, want.length > 0 ? first : 0, 'after reopen');
      const from = first + Math.floor(want.length / 2);
      if (want.length > 0) assertRecords(all(again, from), want.slice(from - first), from, 'read from the middle');
    }),
    { numRuns: 60, seed: 19 },
  );
});

test('one fsync per sync call (group commit), none when nothing is new; roll-over makes bounded segments', async () => {
  const disk = new SimDisk(new SeededRng(2));
  const log = await SegmentLog.open(disk, { segmentBytes: 1000 });
  for (let i = 0; i < 5; i++) log.append(1, new Uint8Array(10));
  assert.equal(await log.sync(), 4);
  assert.deepEqual([disk.stats.syncs, disk.stats.dirSyncs], [1, 1], 'first batch: the segment and its name');
  for (let i = 0; i < 20; i++) log.append(1, new Uint8Array(10));
  assert.equal(await log.sync(), 24);
  assert.deepEqual([disk.stats.syncs, disk.stats.dirSyncs], [2, 1], 'twenty appends, one fsync');
  assert.equal(await log.sync(), 24);
  assert.equal(disk.stats.syncs, 2, 'nothing new, no fsync');
  for (let i = 0; i < 200; i++) log.append(2, new Uint8Array(50));
  const [a, b] = await Promise.all([log.sync(), log.sync()]);
  assert.deepEqual([a, b], [224, 224]);
  const names = disk.list();
  assert.ok(names.length >= 15, `rolled over into ${names.length} segments`);
  for (const name of names) assert.ok(disk.sizes(name).len <= 1000, `${name} within segmentBytes`);
  assert.equal(all(log).length, 225);
  await log.close();
  const again = await SegmentLog.open(disk, { segmentBytes: 1000 });
  assert.deepEqual([again.firstIndex, again.nextIndex, again.durableIndex, again.recovery.segments], [0, 225, 224, names.length]);
  assert.equal(again.append(3, new Uint8Array(1)), 225, 'appends continue after the last index');
  await again.close();
});

test('a record larger than a segment gets a segment of its own; oversized records and bad kinds are refused', async () => {
  const disk = new SimDisk(new SeededRng(3));
  const log = await SegmentLog.open(disk, { segmentBytes: 100, recordBytesMax: 500 });
  log.append(0, new Uint8Array(300));
  log.append(0, new Uint8Array(300));
  await log.sync();
  assert.equal(disk.list().length, 2);
  assert.throws(() => log.append(0, new Uint8Array(501)), (e: unknown) => e instanceof CohortError && e.code === 'ERR_MESSAGE_TOO_LARGE');
  assert.throws(() => log.append(256, new Uint8Array(1)), (e: unknown) => e instanceof CohortError && e.code === 'ERR_BAD_OPTION');
  await log.close();
  assert.throws(() => log.append(0, new Uint8Array(1)), (e: unknown) => e instanceof CohortError && e.code === 'ERR_CLOSED');
});

test('a torn last record, cut at every byte offset, is cut off at open; earlier records intact; the log goes on', async () => {
  const n = 6;
  const probe = await written(n);
  const name = segmentName(0);
  const size = probe.sizes(name).len;
  const lastStart = size - FRAME_BYTES - rec(n - 1).payload.length;
  for (let cut = lastStart; cut < size; cut++) {
    const disk = await written(n);
    disk.truncate(name, cut);
    const log = await SegmentLog.open(disk);
    assert.equal(log.recovery.tornBytes, cut - lastStart, `cut at ${cut}`);
    assert.equal(disk.sizes(name).len, lastStart, 'the file is truncated at the last whole record');
    assertRecords(all(log), [...Array(n - 1).keys()].map(rec), 0, `cut at ${cut}`);
    log.append(9, new Uint8Array([1, 2, 3]));
    await log.close();
    const again = await SegmentLog.open(disk);
    assert.equal(again.recovery.tornBytes, 0);
    assertRecords(all(again), [...[...Array(n - 1).keys()].map(rec), { kind: 9, payload: new Uint8Array([1, 2, 3]) }], 0, 'appended after the cut');
  }
});

test('a segment whose header was never wholly written is removed at open', async () => {
  for (let cut = 0; cut < HEADER_BYTES; cut++) {
    const disk = await written(4, 1 << 20);
    const next = segmentName(4);
    disk.create(next);
    disk.append(next, new Uint8Array(cut)); // zeros: a header not yet on the platter
    const log = await SegmentLog.open(disk);
    assert.deepEqual(log.recovery.removed, [next]);
    assert.equal(log.nextIndex, 4);
    await log.close();
  }
});

test('a damaged byte anywhere in a middle record, or in a header, is refused with ERR_CORRUPT naming file and offset', async () => {
  const n = 6;
  const probe = await written(n);
  const name = segmentName(0);
  const frame = (i: number): number => FRAME_BYTES + rec(i).payload.length;
  let start = HEADER_BYTES;
  for (let i = 0; i < 2; i++) start += frame(i);
  for (let at = start; at < start + frame(2); at++) {
    const disk = await written(n);
    disk.corrupt(name, at, 0x01);
    await assert.rejects(SegmentLog.open(disk), isCorrupt(name, start), `byte ${at} of record 2`);
  }
  for (let at = 0; at < 20; at++) {
    const disk = await written(n);
    disk.corrupt(name, at, 0x80);
    await assert.rejects(SegmentLog.open(disk), isCorrupt(name, 0), `header byte ${at}`);
  }
  assert.ok(probe.sizes(name).len > start);
});

test('damage in a segment that is not the last is refused, even in its final record', async () => {
  const disk = await written(40, 200);
  const names = disk.list();
  assert.ok(names.length >= 3);
  const victim = names[1] as string;
  const len = disk.sizes(victim).len;
  disk.corrupt(victim, len - 1);
  await assert.rejects(SegmentLog.open(disk, { segmentBytes: 200 }), (e: unknown) => e instanceof CorruptLogError && e.file === victim);
});

test('damage to the very last record of the last segment looks like a torn write, and is cut (documented ambiguity)', async () => {
  const disk = await written(5);
  const name = segmentName(0);
  disk.corrupt(name, disk.sizes(name).len - 1);
  const log = await SegmentLog.open(disk);
  assert.equal(log.nextIndex, 4);
  assert.ok(log.recovery.tornBytes > 0);
  assert.match(log.recovery.tornReason ?? '', /checksum/);
});

test('truncateBefore drops whole segments behind the index, never the last, and the log reopens there', async () => {
  const disk = await written(60, 300);
  const log = await SegmentLog.open(disk, { segmentBytes: 300 });
  const before = disk.list().length;
  const removed = await log.truncateBefore(30);
  assert.ok(removed > 0 && removed < before);
  assert.ok(log.firstIndex <= 30 && log.firstIndex > 0, `first index ${log.firstIndex}`);
  assertRecords(all(log), [...Array(60).keys()].slice(log.firstIndex).map(rec), log.firstIndex, 'after truncation');
  const rest = disk.list().length - 1;
  assert.equal(await log.truncateBefore(1000), rest);
  assert.equal(disk.list().length, 1, 'the last segment stays');
  const first = log.firstIndex;
  await log.close();
  const again = await SegmentLog.open(disk, { segmentBytes: 300 });
  assert.equal(again.firstIndex, first);
  assert.equal(again.nextIndex, 60);
});

test('a failed disk write fails the log for good; the disk reopens as it was', async () => {
  const disk = await written(3);
  const log = await SegmentLog.open(disk);
  log.append(0, new Uint8Array(5));
  disk.failAt(disk.stats.writePoints + 2); // the fsync after the write
  await assert.rejects(log.sync(), /EIO|I\/O error/);
  await assert.rejects(log.sync(), /I\/O error/);
  assert.throws(() => log.append(0, new Uint8Array(1)), /I\/O error/);
  await log.close();
  const again = await SegmentLog.open(disk);
  assert.ok(again.nextIndex === 3 || again.nextIndex === 4);
});

/** What a scripted run did before it stopped: every record appended, and the last index a resolved sync called durable. */
interface ScriptRun {
  appended: Rec[];
  durable: number;
  /** The highest index given to truncateBefore (records before it may be gone). */
  truncatedTo: number;
  crashed: boolean;
}

/**
 * A scripted run: rounds of appends and syncs over small segments (so that it rolls
 * over), a truncation half-way, a close. Stops at the first disk error.
 */
async function script(disk: SimDisk, run: ScriptRun): Promise<void> {
  try {
    const log = await SegmentLog.open(disk.handle(), { segmentBytes: 260 });
    const base = log.nextIndex;
    for (let round = 0; round < 6; round++) {
      for (let k = 0; k < 1 + (round % 3) * 2; k++) {
        const r = rec(run.appended.length);
        assert.equal(log.append(r.kind, r.payload), base + run.appended.length);
        run.appended.push(r);
      }
      run.durable = await log.sync();
      if (round === 3) {
        run.truncatedTo = 4;
        await log.truncateBefore(4);
      }
    }
    await log.close();
    run.durable = run.appended.length - 1;
  } catch (err) {
    if (!(err instanceof SimDiskCrash)) throw err;
    run.crashed = true;
  }
}

/** After a crash: the log opens, is a prefix of what was appended, holds everything durable, and goes on. */
async function checkAfterCrash(disk: SimDisk, run: ScriptRun, what: string): Promise<SegmentLog['recovery'] & { end: number }> {
  const log = await SegmentLog.open(disk.handle(), { segmentBytes: 260 });
  const end = log.nextIndex;
  const got = all(log);
  const first = log.firstIndex;
  assert.ok(first <= Math.max(run.truncatedTo, 0), `${what}: first index ${first} beyond the truncation to ${run.truncatedTo}`);
  assert.ok(log.nextIndex - 1 >= run.durable, `${what}: lost durable records: ends at ${log.nextIndex - 1}, ${run.durable} was durable`);
  assert.ok(log.nextIndex <= run.appended.length, `${what}: more records than appended`);
  assertRecords(got, run.appended.slice(first, log.nextIndex), first, what);
  log.append(7, new Uint8Array([7]));
  assert.equal(await log.sync(), log.nextIndex - 1);
  await log.close();
  const again = await SegmentLog.open(disk, { segmentBytes: 260 });
  assert.equal(again.recovery.tornBytes, 0, `${what}: clean after a clean close`);
  assert.equal(again.nextIndex, log.nextIndex);
  await again.close();
  return { ...log.recovery, end };
}

test('a crash at every write point of a scripted run: the log reopens as a prefix holding everything synced', async () => {
  const dry = new SimDisk(new SeededRng(0));
  const dryRun: ScriptRun = { appended: [], durable: -1, truncatedTo: -1, crashed: false };
  await script(dry, dryRun);
  const points = dry.stats.writePoints;
  assert.ok(points > 20 && points < 500, `${points} write points`);
  assert.ok(dry.list().length >= 2, 'the script rolls over');
  assert.notEqual(dry.list()[0], segmentName(0), 'the script truncates');
  let crashes = 0;
  const seen = { torn: 0, removed: 0, lostUnsynced: 0 };
  for (let point = 1; point <= points; point++) {
    for (let seed = 0; seed < 6; seed++) {
      const disk = new SimDisk(new SeededRng(seed * 1000 + point));
      disk.crashAt(point);
      const run: ScriptRun = { appended: [], durable: -1, truncatedTo: -1, crashed: false };
      await script(disk, run);
      assert.ok(run.crashed, `point ${point}: no crash`);
      crashes++;
      const recovery = await checkAfterCrash(disk, run, `crash at point ${point}, seed ${seed}`);
      if (recovery.tornBytes > 0) seen.torn++;
      if (recovery.removed.length > 0) seen.removed++;
      if (recovery.end < run.appended.length) seen.lostUnsynced++;
    }
  }
  assert.equal(crashes, points * 6);
  // The runs met what they are meant to: torn records cut, leftover segments removed, unsynced records lost.
  assert.ok(seen.torn > 0 && seen.removed > 0 && seen.lostUnsynced > 0, JSON.stringify(seen));
});

test('a crash during recovery itself (after a torn crash) still recovers', async () => {
  for (let seed = 0; seed < 40; seed++) {
    const disk = new SimDisk(new SeededRng(seed));
    const run: ScriptRun = { appended: [], durable: -1, truncatedTo: -1, crashed: false };
    disk.crashAt(10 + (seed % 30));
    await script(disk, run);
    // Recovery's own writes (truncate, sync, remove, syncDir): crash at each of the first few.
    for (let p = 1; p <= 3; p++) {
      disk.crashAt(disk.stats.writePoints + p);
      try {
        const log = await SegmentLog.open(disk, { segmentBytes: 260 });
        disk.disarm();
        await log.close();
        break; // no crash: recovery needed fewer writes
      } catch (err) {
        if (!(err instanceof SimDiskCrash)) throw err;
      }
    }
    await checkAfterCrash(disk, run, `seed ${seed}`);
  }
});

type Op =
  | { t: 'append'; n: number }
  | { t: 'sync' }
  | { t: 'syncInFlight' }
  | { t: 'crash' }
  | { t: 'truncate'; before: number }
  | { t: 'reopen' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('append' as const), n: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 2, arbitrary: fc.constant({ t: 'sync' as const }) },
  { weight: 2, arbitrary: fc.constant({ t: 'syncInFlight' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'crash' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('truncate' as const), before: fc.nat(80) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'reopen' as const }) },
);

/** The model: what was appended (by index), what a resolved sync called durable, how far truncation may have cut. */
interface Model {
  appended: Rec[];
  durable: number;
  truncatedTo: number;
}

/** Open after a crash or a close, and check the log against the model; then the model forgets what was lost. */
async function reopenAndCheck(disk: SimDisk, m: Model, what: string): Promise<SegmentLog> {
  const log = await SegmentLog.open(disk.handle(), { segmentBytes: 200 });
  assert.ok(log.nextIndex - 1 >= m.durable, `${what}: ends at ${log.nextIndex - 1}, ${m.durable} was durable`);
  assert.ok(log.nextIndex <= m.appended.length, `${what}: more than appended`);
  assert.ok(log.firstIndex <= Math.max(m.truncatedTo, 0), `${what}: first ${log.firstIndex}, truncated to ${m.truncatedTo}`);
  assertRecords(all(log), m.appended.slice(log.firstIndex, log.nextIndex), log.firstIndex, what);
  m.appended.length = log.nextIndex;
  m.durable = log.nextIndex - 1;
  return log;
}

/** Run one op against the log and the model; returns the log to use next. */
async function step(disk: SimDisk, log: SegmentLog, m: Model, o: Op, what: string): Promise<SegmentLog> {
  switch (o.t) {
    case 'append':
      for (let k = 0; k < o.n; k++) {
        const r = rec(m.appended.length);
        assert.equal(log.append(r.kind, r.payload), m.appended.push(r) - 1);
      }
      return log;
    case 'sync':
      m.durable = Math.max(m.durable, await log.sync());
      return log;
    case 'syncInFlight':
      log.sync().then((d) => (m.durable = Math.max(m.durable, d)), () => undefined);
      return log;
    case 'crash':
      disk.crash();
      await new Promise((resolve) => setImmediate(resolve)); // the dead writer's promises settle (reject)
      return reopenAndCheck(disk, m, `${what}: after a crash`);
    case 'truncate':
      await log.truncateBefore(o.before);
      m.truncatedTo = Math.max(m.truncatedTo, Math.min(o.before, log.nextIndex));
      return log;
    case 'reopen':
      await log.close();
      m.durable = m.appended.length - 1; // close syncs
      return reopenAndCheck(disk, m, `${what}: after a close`);
  }
}

test('by property: any mix of appends, syncs (awaited or in flight), truncations, crashes and reopenings keeps the log a prefix holding everything synced', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 40 }), fc.nat(1_000_000), async (ops, seed) => {
      const disk = new SimDisk(new SeededRng(seed));
      const m: Model = { appended: [], durable: -1, truncatedTo: -1 };
      let log = await SegmentLog.open(disk.handle(), { segmentBytes: 200 });
      for (const [i, o] of ops.entries()) log = await step(disk, log, m, o, `op ${i} (${o.t})`);
      await log.close();
      m.durable = m.appended.length - 1;
      await reopenAndCheck(disk, m, 'at the end');
    }),
    { numRuns: 150, seed: 1919 },
  );
});

test('the node disk: round trip, roll-over, reopen and a torn tail in a temp folder (removed even on failure)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-seglog-'));
  try {
    const log = await SegmentLog.open(new NodeDisk(dir), { segmentBytes: 400 });
    for (let i = 0; i < 30; i++) log.append(rec(i).kind, rec(i).payload);
    assert.equal(await log.sync(), 29);
    await log.close();
    const files = readdirSync(dir).sort();
    assert.ok(files.length >= 3, `${files.length} segments`);
    const again = await SegmentLog.open(new NodeDisk(dir), { segmentBytes: 400 });
    assertRecords(all(again), [...Array(30).keys()].map(rec), 0, 'node disk reopen');
    await again.close();
    const last = join(dir, files[files.length - 1] as string);
    truncateSync(last, statSync(last).size - 3);
    const cut = await SegmentLog.open(new NodeDisk(dir), { segmentBytes: 400 });
    assert.ok(cut.recovery.tornBytes > 0);
    assert.equal(cut.nextIndex, 29);
    assert.equal(cut.append(1, new Uint8Array([1])), 29);
    assert.equal(await cut.sync(), 29);
    assert.ok((await cut.truncateBefore(20)) > 0);
    await cut.close();
    const final = await SegmentLog.open(new NodeDisk(dir), { segmentBytes: 400 });
    assert.equal(final.nextIndex, 30);
    assert.equal(all(final).at(-1)?.kind, 1);
    await final.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the sim disk completes syncs when its injected defer says: appends meanwhile wait for the next group commit', async () => {
  const waiting: (() => void)[] = [];
  let held = true;
  const disk = new SimDisk(new SeededRng(5), { defer: (done) => (held ? waiting.push(done) : queueMicrotask(done)) });
  const log = await SegmentLog.open(disk.handle());
  log.append(0, new Uint8Array([1]));
  let durable = -2;
  const first = log.sync().then((d) => (durable = d));
  // Bounded: each round releases what waits; the first flush needs an fsync and a directory sync.
  for (let round = 0; round < 10 && durable === -2; round++) {
    await new Promise((resolve) => setImmediate(resolve));
    if (round === 0) {
      assert.equal(durable, -2, 'not durable before the disk says so');
      log.append(0, new Uint8Array([2])); // arrives during the flush: the next batch
    }
    waiting.splice(0).forEach((done) => done());
  }
  await first;
  assert.equal(durable, 0, 'the first batch only');
  const second = log.sync();
  for (let round = 0; round < 10 && waiting.length === 0; round++) await new Promise((resolve) => setImmediate(resolve));
  disk.crash(); // the power goes while the second batch's fsync is in flight
  held = false;
  waiting.splice(0).forEach((done) => done());
  await assert.rejects(second, SimDiskCrash);
  const again = await SegmentLog.open(disk.handle());
  assert.ok(again.nextIndex === 1 || again.nextIndex === 2, `after the crash: ${again.nextIndex} records`);
});

test('a missing middle segment is refused, naming the segment after the gap', async () => {
  const disk = await written(40, 200);
  const names = disk.list();
  assert.ok(names.length >= 3);
  disk.remove(names[1] as string);
  await assert.rejects(SegmentLog.open(disk, { segmentBytes: 200 }), (e: unknown) => isCorrupt(names[2] as string, 8)(e) && /missing/.test((e as Error).message));
});
