/**
 * Seeded fault scenarios: the attack that the simulation suite runs thousands of
 * times. From one seed it draws a cluster (3–7 endpoints started together, each
 * seeded with all the others), 1–3 overlapping groups, a workload of concurrent
 * multicasts (some safe), and a schedule of faults: crashes, restarts as new
 * incarnations, pauses longer than the suspicion timeout, majority/minority and even
 * partitions, loss, duplication and reordering bursts, new joiners with state
 * transfer (some states of several MiB), group leaves and graceful endpoint stops.
 *
 * A *safety phase* of faults is followed by a *liveness phase* on a healed network:
 * then every live member must have converged to one view per group and delivered
 * everything live senders sent. Every member's application keeps the `cohort member`
 * state (a running SHA-256 digest of the stream); the checker judges the histories on
 * G1–G11, and a final check compares the live members' digests.
 */
import { createHash } from 'node:crypto';
import { checkHistories } from '../check/checker.js';
import type { HistoryEvent, MemberHistory, Violation } from '../check/history.js';
import type { Endpoint, Group, GroupEvent } from '../endpoint.js';
import type { MemberRef } from '../core/types.js';
import { goldenLine } from './golden.js';
import { SeededRng } from './rng.js';
import { Simulation } from './simulation.js';

/** What kind of faults a scenario draws. */
export const ScenarioProfile = {
  /** Everything: crashes, pauses, partitions, loss, joins, leaves. */
  mixed: 'mixed',
  /** Only crashes on a clean network, so that detection time (G8) can be bounded. */
  crashes: 'crashes',
} as const;
export type ScenarioProfile = (typeof ScenarioProfile)[keyof typeof ScenarioProfile];

/** Options of {@link runScenario}. */
export interface ScenarioOptions {
  /** Everything in the run (cluster shape, workload, faults) is drawn from this. */
  readonly seed: number;
  /** @default mixed (crash-only for one seed in five) */
  readonly profile?: ScenarioProfile;
  /** Receives a readable trace of the run (network events, endpoint logs, faults). */
  readonly trace?: (line: string) => void;
  /** Called with the simulation at the end of the run (for debugging). */
  readonly inspect?: (sim: Simulation) => void;
}

/** The outcome of {@link runScenario}: the verdict, and what the run recorded. */
export interface ScenarioResult {
  /** The seed the run was drawn from. */
  readonly seed: number;
  /** The profile the run used. */
  readonly profile: ScenarioProfile;
  /** One line describing the drawn cluster and faults. */
  readonly shape: string;
  /** What the checker found; empty when every guarantee held. */
  readonly violations: readonly Violation[];
  /** One history per member incarnation, as judged by the checker. */
  readonly histories: readonly MemberHistory[];
  /** Virtual time the run lasted, ms. */
  readonly virtualMs: number;
  /** Scheduler events executed. */
  readonly events: number;
  /** Messages delivered, summed over all members. */
  readonly delivered: number;
  /** Largest state transferred to a joiner in this run, bytes. */
  readonly maxStateBytes: number;
  /** For each crash: virtual ms until the last surviving group member installed the view without it. */
  readonly crashToViewMs: readonly number[];
  /** False when the run ended without a live majority, so liveness was not judged. */
  readonly livenessChecked: boolean;
  /** The run's golden line: seed, wire digest, history digest (see `sim/golden.ts`). */
  readonly golden: string;
}

const zeroDigest = '0'.repeat(64);
const suspectTimeoutMs = 1000;
const detectBoundMs = 1500;
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

function digestStep(digest: string, sender: string, data: string): string {
  return createHash('sha256').update(`${digest}\n${sender}\n${data}`).digest('hex');
}

function key(m: MemberRef): string {
  return `${m.id}#${m.inc}`;
}

/** The application of one member incarnation in one group: the digest state. */
interface AppState {
  count: number;
  digest: string;
  viewId: number;
}

