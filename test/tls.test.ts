/**
 * TLS with mutual certificate authentication, over loopback. Goal: members whose
 * certificates the network's CA signed talk; a certificate from another CA, or an
 * expired one, is refused before anything else happens and the refusal is logged with
 * the peer's address. Method: a small PKI made with the `openssl` command in a temp
 * directory (a CA, member certificates, a rogue CA and its certificate, an expired
 * certificate issued with `openssl ca` and past dates), then transports in this
 * process and two `cohort member` processes. Skipped with a printed reason when
 * `openssl` is missing (outside CI; `.ci/run` installs it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, test } from 'node:test';
import type { Message } from '../src/core/types.js';
import { TcpTransport } from '../src/transport/tcp.js';
import { securityOptions } from '../src/cli/member.js';
import { MemberProc, freePorts, killAll, tempDir, until } from './procs.js';

const opensslMissing = spawnSync('openssl', ['version']).status !== 0;
if (opensslMissing) {
  if (process.env.CI === 'true') throw new Error('openssl is missing, and CI must run the TLS tests');
  console.log('# skipping the TLS tests: no openssl command');
}

interface Pem {
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
}

function openssl(dir: string, args: readonly string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A CA (ca.key, ca.pem) in `dir`, and a way to issue certificates from it. */
function makeCa(dir: string, name: string): (who: string, dates?: { start: string; end: string }) => Pem {
  mkdirSync(dir, { recursive: true });
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', `/CN=${name}`]);
  // `openssl ca` can issue certificates with any validity dates (an expired one, too).
  mkdirSync(join(dir, 'issued'), { recursive: true });
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  writeFileSync(
    join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = cohort',
      '[cohort]',
      'dir = .',
      'database = index.txt',
      'serial = serial',
      'new_certs_dir = issued',
      'certificate = ca.pem',
      'private_key = ca.key',
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      'copy_extensions = none',
      '[any]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
  const ca = readFileSync(join(dir, 'ca.pem'), 'utf8');
  return (who, dates = { start: '20260101000000Z', end: '20360101000000Z' }) => {
    openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who}`]);
    openssl(dir, ['ca', '-batch', '-config', 'ca.cnf', '-in', `${who}.csr`, '-out', `${who}.pem`, '-startdate', dates.start, '-enddate', dates.end, '-notext']);
    return { key: readFileSync(join(dir, `${who}.key`), 'utf8'), cert: readFileSync(join(dir, `${who}.pem`), 'utf8'), ca };
  };
}

const transports: TcpTransport[] = [];
const procs: MemberProc[] = [];
afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close()));
});
after(() => killAll(procs));

async function start(tls: Pem, log: string[], got: Message[]): Promise<TcpTransport> {
  const t = await TcpTransport.listen({ listen: '127.0.0.1:0', tls, handshakeTimeoutMs: 2000, reconnectMinMs: 20, reconnectMaxMs: 200, onLog: (l) => log.push(l) });
  t.onMessage((_, msg) => got.push(msg));
  transports.push(t);
  return t;
}

const probe = (t: TcpTransport, id: string): Message => ({ t: 'probe', from: { id, inc: 1 }, addr: t.address, config: [] });

test('TLS: members of one CA talk; another CA, an expired certificate, and no TLS are refused and logged with the address', { skip: opensslMissing && 'no openssl command', timeout: 60_000 }, async () => {
  const dir = tempDir('cohort-tls-');
  const issue = makeCa(join(dir, 'ca'), 'cohort test CA');
  const rogue = makeCa(join(dir, 'rogue'), 'rogue CA');
  const logA: string[] = [];
  const gotA: Message[] = [];
  const a = await start(issue('a'), logA, gotA);
  const logB: string[] = [];
  const gotB: Message[] = [];
  const b = await start(issue('b'), logB, gotB);
  b.send(a.address, probe(b, 'b'));
  await until(() => gotA.length === 1, 10_000, 'a receives from b');
  a.send(b.address, probe(a, 'a'));
  await until(() => gotB.length === 1, 10_000, 'b receives from a');

  // A certificate from another CA, and an expired one from the right CA: both refused.
  for (const [what, pem, why] of [
    // (The rogue member also distrusts a's certificate and hangs up first.)
    ['another CA', rogue('mallory'), /: /],
    ['an expired certificate', issue('stale', { start: '20200101000000Z', end: '20200201000000Z' }), /not accepted \(CERT_HAS_EXPIRED\)/],
  ] as const) {
    const logM: string[] = [];
    const m = await start(pem, logM, []);
    const before = logA.filter((l) => l.includes('refusing a TLS connection')).length;
    m.send(a.address, probe(m, 'intruder'));
    await until(() => logA.filter((l) => l.includes('refusing a TLS connection')).length > before, 10_000, `a refuses ${what}`);
    const line = logA.filter((l) => l.includes('refusing a TLS connection')).pop()!;
    assert.match(line, /refusing a TLS connection from 127\.0\.0\.1:\d+: /);
    assert.match(line, why);
    await until(() => logM.some((l) => /dial .* failed/.test(l)), 10_000, `${what}: the dialer's dial fails`);
  }
  // A plain endpoint cannot speak to a TLS one either.
  const plain = await TcpTransport.listen({ listen: '127.0.0.1:0', reconnectMinMs: 20 });
  transports.push(plain);
  plain.send(a.address, probe(plain, 'plain'));
  await until(() => logA.filter((l) => l.includes('refusing a TLS connection')).length >= 3, 10_000, 'a refuses the plain dialer');
  assert.equal(gotA.length, 1, 'only b got through');
});

