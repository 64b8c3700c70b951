/**
 * Real `cohort member` processes on separate network hosts (Linux network namespaces
 * on one bridge, test/netns.ts), under real network faults: partitions and packet loss
 * made with nftables. Goal: what the simulator proves and the loopback tests show
 * under process faults also holds when the network itself fails: the majority side of
 * a partition goes on, the minority blocks and delivers nothing, an excluded member
 * rejoins with the right state, and lossy links only cost time.
 *
 * Method: one lab per test (five hosts, one member each at NET.i:7000 seeded with the
 * others, `--suspect-ms 1000`); every wait is for an output line, bounded in time, and
 * fails at once if the member exits. At the end everyone sends a last message and
 * every member delivers every last message; then the final count/digest must be equal
 * everywhere and equal the number of lines multicast, a member never excluded must
 * have delivered every line exactly once and each sender's lines in order, `cohort
 * check --quiescent` must pass over a snapshot of that moment and `cohort check` over
 * the complete outputs after everyone left. The lab (processes, namespaces, nft rules)
 * is destroyed in `finally`, in `after`, and at process exit; a failing test keeps its
 * member outputs (standard output and error per member) and prints where.
 *
 * Needs root, iproute2 and nftables: otherwise each test is skipped with the reason,
 * except when CI is set, where that is a failure.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { TestContext } from 'node:test';
import { Lab, NetMember, inCI, labUnavailable, removeTempDir, runCheck, startMembers, subDir, tempDir } from './netns.js';
import { keepTemp } from './temp.js';
import type { Line } from './netns.js';

const suspectMs = 1000;
const memberArgs = ['--suspect-ms', String(suspectMs)];
/** Loose bound on the protocol time after a suspicion (agreement over a lossy, busy machine). */
const protocolSlackMs = 6_000;

const unavailable = labUnavailable();
const labs: Lab[] = [];
after(() => {
  for (const lab of labs) lab.destroy();
});

/** True if the lab can run; skips (or, in CI, fails) the test otherwise. */
function canRun(t: TestContext): boolean {
  if (unavailable === undefined) return true;
  if (inCI()) assert.fail(`CI is set, so the network-namespace tests must run, but: ${unavailable}`);
  t.skip(unavailable);
  return false;
}

