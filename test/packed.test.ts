/**
 * The package as users get it: `npm pack`, installed into a fresh app, a strict
 * TypeScript program compiled against its typings, then run: a replicated map on three
 * endpoints over TCP, a late joiner that gets the state, a leave, and every replica
 * equal at the end. Offline: the package has no runtime dependencies.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = join(tmpdir(), `cohort-packed-${process.pid}`);
after(() => rmSync(dir, { recursive: true, force: true }));

const app = `
import { CohortError, Endpoint } from 'cohort-vsync';
import type { Group, GroupEvent } from 'cohort-vsync';

type Map_ = Map<string, string>;
const enc = new TextEncoder();
const dec = new TextDecoder();

async function replica(ep: Endpoint): Promise<{ group: Group; map: Map_ }> {
  const map: Map_ = new Map();
  const onEvent = (e: GroupEvent): void => {
    if (e.type === 'state') for (const [k, v] of JSON.parse(dec.decode(e.data)) as [string, string][]) map.set(k, v);
    if (e.type === 'message') {
      const [k, v] = dec.decode(e.data).split('=') as [string, string];
      map.set(k, v);
    }
  };
  const group = await ep.join('kv', { onEvent, checkpoint: () => enc.encode(JSON.stringify([...map])), timeoutMs: 20_000 });
  return { group, map };
}

const opts = { listen: '127.0.0.1:0', startTimeoutMs: 20_000 } as const;
const a = await Endpoint.start({ id: 'a', ...opts });
const b = await Endpoint.start({ id: 'b', ...opts, seeds: [a.address] });
const c = await Endpoint.start({ id: 'c', ...opts, seeds: [a.address] });
const ra = await replica(a);
const rb = await replica(b);
const rc = await replica(c);
for (let i = 0; i < 30; i++) await [ra, rb, rc][i % 3]!.group.multicast(enc.encode('k' + (i % 7) + '=' + i));
const d = await Endpoint.start({ id: 'd', ...opts, seeds: [a.address] });
const rd = await replica(d);
await rb.group.leave();
await rd.group.multicast(enc.encode('last=1'));
await ra.group.multicast(enc.encode('barrier=1'));
await new Promise((r) => setTimeout(r, 300));
const dump = (m: Map_): string => JSON.stringify([...m].sort());
console.log(JSON.stringify({ a: dump(ra.map), c: dump(rc.map), d: dump(rd.map), keys: ra.map.size }));
try {
  await Endpoint.start({ id: 'e', listen: 'nonsense' });
} catch (e) {
  console.log(JSON.stringify({ code: e instanceof CohortError ? e.code : 'not a CohortError' }));
}
for (const ep of [d, c, b, a]) await ep.stop();
`;

test('npm pack, installed into a fresh strict TypeScript app, runs a replicated map', { timeout: 180_000 }, () => {
  mkdirSync(dir, { recursive: true });
  // npm's cache (and its logs, kept in the cache) inside `dir`, removed with it: the
  // user's ~/.npm is not this test's to fill. The package has no dependencies, so an
  // empty cache is enough for --offline.
  const npmEnv = { ...process.env, npm_config_cache: join(dir, 'npm-cache'), npm_config_update_notifier: 'false' };
  const pack = spawnSync('npm', ['pack', '--pack-destination', dir, '--ignore-scripts', '--silent'], { cwd: root, encoding: 'utf8', env: npmEnv });
  assert.equal(pack.status, 0, pack.stderr);
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  assert.ok(tgz !== undefined, pack.stdout);
  const appDir = join(dir, 'app');
  mkdirSync(appDir);
  writeFileSync(join(appDir, 'package.json'), JSON.stringify({ name: 'kv-app', private: true, type: 'module' }));
  writeFileSync(join(appDir, 'app.ts'), app);
  writeFileSync(
    join(appDir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { strict: true, noUncheckedIndexedAccess: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', skipLibCheck: false, types: ['node'], typeRoots: [join(root, 'node_modules', '@types')], outDir: 'out' }, files: ['app.ts'] }),
  );
  const install = spawnSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=warn', join(dir, tgz)], { cwd: appDir, encoding: 'utf8', env: npmEnv });
  assert.equal(install.status, 0, install.stderr);
  // The package runs nothing at install: npm 11 warns about any install script (prepare included).
  assert.doesNotMatch(install.stderr, /install-scripts|cohort-vsync@[^ ]* \((pre|post)?(install|prepare)/, install.stderr);
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', appDir], { cwd: appDir, encoding: 'utf8' });
  assert.equal(tsc.status, 0, `the app does not compile against the package's typings:\n${tsc.stdout}${tsc.stderr}`);
  const run = spawnSync(process.execPath, [join(appDir, 'out', 'app.js')], { cwd: appDir, encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.signal, null, `the app did not exit by itself:\n${run.stdout}${run.stderr}`);
  assert.equal(run.status, 0, run.stderr);
  const [maps, bad] = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(maps!['a'], maps!['c']);
  assert.equal(maps!['a'], maps!['d'], 'the late joiner got the state and every message after it');
  assert.equal(maps!['keys'], 9);
  assert.deepEqual(bad, { code: 'ERR_BAD_OPTION' });
  // The command, as installed: npx finds it, and it reads its version from its own package.json.
  const version = spawnSync('npx', ['--offline', 'cohort', '--version'], { cwd: appDir, encoding: 'utf8', timeout: 30_000, env: npmEnv });
  assert.equal(version.status, 0, version.stderr);
  assert.equal(version.stdout, `${(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version}\n`);
});
