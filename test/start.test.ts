/**
 * `Endpoint.start` with a bad option fails with a typed error and leaves nothing
 * running: it opens its TCP listener before the protocol's options are checked, so a
 * bad value used to keep the process alive after the error.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { freePorts } from '../src/tools/ports.js';

const index = new URL('../src/index.js', import.meta.url).href;

test('a bad option: Endpoint.start rejects with an OptionError and the process can exit', () => {
  for (const bad of ['heartbeatMs: -1', 'ackDelayMs: 1.5', "orderWindowMax: 'many'", 'suspectTimeoutMs: 100, heartbeatMs: 90']) {
    const code = `
      const { Endpoint, OptionError } = await import(${JSON.stringify(index)});
      try {
        await Endpoint.start({ id: 'a', listen: '127.0.0.1:0', ${bad} });
        console.log('started');
      } catch (e) {
        console.log(e instanceof OptionError ? 'OptionError: ' + e.message : 'other: ' + String(e));
      }`;
    // Bounded: a process kept alive by a forgotten listener is killed and fails the test.
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.signal, null, `{ ${bad} }: the process did not exit by itself (${r.stdout}${r.stderr})`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^OptionError: option \w+/, `{ ${bad} }: ${r.stdout}`);
  }
});

/**
 * `Endpoint.start` always settles: on `startTimeoutMs` or an aborted `signal` it closes
 * what it opened and rejects with a code that names the cause. Each case runs in its
 * own process, which must then exit by itself (nothing left open).
 */
function runStart(body: string): { out: string; err: string } {
  const code = `
    const { Endpoint, CohortError } = await import(${JSON.stringify(index)});
    const t0 = Date.now();
    const report = (e) => console.log(JSON.stringify({ code: e instanceof CohortError ? e.code : String(e), message: String(e.message), ms: Date.now() - t0 }));
    ${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.signal, null, `the process did not exit by itself:\n${r.stdout}${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  return { out: r.stdout, err: r.stderr };
}

function results(out: string): { code: string; message: string; ms: number }[] {
  return out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { code: string; message: string; ms: number });
}

test('start with a seed where nothing listens rejects ERR_UNREACHABLE after startTimeoutMs, and the process exits', async () => {
  const [dead] = await freePorts(1);
  const { out } = runStart(`
    try { await Endpoint.start({ id: 'a', listen: '127.0.0.1:0', seeds: ['127.0.0.1:${dead}'], startTimeoutMs: 1500 }); console.log('started'); }
    catch (e) { report(e); }`);
  const [r] = results(out);
  assert.ok(r !== undefined, out);
  assert.equal(r.code, 'ERR_UNREACHABLE', r.message);
  assert.match(r.message, /not in a view after 1500 ms.*no seed answers.*127\.0\.0\.1:\d+ unreachable/);
  assert.ok(r.ms >= 1500 && r.ms < 10_000, `settled after ${r.ms} ms`);
});

test('start with an unparsable seed rejects ERR_BAD_OPTION at once', () => {
  const { out } = runStart(`
    try { await Endpoint.start({ id: 'a', listen: '127.0.0.1:0', seeds: ['nonsense'] }); console.log('started'); }
    catch (e) { report(e); }`);
  const [r] = results(out);
  assert.equal(r?.code, 'ERR_BAD_OPTION', out);
  assert.match(r.message, /seeds\[0\]/);
});

