/**
 * The air traffic control sector, replicated with Cohort, on simulated machines.
 *
 * Three controllers hold the flight plans of sector XYZ over Paris. Every update
 * (a new flight plan, a track update, a hand-off) is multicast to the sector's group
 * and applied in the same order everywhere. Then controller 2's machine crashes: the
 * others see one agreed view change and take over its aircraft. A fourth controller
 * starts up, receives the sector by state transfer at its exact join point, and from
 * then on applies the same updates. At the end every controller shows the same
 * digest of the sector.
 *
 * It runs on Cohort's deterministic simulator (virtual time, seeded faults), so it
 * replays exactly: `cohort demo --simulated --seed 7`.
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Endpoint, Group, GroupEvent } from '../src/index.js';
import { Simulation } from '../src/sim/index.js';

interface FlightPlan {
  callsign: string;
  route: string;
  level: number;
  controller: string;
}

/** One controller's replica of the sector. */
class Sector {
  readonly plans = new Map<string, FlightPlan>();
  applied = 0;
  members: string[] = [];

  apply(update: string): void {
    const [op, callsign = '', a = '', b = ''] = update.split(' ');
    switch (op) {
      case 'plan':
        this.plans.set(callsign, { callsign, route: a, level: Number(b), controller: '' });
        break;
      case 'level': {
        const p = this.plans.get(callsign);
        if (p !== undefined) p.level = Number(a);
        break;
      }
      case 'claim': {
        const p = this.plans.get(callsign);
        if (p !== undefined) p.controller = a;
        break;
      }
      case 'handoff':
        this.plans.delete(callsign);
        break;
      default:
        break;
    }
    this.applied += 1;
  }

  /** Aircraft of a controller that left the view go to the first surviving controller. */
  reassign(alive: readonly string[]): string[] {
    const moved: string[] = [];
    for (const p of this.plans.values()) {
      if (p.controller !== '' && !alive.includes(p.controller)) {
        p.controller = alive[0] ?? '';
        moved.push(p.callsign);
      }
    }
    return moved;
  }

  encode(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ applied: this.applied, plans: [...this.plans.values()] }));
  }

  decode(data: Uint8Array): void {
    const s = JSON.parse(new TextDecoder().decode(data)) as { applied: number; plans: FlightPlan[] };
    this.applied = s.applied;
    this.plans.clear();
    for (const p of s.plans) this.plans.set(p.callsign, p);
  }

  digest(): string {
    const canonical = [...this.plans.values()].sort((x, y) => (x.callsign < y.callsign ? -1 : 1));
    return createHash('sha256').update(JSON.stringify({ applied: this.applied, canonical })).digest('hex').slice(0, 16);
  }
}

