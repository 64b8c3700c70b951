/**
 * One controller's replica of sector XYZ: flight plans, radar tracks, the controller
 * that owns each aircraft, and the timeline of agreed views.
 *
 * Every change is an update multicast to the group and applied here in the group's
 * order, so replicas that applied the same updates are equal. Nothing in `apply` looks
 * at the clock or at randomness: positions arrive inside the radar's track updates
 * (the coordinator measures, everyone copies), and the owner of a filed plan is in
 * the plan itself.
 *
 * Two digests say whether replicas agree. The *stream digest* is the one of
 * `cohort member` (docs/cli.md): it starts at 64 zeros and each applied update sets
 * `digest = sha256hex(digest + "\n" + sender + "\n" + text)`; equal `count`s must show
 * equal digests. The *sector digest* hashes the canonical sector itself (plans, tracks,
 * owners), so it also covers what views change: when a view says controllers failed
 * or left, their aircraft go round robin to the survivors in rank order, visiting
 * aircraft by callsign, which gives the same result at every replica because every
 * replica sees the same views at the same place in the stream.
 */
import { createHash } from 'node:crypto';
import type { MemberFailure } from '../../src/index.js';

/** Entry and exit points on the edge of the sector, a box of 1000 × 700 map units (x to the east, y to the south). */
export const fixes: Readonly<Record<string, readonly [number, number]>> = {
  NOVEM: [0, 130],
  BANOX: [0, 560],
  ROLEN: [360, 0],
  KOVAK: [780, 0],
  ERIXU: [1000, 190],
  MOLBA: [1000, 520],
  TULIP: [660, 700],
  DIRAX: [210, 700],
};

/** Routes a flight plan may file: airports, then the fixes where it enters and leaves the sector. */
export const routes: Readonly<Record<string, { readonly entry: string; readonly exit: string; readonly next: string }>> = {
  'LFPG-EGLL': { entry: 'TULIP', exit: 'ROLEN', next: 'sector-north' },
  'LFPO-LIRF': { entry: 'NOVEM', exit: 'MOLBA', next: 'sector-east' },
  'LFPG-KJFK': { entry: 'ERIXU', exit: 'BANOX', next: 'sector-west' },
  'LFPB-EDDF': { entry: 'DIRAX', exit: 'ERIXU', next: 'sector-east' },
  'LFPG-LEMD': { entry: 'KOVAK', exit: 'DIRAX', next: 'sector-south' },
  'LFPO-EHAM': { entry: 'BANOX', exit: 'KOVAK', next: 'sector-north' },
  'EGLL-LIMC': { entry: 'ROLEN', exit: 'TULIP', next: 'sector-south' },
  'EDDM-EGKK': { entry: 'MOLBA', exit: 'NOVEM', next: 'sector-west' },
};

/** A flight plan and its radar track. */
export interface Aircraft {
  readonly callsign: string;
  readonly route: string;
  level: number;
  /** The controller in charge of it. */
  owner: string;
  x: number;
  y: number;
  /** Degrees clockwise from north. */
  heading: number;
}

/** A view as the timeline keeps it. */
export interface TimelineEntry {
  readonly id: number;
  readonly members: readonly string[];
  readonly joined: readonly string[];
  readonly left: readonly string[];
  readonly failed: readonly string[];
  /** Why each member of `failed` failed (`view.failures`: agreed, the same at every controller). */
  readonly failures?: readonly MemberFailure[];
  /** The change in words (`view.reason`). */
  readonly reason?: string;
  /** Aircraft that changed owner at this view: callsign → new owner. */
  readonly reassigned: Readonly<Record<string, string>>;
  /** Wall-clock time at the replica that first applied it (display only, not in the digests). */
  readonly at: number;
}

/**
 * An update, as multicast (JSON text).
 * - `plan`: a new flight plan, entering at its route's entry fix, owned by `owner`.
 * - `track`: the radar's measurement number `tick`: positions of the aircraft.
 * - `claim`: a controller takes an aircraft.
 * - `handoff`: the aircraft leaves for another sector.
 * - `level`: a new cleared flight level.
 */
export type Update =
  | { readonly op: 'plan'; readonly callsign: string; readonly route: string; readonly level: number; readonly owner: string }
  | { readonly op: 'track'; readonly tick: number; readonly positions: readonly (readonly [string, number, number, number])[] }
  | { readonly op: 'claim'; readonly callsign: string; readonly by: string }
  | { readonly op: 'handoff'; readonly callsign: string; readonly to: string }
  | { readonly op: 'level'; readonly callsign: string; readonly level: number };

/** A hand-off that happened, for the page's log. */
export interface HandoffRecord {
  readonly callsign: string;
  readonly to: string;
}

const zeroDigest = '0'.repeat(64);
const timelineMax = 100;
const handoffsMax = 20;
/** Radar measurements whose digest a replica remembers, so pages can compare equal positions. */
export const recentMax = 64;

/** A callsign: airline code, flight number, optional suffix (AFR123, BAW12K). */
export const callsignPattern = /^[A-Z]{3}[0-9]{1,4}[A-Z]?$/;
/** Flight levels a plan may file (hundreds of feet). */
export const levelMin = 100;
export const levelMax = 450;