test('start against a member with another secret rejects ERR_REFUSED', () => {
  const { out } = runStart(`
    const a = await Endpoint.start({ id: 'a', listen: '127.0.0.1:0', secret: 'the first secret, 16+ bytes' });
    try { await Endpoint.start({ id: 'b', listen: '127.0.0.1:0', seeds: [a.address], secret: 'another secret, 16+ bytes', startTimeoutMs: 1500 }); console.log('started'); }
    catch (e) { report(e); }
    await a.stop();`);
  const [r] = results(out);
  assert.equal(r?.code, 'ERR_REFUSED', out);
  assert.match(r.message, /refuses us \(.*secret/);
});

test('start with only some seeds up rejects ERR_NO_QUORUM at every one of them', async () => {
  const ports = await freePorts(3);
  const addrs = ports.map((p) => `127.0.0.1:${p}`);
  const { out } = runStart(`
    const addrs = ${JSON.stringify(addrs)};
    const start = (i) => Endpoint.start({ id: 'm' + i, listen: addrs[i], seeds: addrs.filter((_, j) => j !== i), startTimeoutMs: 2000 }).then(() => console.log('started'), report);
    await Promise.all([start(0), start(1)]);`);
  const rs = results(out);
  assert.equal(rs.length, 2, out);
  for (const r of rs) {
    assert.equal(r.code, 'ERR_NO_QUORUM', r.message);
    assert.match(r.message, /founding one needs every seed starting at once \(2 of 3 are\)/);
  }
});

test('an aborted start rejects ERR_ABORTED at once, and the process exits', async () => {
  const [dead] = await freePorts(1);
  const { out } = runStart(`
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('operator gave up')), 300);
    try { await Endpoint.start({ id: 'a', listen: '127.0.0.1:0', seeds: ['127.0.0.1:${dead}'], signal: ac.signal }); console.log('started'); }
    catch (e) { report(e); console.log(String(e.cause?.message)); }
    try { await Endpoint.start({ id: 'b', listen: '127.0.0.1:0', signal: AbortSignal.abort() }); console.log('started'); }
    catch (e) { report(e); }`);
  const rs = results(out);
  assert.equal(rs.length, 2, out);
  assert.equal(rs[0]!.code, 'ERR_ABORTED', rs[0]!.message);
  assert.ok(rs[0]!.ms < 5000, `settled after ${rs[0]!.ms} ms`);
  assert.match(out, /operator gave up/);
  assert.equal(rs[1]!.code, 'ERR_ABORTED', rs[1]!.message);
});

test('start at an address another process listens on rejects ERR_ADDRESS_IN_USE, not a raw EADDRINUSE', () => {
  const { out } = runStart(`
    const a = await Endpoint.start({ id: 'a', listen: '127.0.0.1:0' });
    try { await Endpoint.start({ id: 'b', listen: a.address }); console.log('started'); }
    catch (e) { report(e); }
    await a.stop();`);
  const [r] = results(out);
  assert.equal(r?.code, 'ERR_ADDRESS_IN_USE', out);
  assert.match(r.message, /cannot listen at 127\.0\.0\.1:\d+: another process listens there/);
});

test('a second endpoint with the id of a live member is refused with ERR_DUPLICATE_ID; the live member stays', () => {
  const { out } = runStart(`
    const opts = { suspectTimeoutMs: 500, heartbeatMs: 50 };
    const a = await Endpoint.start({ id: 'a', listen: '127.0.0.1:0', ...opts });
    const b = await Endpoint.start({ id: 'b', listen: '127.0.0.1:0', seeds: [a.address], ...opts });
    try { await Endpoint.start({ id: 'b', listen: '127.0.0.1:0', seeds: [a.address], ...opts, startTimeoutMs: 10000 }); console.log('started'); }
    catch (e) { report(e); }
    await new Promise((r) => setTimeout(r, 1500));
    console.log('view ' + a.view.members.map((m) => m.id + (m.inc === b.incarnation ? '=b' : '')).join(','));
    await b.stop();
    await a.stop();`);
  const [r] = results(out);
  assert.equal(r?.code, 'ERR_DUPLICATE_ID', out);
  assert.match(r.message, /id b is taken: b#\d+, a live member of the network at another address/);
  assert.ok(r.ms < 8000, `refused after ${r.ms} ms`);
  assert.match(out, /^view a,b=b$/m, 'the live b is still the member');
});

test("onHandlerError: 'exit' ends the process with status 1 when a handler throws", () => {
  const code = `
    const { Endpoint } = await import(${JSON.stringify(index)});
    const a = await Endpoint.start({ id: 'a', listen: '127.0.0.1:0', onHandlerError: 'exit' });
    const g = await a.join('g', { onEvent: (e) => { if (e.type === 'message') throw new Error('bad input'); } });
    await g.multicast(new Uint8Array([1])).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 5000));
    console.log('still running');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.signal, null, r.stdout + r.stderr);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout, /still running/);
  assert.match(r.stderr, /onEvent handler of group g threw on a message event \(bad input\).*exiting/);
});
