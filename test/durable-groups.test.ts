/**
 * Durable groups on real endpoints over TCP loopback (one process): option `persist`
 * writes each view and every delivered entry to the member's log, and
 * `multicast(data, { durable })` resolves once the message is on disk where asked.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unbundle } from '../src/core/bundle.js';
import { CohortError, Endpoint, OptionError } from '../src/index.js';
import type { Group } from '../src/index.js';
import { NodeDisk } from '../src/persist/node-disk.js';
import { SegmentLog } from '../src/persist/segment-log.js';
import { decodeRecord } from '../src/persist/records.js';
import type { StoreRecord } from '../src/persist/records.js';
import { tempDir } from './temp.js';

const fast = { heartbeatMs: 50, suspectTimeoutMs: 600, startTimeoutMs: 10_000 };
const enc = new TextEncoder();
const dec = new TextDecoder();

/** The records of the log in `dir`, decoded. */
async function records(dir: string): Promise<StoreRecord[]> {
  const log = await SegmentLog.open(new NodeDisk(dir));
  try {
    return [...log.read()].map((r) => decodeRecord(r.index, r.kind, r.payload));
  } finally {
    await log.close();
  }
}

/** Three durable endpoints on loopback, each in group `g`, collecting the messages it delivers. */
async function cluster(root: string, sync = true): Promise<{ eps: Endpoint[]; groups: Group[]; got: string[][]; dirs: string[] }> {
  const dirs = ['a', 'b', 'c'].map((id) => join(root, id));
  const a = await Endpoint.start({ id: 'a', listen: '127.0.0.1:0', persist: { dir: dirs[0]!, sync }, ...fast });
  const [b, c] = await Promise.all(
    ['b', 'c'].map((id, i) => Endpoint.start({ id, listen: '127.0.0.1:0', seeds: [a.address], persist: { dir: dirs[i + 1]!, sync }, ...fast })),
  );
  const eps = [a, b!, c!];
  const got: string[][] = eps.map(() => []);
  const groups: Group[] = [];
  for (const [i, ep] of eps.entries()) {
    groups.push(
      await ep.join('g', {
        onEvent: (e) => {
          if (e.type === 'message') got[i]!.push(dec.decode(e.data));
        },
        checkpoint: () => new Uint8Array(0),
      }),
    );
  }
  return { eps, groups, got, dirs };
}

const open: Endpoint[] = [];
/** Endpoints a test stopped itself: `after` need not stop them. */
function forget(eps: readonly Endpoint[]): void {
  for (const ep of eps) open.splice(open.indexOf(ep), 1);
}
after(async () => {
  await Promise.all(open.map((ep) => ep.stop().catch(() => undefined)));
});

test('durable majority: the promise resolves once the message is on disk at a majority, and every log holds the views and entries in order', async () => {
  const root = tempDir('cohort-durable-');
  const { eps, groups, got, dirs } = await cluster(root);
  open.push(...eps);
  const n = 50;
  const sends: Promise<void>[] = [];
  for (let i = 0; i < n; i++) sends.push(groups[i % 3]!.multicast(enc.encode(`m${i}`)));
  await Promise.all(sends);
  // Resolved at 'majority' (the default with persist): delivered at the sender, and on
  // disk at two of three. Each member's own log holds what it delivered, in order.
  await groups[0]!.multicast(enc.encode('last'), { durable: 'all' });
  for (const ep of eps) await ep.stop();
  forget(eps);
  for (const [i, dir] of dirs.entries()) {
    const recs = await records(dir);
    const views = recs.filter((r) => r.kind === 'view');
    assert.ok(views.length >= 1, `${dir}: no view record`);
    const apps = recs.filter((r) => r.kind === 'entry' && r.entry.kind === 0);
    assert.ok(apps.length >= 1, `${dir}: no application entry`);
    // Positions strictly increase through the log, and each entry follows its epoch's view.
    let last = { epoch: 0, gseq: -1 };
    let viewEpoch = 0;
    for (const r of recs) {
      if (r.kind === 'view') {
        assert.ok(r.view.epoch > viewEpoch, `${dir}: views out of order`);
        viewEpoch = r.view.epoch;
        last = { epoch: viewEpoch, gseq: 0 };
      } else if (r.kind === 'entry') {
        assert.equal(r.pos.epoch, viewEpoch, `${dir}: an entry of epoch ${r.pos.epoch} after the view of ${viewEpoch}`);
        assert.ok(r.pos.gseq > last.gseq, `${dir}: entry ${r.pos.gseq} after ${last.gseq}`);
        last = r.pos;
      }
    }
    assert.equal(got[i]!.length, n + 1, `member ${i} delivered ${got[i]!.length}`);
  }
});