const { values } = parseArgs({ options: { seed: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
if (values.help === true) {
  console.log('usage: cohort demo --simulated [--seed N]   replicated ATC sector on simulated machines');
  process.exit(0);
}
const seed = Number(values.seed ?? 7);
const sim = new Simulation({ seed, faults: { delayMinMs: 1, delayMaxMs: 15 } });
const t = (): string => `${(sim.now / 1000).toFixed(3).padStart(7)}s`;
const say = (who: string, what: string): void => console.log(`${t()}  ${who.padEnd(6)} ${what}`);

const sectors = new Map<string, Sector>();
const groups = new Map<string, Group>();

async function controller(ep: Endpoint): Promise<Group> {
  const sector = new Sector();
  sectors.set(ep.id, sector);
  const onEvent = (e: GroupEvent): void => {
    switch (e.type) {
      case 'view': {
        sector.members = [...e.view.members];
        const moved = e.view.failed.length > 0 ? sector.reassign(e.view.members) : [];
        const why = [
          e.view.joined.length > 0 ? `joined: ${e.view.joined.join(',')}` : '',
          e.view.failed.length > 0 ? `failed: ${e.view.failed.join(',')}` : '',
          e.view.left.length > 0 ? `left: ${e.view.left.join(',')}` : '',
        ]
          .filter((x) => x !== '')
          .join('; ');
        say(ep.id, `view ${e.view.id} [${e.view.members.join(' ')}]${why === '' ? '' : ` (${why})`}${moved.length > 0 ? `; takes over ${moved.join(' ')}` : ''}`);
        break;
      }
      case 'state':
        sector.decode(e.data);
        say(ep.id, `state transfer: ${sector.plans.size} flight plans, ${sector.applied} updates applied, digest ${sector.digest()}`);
        break;
      case 'message':
        sector.apply(new TextDecoder().decode(e.data));
        break;
      case 'blocked':
        say(ep.id, 'blocked: no majority of controllers reachable');
        break;
      case 'excluded':
        say(ep.id, 'excluded from the sector; must rejoin');
        break;
      default:
        break;
    }
  };
  const g = await sim.run(ep.join('atc/sector-xyz', { onEvent, checkpoint: () => sector.encode() }));
  groups.set(ep.id, g);
  return g;
}

const send = (id: string, update: string): void => {
  void groups.get(id)?.multicast(new TextEncoder().encode(update)).catch(() => undefined);
};

console.log(`Sector XYZ over Paris, replicated on three controller machines (simulation seed ${seed}).\n`);
const [c1, c2, c3] = await sim.startAll(['ctl-1', 'ctl-2', 'ctl-3']);
say('net', `controllers formed one network view: ${c1!.view.members.map((m) => m.id).join(' ')}`);
for (const ep of [c1!, c2!, c3!]) await controller(ep);

const routes = ['LFPG-EGLL', 'LFPO-LIRF', 'LFPG-KJFK', 'LFPB-EDDF', 'LFPG-LEMD', 'LFPO-EHAM'];
for (let i = 0; i < 12; i++) {
  const from = ['ctl-1', 'ctl-2', 'ctl-3'][i % 3]!;
  send(from, `plan AFR${100 + i} ${routes[i % routes.length]} ${300 + 10 * (i % 8)}`);
  send(from, `claim AFR${100 + i} ${from}`);
}
await sim.runFor(300);
say('all', `12 flight plans filed and claimed concurrently by three controllers`);
for (let i = 0; i < 30; i++) send(['ctl-1', 'ctl-2', 'ctl-3'][i % 3]!, `level AFR${100 + (i % 12)} ${280 + (i % 9) * 10}`);
await sim.runFor(200);
for (const [id, s] of sectors) say(id, `${s.plans.size} plans, ${s.applied} updates, digest ${s.digest()}`);

console.log('');
say('ctl-2', 'machine crashes (SIGKILL)');
sim.crash('ctl-2');
groups.delete('ctl-2');
const crashAt = sim.now;
await sim.runUntil(() => sectors.get('ctl-1')!.members.length === 2 && sectors.get('ctl-3')!.members.length === 2, 10_000);
say('all', `agreed view change ${((sim.now - crashAt) / 1000).toFixed(3)} s after the crash (suspicion timeout 1 s)`);
send('ctl-1', 'handoff AFR101 sector-abc');
send('ctl-3', 'level AFR104 390');

console.log('');
say('ctl-4', 'a new controller starts and joins the sector');
const c4 = sim.open('ctl-4', ['ctl-1', 'ctl-3']);
await sim.run(c4.ready);
await controller(c4);
for (let i = 0; i < 9; i++) send(['ctl-1', 'ctl-3', 'ctl-4'][i % 3]!, `level AFR${100 + (i % 12)} ${300 + i * 10}`);
await sim.runFor(500);

console.log('');
const digests = new Set<string>();
for (const [id, s] of sectors) {
  if (id === 'ctl-2') continue;
  digests.add(s.digest());
  say(id, `${s.plans.size} plans, ${s.applied} updates, digest ${s.digest()}`);
}
console.log('');
for (const ep of [c1!, c3!, c4]) await sim.run(ep.stop());
console.log(digests.size === 1 ? '\nEvery live controller held the same sector.' : '\nDIVERGENCE: controllers disagree!');
process.exitCode = digests.size === 1 ? 0 : 1;
