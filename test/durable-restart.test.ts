/**
 * Durable groups: a restart from the logs after every member stopped at once, on real
 * endpoints over TCP loopback (one process). The members come back on their data
 * directories and addresses; with a majority of the last view back, they restart the
 * network, and the group's state is what the logs held.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { join } from 'node:path';
import { Endpoint } from '../src/index.js';
import type { Group } from '../src/index.js';
import { tempDir } from './temp.js';

const fast = { heartbeatMs: 50, suspectTimeoutMs: 600, startTimeoutMs: 20_000 };
const enc = new TextEncoder();
const dec = new TextDecoder();

const open: Endpoint[] = [];
after(async () => {
  await Promise.all(open.map((ep) => ep.stop().catch(() => undefined)));
});

/** A replicated list of strings: the application state of group `g` at one member. */
class ListApp {
  items: string[] = [];
  group: Group | null = null;
  private waiters: { n: number; done: () => void }[] = [];

  handlers() {
    return {
      onEvent: (e: { type: string; data?: Uint8Array }) => {
        if (e.type === 'state') this.items = JSON.parse(dec.decode(e.data)) as string[];
        else if (e.type === 'message') this.items.push(dec.decode(e.data));
        else return;
        this.waiters = this.waiters.filter((w) => (this.items.length >= w.n ? (w.done(), false) : true));
      },
      checkpoint: () => enc.encode(JSON.stringify(this.items)),
    };
  }

  /** Resolves once the list holds `n` items. */
  until(n: number): Promise<void> {
    if (this.items.length >= n) return Promise.resolve();
    return new Promise((done) => this.waiters.push({ n, done }));
  }
}

/** Start `id` on `listen` with its data directory, and join `g` with a fresh app. */
async function member(root: string, id: string, listen: string, seeds: string[]): Promise<{ ep: Endpoint; app: ListApp }> {
  const ep = await Endpoint.start({ id, listen, seeds, persist: { dir: join(root, id) }, ...fast, ...(process.env.COHORT_TEST_LOG ? { onLog: (l: string) => console.log(id, l) } : {}) });
  open.push(ep);
  const app = new ListApp();
  app.group = await ep.join('g', app.handlers());
  return { ep, app };
}

/** A member: its endpoint and its application. */
type Member = { ep: Endpoint; app: ListApp };

/** Three durable members on loopback, `b` and `c` seeded with `a`, each in `g`; and their addresses. */
async function trio(root: string): Promise<{ members: [Member, Member, Member]; addrs: string[] }> {
  const a = await member(root, 'a', '127.0.0.1:0', []);
  const b = await member(root, 'b', '127.0.0.1:0', [a.ep.address]);
  const c = await member(root, 'c', '127.0.0.1:0', [a.ep.address]);
  return { members: [a, b, c], addrs: [a.ep.address, b.ep.address, c.ep.address] };
}

/** Crash `ep`: close at once, as a killed process would (the others are not told). */
async function crash(ep: Endpoint): Promise<void> {
  open.splice(open.indexOf(ep), 1);
  await ep.stop({ signal: AbortSignal.abort() }).catch(() => undefined);
}

test('restart from the logs: all three crash, two restart with every message acknowledged at majority, the third catches up', async () => {
  const root = tempDir('cohort-restart-');
  const {
    members: [a, b, c],
    addrs,
  } = await trio(root);
  const sends: Promise<void>[] = [];
  for (let i = 0; i < 30; i++) sends.push([a, b, c][i % 3]!.app.group!.multicast(enc.encode(`m${i}`)));
  await Promise.all(sends);
  for (const m of [a, b, c]) await crash(m.ep);

  // Two of three come back: a majority of the last view restarts the network.
  const [a2, b2] = await Promise.all([member(root, 'a', addrs[0]!, addrs), member(root, 'b', addrs[1]!, addrs)]);
  await Promise.all([a2.app.until(30), b2.app.until(30)]);
  const want = Array.from({ length: 30 }, (_, i) => `m${i}`).sort();
  for (const m of [a2, b2]) assert.deepEqual([...m.app.items].sort(), want);
  assert.deepEqual(a2.app.items, b2.app.items);
  await a2.app.group!.multicast(enc.encode('after'));
  await Promise.all([a2.app.until(31), b2.app.until(31)]);

  // The third comes back: it joins the restarted network and gets the state by transfer.
  const c2 = await member(root, 'c', addrs[2]!, addrs);
  await c2.app.until(31);
  assert.deepEqual(c2.app.items, a2.app.items);
  assert.deepEqual(b2.app.items, a2.app.items);
});

test('restart from the logs: a member alone of its last view waits, and its start times out saying for whom', async () => {
  const root = tempDir('cohort-restart-alone-');
  const {
    members: [a, b, c],
    addrs,
  } = await trio(root);
  await a.app.group!.multicast(enc.encode('m0'));
  for (const m of [a, b, c]) await crash(m.ep);
  // One of three is no majority: it founds nothing, and says what it waits for.
  const started = Endpoint.start({ id: 'a', listen: addrs[0]!, seeds: addrs, persist: { dir: join(root, 'a') }, ...fast, startTimeoutMs: 1_500 });
  await assert.rejects(started, (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ERR_NO_QUORUM');
    assert.match(err.message, /restarting it from the logs, which waits: 1 of the 3 members of the view of epoch \d+ restart from it, 2 needed: waiting for b, c/);
    return true;
  });
});
