/**
 * Durable `cohort member` processes (`--data-dir`) on loopback, under real SIGKILL:
 * every line's multicast waits to be on disk at a majority; a member killed and started
 * again on its data directory joins the running network as a new member, gets the
 * state by transfer and appends to its log; a torn last write is cut off at start (and
 * said so); a damaged record before the end is refused with `ERR_CORRUPT`, naming the
 * file and the offset, and the process exits 1. Every wait is for an output line,
 * bounded in time; every process is killed by PID in `after`.
 */
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { unbundle } from '../src/core/bundle.js';
import { NodeDisk } from '../src/persist/node-disk.js';
import { decodeRecord } from '../src/persist/records.js';
import { SegmentLog } from '../src/persist/segment-log.js';
import { MemberProc, freePorts, killAll, tempDir } from './procs.js';

const procs: MemberProc[] = [];
after(() => killAll(procs));

const isView = (n: number) => (l: Record<string, unknown>) => l.event === 'view' && Array.isArray(l.members) && l.members.length === n;
const counted = (n: number) => (l: Record<string, unknown>) => (l.event === 'message' || l.event === 'state') && (l.count as number) >= n;

/** The incarnations of `id` in the views of the log in `dir`, in order, and the application messages logged under each. */
async function logOf(dir: string, id: string): Promise<{ inc: number; messages: number }[]> {
  const log = await SegmentLog.open(new NodeDisk(dir));
  const runs: { inc: number; messages: number }[] = [];
  for (const r of log.read()) {
    const rec = decodeRecord(r.index, r.kind, r.payload);
    if (rec.kind === 'view') {
      const inc = rec.view.members.find((m) => m.id === id)?.inc ?? -1;
      if (runs.at(-1)?.inc !== inc) runs.push({ inc, messages: 0 });
    } else if (rec.kind === 'entry' && rec.entry.kind === 0) {
      runs.at(-1)!.messages += unbundle(rec.entry.payload)?.length ?? 0;
    }
  }
  await log.close();
  return runs;
}

function segments(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.startsWith('seg-')).sort();
}

test('three durable members: one SIGKILLed and started again on its data directory joins as a new member, with the state, and appends to its log', async () => {
  const dir = tempDir('cohort-durable-procs-');
  const ports = await freePorts(3);
  const ids = ['d1', 'd2', 'd3'];
  const data = ids.map((id) => join(dir, `${id}.data`));
  const start = (i: number): MemberProc => {
    const m = new MemberProc(ids[i]!, ports[i]!, ports.filter((_, j) => j !== i), dir, ['--suspect-ms', '1000', '--data-dir', data[i]!]);
    procs.push(m);
    return m;
  };
  const [d1, d2, d3] = [start(0), start(1), start(2)];
  await Promise.all([d1, d2, d3].map((m) => m.waitFor(isView(3), 20_000, 'a view of three')));
  for (let i = 0; i < 20; i++) [d1, d2, d3][i % 3]!.send(`before ${i}`);
  await Promise.all([d1, d2, d3].map((m) => m.waitFor(counted(20), 20_000, '20 messages')));

  d3.signal('SIGKILL');
  await d3.wait(5_000);
  await Promise.all([d1, d2].map((m) => m.waitFor(isView(2), 20_000, 'the view without d3')));
  for (let i = 0; i < 10; i++) [d1, d2][i % 2]!.send(`while down ${i}`);
  await Promise.all([d1, d2].map((m) => m.waitFor(counted(30), 20_000, '30 messages')));

  const again = start(2);
  const state = await again.waitFor((l) => l.event === 'state', 20_000, "the restarted member's state");
  assert.equal(state.count, 30, 'the state holds every message, the ones sent while it was down too');
  assert.equal(state.digest, d1.lastState()!.digest);
  await again.waitFor((l) => l.event === 'view' && Array.isArray(l.members) && l.members.length === 3, 20_000, 'the view with the restarted member');
  again.send('after');
  await Promise.all([d1, d2, again].map((m) => m.waitFor(counted(31), 20_000, '31 messages')));
  assert.equal(again.lastState()!.digest, d1.lastState()!.digest);
  assert.equal(d2.lastState()!.digest, d1.lastState()!.digest);
  for (const m of [d1, d2, again]) assert.equal(await m.end(15_000), 0, `${m.id} exits 0`);

  // d3's log: its first run (what reached its disk before the kill, at most 20), then
  // its new incarnation's, appended after it: the one message after its state.
  const runs = await logOf(data[2]!, 'd3');
  assert.equal(runs.length, 2, `two incarnations in d3's log: ${JSON.stringify(runs)}`);
  assert.ok(runs[0]!.messages <= 20, JSON.stringify(runs));
  assert.equal(runs[1]!.messages, 1, JSON.stringify(runs));
  // d1 ran throughout and ended gracefully (its last flush done): all 31.
  assert.deepEqual((await logOf(data[0]!, 'd1')).map((r) => r.messages), [31]);
});

