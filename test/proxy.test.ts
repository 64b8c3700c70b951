/**
 * Members behind the project's TCP fault proxy, without root, on loopback. Goal: the
 * advertised address works (every member is dialled through its proxy), and delay,
 * jitter, a bandwidth cap and connection resets on every link change nothing that the
 * guarantees promise. Method: three `cohort member` processes, each advertising the
 * address of its own `FaultProxy`; multicast while the links are slow and while every
 * connection is reset twice; then every member must have delivered every line, the
 * same digests everywhere, and `cohort check` must pass. Then stalls: every link of
 * one member held for a third of the suspicion timeout (nothing changes), then past it
 * (a partition without root: the others go on, it reports blocked, and after the stall
 * it learns it was excluded and rejoins with their state).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, test } from 'node:test';
import { FaultProxy } from '../src/tools/fault-proxy.js';
import { MemberProc, cohortBin, freePorts, killAll, tempDir } from './procs.js';

const procs: MemberProc[] = [];
const proxies: FaultProxy[] = [];
after(async () => {
  killAll(procs);
  await Promise.all(proxies.map((p) => p.close()));
});

test('three members behind fault proxies: latency, jitter, a bandwidth cap and resets keep one order', { timeout: 120_000 }, async () => {
  const dir = tempDir('cohort-proxy-');
  const ports = await freePorts(3);
  for (const port of ports) {
    proxies.push(await FaultProxy.start({ listen: '127.0.0.1:0', target: `127.0.0.1:${port}` }));
  }
  const advertised = proxies.map((p) => p.address);
  for (const p of proxies) p.set({ latencyMs: 20, jitterMs: 10, bandwidthBytesPerS: 2_000_000 });
  const ms = ports.map(
    (port, i) =>
      new MemberProc(`p${i + 1}`, port, [], dir, [
        '--advertise',
        advertised[i]!,
        '--seeds',
        advertised.filter((_, j) => j !== i).join(','),
        '--suspect-ms',
        '3000',
      ]),
  );
  procs.push(...ms);
  await Promise.all(ms.map((m) => m.waitFor((l) => l.event === 'view' && (l.members as string[]).length === 3, 30_000, 'a view of three')));
  const total = 3 * 40;
  for (let k = 0; k < 20; k++) for (const m of ms) m.send(`${m.id}-${k}`);
  await Promise.all(ms.map((m) => m.waitFor((l) => l.event === 'message' && l.count === 60, 30_000, '60 messages')));
  // Reset every connection twice while more traffic flows: the transport reconnects and
  // the protocol retransmits what the broken connections lost.
  for (let k = 20; k < 40; k++) {
    for (const m of ms) m.send(`${m.id}-${k}`);
    if (k === 25 || k === 32) for (const p of proxies) p.reset();
  }
  await Promise.all(ms.map((m) => m.waitFor((l) => l.event === 'message' && l.count === total, 60_000, `${total} messages`)));
  assert.ok(proxies.every((p) => p.stats().accepted > 0), 'every member was dialled through its proxy');
  assert.ok(proxies.reduce((n, p) => n + p.stats().resets, 0) > 0, 'connections were reset');
  const states = ms.map((m) => JSON.stringify(m.lastState()));
  assert.equal(new Set(states).size, 1, states.join(' '));
  assert.ok(ms.every((m) => !m.lines.some((l) => l.event === 'excluded')), 'nobody was excluded');
  await Promise.all(ms.map((m) => m.end(20_000)));
  const r = spawnSync(process.execPath, [cohortBin, 'check', ...ms.map((m) => m.file)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('a stall on every link of one member: shorter than the timeout changes nothing; past it, the member is cut off, blocked, then rejoins with state', { timeout: 120_000 }, async () => {
  const dir = tempDir('cohort-stall-');
  const ports = await freePorts(3);
  const ps: FaultProxy[] = [];
  for (const port of ports) {
    const p = await FaultProxy.start({ listen: '127.0.0.1:0', target: `127.0.0.1:${port}` });
    ps.push(p);
    proxies.push(p);
  }
  // Of each pair, the connection kept is the one the lower advertised address dialled
  // (the transport dials back to make it so), so the member with the highest address
  // is reached by both others through its own proxy: stalling that one proxy stalls
  // exactly its two links.
  const order = ps.map((p, i) => ({ p, port: ports[i]! })).sort((x, y) => (x.p.address < y.p.address ? -1 : 1));
  const suspectMs = 1500;
  const ms = order.map(
    ({ p, port }, i) =>
      new MemberProc(`s${i + 1}`, port, [], dir, [
        '--advertise',
        p.address,
        '--seeds',
        order.filter((x) => x.p !== p).map((x) => x.p.address).join(','),
        '--suspect-ms',
        String(suspectMs),
      ]),
  );
  procs.push(...ms);
  const [s1, s2, s3] = ms as [MemberProc, MemberProc, MemberProc];
  const isolated = order[2]!.p;
  await Promise.all(ms.map((m) => m.waitFor((l) => l.event === 'view' && (l.members as string[]).length === 3, 30_000, 'a view of three')));
  for (let k = 0; k < 10; k++) for (const m of ms) m.send(`${m.id}-${k}`);
  await Promise.all(ms.map((m) => m.waitFor((l) => l.event === 'message' && l.count === 30, 30_000, '30 messages')));

  // A stall of a third of the timeout: held bytes are released in order, nobody is suspected.
  isolated.set({ stall: true });
  for (const m of ms) m.send(`${m.id}-short-stall`);
  await new Promise((resolve) => setTimeout(resolve, suspectMs / 3));
  isolated.set({ stall: false });
  await Promise.all(ms.map((m) => m.waitFor((l) => l.event === 'message' && l.count === 33, 30_000, '33 messages')));
  assert.ok(ms.every((m) => !m.lines.some((l) => l.event === 'view' && (l.members as string[]).length !== 3)), 'a short stall changed the view');

  // A stall past the timeout: s3 is cut off. The others agree on a view without it and
  // go on; s3, alone, reports blocked and delivers nothing of theirs.
  const mark3 = s3.lines.length;
  isolated.set({ stall: true });
  await Promise.all([s1, s2].map((m) => m.waitFor((l) => l.event === 'view' && (l.failed as string[]).includes('s3'), suspectMs + 10_000, 'the view without s3')));
  await s3.waitFor((l) => l.event === 'blocked', 10_000, 'blocked', mark3);
  s1.send('s1-while-cut-off');
  await s2.waitFor((l) => l.event === 'message' && l.data === 's1-while-cut-off', 10_000, 'the majority goes on');
  // The stall ends: s3 learns it was excluded, rejoins and receives the others' state.
  isolated.set({ stall: false });
  await s3.waitFor((l) => l.event === 'excluded', 20_000, 'excluded', mark3);
  await s3.waitFor((l) => l.event === 'state', 20_000, 'a state after rejoining', mark3);
  assert.ok(!s3.lines.some((l) => l.event === 'message' && l.data === 's1-while-cut-off'), 'nothing of the view s3 was cut off from (its state carries it)');
  for (const m of ms) m.send(`${m.id}-last`);
  for (const m of ms) {
    for (const s of ms) await m.waitFor((l) => l.event === 'message' && l.data === `${s.id}-last`, 20_000, `${s.id}-last`);
  }
  const states = ms.map((m) => JSON.stringify(m.lastState()));
  assert.equal(new Set(states).size, 1, states.join(' '));
  await Promise.all(ms.map((m) => m.end(20_000)));
  const r = spawnSync(process.execPath, [cohortBin, 'check', ...ms.map((m) => m.file)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