function sha256hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A bad update from a page, refused before it is multicast. */
export class UpdateError extends Error {
  override readonly name = 'UpdateError';
}

/** Checks an update built from user input; throws `UpdateError` naming the bad field. */
export function checkUpdate(u: Update): void {
  switch (u.op) {
    case 'plan':
      if (!callsignPattern.test(u.callsign)) throw new UpdateError(`callsign must look like AFR123 (3 letters, 1-4 digits), got "${u.callsign}"`);
      if (routes[u.route] === undefined) throw new UpdateError(`unknown route "${u.route}"; one of ${Object.keys(routes).join(', ')}`);
      if (!Number.isInteger(u.level) || u.level < levelMin || u.level > levelMax) throw new UpdateError(`level must be a flight level from ${levelMin} to ${levelMax}, got ${u.level}`);
      return;
    case 'level':
      if (!Number.isInteger(u.level) || u.level < levelMin || u.level > levelMax) throw new UpdateError(`level must be a flight level from ${levelMin} to ${levelMax}, got ${u.level}`);
      return;
    case 'claim':
    case 'handoff':
    case 'track':
      return;
    default:
      assertNever(u);
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected update ${JSON.stringify(x)}`);
}

/** What a checkpoint carries. */
interface Encoded {
  count: number;
  digest: string;
  tick: number;
  filed: number;
  aircraft: Aircraft[];
  handoffs: HandoffRecord[];
  timeline: TimelineEntry[];
  recent: [number, string][];
  members: string[];
}

export class Sector {
  readonly aircraft = new Map<string, Aircraft>();
  /** Updates applied since the group began. */
  count = 0;
  /** Running digest of the applied stream. */
  digest = zeroDigest;
  /** The last radar measurement applied. */
  tick = 0;
  /** Flight plan updates applied so far, refused ones included (names the radar's generated traffic). */
  filed = 0;
  handoffs: HandoffRecord[] = [];
  timeline: TimelineEntry[] = [];
  /** The last `recentMax` positions of the stream: [count, digest]. */
  recent: [number, string][] = [];
  /** The members of the last view applied, oldest first. */
  members: string[] = [];

  /** Apply one delivered update; text that is not a valid update still counts in the digest and changes nothing else. */
  apply(sender: string, text: string): void {
    this.count += 1;
    this.digest = sha256hex(`${this.digest}\n${sender}\n${text}`);
    this.recent.push([this.count, this.digest]);
    if (this.recent.length > recentMax) this.recent.shift();
    let u: Update;
    try {
      u = JSON.parse(text) as Update;
    } catch {
      return;
    }
    if (u === null || typeof u !== 'object') return;
    switch (u.op) {
      case 'plan': {
        // Counted even when refused, so that the radar's next generated callsign differs.
        this.filed += 1;
        const r = routes[u.route];
        if (r === undefined || this.aircraft.has(u.callsign)) return;
        const [x, y] = fixes[r.entry]!;
        const [tx, ty] = fixes[r.exit]!;
        // A plan for a controller that left the view while the plan was on its way
        // (the radar chose it just before) goes to a member, as at a view change.
        const owner = this.members.length === 0 || this.members.includes(u.owner) ? u.owner : this.members[this.filed % this.members.length]!;
        this.aircraft.set(u.callsign, { callsign: u.callsign, route: u.route, level: u.level, owner, x, y, heading: headingTo(x, y, tx, ty) });
        return;
      }
      case 'track': {
        // A measurement older than the last one applied (a coordinator that lost its
        // role while its update was in flight) changes nothing.
        if (!Number.isInteger(u.tick) || u.tick <= this.tick) return;
        this.tick = u.tick;
        for (const [callsign, x, y, heading] of u.positions) {
          const a = this.aircraft.get(callsign);
          if (a === undefined) continue;
          a.x = x;
          a.y = y;
          a.heading = heading;
        }
        return;
      }
      case 'claim': {
        const a = this.aircraft.get(u.callsign);
        if (a !== undefined && (this.members.length === 0 || this.members.includes(u.by))) a.owner = u.by;
        return;
      }
      case 'handoff': {
        if (!this.aircraft.delete(u.callsign)) return;
        this.handoffs.push({ callsign: u.callsign, to: u.to });
        if (this.handoffs.length > handoffsMax) this.handoffs.shift();
        return;
      }
      case 'level': {
        const a = this.aircraft.get(u.callsign);
        if (a !== undefined) a.level = u.level;
        return;
      }
      default:
        return;
    }
  }

  /**
   * Apply an agreed view: aircraft of controllers that are no longer members go to the
   * survivors. Idempotent, so a joiner may apply its first view whether its state was
   * taken before or after that view.
   */
  applyView(
    view: { id: number; members: readonly string[]; joined: readonly string[]; left: readonly string[]; failed: readonly string[]; failures?: readonly MemberFailure[]; reason?: string },
    at: number,
  ): TimelineEntry {
    this.members = [...view.members];
    const reassigned = this.reassign();
    const last = this.timeline[this.timeline.length - 1];
    if (last !== undefined && last.id >= view.id) {
      // Already in the timeline (it came with the state): keep that entry.
      return this.timeline.find((t) => t.id === view.id) ?? last;
    }
    const entry: TimelineEntry = {
      id: view.id,
      members: [...view.members],
      joined: [...view.joined],
      left: [...view.left],
      failed: [...view.failed],
      ...(view.failures === undefined ? {} : { failures: view.failures.map((f) => ({ ...f })) }),
      ...(view.reason === undefined ? {} : { reason: view.reason }),
      reassigned,
      at,
    };
    this.timeline.push(entry);
    if (this.timeline.length > timelineMax) this.timeline.shift();
    return entry;
  }

  /** Give aircraft whose owner is not a member to the members, round robin in rank order. */
  reassign(): Record<string, string> {
    const moved: Record<string, string> = {};
    if (this.members.length === 0) return moved;
    const alive = new Set(this.members);
    let next = 0;
    for (const callsign of [...this.aircraft.keys()].sort()) {
      const a = this.aircraft.get(callsign)!;
      if (alive.has(a.owner)) continue;
      a.owner = this.members[next % this.members.length]!;
      next += 1;
      moved[callsign] = a.owner;
    }
    return moved;
  }

  /** The radar's next measurement: every aircraft one step toward its exit fix; those past the edge are handed off. */
  radarStep(): { track: Update; handoffs: Update[] } {
    const positions: [string, number, number, number][] = [];
    const handoffs: Update[] = [];
    for (const callsign of [...this.aircraft.keys()].sort()) {
      const a = this.aircraft.get(callsign)!;
      const r = routes[a.route]!;
      const [tx, ty] = fixes[r.exit]!;
      const dist = Math.hypot(tx - a.x, ty - a.y);
      // Higher is faster: 6 to 11 map units per measurement.
      const speed = 6 + (5 * (a.level - levelMin)) / (levelMax - levelMin);
      if (dist <= speed) {
        handoffs.push({ op: 'handoff', callsign, to: r.next });
        continue;
      }
      const heading = headingTo(a.x, a.y, tx, ty);
      const rad = (heading * Math.PI) / 180;
      positions.push([callsign, round1(a.x + speed * Math.sin(rad)), round1(a.y - speed * Math.cos(rad)), heading]);
    }
    return { track: { op: 'track', tick: this.tick + 1, positions }, handoffs };
  }

  /** A generated flight plan, for the radar to file when the sector is quiet. */
  generatedPlan(): Update {
    const names = Object.keys(routes);
    const airlines = ['AFR', 'BAW', 'DLH', 'KLM', 'IBE', 'AZA', 'SWR', 'EZY'];
    const n = this.filed;
    const owner = this.members.length === 0 ? '' : this.members[n % this.members.length]!;
    return {
      op: 'plan',
      callsign: `${airlines[n % airlines.length]}${100 + ((n * 37) % 900)}`,
      route: names[(n * 3) % names.length]!,
      level: 240 + 10 * ((n * 7) % 18),
      owner,
    };
  }

  /** Hash of the sector itself (not the timeline): equal sectors, equal digests. */
  sectorDigest(): string {
    const canonical = [...this.aircraft.values()]
      .sort((p, q) => (p.callsign < q.callsign ? -1 : 1))
      .map((a) => [a.callsign, a.route, a.level, a.owner, a.x, a.y, a.heading]);
    return sha256hex(JSON.stringify({ count: this.count, tick: this.tick, canonical }));
  }

  encode(): Uint8Array {
    const e: Encoded = {
      count: this.count,
      digest: this.digest,
      tick: this.tick,
      filed: this.filed,
      aircraft: [...this.aircraft.values()],
      handoffs: this.handoffs,
      timeline: this.timeline,
      recent: this.recent,
      members: this.members,
    };
    return new TextEncoder().encode(JSON.stringify(e));
  }

  /**
   * Replace this replica by a checkpoint. Views this replica applied before the state
   * arrived (its own first view) are applied again, so their reassignments hold.
   */
  decode(data: Uint8Array): void {
    const e = JSON.parse(new TextDecoder().decode(data)) as Encoded;
    const members = this.members;
    const local = this.timeline;
    this.count = e.count;
    this.digest = e.digest;
    this.tick = e.tick;
    this.filed = e.filed;
    this.aircraft.clear();
    for (const a of e.aircraft) this.aircraft.set(a.callsign, { ...a });
    this.handoffs = e.handoffs;
    this.timeline = e.timeline;
    this.recent = e.recent;
    this.members = e.members;
    for (const t of local) {
      if (this.timeline.every((x) => x.id < t.id)) this.timeline.push(t);
    }
    if (members.length > 0) {
      this.members = members;
      this.reassign();
    }
  }
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}

/** Heading in whole degrees clockwise from north, from (x, y) toward (tx, ty). */
export function headingTo(x: number, y: number, tx: number, ty: number): number {
  const deg = Math.round((Math.atan2(tx - x, -(ty - y)) * 180) / Math.PI);
  return (deg + 360) % 360;
}
