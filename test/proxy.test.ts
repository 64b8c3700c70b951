/**
 * Members behind the project's TCP fault proxy, without root, on loopback. Goal: the
 * advertised address works (every member is dialled through its proxy), and delay,
 * jitter, a bandwidth cap and connection resets on every link change nothing that the
 * guarantees promise. Method: three `cohort member` processes, each advertising the
 * address of its own `FaultProxy`; multicast while the links are slow and while every
 * connection is reset twice; then every member must have delivered every line, the
 * same digests everywhere, and `cohort check` must pass.
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
