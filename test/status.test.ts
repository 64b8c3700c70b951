/**
 * `cohort status HOST:PORT`, the probe, against real `cohort member` processes on
 * loopback. Goal: the probe reports what the members agreed — the view, its
 * coordinator, the group's members — before and after a crash, with the crash in the
 * history; it gets through a network secret only with the right one, and says why
 * otherwise; and probing never disturbs the group. Method: three members started
 * together; probes as separate processes (`--json`), parsed and compared with the
 * members' own JSON lines; every wait is for an output line or a process exit, bounded
 * in time; every process is killed by PID in `after`/`finally`, even when a test fails.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Endpoint } from '../src/endpoint.js';
import { StatusProber, probeStatus } from '../src/probe.js';
import { Simulation } from '../src/sim/simulation.js';
import { encodeStatus } from '../src/ops/status.js';
import type { StatusDocument, StatusFailure, StatusViewChange } from '../src/ops/status.js';
import { MemberProc, cohortBin, freePorts, killAll, tempDir, withTimeout } from './procs.js';

const procs: MemberProc[] = [];
const probes = new Set<ChildProcess>();
after(() => {
  killAll(procs);
  for (const p of probes) if (p.exitCode === null && p.pid !== undefined) process.kill(p.pid, 'SIGKILL');
});

const suspectMs = 1000;
const group = 'atc/sector-xyz';
const isView = (n: number) => (l: Record<string, unknown>) => l.event === 'view' && Array.isArray(l.members) && l.members.length === n;

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `cohort ...args` to its end (killed by PID after `timeoutMs`), without blocking our event loop. */
async function cohort(args: readonly string[], timeoutMs = 15_000): Promise<Run> {
  const p = spawn(process.execPath, [cohortBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  probes.add(p);
  let stdout = '';
  let stderr = '';
  p.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  p.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
  try {
    const status = await withTimeout(exited, timeoutMs, () => `cohort ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr: ${stderr}`);
    return { status, stdout, stderr };
  } finally {
    if (p.exitCode === null && p.pid !== undefined) process.kill(p.pid, 'SIGKILL');
    probes.delete(p);
  }
}

/**
 * `cohort status --json --watch 0.2` until it printed `n` documents, then SIGTERM (by
 * PID): it must exit 0. Returns the documents.
 */
async function watch(target: string, n: number): Promise<StatusDocument[]> {
  const p = spawn(process.execPath, [cohortBin, 'status', target, '--json', '--watch', '0.2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  probes.add(p);
  const docs: StatusDocument[] = [];
  let stderr = '';
  let buf = '';
  p.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
  try {
    await withTimeout(
      new Promise<void>((resolve) => {
        p.stdout!.on('data', (c: Buffer) => {
          buf += c.toString('utf8');
          for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
            docs.push(JSON.parse(buf.slice(0, nl)) as StatusDocument);
            buf = buf.slice(nl + 1);
          }
          if (docs.length >= n) resolve();
        });
      }),
      10_000,
      () => `--watch printed ${docs.length} of ${n} documents; stderr: ${stderr}`,
    );
    p.kill('SIGTERM');
    assert.equal(await withTimeout(exited, 5_000, () => '--watch did not stop on SIGTERM'), 0, stderr);
    return docs.slice(0, n);
  } finally {
    if (p.exitCode === null && p.pid !== undefined) process.kill(p.pid, 'SIGKILL');
    probes.delete(p);
  }
}

/** `cohort status --json` of one member, parsed; fails the test unless it answered. */
async function probe(m: MemberProc, extra: readonly string[] = []): Promise<StatusDocument> {
  const r = await cohort(['status', `127.0.0.1:${m.port}`, '--json', ...extra]);
  assert.equal(r.status, 0, `probe of ${m.id}: exit ${r.status}: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one JSON document: ${r.stdout}`);
  return JSON.parse(lines[0]!) as StatusDocument;
}

/** A member as a failure names it: an id, or `{ id, inc }`. */
const who = (m: unknown): string => (typeof m === 'string' ? m : (m as { id: string }).id);
/** The reasons a view change gives for its failed members. */
const failuresOf = (c: StatusViewChange): readonly StatusFailure[] => c.failures;

async function startThree(dir: string, extra: readonly string[] = []): Promise<MemberProc[]> {
  const ports = await freePorts(3);
  const ids = ['m1', 'm2', 'm3'];
  const ms = ids.map((id, i) => new MemberProc(id, ports[i]!, ports.filter((_, j) => j !== i), dir, ['--suspect-ms', String(suspectMs), ...extra]));
  procs.push(...ms);
  await Promise.all(ms.map((m) => m.waitFor(isView(3), 20_000, 'a view of three members')));
  return ms;
}

test('the probe shows the agreed view, coordinator and group before and after a crash; probing never disturbs the group', { timeout: 120_000 }, async () => {
  const dir = tempDir('cohort-status-');
  const ms = await startThree(dir);
  const lastView = (m: MemberProc) => m.lines.filter((l) => l.event === 'view').pop()!;

  // Before: every member reports the same three-member view and coordinator, and the
  // group's members in the rank order its own view lines give.
  const before = await Promise.all(ms.map((m) => probe(m)));
  for (const [i, s] of before.entries()) {
    const m = ms[i]!;
    assert.equal(s.endpoint.id, m.id);
    assert.equal(s.endpoint.address, `127.0.0.1:${m.port}`);
    assert.equal(s.endpoint.phase, 'member');
    assert.equal(s.view.members.length, 3);
    assert.deepEqual(s.view.members.map((x) => x.id).sort(), ['m1', 'm2', 'm3']);
    assert.deepEqual(s.view.coordinator, s.view.members[0]);
    assert.deepEqual(s.view.suspects, []);
    const g = s.groups.find((x) => x.name === group);
    assert.ok(g !== undefined, `${m.id} reports group ${group}`);
    assert.deepEqual(g.members, lastView(m).members);
    assert.equal(g.viewId, lastView(m).view);
    assert.equal(s.view.history.at(-1)!.id, s.view.epoch);
    assert.ok(s.eventLoop !== null && s.eventLoop.p99Ms >= 0);
    assert.ok(s.transport !== null && s.transport.connections >= 2);
  }
  assert.equal(new Set(before.map((s) => JSON.stringify([s.view.epoch, s.view.members]))).size, 1, 'one view everywhere');
  const coordinator = before[0]!.view.coordinator!.id;

  // Probing does not change the view: probe again (several probers, one after another,
  // and a watching one), then push a message through the group as a barrier and check
  // that no member saw a view change or suspected anyone in between.
  const marks = ms.map((m) => m.lines.length);
  const errMarks = ms.map((m) => m.stderr.join('').length);
  for (const m of ms) await probe(m);
  const watched = await watch(`127.0.0.1:${ms[1]!.port}`, 3);
  assert.equal(watched.length, 3);
  assert.ok(watched.every((s) => s.endpoint.id === 'm2' && s.view.members.length === 3));
  ms[0]!.send('after the probes');
  await Promise.all(ms.map((m, i) => m.waitFor((l) => l.event === 'message' && l.data === 'after the probes', 10_000, 'the barrier message', marks[i])));
  for (const [i, m] of ms.entries()) {
    assert.deepEqual(m.lines.slice(marks[i]).filter((l) => l.event !== 'message'), [], `${m.id} saw only the message`);
    assert.doesNotMatch(m.stderr.join('').slice(errMarks[i]), /suspect|join/i, `${m.id} suspected or admitted nobody`);
  }
  const still = await probe(ms[1]!);
  assert.equal(still.view.epoch, before[1]!.view.epoch);
  assert.equal(still.view.members.length, 3);
  assert.equal(still.view.history.length, before[1]!.view.history.length);
  assert.ok(still.counters.messagesDelivered >= 1, 'the barrier message is counted');

  // The crash: SIGKILL the coordinator; wait for the survivors' agreed view.
  const victim = ms.find((m) => m.id === coordinator)!;
  const survivors = ms.filter((m) => m !== victim);
  const crashMarks = survivors.map((m) => m.lines.length);
  victim.signal('SIGKILL');
  await Promise.all(
    survivors.map((m, i) => m.waitFor((l) => l.event === 'view' && (l.failed as string[]).includes(victim.id), suspectMs + 5_000, `the view without ${victim.id}`, crashMarks[i])),
  );

  // After: two members, a new coordinator among them, and the history names the crash.
  for (const m of survivors) {
    const s = await probe(m);
    assert.equal(s.view.members.length, 2);
    assert.deepEqual(s.view.members.map((x) => x.id).sort(), survivors.map((x) => x.id).sort());
    assert.notEqual(s.view.coordinator!.id, victim.id);
    assert.ok(s.view.epoch > before[0]!.view.epoch);
    const change = s.view.history.at(-1)!;
    assert.equal(change.id, s.view.epoch);
    assert.deepEqual(change.failed, [victim.id]);
    const g = s.groups.find((x) => x.name === group)!;
    assert.deepEqual(g.members, lastView(m).members);
    assert.equal(g.members.length, 2);
    const groupChange = g.history.at(-1)!;
    assert.deepEqual(groupChange.failed, [victim.id]);
    // The reason names the crashed member and the survivor that suspected it.
    assert.ok(failuresOf(change).some((f) => who(f.member) === victim.id && survivors.some((x) => x.id === who(f.suspectedBy))), JSON.stringify(change));
    assert.match(change.reason, new RegExp(`^${victim.id} failed: `));
    for (const f of failuresOf(change)) assert.equal(who(f.member), victim.id);
    assert.deepEqual(groupChange.failures, change.failures);
  }
  // The table for people says the same.
  const table = await cohort(['status', `127.0.0.1:${survivors[0]!.port}`]);
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /: 2 members, coordinator m\d/);
  assert.match(table.stdout, new RegExp(`failed ${victim.id}`));
});

test('with a network secret: the right one gets an answer, a wrong one or none is refused and says why', { timeout: 60_000 }, async () => {
  const dir = tempDir('cohort-status-secret-');
  const secret = join(dir, 'net.secret');
  const wrong = join(dir, 'wrong.secret');
  writeFileSync(secret, 'the right secret, 32 bytes long!');
  writeFileSync(wrong, 'a wrong secret, also long enough');
  chmodSync(secret, 0o600);
  chmodSync(wrong, 0o600);
  const [port] = await freePorts(1);
  const m = new MemberProc('s1', port!, [], dir, ['--suspect-ms', String(suspectMs), '--secret-file', secret]);
  procs.push(m);
  await m.waitFor(isView(1), 20_000, 'its own view');
  const target = `127.0.0.1:${port}`;

  const ok = await probe(m, ['--secret-file', secret]);
  assert.equal(ok.endpoint.id, 's1');
  assert.equal(ok.view.members.length, 1);

  const bad = await cohort(['status', target, '--json', '--secret-file', wrong]);
  assert.equal(bad.status, 1);
  // --json: the error is a JSON line on standard output too, and nothing else is.
  assert.equal(bad.stdout.trim().split('\n').length, 1, bad.stdout);
  assert.equal((JSON.parse(bad.stdout) as { error: { code: string } }).error.code, 'ERR_REFUSED');
  assert.match(bad.stderr, /^cohort status: probe of 127\.0\.0\.1:\d+ refused: authentication failed: .*secret.*\(ERR_REFUSED\)$/m);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);

  const none = await cohort(['status', target, '--json']);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /^cohort status: probe of 127\.0\.0\.1:\d+ refused: authentication required: .*\(ERR_REFUSED\)$/m);

  // The member logged both refusals and is still alone in its view.
  assert.match(m.stderr.join(''), /refusing a connection from .*authentication/);
  const after = await probe(m, ['--secret-file', secret]);
  assert.equal(after.view.epoch, ok.view.epoch);
  assert.equal(after.view.members.length, 1);
});