test('TLS: a member speaks only as the id its certificate names (tls.idFrom cn); idFrom none lets any id through', { skip: opensslMissing && 'no openssl command', timeout: 60_000 }, async () => {
  const dir = tempDir('cohort-tls-');
  const issue = makeCa(join(dir, 'ca'), 'cohort test CA');
  const logA: string[] = [];
  const gotA: Message[] = [];
  const a = await start(issue('a'), logA, gotA);
  const b = await start(issue('b'), [], []);
  // b's certificate names b: as "a-admin" (an id with wider group access, say) it is dropped.
  b.send(a.address, probe(b, 'a-admin'));
  b.send(a.address, probe(b, 'b'));
  await until(() => gotA.length === 1, 10_000, 'a receives b as b');
  assert.equal(gotA[0]!.from.id, 'b');
  await until(() => logA.some((l) => l.includes('claim id "a-admin", its certificate names "b"')), 10_000, 'the mismatch is logged');
  // With idFrom 'none' the CA alone decides: any id passes.
  const gotC: Message[] = [];
  const c = await TcpTransport.listen({ listen: '127.0.0.1:0', tls: { ...issue('c'), idFrom: 'none' }, reconnectMinMs: 20 });
  transports.push(c);
  c.onMessage((_, msg) => gotC.push(msg));
  b.send(c.address, probe(b, 'anyone'));
  await until(() => gotC.length === 1, 10_000, 'c receives any id');
  // An endpoint whose own id is not its certificate's CN is told at start.
  const { Endpoint } = await import('../src/endpoint.js');
  await assert.rejects(Endpoint.start({ id: 'x', listen: '127.0.0.1:0', tls: issue('y') }), /option tls\.cert names CN=y, but option id is "x"/);
});

test('TLS: two cohort member processes form a group with --tls-cert/--tls-key/--tls-ca', { skip: opensslMissing && 'no openssl command', timeout: 60_000 }, async () => {
  const dir = tempDir('cohort-tls-');
  const issue = makeCa(join(dir, 'ca'), 'cohort test CA');
  const files = (who: string): string[] => {
    const p = issue(who);
    for (const [k, v] of Object.entries(p)) writeFileSync(join(dir, `${who}.${k}`), v, { mode: 0o600 });
    return ['--tls-cert', join(dir, `${who}.cert`), '--tls-key', join(dir, `${who}.key`), '--tls-ca', join(dir, `${who}.ca`)];
  };
  const ports = await freePorts(2);
  const m1 = new MemberProc('t1', ports[0]!, [ports[1]!], dir, files('t1'));
  const m2 = new MemberProc('t2', ports[1]!, [ports[0]!], dir, files('t2'));
  procs.push(m1, m2);
  await Promise.all([m1, m2].map((m) => m.waitFor((l) => l.event === 'view' && (l.members as string[]).length === 2, 20_000, 'a view of two')));
  m1.send('over-tls');
  await m2.waitFor((l) => l.event === 'message' && l.data === 'over-tls', 10_000, 'the message');
  await Promise.all([m1, m2].map((m) => m.end()));
});

test('TLS: --tls-id-from takes cn or none, and only with the TLS files', () => {
  const tlsFiles = { 'tls-cert': '/nonexistent', 'tls-key': '/nonexistent', 'tls-ca': '/nonexistent' };
  const noLog = (): void => undefined;
  assert.throws(() => securityOptions({ 'tls-id-from': 'none' }, noLog), /--tls-id-from goes with --tls-cert/);
  assert.throws(() => securityOptions({ ...tlsFiles, 'tls-id-from': 'san' }, noLog), /--tls-id-from must be cn or none, got "san"/);
  // With a valid value the files are read next (and these do not exist).
  assert.throws(() => securityOptions({ ...tlsFiles, 'tls-id-from': 'none' }, noLog), /--tls-cert \/nonexistent/);
});
