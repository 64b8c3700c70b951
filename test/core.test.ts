/**
 * The protocol core driven by hand: three `EndpointCore`s, a scripted network we step
 * message by message, and a clock we move ourselves. Checks the founding round, that
 * agreed delivery waits for a majority to hold a message (committed), that safe
 * delivery waits for all, and that a minority cannot deliver.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultCoreConfig } from '../src/core/config.js';
import type { CoreConfig } from '../src/core/config.js';
import { EndpointCore } from '../src/core/endpoint-core.js';
import type { CoreEvent } from '../src/core/endpoint-core.js';
import { unbundle } from '../src/core/bundle.js';
import { EntryKind } from '../src/core/types.js';
import type { Message } from '../src/core/types.js';
import { SeededRng } from '../src/sim/rng.js';

interface Packet {
  readonly from: string;
  readonly to: string;
  readonly msg: Message;
}

/** A network we step by hand: `flush` delivers everything not cut, in order. */
class Script {
  now = 0;
  readonly cores = new Map<string, EndpointCore>();
  readonly events = new Map<string, CoreEvent[]>();
  queue: Packet[] = [];
  /** Every packet sent, in order. */
  sent: Packet[] = [];
  cut = new Set<string>();

  constructor(ids: readonly string[], config: CoreConfig = defaultCoreConfig) {
    for (const id of ids) {
      const core = new EndpointCore({
        self: { id, inc: 1 },
        addr: id,
        seeds: ids.filter((x) => x !== id),
        config,
        rng: new SeededRng(ids.indexOf(id) + 1),
      });
      this.cores.set(id, core);
      this.events.set(id, []);
    }
  }

  private collect(id: string): void {
    const core = this.cores.get(id)!;
    const out = core.takeOutput();
    for (const s of out.send) {
      this.queue.push({ from: id, to: s.to, msg: s.msg });
      this.sent.push({ from: id, to: s.to, msg: s.msg });
    }
    this.events.get(id)!.push(...out.events.filter((e) => e.type !== 'log'));
    // The application's checkpoint: an empty state, given at once.
    for (const e of out.events) {
      if (e.type === 'state-request') {
        core.provideState(this.now, e.group, e.joiner, e.pos, new Uint8Array(0));
        this.collect(id);
      }
    }
  }

  start(): void {
    for (const [id, c] of this.cores) {
      c.start(this.now);
      this.collect(id);
    }
  }

  /** Deliver queued packets (and what they cause) until none is left, at most `max`. */
  flush(max = 10_000): void {
    for (let i = 0; i < max && this.queue.length > 0; i++) {
      const p = this.queue.shift()!;
      if (this.cut.has(p.to) || this.cut.has(p.from)) continue;
      this.cores.get(p.to)!.receive(this.now, p.from, p.msg);
      this.collect(p.to);
    }
  }

  tick(ms: number): void {
    for (let t = 0; t < ms; t += 10) {
      this.now += 10;
      for (const [id, c] of this.cores) {
        if (this.cut.has(id)) continue;
        c.tick(this.now);
        this.collect(id);
      }
      this.flush();
    }
  }

  submit(id: string, text: string, safe = false): void {
    this.cores.get(id)!.submit(this.now, EntryKind.app, 'g', new TextEncoder().encode(text), safe);
    this.collect(id);
  }

  joinGroup(id: string): void {
    this.cores.get(id)!.submit(this.now, EntryKind.join, 'g', new Uint8Array(0), false);
    this.collect(id);
  }

  delivered(id: string): string[] {
    return this.events
      .get(id)!
      .filter((e): e is Extract<CoreEvent, { type: 'message' }> => e.type === 'message')
      .map((e) => new TextDecoder().decode(e.data));
  }
}

function founded(config?: CoreConfig): Script {
  const s = new Script(['a', 'b', 'c'], config);
  s.start();
  s.tick(300);
  for (const id of ['a', 'b', 'c']) {
    const installed = s.events.get(id)!.filter((e) => e.type === 'installed');
    assert.equal(installed.length, 1, `${id} installs exactly one founding view`);
  }
  for (const id of ['a', 'b', 'c']) s.joinGroup(id);
  s.tick(200);
  return s;
}

