/**
 * The ATC demo's replica (examples/atc/sector.ts), without processes or a browser:
 * updates applied in order give equal replicas; the stream digest is `cohort
 * member`'s; a checkpoint makes a joiner equal to the others, whether its first view
 * came before or after the state; aircraft of failed controllers go round robin to
 * the survivors in rank order, the same everywhere; a stale radar measurement changes
 * nothing; the radar hands off aircraft that reach their exit.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { sha256hex } from '../src/api/digest.js';
import { Sector, UpdateError, checkUpdate, fixes, routes } from '../examples/atc/sector.js';
import type { Update } from '../examples/atc/sector.js';

const text = (u: Update): string => JSON.stringify(u);
const view = (id: number, members: string[], extra: { joined?: string[]; failed?: string[]; left?: string[] } = {}) => ({
  id,
  members,
  joined: extra.joined ?? [],
  left: extra.left ?? [],
  failed: extra.failed ?? [],
});

function plan(callsign: string, owner: string, route = 'LFPG-EGLL', level = 340): string {
  return text({ op: 'plan', callsign, route, level, owner });
}

describe('ATC sector replica', () => {
  it('applies plans, claims, levels and hand-offs, with cohort member’s stream digest', () => {
    const s = new Sector();
    const stream: [string, string][] = [
      ['ctl-1', plan('AFR100', 'ctl-1')],
      ['ctl-2', plan('BAW200', 'ctl-2', 'LFPO-LIRF', 300)],
      ['ctl-3', text({ op: 'claim', callsign: 'AFR100', by: 'ctl-3' })],
      ['ctl-1', text({ op: 'level', callsign: 'BAW200', level: 360 })],
      ['ctl-2', text({ op: 'handoff', callsign: 'BAW200', to: 'sector-east' })],
      ['ctl-2', 'not json at all'],
    ];
    let digest = '0'.repeat(64);
    for (const [sender, t] of stream) {
      s.apply(sender, t);
      digest = sha256hex(`${digest}\n${sender}\n${t}`);
    }
    assert.equal(s.count, stream.length);
    assert.equal(s.digest, digest);
    assert.deepEqual([...s.aircraft.keys()], ['AFR100']);
    const a = s.aircraft.get('AFR100')!;
    assert.equal(a.owner, 'ctl-3');
    const entry = fixes[routes['LFPG-EGLL']!.entry]!;
    assert.deepEqual([a.x, a.y], [...entry]);
    assert.deepEqual(s.handoffs, [{ callsign: 'BAW200', to: 'sector-east' }]);
    assert.deepEqual(s.recent[s.recent.length - 1], [stream.length, digest]);
  });

  it('ignores a radar measurement older than the last one applied', () => {
    const s = new Sector();
    s.apply('ctl-1', plan('AFR100', 'ctl-1'));
    s.apply('ctl-1', text({ op: 'track', tick: 2, positions: [['AFR100', 10, 20, 90]] }));
    s.apply('ctl-2', text({ op: 'track', tick: 1, positions: [['AFR100', 99, 99, 0]] }));
    const a = s.aircraft.get('AFR100')!;
    assert.deepEqual([a.x, a.y, a.heading, s.tick], [10, 20, 90, 2]);
  });

  it('gives the aircraft of failed controllers to the survivors, round robin in rank order, by callsign', () => {
    const s = new Sector();
    s.applyView(view(1, ['ctl-1', 'ctl-2', 'ctl-3']), 0);
    for (const [i, cs] of ['AFR105', 'AFR101', 'AFR103', 'AFR102', 'AFR104'].entries()) s.apply('ctl-1', plan(cs, i === 1 ? 'ctl-1' : 'ctl-2'));
    const entry = s.applyView(view(2, ['ctl-3', 'ctl-1'], { failed: ['ctl-2'] }), 0);
    // ctl-2 held AFR102..AFR105; survivors in rank order: ctl-3, ctl-1.
    assert.deepEqual(entry.reassigned, { AFR102: 'ctl-3', AFR103: 'ctl-1', AFR104: 'ctl-3', AFR105: 'ctl-1' });
    assert.equal(s.aircraft.get('AFR101')!.owner, 'ctl-1');
    assert.deepEqual(s.reassign(), {}, 'a second pass moves nothing');
    assert.deepEqual(
      s.timeline.map((t) => t.id),
      [1, 2],
    );
  });

  it('a plan or claim for a controller no longer in the view goes to a member', () => {
    const s = new Sector();
    s.applyView(view(1, ['ctl-1', 'ctl-2', 'ctl-3']), 0);
    s.apply('ctl-1', plan('AFR100', 'ctl-1'));
    s.applyView(view(2, ['ctl-1', 'ctl-2'], { failed: ['ctl-3'] }), 0);
    // The radar chose ctl-3 just before the view change; its plan arrives after it.
    s.apply('ctl-1', plan('BAW200', 'ctl-3'));
    assert.ok(['ctl-1', 'ctl-2'].includes(s.aircraft.get('BAW200')!.owner));
    s.apply('ctl-1', text({ op: 'claim', callsign: 'AFR100', by: 'ctl-3' }));
    assert.equal(s.aircraft.get('AFR100')!.owner, 'ctl-1');
  });

  it('a joiner from a checkpoint equals the others, whether its first view came before or after its state', () => {
    const a = new Sector();
    a.applyView(view(1, ['ctl-1', 'ctl-2']), 0);
    a.apply('ctl-1', plan('AFR100', 'ctl-1'));
    a.apply('ctl-2', plan('DLH300', 'ctl-2', 'LFPB-EDDF', 280));
    for (let i = 0; i < 5; i++) {
      const { track, handoffs } = a.radarStep();
      a.apply('ctl-1', text(track));
      for (const h of handoffs) a.apply('ctl-1', text(h));
    }
    // A view where ctl-2 fails and ctl-3 joins: the checkpoint may be taken before it.
    const cp = a.encode();
    const v = view(2, ['ctl-1', 'ctl-3'], { joined: ['ctl-3'], failed: ['ctl-2'] });
    a.applyView(v, 0);

    const viewFirst = new Sector();
    viewFirst.applyView(v, 0);
    viewFirst.decode(cp);
    const stateFirst = new Sector();
    stateFirst.decode(cp);
    stateFirst.applyView(v, 0);

    for (const j of [viewFirst, stateFirst]) {
      assert.equal(j.sectorDigest(), a.sectorDigest());
      assert.equal(j.digest, a.digest);
      assert.equal(j.count, a.count);
      assert.equal(j.aircraft.get('DLH300')!.owner, 'ctl-1');
      assert.deepEqual(
        j.timeline.map((t) => t.id),
        [1, 2],
      );
    }
    // And they stay equal on the same later updates.
    for (const s of [a, viewFirst, stateFirst]) s.apply('ctl-3', text({ op: 'claim', callsign: 'AFR100', by: 'ctl-3' }));
    assert.equal(viewFirst.sectorDigest(), a.sectorDigest());
    assert.equal(stateFirst.digest, a.digest);
  });

  it('the radar moves aircraft toward their exit and hands them off there', () => {
    const s = new Sector();
    s.apply('ctl-1', plan('AFR100', 'ctl-1', 'LFPG-EGLL', 450));
    const [ex, ey] = fixes[routes['LFPG-EGLL']!.exit]!;
    let handedOff = false;
    for (let i = 0; i < 500 && !handedOff; i++) {
      const before = s.aircraft.get('AFR100')!;
      const d0 = Math.hypot(ex - before.x, ey - before.y);
      const { track, handoffs } = s.radarStep();
      s.apply('ctl-1', text(track));
      for (const h of handoffs) s.apply('ctl-1', text(h));
      if (s.aircraft.has('AFR100')) {
        const after = s.aircraft.get('AFR100')!;
        assert.ok(Math.hypot(ex - after.x, ey - after.y) < d0, 'closer to the exit after each step');
      } else {
        handedOff = true;
      }
    }
    assert.ok(handedOff, 'handed off within 500 steps');
    assert.deepEqual(s.handoffs, [{ callsign: 'AFR100', to: routes['LFPG-EGLL']!.next }]);
  });

  it('the radar’s generated traffic goes on past a callsign a person already filed', () => {
    const s = new Sector();
    s.applyView(view(1, ['ctl-1', 'ctl-2']), 0);
    const taken = s.generatedPlan() as { callsign: string };
    s.apply('ctl-2', plan(taken.callsign, 'ctl-2'));
    const names = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const u = s.generatedPlan();
      s.apply('ctl-1', text(u));
      names.add((u as { callsign: string }).callsign);
    }
    assert.equal(s.aircraft.size, 7, 'six new aircraft beside the one filed by hand');
    assert.equal(names.size, 6);
    assert.deepEqual(new Set([...s.aircraft.values()].map((a) => a.owner)), new Set(['ctl-1', 'ctl-2']), 'spread over the members');
  });

  it('the demo refuses bad options with exit 2 and a reason', () => {
    const launch = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'atc', 'launch.js');
    for (const args of [['--controllers', '0'], ['--controllers', 'x'], ['--base-port', '-1'], ['--nope']]) {
      const r = spawnSync(process.execPath, [launch, ...args], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /usage: npm start/);
    }
  });

  it('refuses bad flight plans from a page with a reason', () => {
    assert.throws(() => checkUpdate({ op: 'plan', callsign: 'x', route: 'LFPG-EGLL', level: 300, owner: 'a' }), UpdateError);
    assert.throws(() => checkUpdate({ op: 'plan', callsign: 'AFR1', route: 'NOPE', level: 300, owner: 'a' }), /unknown route/);
    assert.throws(() => checkUpdate({ op: 'plan', callsign: 'AFR1', route: 'LFPG-EGLL', level: 999, owner: 'a' }), /level/);
    checkUpdate({ op: 'plan', callsign: 'AFR1', route: 'LFPG-EGLL', level: 300, owner: 'a' });
  });
});