test('durable local and none; a durable level without persist is refused', async () => {
  const root = tempDir('cohort-durable-');
  const { eps, groups } = await cluster(root, false);
  open.push(...eps);
  await groups[1]!.multicast(enc.encode('x'), { durable: 'local' });
  await groups[2]!.multicast(enc.encode('y'), { durable: 'none' });
  assert.throws(() => groups[0]!.multicast(enc.encode('z'), { durable: 'most' as never }), (e: unknown) => e instanceof OptionError && /durable must be one of/.test(e.message));
  const plain = await Endpoint.start({ id: 'p', listen: '127.0.0.1:0', ...fast });
  open.push(plain);
  const g = await plain.join('h');
  assert.throws(() => g.multicast(enc.encode('z'), { durable: 'majority' }), (e: unknown) => e instanceof OptionError && /needs a durable endpoint/.test(e.message));
  await g.multicast(enc.encode('z'), { durable: 'none' });
});

test('option persist: bad values are refused with an OptionError naming them', async () => {
  for (const persist of [null, 'dir', { dir: '' }, { dir: 'x', sync: 'yes' }, { dir: 'x', fsync: true }]) {
    await assert.rejects(Endpoint.start({ id: 'a', listen: '127.0.0.1:0', persist: persist as never }), (e: unknown) => e instanceof CohortError && /option persist/.test(e.message), JSON.stringify(persist));
  }
});

test("a member that keeps nothing on disk never counts: 'all' waits for it, and rejects ERR_NOT_DURABLE once it left without", async () => {
  const root = tempDir('cohort-durable-');
  const a = await Endpoint.start({ id: 'a', listen: '127.0.0.1:0', persist: { dir: join(root, 'a'), sync: false }, ...fast });
  const b = await Endpoint.start({ id: 'b', listen: '127.0.0.1:0', seeds: [a.address], persist: { dir: join(root, 'b'), sync: false }, ...fast });
  const c = await Endpoint.start({ id: 'c', listen: '127.0.0.1:0', seeds: [a.address], ...fast });
  open.push(a, b, c);
  const [ga] = [await a.join('g'), await b.join('g'), await c.join('g')];
  await ga!.multicast(enc.encode('two of three'), { durable: 'majority' });
  let settled: string | null = null;
  const all = ga!.multicast(enc.encode('needs c'), { durable: 'all' }).then(
    () => (settled = 'resolved'),
    (e: unknown) => (settled = e instanceof CohortError ? e.code : String(e)),
  );
  // Later durable multicasts of the group settle after it, in order.
  const behind = ga!.multicast(enc.encode('behind it'), { durable: 'local' });
  await ga!.multicast(enc.encode('a plain one'), { durable: 'none' });
  await b.group('g')!.multicast(enc.encode('from b'), { durable: 'majority' });
  assert.equal(settled, null, "'all' settled although c keeps nothing on disk");
  await c.stop();
  await all;
  assert.equal(settled, 'ERR_NOT_DURABLE');
  await behind;
});

/** Two durable endpoints in group `g` whose state is the count of messages delivered; 400 multicasts of 600 bytes. Returns the data directories. */
async function countingPair(root: string, extra: { checkpointBytes: number; segmentBytes?: number }): Promise<string[]> {
  const persist = (id: string) => ({ dir: join(root, id), sync: false, ...extra });
  const a = await Endpoint.start({ id: 'a', listen: '127.0.0.1:0', persist: persist('a'), ...fast });
  const b = await Endpoint.start({ id: 'b', listen: '127.0.0.1:0', seeds: [a.address], persist: persist('b'), ...fast });
  open.push(a, b);
  const counts = new Map<Endpoint, number>([[a, 0], [b, 0]]);
  const joinG = (ep: Endpoint) =>
    ep.join('g', {
      onEvent: (e) => {
        if (e.type === 'message') counts.set(ep, counts.get(ep)! + 1);
        if (e.type === 'state') counts.set(ep, Number(dec.decode(e.data)));
      },
      checkpoint: () => enc.encode(String(counts.get(ep))),
    });
  const [ga, gb] = [await joinG(a), await joinG(b)];
  const payload = new Uint8Array(600);
  for (let i = 0; i < 400; i++) await (i % 2 === 0 ? ga : gb).multicast(payload, { durable: 'all' });
  await a.stop();
  await b.stop();
  forget([a, b]);
  return [join(root, 'a'), join(root, 'b')];
}

