/**
 * The ATC web demo's "restart everyone": every controller process is SIGKILLed at once
 * and started again on its data directory, and the sector comes back from their logs.
 * A flight plan filed before (its page's reply waits until it is on disk at a majority)
 * is in every controller's sector afterwards, and the three come to show the same
 * stream (count and digest) and the same sector. Every wait polls the pages with a
 * deadline.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Demo, act, assertGone, poll, stateOf } from './atc-demo.js';
import type { ControllerState } from './atc-demo.js';

let demo: Demo | null = null;
after(async () => {
  if (demo !== null) await demo.stop();
});

test('restart everyone: every controller crashes at once and the sector comes back from the logs', { timeout: 120_000 }, async () => {
  demo = new Demo(['--controllers', '3']);
  await demo.urlsFor(3, 60_000);
  const urls = ['ctl-1', 'ctl-2', 'ctl-3'].map((id) => demo!.urls.get(id)!);
  const filed = await act(urls[0]!, 'plan', { callsign: 'AFR777', route: 'LFPG-EGLL', level: 340 });
  assert.equal(filed.ok, true, JSON.stringify(filed));
  const before = demo.pids.slice();

  // The page's own controller is killed too: its reply never comes.
  await act(urls[1]!, 'supervisor', { action: 'restart-all' }).catch(() => undefined);
  await poll(async () => (demo!.output.filter((l) => l.includes('restarted from its log')).length >= 3 ? true : undefined), 60_000, () => demo!.output.join('\n'));
  assertGone(before);

  const states = await poll(
    async () => {
      const s = await Promise.all(urls.map(stateOf));
      if (s.some((x) => x === null || x.status !== 'member' || x.members.length !== 3)) return undefined;
      const [a, b, c] = s as ControllerState[];
      return a!.count === b!.count && b!.count === c!.count && a!.digest === b!.digest && b!.digest === c!.digest ? (s as ControllerState[]) : undefined;
    },
    60_000,
    () => 'three controllers in one view, at one count and digest',
  );
  for (const s of states) {
    assert.ok(s.aircraft.some((a) => a.callsign === 'AFR777'), `${s.self}: the plan filed before the restart is in the sector`);
    assert.equal(s.sectorDigest, states[0]!.sectorDigest, `${s.self}: the same sector as ${states[0]!.self}`);
  }
  assert.equal(await demo.stop(), 0);
  assertGone(demo.pids);
  demo = null;
});