test('three cores started together found one view, with the smallest id as coordinator', () => {
  const s = founded();
  for (const c of s.cores.values()) {
    assert.equal(c.currentView.epoch, 1);
    assert.deepEqual(c.currentView.members.map((m) => m.id), ['a', 'b', 'c']);
  }
});

test('agreed delivery waits until a majority holds the message', () => {
  const s = founded();
  // Cut both others off: the coordinator orders its own message but may not deliver it.
  s.cut = new Set(['b', 'c']);
  s.submit('a', 'alone');
  s.flush();
  s.tick(50);
  assert.deepEqual(s.delivered('a'), [], 'one of three holds it: not committed');
  // One more member holds it: a majority.
  s.cut = new Set(['c']);
  s.tick(300);
  assert.deepEqual(s.delivered('a'), ['alone']);
  assert.deepEqual(s.delivered('b'), ['alone']);
  assert.deepEqual(s.delivered('c'), []);
  s.cut = new Set();
  s.tick(300);
  assert.deepEqual(s.delivered('c'), ['alone']);
});

test('safe delivery waits until every member holds the message', () => {
  const s = founded();
  s.cut = new Set(['c']);
  s.submit('a', 'careful', true);
  s.tick(300);
  assert.deepEqual(s.delivered('a'), [], 'c does not hold it yet');
  assert.deepEqual(s.delivered('b'), []);
  s.cut = new Set();
  s.tick(300);
  for (const id of ['a', 'b', 'c']) assert.deepEqual(s.delivered(id), ['careful']);
});

test('acks nobody waits for are deferred: the sequencer still delivers at once, safe messages and ackDelayMs 0 ack at once', () => {
  const acks = (s: Script, from: string): number => s.sent.filter((p) => p.from === from && p.msg.t === 'ack').length;
  const s = founded();
  const a = s.cores.get('a')!;
  s.sent = [];
  s.submit('c', 'one');
  s.flush();
  for (const id of ['a', 'b', 'c']) assert.deepEqual(s.delivered(id), ['one'], `${id} delivers without waiting for any timer`);
  // The sequencer delivers at the committed prefix: b (rank 1) makes the majority, at once.
  assert.equal(acks(s, 'b'), 1);
  assert.equal(acks(s, 'c'), 0, 'c (rank 2) holds its ack back: nobody waits for it');
  assert.equal(a.stats().stable, a.stats().held - 1, 'so the last entry is not stable yet');
  s.tick(defaultCoreConfig.ackDelayMs + 10);
  const told = s.sent.filter((p) => p.from === 'c' && p.to === 'a' && (p.msg.t === 'ack' || p.msg.t === 'heartbeat')).length;
  assert.ok(told >= 1, 'the deferred ack goes within ackDelayMs (or a heartbeat carries it)');
  assert.equal(a.stats().stable, a.stats().held);

  // A safe message waits for every member: nobody defers it.
  s.sent = [];
  s.submit('b', 'careful', true);
  s.flush();
  for (const id of ['a', 'b', 'c']) assert.deepEqual(s.delivered(id), ['one', 'careful'], `${id} delivers the safe message without waiting for any timer`);
  assert.equal(acks(s, 'c'), 1);

  // ackDelayMs 0: every member acks at once.
  const z = founded({ ...defaultCoreConfig, ackDelayMs: 0 });
  z.sent = [];
  z.submit('c', 'now');
  z.flush();
  assert.equal(acks(z, 'b'), 1);
  assert.equal(acks(z, 'c'), 1);
  const za = z.cores.get('a')!;
  assert.equal(za.stats().stable, za.stats().held);
});