/** One member incarnation's history under construction. */
interface Recorder {
  readonly member: string;
  readonly events: HistoryEvent[];
  end: MemberHistory['end'];
  crashedAt?: number;
}

/** Run one seeded scenario to the end and judge it. Never throws for a protocol failure. */
export async function runScenario(opts: ScenarioOptions): Promise<ScenarioResult> {
  const rng = new SeededRng(opts.seed);
  const profile: ScenarioProfile = opts.profile ?? (rng.below(5) === 0 ? ScenarioProfile.crashes : ScenarioProfile.mixed);
  const sim = new Simulation({
    seed: rng.nextU32(),
    // The application model joins its groups again itself after an exclusion, recording
    // each incarnation's history apart (the checker judges incarnations one by one).
    endpoint: { suspectTimeoutMs, rejoin: false },
    digestWire: true,
    ...(opts.trace === undefined ? {} : { trace: opts.trace }),
    codec: rng.below(4) !== 0,
  });
  const n = rng.between(3, 7);
  const groupCount = rng.between(1, 3);
  const groups = Array.from({ length: groupCount }, (_, i) => `g${i}`);
  const stateBytes = rng.below(6) === 0 ? rng.between(100_000, 3_000_000) : rng.below(2_000);
  const safeShare = rng.below(3) === 0 ? 0.3 : 0;
  const faultPhaseMs = rng.between(4_000, 10_000);
  const settleMs = 20_000;
  const recorders: Recorder[] = [];
  const crashes: { id: string; member: string; at: number }[] = [];
  let maxStateBytes = 0;
  let delivered = 0;
  let violationsExtra: Violation[] = [];
  let joinerCount = 0;
  let stopWorkload = false;
  const ids: string[] = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const allIds = [...ids];
  /** Endpoints that were stopped on purpose (graceful) and must not be counted as live. */
  const stopped = new Set<string>();
  /** Memberships each endpoint wants (so it rejoins them after an exclusion). */
  const wants = new Map<string, Set<string>>();

  const description = `seed=${opts.seed} profile=${profile} n=${n} groups=${groupCount} state=${stateBytes}B safe=${safeShare} faults=${faultPhaseMs}ms`;
  opts.trace?.(`SCENARIO ${description}`);

  function recorderFor(ep: Endpoint): Recorder {
    const member = `${ep.id}#${ep.incarnation}`;
    let r = recorders.find((x) => x.member === member);
    if (r === undefined) {
      r = { member, events: [], end: 'up' };
      recorders.push(r);
    }
    return r;
  }

  /** Per member incarnation and group: multicasts sent so far (msgIds stay unique across rejoins). */
  const sentCount = new Map<string, number>();
  /** Per endpoint and group: the current sender loop (an older one stops). */
  const senderGeneration = new Map<string, number>();

  function joinGroup(ep: Endpoint, group: string): void {
    if (ep.group(group) !== undefined) return;
    const rec = recorderFor(ep);
    const app: AppState = { count: 0, digest: zeroDigest, viewId: 0 };
    const padding = new Uint8Array(stateBytes);
    const onEvent = (e: GroupEvent): void => {
      const time = sim.now;
      switch (e.type) {
        case 'view':
          app.viewId = e.view.id;
          rec.events.push({
            type: 'view',
            group,
            viewId: e.view.id,
            network: e.view.network,
            members: e.view.refs.members.map(key),
            joined: e.view.refs.joined.map(key),
            left: e.view.refs.left.map(key),
            failed: e.view.refs.failed.map(key),
            reason: e.view.reason,
            time,
          });
          break;
        case 'state': {
          maxStateBytes = Math.max(maxStateBytes, e.data.length);
          const text = textDecoder.decode(e.data.subarray(0, Math.min(e.data.length, 200)));
          const nl = text.indexOf('\n');
          const head = JSON.parse(nl < 0 ? text : text.slice(0, nl)) as { count: number; digest: string };
          app.count = head.count;
          app.digest = head.digest;
          rec.events.push({ type: 'state', group, digest: app.digest, count: app.count, time });
          break;
        }
        case 'message': {
          const data = textDecoder.decode(e.data);
          const sender = `${e.sender}#${e.senderInc}`;
          app.digest = digestStep(app.digest, e.sender, data);
          app.count += 1;
          delivered += 1;
          const seq = Number(data.slice(data.lastIndexOf(':') + 1));
          rec.events.push({ type: 'message', group, viewId: app.viewId, sender, msgId: data, senderSeq: seq, safe: e.safe, time, digest: app.digest, count: app.count });
          break;
        }
        case 'blocked':
          rec.events.push({ type: 'blocked', group, time });
          break;
        case 'excluded':
          rec.events.push({ type: 'excluded', group, time });
          rec.end = 'excluded';
          // Come back: the endpoint rejoins the network by itself; rejoin the group too.
          sim.scheduler.after(50, () => {
            if (sim.isUp(ep.id) && !stopped.has(ep.id) && wants.get(ep.id)?.has(group) === true) joinGroup(ep, group);
          });
          break;
        default: {
          const never: never = e;
          void never;
        }
      }
    };
    const checkpoint = (): Uint8Array => {
      const head = textEncoder.encode(`${JSON.stringify({ count: app.count, digest: app.digest })}\n`);
      const out = new Uint8Array(head.length + padding.length);
      out.set(head, 0);
      return out;
    };
    ep.join(group, { onEvent, checkpoint }).catch(() => undefined);
    startSender(ep, group, rec);
  }

  /** Multicast to `group` every 30–150 ms (on the endpoint's own clock: a paused node sends nothing). */
  function startSender(ep: Endpoint, group: string, rec: Recorder): void {
    const member = rec.member;
    const countKey = `${member}:${group}`;
    const genKey = `${ep.id}:${group}`;
    const generation = (senderGeneration.get(genKey) ?? 0) + 1;
    senderGeneration.set(genKey, generation);
    const clock = sim.network.node(ep.id)?.clock;
    if (clock === undefined) return;
    const tick = (): void => {
      if (stopWorkload || rec.end !== 'up' || senderGeneration.get(genKey) !== generation) return;
      const g = ep.group(group);
      if (g === undefined) return;
      // Every fourth tick sends three multicasts in one go, so that they leave as a
      // bundle: the second to another group this endpoint is in, if any (a bundle spans
      // groups), the last in the other delivery mode when safe ones are on (a bundle
      // never mixes modes).
      const burst = (sentCount.get(countKey) ?? 0) % 4 === 3 ? 3 : 1;
      const firstSafe = safeShare > 0 && rng.chance(safeShare);
      for (let i = 0; i < burst && g.view !== null; i++) {
        const other = i === 1 ? groups.find((x) => x !== group && (ep.group(x)?.view ?? null) !== null) : undefined;
        if (other !== undefined) send(ep.group(other)!, other, firstSafe);
        else send(g, group, i === 2 && safeShare > 0 ? !firstSafe : firstSafe);
      }
      clock.setTimer(rng.between(30, 150), tick);
    };
    const send = (g: Group, name: string, safe: boolean): void => {
      const key = `${member}:${name}`;
      const n = (sentCount.get(key) ?? 0) + 1;
      sentCount.set(key, n);
      const msgId = `${member}:${name}:${n}`;
      const sendEvent = { type: 'send' as const, group: name, msgId, senderSeq: n, safe, time: sim.now } as { type: 'send'; group: string; msgId: string; senderSeq: number; safe: boolean; time: number; resolvedAt?: number };
      rec.events.push(sendEvent);
      try {
        g.multicast(textEncoder.encode(msgId), { safe }).then(
          () => {
            sendEvent.resolvedAt = sim.now;
          },
          () => undefined,
        );
      } catch {
        rec.events.pop();
        sentCount.set(key, n - 1);
      }
    };
    clock.setTimer(rng.between(1, 100), tick);
  }

  function startEndpoint(id: string, seeds: readonly string[]): Endpoint {
    const ep = sim.open(id, seeds);
    const want = wants.get(id) ?? new Set(groups.filter(() => rng.chance(0.7)));
    if (want.size === 0) want.add(rng.pick(groups));
    wants.set(id, want);
    ep.ready.then(
      () => {
        for (const g of want) joinGroup(ep, g);
      },
      () => undefined,
    );
    return ep;
  }

  /** Members (`id#inc`) of the newest endpoint view any live endpoint installed. */
  let latestEpoch = 0;
  function latestView(): string[] {
    let best: { epoch: number; keys: string[] } = { epoch: -1, keys: [] };
    for (const id of allIds) {
      if (!sim.isUp(id)) continue;
      const v = sim.endpoint(id).view;
      if (v.epoch > best.epoch) best = { epoch: v.epoch, keys: v.members.map(key) };
    }
    latestEpoch = best.epoch;
    return best.keys;
  }

  /**
   * Does this member of the latest view count toward its quorum: still running (not
   * crashed, stopped or replaced by a new incarnation) and has it installed that view
   * (a joiner whose welcome was lost cannot answer for it)?
   */
  function alive(memberKey: string): boolean {
    const id = memberKey.slice(0, memberKey.indexOf('#'));
    if (!sim.isUp(id) || stopped.has(id)) return false;
    const ep = sim.endpoint(id);
    return `${id}#${ep.incarnation}` === memberKey && ep.view.epoch >= latestEpoch;
  }

  const upIds = (): string[] => allIds.filter((id) => sim.isUp(id) && !stopped.has(id));

  // ---- the cluster, started together (no split at start)
  const stagger = rng.chance(0.5);
  for (const id of ids) {
    const seeds = ids.filter((x) => x !== id);
    if (stagger) sim.scheduler.after(rng.below(300), () => startEndpoint(id, seeds));
    else startEndpoint(id, seeds);
  }

  // ---- the fault schedule (safety phase)
  const paused = new Set<string>();
  let t = 1_000;
  while (t < faultPhaseMs) {
    const at = t;
    const kind = profile === ScenarioProfile.crashes ? 'crash' : rng.pick(['crash', 'pause', 'partition', 'loss', 'join', 'leave', 'stop', 'crash', 'pause', 'partition'] as const);
    const duration = rng.between(300, 3_500);
    sim.scheduler.at(at, () => {
      const up = upIds().filter((id) => !paused.has(id));
      switch (kind) {
        case 'crash': {
          // Keep a majority of the latest view alive, or the network would block for good
          // (that is G9 working, but then liveness cannot be asked of the run).
          const latest = latestView();
          const living = latest.filter(alive);
          if (living.length - 1 < Math.floor(latest.length / 2) + 1) return;
          const candidates = up.filter((id) => living.includes(`${id}#${sim.endpoint(id).incarnation}`));
          if (candidates.length === 0) return;
          const id = rng.pick(candidates);
          const ep = sim.endpoint(id);
          const member = `${id}#${ep.incarnation}`;
          sim.crash(id);
          for (const r of recorders) {
            if (r.member === member) {
              r.end = 'crashed';
              r.crashedAt = sim.now;
            }
          }
          crashes.push({ id, member, at: sim.now });
          if (profile === ScenarioProfile.mixed && rng.chance(0.6)) {
            sim.scheduler.after(rng.between(500, 3_000), () => {
              if (!sim.isUp(id)) startEndpoint(id, allIds.filter((x) => x !== id && sim.isUp(x)));
            });
          }
          return;
        }
        case 'pause': {
          if (up.length === 0) return;
          const id = rng.pick(up);
          paused.add(id);
          sim.pause(id);
          sim.scheduler.after(rng.chance(0.5) ? duration : suspectTimeoutMs + duration, () => {
            paused.delete(id);
            if (sim.isUp(id)) sim.resume(id);
          });
          return;
        }
        case 'partition': {
          const all = upIds();
          if (all.length < 2) return;
          const shuffled = rng.shuffle(all);
          const even = rng.chance(0.3) && shuffled.length % 2 === 0;
          const cut = even ? shuffled.length / 2 : rng.between(1, Math.floor((shuffled.length - 1) / 2) || 1);
          sim.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
          sim.scheduler.after(duration, () => sim.heal());
          return;
        }
        case 'loss': {
          sim.configure({
            dropProbability: rng.below(20) / 100,
            duplicateProbability: rng.below(10) / 100,
            reorderProbability: rng.below(20) / 100,
            delayMaxMs: rng.between(5, 40),
          });
          sim.scheduler.after(duration, () => sim.configure({ dropProbability: 0, duplicateProbability: 0, reorderProbability: 0, delayMaxMs: 10 }));
          return;
        }
        case 'join': {
          joinerCount += 1;
          const id = `j${joinerCount}`;
          allIds.push(id);
          const live = upIds();
          startEndpoint(id, live.length === 0 ? [] : rng.shuffle(live).slice(0, rng.between(1, live.length)));
          return;
        }
        case 'leave': {
          // A member leaves one of its groups gracefully, and joins it again later.
          if (up.length === 0) return;
          const id = rng.pick(up);
          const ep = sim.endpoint(id);
          const want = wants.get(id)!;
          if (want.size === 0) return;
          const g = rng.pick([...want]);
          const handle = ep.group(g);
          if (handle === undefined || handle.view === null) return;
          want.delete(g);
          const rec = recorderFor(ep);
          handle.leave().then(
            () => {
              rec.events.push({ type: 'left', group: g, time: sim.now });
              sim.scheduler.after(duration, () => {
                if (!sim.isUp(id) || stopped.has(id)) return;
                want.add(g);
                const current = sim.endpoint(id);
                if (current === ep) joinGroup(ep, g);
              });
            },
            () => undefined,
          );
          return;
        }
        case 'stop': {
          // A graceful stop of a whole endpoint (leaves every group, then the network).
          if (up.length <= 2) return;
          const id = rng.pick(up);
          const ep = sim.endpoint(id);
          const rec = recorderFor(ep);
          stopped.add(id);
          const groupsLeft = [...(wants.get(id) ?? [])].filter((g) => ep.group(g)?.view != null);
          ep.stop().then(
            () => {
              if (rec.end !== 'up') return;
              for (const g of groupsLeft) rec.events.push({ type: 'left', group: g, time: sim.now });
              rec.end = 'stopped';
            },
            () => undefined,
          );
          return;
        }
        default: {
          const never: never = kind;
          void never;
        }
      }
    });
    // Crash-only runs judge detection time (G8), which is bounded for one crash at a
    // time: a crash of the next proposer in line while a view change is under way
    // costs another suspicion timeout. Space them so each is detected first.
    t += profile === ScenarioProfile.crashes ? rng.between(suspectTimeoutMs + detectBoundMs, 4_000) : rng.between(300, 1_500);
  }

  // ---- the liveness phase: everything heals; the workload stops a little later
  sim.scheduler.at(faultPhaseMs, () => {
    sim.heal();
    sim.configure({ dropProbability: 0, duplicateProbability: 0, reorderProbability: 0, delayMaxMs: 10 });
    for (const id of [...paused]) {
      paused.delete(id);
      if (sim.isUp(id)) sim.resume(id);
    }
  });
  sim.scheduler.at(faultPhaseMs + 1_000, () => {
    stopWorkload = true;
  });

  let error: string | null = null;
  const end = faultPhaseMs + settleMs;
  try {
    // Slices keep promise callbacks (join handles, leave completions) close to their time.
    while (sim.now < end) {
      sim.runForSync(Math.min(50, end - sim.now));
      await new Promise<void>((r) => setImmediate(r));
    }
  } catch (err) {
    error = err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err);
  }

  opts.inspect?.(sim);
  const histories: MemberHistory[] = recorders.map((r) => ({
    member: r.member,
    events: r.events,
    end: r.end === 'up' && stopped.has(r.member.slice(0, r.member.indexOf('#'))) ? 'stopped' : r.end,
    ...(r.crashedAt === undefined ? {} : { crashedAt: r.crashedAt }),
  }));
  // A run may still legitimately end without a quorum (crashes during partitions): then
  // only safety is judged, and the result says so.
  const latest = latestView();
  const recoverable = latest.filter(alive).length >= Math.floor(latest.length / 2) + 1;
  const violations: Violation[] = [];
  if (error !== null) violations.push({ guarantee: 'crash', message: `the run threw: ${error}` });
  violations.push(
    ...checkHistories(histories, {
      quiescent: error === null && recoverable,
      initialDigest: zeroDigest,
      ...(profile === ScenarioProfile.crashes ? { suspectTimeoutMs, detectBoundMs } : {}),
    }),
  );
  violationsExtra = error === null && recoverable ? finalStateCheck(histories) : [];
  violations.push(...violationsExtra);
  return {
    seed: opts.seed,
    profile,
    shape: description,
    violations,
    histories,
    virtualMs: sim.now,
    events: sim.scheduler.eventsRun,
    delivered,
    maxStateBytes,
    crashToViewMs: crashDetection(histories, crashes),
    livenessChecked: error === null && recoverable,
    golden: goldenLine(opts.seed, sim.wireDigest() ?? '', histories),
  };
}