type Rec = { index: number; rec: StoreRecord };

async function recordsOf(dir: string): Promise<{ first: number; recs: Rec[] }> {
  const log = await SegmentLog.open(new NodeDisk(dir));
  const recs = [...log.read()].map((r) => ({ index: r.index, rec: decodeRecord(r.index, r.kind, r.payload) }));
  const first = log.firstIndex;
  await log.close();
  return { first, recs };
}

const isAfter = (p: { epoch: number; gseq: number }, q: { epoch: number; gseq: number }) => p.epoch > q.epoch || (p.epoch === q.epoch && p.gseq > q.gseq);

test('a checkpoint of the durable log is the state at exactly its position: its count is the messages of the group up to there', async () => {
  const dirs = await countingPair(tempDir('cohort-durable-'), { checkpointBytes: 8_192 });
  for (const dir of dirs) {
    const { first, recs } = await recordsOf(dir);
    assert.equal(first, 0, 'one segment: nothing truncated');
    const cps = recs.map((x) => x.rec).filter((r): r is Extract<StoreRecord, { kind: 'checkpoint' }> => r.kind === 'checkpoint');
    assert.ok(cps.length >= 5, `${dir}: ${cps.length} checkpoints`);
    for (const cp of cps) {
      let upTo = 0;
      for (const { rec } of recs) {
        if (rec.kind === 'entry' && rec.entry.kind === 0 && !isAfter(rec.pos, cp.pos)) upTo += unbundle(rec.entry.payload)!.filter((m) => m.group === 'g').length;
      }
      assert.equal(Number(dec.decode(cp.data)), upTo, `${dir}: the checkpoint at ${cp.pos.epoch}:${cp.pos.gseq}`);
    }
    // A base per round, and one more: the group table of the member's first view, right after it.
    assert.equal(recs.filter((x) => x.rec.kind === 'round').length, recs.filter((x) => x.rec.kind === 'base').length - 1);
    assert.deepEqual(recs.slice(0, 2).map((x) => x.rec.kind), ['view', 'base']);
  }
});

test('checkpoint rounds bound the log: the segments behind a complete round are removed', async () => {
  const dirs = await countingPair(tempDir('cohort-durable-'), { checkpointBytes: 16_384, segmentBytes: 8_192 });
  for (const dir of dirs) {
    const { first, recs } = await recordsOf(dir);
    assert.ok(first > 0, `${dir}: the log was truncated (first index ${first})`);
    const bytes = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    assert.ok(bytes < 16_384 + 4 * 8_192, `${dir}: ${bytes} bytes on disk after 240 KB delivered`);
    // What is left starts at or before the last complete round's base, so the round is whole.
    const round = recs.map((x) => x.rec).filter((r) => r.kind === 'round').at(-1);
    assert.ok(round !== undefined && round.kind === 'round' && round.base >= first, `${dir}: the last round's base is kept`);
  }
});

test('one writer per data directory: a second endpoint on it is refused with ERR_DISK, a lock left by a killed process is taken over', async () => {
  const root = tempDir('cohort-durable-');
  const dir = join(root, 'a');
  const a = await Endpoint.start({ id: 'a', listen: '127.0.0.1:0', persist: { dir, sync: false }, ...fast });
  open.push(a);
  await assert.rejects(Endpoint.start({ id: 'b', listen: '127.0.0.1:0', persist: { dir, sync: false }, ...fast }), (e: unknown) => e instanceof CohortError && e.code === 'ERR_DISK' && /in use by another endpoint of this process/.test(e.message));
  await a.stop();
  forget([a]);
  assert.ok(!readdirSync(dir).includes('LOCK'), 'the lock goes with the endpoint');
  // A process killed with its lock: no process has that pid any more.
  writeFileSync(join(dir, 'LOCK'), '2147483646\n');
  const again = await Endpoint.start({ id: 'a', listen: '127.0.0.1:0', persist: { dir, sync: false }, ...fast });
  open.push(again);
  assert.equal(readFileSync(join(dir, 'LOCK'), 'utf8'), `${process.pid}\n`);
});
