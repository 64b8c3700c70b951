/**
 * The public API, entry point by entry point: what an application imports from the
 * package root, and what the operators' and testers' subpaths hold. A new runtime
 * export is a decision (it becomes a promise to users), so it must be added here on
 * purpose; internals (the wire codec, the metrics registry, digest helpers, the core's
 * classes) must not leak into any entry point.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; exports: Record<string, unknown> };

const expected: Record<string, readonly string[]> = {
  '.': ['AssertionFailure', 'ClosedError', 'CohortError', 'Endpoint', 'ErrorCode', 'Group', 'InputError', 'Logger', 'OptionError', 'ProbeError', 'WireError', 'describeFailure', 'logLevels', 'viewReason'],
  './ops': ['STATUS_HISTORY_MAX', 'STATUS_TIMEOUT_MS_DEFAULT', 'STATUS_VERSION', 'StatusProber', 'metricsContentType', 'probeStatus'],
};

/** The compiled module an export of package.json points at. */
function target(subpath: string): string {
  const entry = pkg.exports[subpath] as { default: string };
  return join(root, entry.default);
}

test('the package is cohort-vsync, with four code entry points', () => {
  assert.equal(pkg.name, 'cohort-vsync');
  assert.deepEqual(Object.keys(pkg.exports).sort(), ['.', './check', './ops', './package.json', './sim']);
});

for (const [subpath, names] of Object.entries(expected)) {
  test(`the runtime exports of ${subpath} are exactly the curated list`, async () => {
    const mod = (await import(target(subpath))) as Record<string, unknown>;
    assert.deepEqual(Object.keys(mod).sort(), [...names].sort());
  });
}

test('no entry point exports internals (codec, metrics registry, digests, core classes)', async () => {
  const internal = /^(encodeMessage|decodeMessage|defaultWireLimits|MetricsRegistry|Counter|Gauge|Histogram|escapeHelp|escapeLabelValue|formatValue|sha256hex|EndpointCore|defaultCoreConfig|isLoggerLike)$/;
  for (const subpath of ['.', './sim', './check', './ops']) {
    const mod = (await import(target(subpath))) as Record<string, unknown>;
    const leaked = Object.keys(mod).filter((k) => internal.test(k));
    assert.deepEqual(leaked, [], `${subpath} exports internals`);
  }
});

test('the root typings name no class of the core', () => {
  const dts = readFileSync(join(root, 'dist', 'src', 'index.d.ts'), 'utf8');
  assert.doesNotMatch(dts, /endpoint-core/);
  const endpoint = readFileSync(join(root, 'dist', 'src', 'endpoint.d.ts'), 'utf8');
  assert.doesNotMatch(endpoint, /EndpointCore/, 'Endpoint\'s public typings refer to the core class');
});