/** Build a lab of `n` hosts, run `body`, destroy the lab whatever happens. */
async function withLab(n: number, name: string, body: (lab: Lab, dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir(`cohort-netns-${name}-`);
  const lab = Lab.create(n, 'coh');
  labs.push(lab);
  let ok = false;
  try {
    await body(lab, dir);
    ok = true;
  } finally {
    lab.destroy();
    // Removed also on failure (COHORT_KEEP_TEMP=1 keeps it, to read the member outputs).
    if (!ok && !keepTemp) console.log(`# ${name} failed: run with COHORT_KEEP_TEMP=1 to keep the member outputs`);
    removeTempDir(dir);
  }
}

const isMessage = (data: string) => (l: Line) => l.event === 'message' && l.data === data;
const sameMembers = (members: readonly string[]) => {
  const want = JSON.stringify([...members].sort());
  return (l: Line) => l.event === 'view' && Array.isArray(l.members) && JSON.stringify([...(l.members as string[])].sort()) === want;
};

/** Start one member per host and wait until all are in one view of all of them. */
async function startGroup(lab: Lab, dir: string): Promise<NetMember[]> {
  const ms = startMembers(lab, dir, memberArgs);
  const all = ms.map((m) => m.id);
  await Promise.all(ms.map((m) => m.waitFor(sameMembers(all), 30_000, `a view of all ${all.length} members`)));
  return ms;
}

/** Each of `who` multicasts `k` lines `ID-TAG-1..k`; returns how many were sent. */
function burst(who: readonly NetMember[], tag: string, k: number): number {
  for (let i = 1; i <= k; i++) for (const m of who) m.send(`${m.id}-${tag}-${i}`);
  return who.length * k;
}

/** Wait until every member of `at` delivered the last line `ID-TAG-k` of every sender (FIFO: and all before it). */
async function delivered(at: readonly NetMember[], senders: readonly NetMember[], tag: string, k: number, timeoutMs: number, from?: readonly number[]): Promise<void> {
  await Promise.all(at.map((m, i) => Promise.all(senders.map((s) => m.waitFor(isMessage(`${s.id}-${tag}-${k}`), timeoutMs, `${s.id}-${tag}-${k}`, from?.[i] ?? 0)))));
}

/**
 * Judge the order of one member's complete stream (a member never excluded, so it
 * delivered every message itself): every line anyone multicast is in it exactly once,
 * and each sender's lines are in the order it sent them (G3 FIFO as the operator sees
 * it: lines typed on standard input, across the sender's exclusions and rejoins).
 */
function judgeStream(witness: NetMember, ms: readonly NetMember[]): void {
  const stream = witness.lines.filter((l) => l.event === 'message').map((l) => `${String(l.sender)} ${String(l.data)}`);
  const counts = new Map<string, number>();
  for (const k of stream) counts.set(k, (counts.get(k) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([k]) => k);
  const missing = ms.flatMap((m) => m.sent.map((d) => `${m.id} ${d}`)).filter((k) => !counts.has(k));
  assert.deepEqual({ twice, missing }, { twice: [], missing: [] }, `${witness.id}'s stream: every line multicast delivered exactly once`);
  for (const m of ms) {
    const own = stream.filter((k) => k.startsWith(`${m.id} `)).map((k) => k.slice(m.id.length + 1));
    assert.deepEqual(own, m.sent, `${witness.id} delivers ${m.id}'s lines in the order they were sent (FIFO)`);
  }
}

/**
 * Everyone sends one last message; wait until everyone delivered all of them and
 * installed the same latest view. Then: the final count/digest is equal everywhere
 * (one total order) and equals the number of lines multicast; a member that was never
 * excluded delivered every line exactly once, each sender's in FIFO order; `cohort
 * check --quiescent` passes over a snapshot of that moment (every member up, every
 * fault healed: convergence is demanded too). Then everyone leaves (exit 0) and
 * `cohort check` passes over the complete outputs. (Those are not judged `--quiescent`:
 * `cohort member` prints nothing when it leaves itself, so the checker would take each
 * leaver's last view for the final view of a member still up.)
 */
async function converge(ms: readonly NetMember[], dir: string): Promise<void> {
  burst(ms, 'last', 1);
  await delivered(ms, ms, 'last', 1, 30_000);
  const viewIds = () => ms.map((m) => m.lines.filter((l) => l.event === 'view').at(-1)?.view as number);
  const latest = Math.max(...viewIds());
  await Promise.all(ms.map((m) => m.waitFor((l) => l.event === 'view' && (l.view as number) >= latest, 10_000, `view ${latest}`)));
  assert.equal(new Set(viewIds()).size, 1, `one final view: ${viewIds().join(',')}`);
  const total = ms.reduce((n, m) => n + m.sent.length, 0);
  const states = ms.map((m) => `${m.id}=${JSON.stringify(m.lastState())}`);
  assert.equal(new Set(ms.map((m) => JSON.stringify(m.lastState()))).size, 1, `final states differ: ${states.join(' ')}`);
  const witness = ms.find((m) => !m.lines.some((l) => l.event === 'excluded'));
  assert.ok(witness !== undefined, 'some member was never excluded');
  judgeStream(witness, ms);
  assert.equal(ms[0]!.lastState()!.count, total, `${total} lines multicast, each delivered once: ${states.join(' ')}`);
  const quiet = subDir(dir, 'quiescent');
  const q = runCheck(
    ms.map((m) => m.snapshot(quiet)),
    { quiescent: true },
  );
  assert.equal(q.status, 0, `cohort check --quiescent (snapshot with every member up):\n${q.output}`);

  const codes = await Promise.all(ms.map((m) => m.end(20_000)));
  assert.deepEqual(codes, ms.map(() => 0), 'every member leaves gracefully and exits 0');
  const r = runCheck(ms.map((m) => m.file));
  assert.equal(r.status, 0, `cohort check (complete outputs):\n${r.output}`);
}

/**
 * The shared scenario of the partition tests: cut `minorityHosts` off from the rest,
 * check both sides, heal, check the rejoin, converge. Each minority member types
 * `blockedLines` lines while blocked. Returns the time from the cut to the majority's
 * agreed view without the minority.
 */
async function partitionScenario(lab: Lab, dir: string, ms: NetMember[], minorityHosts: readonly number[], blockedLines = 1): Promise<number> {
  const minority = ms.filter((m) => minorityHosts.includes(m.host));
  const majority = ms.filter((m) => !minorityHosts.includes(m.host));
  burst(ms, 'pre', 10);
  // Nothing may be in flight at the cut: then any message the minority delivers later
  // (before it is excluded) would be one sent after the cut.
  await delivered(ms, ms, 'pre', 10, 20_000);

  const marks = ms.map((m) => m.mark());
  const markOf = (m: NetMember) => marks[ms.indexOf(m)]!;
  const cutAt = performance.now();
  lab.partition([majority.map((m) => m.host), minority.map((m) => m.host)]);

  // The majority installs one view without the minority and goes on.
  const majorityIds = majority.map((m) => m.id);
  await Promise.all(majority.map((m) => m.waitFor(sameMembers(majorityIds), suspectMs + protocolSlackMs, `the view ${majorityIds.join(',')}`, markOf(m))));
  const detectMs = performance.now() - cutAt;
  // The minority says it is blocked.
  await Promise.all(minority.map((m) => m.waitFor((l) => l.event === 'blocked', suspectMs + protocolSlackMs, 'blocked', markOf(m))));
  // Both sides multicast during the cut: the majority's lines are delivered on its side;
  // the minority's wait in its members' queues until they are back in the group.
  burst(majority, 'cut', 10);
  burst(minority, 'blocked', blockedLines);
  await delivered(majority, majority, 'cut', 10, 15_000, majority.map(markOf));
  for (const m of minority) {
    const during = m.lines.slice(markOf(m)).filter((l) => l.event === 'message' || l.event === 'view');
    assert.deepEqual(during, [], `${m.id} is on the minority side: no message or view during the cut`);
  }

  const beforeHeal = majority[0]!.lastState()!.count;
  const healAt = performance.now();
  lab.heal();
  // Each minority member learns it was excluded (once TCP retransmits get through), and
  // delivered nothing and installed no view between the cut and that moment.
  const excluded = await Promise.all(minority.map((m) => m.waitFor((l) => l.event === 'excluded', 30_000, 'excluded', markOf(m))));
  const excludedMs = performance.now() - healAt;
  minority.forEach((m, i) => {
    const at = m.lines.indexOf(excluded[i]!);
    const during = m.lines.slice(markOf(m), at).filter((l) => l.event === 'message' || l.event === 'view');
    assert.deepEqual(during, [], `${m.id}: nothing delivered or installed between the cut and excluded`);
  });
  // It rejoins as a new incarnation with the group's state at its join point: equal to
  // what every majority member had at the same count, and covering at least everything
  // the majority delivered during the cut.
  const states = await Promise.all(minority.map((m, i) => m.waitFor((l) => l.event === 'state', 20_000, 'the state after rejoining', m.lines.indexOf(excluded[i]!))));
  const rejoinMs = performance.now() - healAt;
  for (const st of states) {
    assert.ok((st.count as number) >= beforeHeal, `state count ${String(st.count)} covers the ${beforeHeal} messages delivered before the heal`);
    for (const o of majority) {
      const same = await o.waitFor((l) => (l.event === 'message' || l.event === 'state') && l.count === st.count, 10_000, `count ${String(st.count)}`);
      assert.equal(same.digest, st.digest, `${o.id} at count ${String(st.count)} has the joiner's digest`);
    }
  }
  console.log(
    `# cut ${minority.map((m) => m.id).join(',')} off: majority view after ${detectMs.toFixed(0)} ms; ` +
      `after heal: excluded ${excludedMs.toFixed(0)} ms, state ${rejoinMs.toFixed(0)} ms (suspicion timeout ${suspectMs} ms)`,
  );

  // The minority's queued lines are multicast after rejoining (the majority never left,
  // so it delivers them as messages); everyone converges.
  await delivered(majority, minority, 'blocked', blockedLines, 20_000);
  await converge(ms, dir);
  return detectMs;
}

test('a 2|3 partition: the 3 side goes on, the 2 side blocks, is excluded at heal, rejoins with the state; all converge', { timeout: 60_000 }, async (t) => {
  if (!canRun(t)) return;
  await withLab(5, 'partition', async (lab, dir) => {
    const ms = await startGroup(lab, dir);
    // The coordinator (m1) stays on the majority side here; the next test cuts it off.
    await partitionScenario(lab, dir, ms, [4, 5]);
  });
});

test("the coordinator's host cut off: the others install a view without it in time and go on; it rejoins", { timeout: 60_000 }, async (t) => {
  if (!canRun(t)) return;
  await withLab(5, 'coordinator', async (lab, dir) => {
    const ms = await startGroup(lab, dir);
    // m1, the smallest id, is first in the founding (network) view: the coordinator and
    // sequencer (src/core/endpoint-core.ts). The group's own views rank members by
    // group join order, so their first member may be another one; that view is not on
    // standard output, so only the diagnostics show it.
    const founding = /view 1: (\S+?)#/.exec(ms[0]!.stderrHead());
    console.log(`# founding view's first member (from m1's diagnostics): ${founding?.[1] ?? 'not shown'}`);
    const detectMs = await partitionScenario(lab, dir, ms, [1]);
    assert.ok(detectMs < suspectMs + protocolSlackMs, `view without the coordinator after ${detectMs.toFixed(0)} ms`);
  });
});

const lossPercent = Number(process.env.COHORT_NETNS_LOSS ?? 15);
const lossyHost = Number(process.env.COHORT_NETNS_LOSSY_HOST ?? 1);
// A longer suspicion timeout here (the test never waits for a suspicion, so it costs
// nothing): with 1000 ms, 15% loss often stalls a TCP stream for over a second (3 or 4
// drops of one segment in a row: retransmission timeouts of 200, 400, 800 ms) and a
// member is falsely suspected and excluded in about a third of the runs. That is the
// protocol working, but then the excluded member gets a state instead of delivering
// everything, which is not what this test is about.
const lossSuspectMs = Number(process.env.COHORT_NETNS_LOSS_SUSPECT_MS ?? 3000);

test(`${lossPercent}% packet loss on one host while every member multicasts: everyone delivers everything in one order`, { timeout: 90_000 }, async (t) => {
  if (!canRun(t)) return;
  await withLab(5, 'loss', async (lab, dir) => {
    const ms = startMembers(lab, dir, ['--suspect-ms', String(lossSuspectMs)]);
    await Promise.all(ms.map((m) => m.waitFor(sameMembers(ms.map((x) => x.id)), 30_000, 'a view of all 5 members')));
    lab.loss(lossyHost, lossPercent);
    const startedAt = performance.now();
    // Closed loop: each member sends its next line once it delivered its previous one,
    // so the load lasts long enough for the loss to hit data, order records, acks and
    // heartbeats alike (an open-loop burst fits in a few batched segments).
    const perMember = 80;
    const pad = 'x'.repeat(200);
    await Promise.all(
      ms.map(async (m) => {
        for (let i = 1; i <= perMember; i++) {
          const data = `${m.id}-load-${i}-${pad}`;
          const from = m.mark();
          m.send(data);
          await m.waitFor(isMessage(data), 30_000, `own message ${i}`, from);
        }
      }),
    );
    const loadMs = performance.now() - startedAt;
    const drops = lab
      .rules()
      .split('\n')
      .filter((l) => l.includes('counter'))
      .map((l) => /packets (\d+)/.exec(l)?.[1] ?? '?');
    const faults = ms.map((m) => `${m.id}:${m.lines.filter((l) => l.event === 'excluded').length}`);
    console.log(
      `# ${ms.length * perMember} multicasts (closed loop) with ${lossPercent}% loss on host ${lossyHost}, suspect ${lossSuspectMs} ms: ` +
        `${loadMs.toFixed(0)} ms; packets dropped in/out ${drops.join('/')}; exclusions ${faults.join(' ')}`,
    );
    lab.loss(lossyHost, 0);
    await converge(ms, dir);
  });
});

test(
  'lines typed while blocked are multicast in the order they were typed after the rejoin (FIFO)',
  { timeout: 60_000 },
  async (t) => {
    if (!canRun(t)) return;
    await withLab(3, 'fifo', async (lab, dir) => {
      const ms = await startGroup(lab, dir);
      await partitionScenario(lab, dir, ms, [3], 5);
    });
  },
);