test('a torn last write is cut off at start and said so; a damaged record before the end is refused with ERR_CORRUPT, and the process exits 1', async () => {
  const dir = tempDir('cohort-durable-torn-');
  const [port] = await freePorts(1);
  const dataDir = join(dir, 'solo.data');
  const solo = new MemberProc('solo', port!, [], dir, ['--data-dir', dataDir]);
  procs.push(solo);
  await solo.waitFor(isView(1), 20_000, 'its own view');
  for (let i = 0; i < 50; i++) solo.send(`line ${i}`);
  await solo.waitFor(counted(50), 20_000, '50 messages');
  solo.signal('SIGKILL');
  await solo.wait(5_000);

  // Torn: half of a record's frame at the end of the last segment, as a crash mid-write leaves it.
  const seg = join(dataDir, segments(dataDir).at(-1)!);
  const size = readFileSync(seg).length;
  appendFileSync(seg, new Uint8Array([40, 0, 0, 0, 7, 7]));
  const torn = new MemberProc('solo', port!, [], dir, ['--data-dir', dataDir]);
  procs.push(torn);
  await torn.waitFor(isView(1), 20_000, 'its own view after the torn write');
  assert.match(torn.stderr.join(''), /cut a torn last write of 6 bytes/);
  assert.equal(await torn.end(10_000), 0);
  assert.ok(readFileSync(seg).length >= size, 'the records before the torn write are kept');

  // Damaged: one byte flipped inside the first record of the first segment.
  const first = join(dataDir, segments(dataDir)[0]!);
  const bytes = readFileSync(first);
  bytes[24 + 20] = bytes[24 + 20]! ^ 0xff;
  writeFileSync(first, bytes);
  const corrupt = new MemberProc('solo', port!, [], dir, ['--data-dir', dataDir]);
  procs.push(corrupt);
  const code = await corrupt.wait(20_000);
  assert.equal(code, 1);
  const err = corrupt.stderr.join('');
  assert.match(err, /ERR_CORRUPT|corrupt log/);
  assert.match(err, new RegExp(`${segments(dataDir)[0]!.replace('.', '\\.')} at byte 24`));
});

/** A durable member process of test/durable-child.ts (its own application: a list of messages). */
function child(id: string, port: number, seeds: readonly number[], dir: string, dataDir: string): MemberProc {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'durable-child.js');
  const m = new MemberProc(id, port, seeds, dir, [], [script, id, String(port), seeds.join(','), dataDir]);
  procs.push(m);
  return m;
}

/** The list `m`'s application holds now (asked for, and printed by the child). */
async function itemsOf(m: MemberProc): Promise<string[]> {
  const from = m.lines.length;
  m.send('items');
  const l = await m.waitFor((x) => x.event === 'items', 20_000, 'its items', from);
  return l.items as string[];
}

test('restart from the logs: three durable processes SIGKILLed at once; two restart with every message acknowledged at majority, the third catches up', async () => {
  const dir = tempDir('cohort-durable-restart-');
  const ports = await freePorts(3);
  const ids = ['r1', 'r2', 'r3'];
  const data = ids.map((id) => join(dir, `${id}.data`));
  const start = (i: number): MemberProc => child(ids[i]!, ports[i]!, ports.filter((_, j) => j !== i), dir, data[i]!);
  const first = [start(0), start(1), start(2)];
  await Promise.all(first.map((m) => m.waitFor((l) => l.event === 'joined', 30_000, 'its join')));
  await Promise.all(first.map((m) => m.waitFor((l) => l.event === 'view' && (l.members as unknown[]).length === 3, 30_000, 'the group of three')));
  // Lines from all three, and the kill while later ones are still in flight.
  for (let i = 0; i < 60; i++) first[i % 3]!.send(`m${i}`);
  await first[0]!.waitFor((l) => l.event === 'acked' && l.data === 'm57', 30_000, 'its multicast m57 acknowledged');
  for (let i = 60; i < 90; i++) first[i % 3]!.send(`m${i}`);
  for (const m of first) m.signal('SIGKILL');
  await Promise.all(first.map((m) => m.wait(10_000)));
  const acked = new Set(first.flatMap((m) => m.lines.filter((l) => l.event === 'acked').map((l) => l.data as string)));
  assert.ok(acked.size >= 20, `only ${acked.size} acknowledged before the kill`);

  // Two restart: a majority of the last view, so the network restarts from the logs.
  const [a, b] = [start(0), start(1)];
  await Promise.all([a, b].map((m) => m.waitFor((l) => l.event === 'joined', 60_000, 'its join after the restart')));
  const [la, lb] = [await itemsOf(a), await itemsOf(b)];
  assert.deepEqual(la, lb, 'the two restarted members hold the same state');
  assert.deepEqual([...acked].filter((x) => !la.includes(x)), [], 'every message acknowledged at majority is in the restored state');
  assert.equal(new Set(la).size, la.length, 'no message twice');
  const restorer = [a, b].find((m) => m.lines.some((l) => l.event === 'message' && l.restored === true) || m.lines.some((l) => l.event === 'state'));
  assert.ok(restorer !== undefined, 'one of them restored the group from its log, the other got it by transfer');
  a.send('after');
  await Promise.all([a, b].map((m) => m.waitFor((l) => l.event === 'message' && l.data === 'after', 20_000, 'the first message after the restart')));

  // The third restarts: the network runs, so it joins it and catches up by transfer.
  const c = start(2);
  await c.waitFor((l) => l.event === 'joined', 60_000, 'the third one joined');
  const [la2, lc] = [await itemsOf(a), await itemsOf(c)];
  assert.deepEqual(lc, la2, 'the third holds the same state as the others');
  assert.equal(lc.at(-1), 'after');
  for (const m of [a, b, c]) m.proc.stdin!.end();
  for (const m of [a, b, c]) assert.equal(await m.wait(20_000), 0, `${m.id} exits 0`);
});
