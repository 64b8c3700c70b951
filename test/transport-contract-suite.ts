/**
 * The transport contract as a reusable suite: every `Transport` (the in-memory one on
 * the simulator today, TCP later) runs these same tests, like js-libp2p's
 * interface-compliance tests. Not a test file itself: a `*.test.ts` calls
 * `transportContract(name, factory)` with a fixture for its transport.
 *
 * Method: each test opens fresh endpoints through the fixture, sends real protocol
 * messages, and waits through the fixture (virtual time for the simulator, polling real
 * time for TCP) for what must arrive. The fixture's network must be healthy (no loss):
 * the contract lets a transport lose messages on a faulty network, and these tests
 * check what it promises on a good one.
 *
 * Guarantees checked:
 * 1. `address` is a non-empty string, distinct per endpoint, stable over time.
 * 2. A message to one's own address is delivered, with `from` equal to that address.
 * 3. A message to a peer arrives with the sender's address as `from`, intact, and the
 *    peer can answer to that address.
 * 4. Many messages between peers all arrive (in any order).
 * 5. `onMessage` replaces the previous handler.
 * 6. `send` never throws for an unreachable address, and never calls a handler from
 *    inside itself (handlers are not re-entered).
 * 7. `close()` resolves, is idempotent, and stops delivery to the closed endpoint and
 *    sending from it.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { HeartbeatMsg, DataMsg, Message } from '../src/core/types.js';
import type { Transport } from '../src/transport/transport.js';

/** How the suite gets endpoints of the transport under test, and lets time pass. */
export interface TransportFixture {
  /** Open a new endpoint with a fresh address, ready to send and receive. */
  open(): Promise<Transport>;
  /**
   * Let time pass until `done()` is true (sim: run virtual time; TCP: poll real time),
   * failing with `what` if it does not happen within the fixture's patience.
   */
  until(done: () => boolean, what: string): Promise<void>;
  /**
   * Let enough time pass for any message in flight to have arrived, so that a test can
   * check that something did *not* arrive.
   */
  settle(): Promise<void>;
  /** An address where nothing listens (sends to it must vanish quietly). */
  unreachableAddress(): string;
  /** Close everything the fixture opened. */
  dispose(): Promise<void>;
}

/** Builds a fresh fixture for each test. */
export type TransportFixtureFactory = () => TransportFixture | Promise<TransportFixture>;

/** One arrival as a handler saw it. */
interface Arrival {
  readonly from: string;
  readonly msg: Message;
}

function heartbeat(id: string, epoch: number): HeartbeatMsg {
  return { t: 'heartbeat', from: { id, inc: 1 }, epoch, ordered: 0, stable: 0, committed: 0, held: 0, hears: true, behind: false };
}

function data(id: string, seq: number, payload: Uint8Array): DataMsg {
  return {
    t: 'data',
    from: { id, inc: 1 },
    epoch: 1,
    sender: { id, inc: 1 },
    seq,
    kind: 0,
    group: 'atc',
    safe: false,
    relay: false,
    payload,
  };
}

/** Install a handler that records every arrival. */
function record(t: Transport): Arrival[] {
  const got: Arrival[] = [];
  t.onMessage((from, msg) => got.push({ from, msg }));
  return got;
}

/**
 * Run the transport contract suite under `describe(name)`. Each test builds its own
 * fixture from `factory` and disposes of it afterwards.
 */