test('a lone multicast goes to the sequencer alone, which passes it on with its order; one sent behind another goes to everyone', () => {
  const s = founded();
  const text = (p: Packet): string => (p.msg.t === 'data' ? unbundle(p.msg.payload)!.map((m) => new TextDecoder().decode(m.data)).join() : p.msg.t);
  s.sent = [];
  s.submit('c', 'lone');
  s.flush();
  for (const id of ['a', 'b', 'c']) assert.deepEqual(s.delivered(id), ['lone']);
  const data = s.sent.filter((p) => p.msg.t === 'data');
  assert.deepEqual(data.map((p) => `${p.from}>${p.to} ${text(p)}`), ['c>a lone', 'a>b lone'], 'c sends it once; a passes it on to b');
  // To b: the data right before the order (one write over TCP); c gets the order alone.
  const fromA = s.sent.filter((p) => p.from === 'a' && (p.msg.t === 'data' || p.msg.t === 'order')).map((p) => `${p.to} ${text(p)}`);
  assert.deepEqual(fromA, ['c order', 'b lone', 'b order'], 'the sender gets the order first');

  s.sent = [];
  s.submit('c', 'x');
  s.submit('c', 'y'); // x is in flight: y goes to everyone itself
  s.flush();
  assert.deepEqual(s.sent.filter((p) => p.msg.t === 'data').map((p) => `${p.from}>${p.to} ${text(p)}`), ['c>a x', 'c>a y', 'c>b y', 'a>b x']);
  for (const id of ['a', 'b', 'c']) assert.deepEqual(s.delivered(id), ['lone', 'x', 'y']);
});

test('concurrent multicasts are delivered in one order by all', () => {
  const s = founded();
  for (let i = 0; i < 20; i++) s.submit(['a', 'b', 'c'][i % 3]!, `m${i}`);
  s.tick(500);
  const order = s.delivered('a');
  assert.equal(order.length, 20);
  assert.deepEqual(s.delivered('b'), order);
  assert.deepEqual(s.delivered('c'), order);
  for (const sender of ['a', 'b', 'c']) {
    const mine = order.filter((x) => Number(x.slice(1)) % 3 === ['a', 'b', 'c'].indexOf(sender));
    assert.deepEqual(mine, [...mine].sort((x, y) => Number(x.slice(1)) - Number(y.slice(1))), 'FIFO per sender');
  }
});

test('a minority cannot deliver, and the majority removes it with one agreed view', () => {
  const s = founded();
  s.cut = new Set(['c']);
  s.tick(2500);
  for (const id of ['a', 'b']) {
    const views = s.events.get(id)!.filter((e): e is Extract<CoreEvent, { type: 'installed' }> => e.type === 'installed');
    const last = views[views.length - 1]!;
    assert.deepEqual(last.view.members.map((m) => m.id), ['a', 'b']);
    assert.deepEqual(last.failed.map((m) => m.id), ['c']);
  }
  s.submit('a', 'after');
  s.tick(200);
  assert.deepEqual(s.delivered('a'), ['after']);
  assert.deepEqual(s.delivered('c'), []);
  // c comes back: it hears it is not a member, and says so.
  s.cut = new Set();
  s.tick(500);
  assert.ok(s.events.get('c')!.some((e) => e.type === 'excluded'));
});

test('a message in another member\'s name, from a different address, is ignored', () => {
  const s = founded();
  const b = s.cores.get('b')!.currentView.members.find((m) => m.id === 'b')!;
  // c sends, from its own address, what b would send next (whatever its next seq is).
  for (let seq = 1; seq <= 5; seq++) {
    const forged: Message = {
      t: 'data',
      from: { id: b.id, inc: b.inc },
      epoch: s.cores.get('a')!.currentView.epoch,
      sender: { id: b.id, inc: b.inc },
      seq,
      kind: EntryKind.app,
      group: 'g',
      safe: false,
      relay: false,
      payload: new TextEncoder().encode(`forged-${seq}`),
    };
    for (const to of ['a', 'b', 'c']) s.queue.push({ from: 'c', to, msg: forged });
  }
  s.flush();
  s.tick(300);
  s.submit('b', 'real');
  s.tick(300);
  for (const id of ['a', 'b', 'c']) assert.deepEqual(s.delivered(id), ['real'], `${id} delivered a forged message`);
});