const opensslMissing = spawnSync('openssl', ['version']).status !== 0;
if (opensslMissing) {
  if (process.env.CI === 'true') throw new Error('openssl is missing, and CI must run the TLS probe test');
  console.log('# skipping the TLS probe test: no openssl command');
}

test('with TLS: a certificate of the network CA gets an answer; another CA or no TLS is refused', { skip: opensslMissing && 'no openssl command', timeout: 60_000 }, async () => {
  const dir = tempDir('cohort-status-tls-');
  const openssl = (args: readonly string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const ca = (name: string): void => openssl(['req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '30', '-subj', `/CN=${name}`]);
  /** A certificate for `who` signed by CA `by`, as the three flags cohort takes. */
  const issue = (who: string, by: string): string[] => {
    openssl(['req', ...ec, '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who}`]);
    openssl(['x509', '-req', '-in', `${who}.csr`, '-CA', `${by}.pem`, '-CAkey', `${by}.key`, '-CAcreateserial', '-out', `${who}.pem`, '-days', '30']);
    chmodSync(join(dir, `${who}.key`), 0o600);
    return ['--tls-cert', join(dir, `${who}.pem`), '--tls-key', join(dir, `${who}.key`), '--tls-ca', join(dir, `${by}.pem`)];
  };
  ca('netca');
  ca('rogue');
  const [port] = await freePorts(1);
  const m = new MemberProc('t1', port!, [], dir, ['--suspect-ms', String(suspectMs), ...issue('t1', 'netca')]);
  procs.push(m);
  await m.waitFor(isView(1), 20_000, 'its own view');
  const target = `127.0.0.1:${port}`;

  const ok = await probe(m, issue('operator', 'netca'));
  assert.equal(ok.endpoint.id, 't1');

  const rogue = await cohort(['status', target, '--json', ...issue('mallory', 'rogue')]);
  assert.equal(rogue.status, 1);
  assert.match(rogue.stderr, /^cohort status: probe of 127\.0\.0\.1:\d+ refused: .*\(ERR_REFUSED\)$/m);
  const untrusted = await cohort(['status', target, '--json', '--tls-cert', join(dir, 'mallory.pem'), '--tls-key', join(dir, 'mallory.key'), '--tls-ca', join(dir, 'netca.pem')]);
  assert.equal(untrusted.status, 1);
  assert.match(untrusted.stderr, /^cohort status: probe of 127\.0\.0\.1:\d+ refused: .*signed by the network's CA.*\(ERR_REFUSED\)$/m);
  const plain = await cohort(['status', target, '--json']);
  assert.equal(plain.status, 1);
  assert.match(plain.stderr, /^cohort status: probe of 127\.0\.0\.1:\d+ refused: .*TLS.*\(ERR_REFUSED\)$/m);
  assert.match(m.stderr.join(''), /refusing a TLS connection from 127\.0\.0\.1:\d+/);
});

test('usage: listed by cohort --help, its own --help, exit 2 for bad flags, exit 1 when nothing listens', { timeout: 30_000 }, async () => {
  const help = await cohort(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^ {2}status +probe a running endpoint/m);
  const own = await cohort(['status', '--help']);
  assert.equal(own.status, 0);
  assert.match(own.stdout, /usage: cohort status HOST:PORT/);
  for (const args of [['status'], ['status', 'a:1', 'b:2'], ['status', '127.0.0.1:1', '--timeout-ms', 'x'], ['status', '127.0.0.1:1', '--watch', '0'], ['status', '127.0.0.1:1', '--bogus'], ['status', '10.1.2.3:7000']]) {
    const r = await cohort(args);
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status} ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
  const [port] = await freePorts(1);
  const gone = await cohort(['status', `127.0.0.1:${port}`]);
  assert.equal(gone.status, 1);
  assert.match(gone.stderr, /refuses connections: nothing listens there \(ERR_UNREACHABLE\)/);
});

test('a status document that is too large drops histories, then groups, and says so', () => {
  const change: StatusViewChange = { time: new Date(0).toISOString(), id: 1, members: ['a'], joined: ['a'], left: [], failed: [], failures: [], reason: 'a joined' };
  const doc = {
    version: 1,
    groups: Array.from({ length: 100 }, (_, i) => ({ name: `g${i}`, viewId: 1, members: ['a'], history: Array.from({ length: 20 }, () => change) })),
    groupsOmitted: 0,
    view: { epoch: 1, coordinator: null, members: [], suspects: [], history: [change] },
    truncated: false,
  } as unknown as StatusDocument;
  const full = encodeStatus(doc, 1_000_000);
  assert.equal(JSON.parse(new TextDecoder().decode(full)).truncated, false);
  const noHistory = JSON.parse(new TextDecoder().decode(encodeStatus(doc, full.length - 1))) as StatusDocument;
  assert.equal(noHistory.truncated, true);
  assert.equal(noHistory.groups.length, 100);
  assert.ok(noHistory.groups.every((g) => g.history.length === 0) && noHistory.view.history.length === 0);
  const bytes = encodeStatus(doc, 1_000);
  assert.ok(bytes.length <= 1_000, `${bytes.length} bytes`);
  const fewer = JSON.parse(new TextDecoder().decode(bytes)) as StatusDocument;
  assert.ok(fewer.groups.length < 100);
  assert.equal(fewer.groups.length + fewer.groupsOmitted, 100);
});

test('in process: a prober is never a member, and the endpoint forgets probers once they are gone', { timeout: 60_000 }, async () => {
  const ep = await Endpoint.start({ id: 'solo', listen: '127.0.0.1:0' });
  try {
    const peers = (ep as unknown as { world: { transport: { peers: Map<string, unknown> } } }).world.transport.peers;
    const gone: string[] = [];
    for (let i = 0; i < 10; i++) {
      const prober = await StatusProber.open(ep.address);
      try {
        const s = await prober.request();
        assert.equal(s.endpoint.id, 'solo');
        assert.deepEqual(s.view.members.map((m) => m.id), ['solo']);
        gone.push(prober.address);
      } finally {
        await prober.close();
      }
    }
    assert.deepEqual(ep.view.members.map((m) => m.id), ['solo']);
    assert.deepEqual(ep.stats().suspects, []);
    // The transport keeps a record of each prober it dialed back; records of departed
    // ones are swept once their backoff is long over (checked when a new peer appears,
    // so keep probing), instead of accumulating for good.
    await until(
      () => gone.every((a) => !peers.has(a)),
      10_000,
      'the departed probers forgotten',
      () => probeStatus(ep.address).then(() => undefined),
    );
    assert.equal(ep.view.epoch, 1);
  } finally {
    await ep.stop();
  }
});

/** Resolves once `cond()` holds, doing `step()` between checks (bounded in time). */
async function until(cond: () => boolean, ms: number, what: string, step: () => Promise<void>): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await step();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('in the simulator: Endpoint.status() counts traffic, shows flow control and records the crash in both histories', async () => {
  const sim = new Simulation({ seed: 7 });
  const [a, b, c] = (await sim.startAll(['a', 'b', 'c'])) as [Endpoint, Endpoint, Endpoint];
  for (const ep of [a, b, c]) await sim.run(ep.join('g'));
  const ga = a.group('g')!;
  const payload = new Uint8Array(100);
  await sim.run(Promise.all(Array.from({ length: 10 }, () => ga.multicast(payload))));
  await sim.runFor(1_000);
  const s = a.status();
  assert.equal(s.endpoint.id, 'a');
  assert.deepEqual(s.view.members.map((m) => m.id).sort(), ['a', 'b', 'c']);
  assert.deepEqual(s.view.coordinator, s.view.members[0]);
  assert.deepEqual(s.counters, { messagesSent: 10, bytesSent: 1000, messagesDelivered: 10, bytesDelivered: 1000 });
  assert.ok(s.rates.windowMs > 0 && s.rates.messagesDeliveredPerS > 0, JSON.stringify(s.rates));
  assert.equal(s.eventLoop, null, 'no event-loop measurement in a simulated world');
  assert.equal(s.flow.sendWindowMax, 1024);
  assert.equal(s.flow.sendWindow, 0, 'everything sent is stable after a quiet second');
  assert.equal(s.flow.blocked, false);
  assert.equal(s.order.unstable, 0);
  assert.deepEqual(s.queues, { pending: 0, queued: 0, inFlight: 0, events: 0 });
  assert.equal(s.flow.sequencer, s.view.coordinator!.id === 'a');
  const g = s.groups.find((x) => x.name === 'g')!;
  assert.equal(g.members.length, 3);
  assert.deepEqual(g.history.map((h) => h.joined.length), g.history.map(() => 1), 'one join per group view so far');
  // A second snapshot a virtual second later: nothing sent since, so the rates are 0.
  await sim.runFor(1_000);
  assert.equal(a.status().rates.messagesDeliveredPerS, 0);

  sim.crash('c');
  await sim.runFor(5_000);
  const after = a.status();
  assert.deepEqual(after.view.members.map((m) => m.id).sort(), ['a', 'b']);
  assert.deepEqual(after.view.history.at(-1)!.failed, ['c']);
  assert.equal(after.view.history.at(-1)!.id, after.view.epoch);
  const gAfter = after.groups.find((x) => x.name === 'g')!;
  assert.deepEqual(gAfter.members.slice().sort(), ['a', 'b']);
  assert.deepEqual(gAfter.history.at(-1)!.failed, ['c']);
  assert.equal(b.status().view.epoch, after.view.epoch);
});