export function transportContract(name: string, factory: TransportFixtureFactory): void {
  describe(`Transport contract: ${name}`, () => {
    let fixture: TransportFixture | null = null;
    const setup = async (): Promise<TransportFixture> => {
      fixture = await factory();
      return fixture;
    };
    afterEach(async () => {
      if (fixture !== null) await fixture.dispose();
      fixture = null;
    });

    it('gives each endpoint a non-empty, distinct, stable address', async () => {
      const fx = await setup();
      const a = await fx.open();
      const b = await fx.open();
      assert.equal(typeof a.address, 'string');
      assert.ok(a.address.length > 0);
      assert.notEqual(a.address, b.address);
      const before = a.address;
      a.send(b.address, heartbeat('a', 1));
      await fx.settle();
      assert.equal(a.address, before);
    });

    it('delivers a message sent to its own address, from that address', async () => {
      const fx = await setup();
      const a = await fx.open();
      const got = record(a);
      const msg = heartbeat('a', 3);
      a.send(a.address, msg);
      await fx.until(() => got.length >= 1, 'the message to self');
      assert.equal(got[0]?.from, a.address);
      assert.deepEqual(got[0]?.msg, msg);
    });

    it("delivers to a peer with the sender's address as from, and the peer can answer", async () => {
      const fx = await setup();
      const a = await fx.open();
      const b = await fx.open();
      const atA = record(a);
      const atB: Arrival[] = [];
      b.onMessage((from, msg) => {
        atB.push({ from, msg });
        // Answering to `from` must reach the sender: `from` is a usable address.
        b.send(from, heartbeat('b', 2));
      });
      const msg = data('a', 1, new Uint8Array([1, 2, 3, 250]));
      a.send(b.address, msg);
      await fx.until(() => atA.length >= 1, 'the answer from the peer');
      assert.equal(atB.length, 1);
      assert.equal(atB[0]?.from, a.address);
      assert.deepEqual(atB[0]?.msg, msg);
      assert.equal(atA[0]?.from, b.address);
      assert.deepEqual(atA[0]?.msg, heartbeat('b', 2));
    });

    it('delivers every one of many messages on a healthy network (in any order)', async () => {
      const fx = await setup();
      const a = await fx.open();
      const b = await fx.open();
      const got = record(b);
      const count = 200;
      for (let seq = 1; seq <= count; seq++) a.send(b.address, data('a', seq, new Uint8Array([seq & 0xff])));
      await fx.until(() => got.length >= count, `${count} messages`);
      await fx.settle();
      const seqs = got.map((x) => (x.msg.t === 'data' ? x.msg.seq : -1)).sort((x, y) => x - y);
      assert.deepEqual(
        seqs,
        Array.from({ length: count }, (_, i) => i + 1),
        'each message exactly once',
      );
      assert.ok(got.every((x) => x.from === a.address));
    });

    it('replaces the handler on a second onMessage', async () => {
      const fx = await setup();
      const a = await fx.open();
      const b = await fx.open();
      const first = record(b);
      const second = record(b);
      a.send(b.address, heartbeat('a', 1));
      await fx.until(() => second.length >= 1, 'delivery to the second handler');
      await fx.settle();
      assert.equal(first.length, 0);
      assert.equal(second.length, 1);
    });

    it('never throws for an unreachable peer and never delivers inside send', async () => {
      const fx = await setup();
      const a = await fx.open();
      let inSend = false;
      let reentered = false;
      const got: Arrival[] = [];
      a.onMessage((from, msg) => {
        if (inSend) reentered = true;
        got.push({ from, msg });
      });
      inSend = true;
      assert.doesNotThrow(() => a.send(fx.unreachableAddress(), heartbeat('a', 1)));
      a.send(a.address, heartbeat('a', 2));
      inSend = false;
      await fx.until(() => got.length >= 1, 'the message to self');
      assert.equal(reentered, false, 'a handler ran inside send()');
    });

    it('stops delivery to and sending from a closed endpoint; close is idempotent', async () => {
      const fx = await setup();
      const a = await fx.open();
      const b = await fx.open();
      const atA = record(a);
      const atB = record(b);
      // Prove the pair works before closing, so silence afterwards means something.
      a.send(b.address, heartbeat('a', 1));
      await fx.until(() => atB.length >= 1, 'delivery before close');
      await b.close();
      await b.close();
      a.send(b.address, heartbeat('a', 2));
      assert.doesNotThrow(() => b.send(a.address, heartbeat('b', 3)));
      await fx.settle();
      assert.equal(atB.length, 1, 'a closed endpoint received a message');
      assert.equal(atA.length, 0, 'a closed endpoint sent a message');
    });
  });
}