/** Live members whose last view of a group is the same must end with the same state. */
export function finalStateCheck(histories: readonly MemberHistory[]): Violation[] {
  const out: Violation[] = [];
  const byGroupView = new Map<string, { member: string; digest: string; count: number }>();
  for (const h of histories) {
    if (h.end !== 'up') continue;
    const last = new Map<string, { viewId: number; digest: string; count: number; left: boolean }>();
    for (const e of h.events) {
      if (e.type === 'view') {
        // A member that left and joined again starts from a new state.
        const prev = last.get(e.group);
        const fresh = prev === undefined || prev.left;
        last.set(e.group, { viewId: e.viewId, digest: fresh ? zeroDigest : prev.digest, count: fresh ? 0 : prev.count, left: false });
      } else if ((e.type === 'message' || e.type === 'state') && e.digest !== undefined) {
        const prev = last.get(e.group);
        if (prev !== undefined) last.set(e.group, { ...prev, digest: e.digest, count: e.count ?? 0 });
      } else if (e.type === 'left' || e.type === 'excluded') {
        const prev = last.get(e.group);
        if (prev !== undefined) prev.left = true;
      }
    }
    for (const [group, s] of last) {
      if (s.left) continue;
      const k = `${group}@${s.viewId}`;
      const other = byGroupView.get(k);
      if (other === undefined) byGroupView.set(k, { member: h.member, digest: s.digest, count: s.count });
      else if (other.digest !== s.digest || other.count !== s.count) {
        out.push({
          guarantee: 'G10',
          message: `group ${group} view ${s.viewId}: ${h.member} ends with count ${s.count} digest ${s.digest.slice(0, 12)}…, ${other.member} with count ${other.count} digest ${other.digest.slice(0, 12)}…`,
        });
      }
    }
  }
  return out;
}

/** For each crash, how long until every surviving member of its groups installed a view without it. */
function crashDetection(histories: readonly MemberHistory[], crashes: readonly { member: string; at: number }[]): number[] {
  const out: number[] = [];
  for (const c of crashes) {
    let latest = -1;
    for (const h of histories) {
      if (h.member === c.member) continue;
      for (const e of h.events) {
        if (e.type === 'view' && e.failed.includes(c.member) && e.time !== undefined && e.time >= c.at) {
          latest = Math.max(latest, e.time - c.at);
        }
      }
    }
    if (latest >= 0) out.push(latest);
  }
  return out;
}
