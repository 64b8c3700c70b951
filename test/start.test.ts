/**
 * `Endpoint.start` with a bad option fails with a typed error and leaves nothing
 * running: it opens its TCP listener before the protocol's options are checked, so a
 * bad value used to keep the process alive after the error.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

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
