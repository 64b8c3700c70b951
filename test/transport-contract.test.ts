/**
 * Runs the transport contract suite (`transport-contract-suite.ts`) against the
 * in-memory transport on a fault-free simulated network: once with messages passed by
 * reference, once through a codec, so the encode-at-send / decode-at-delivery path
 * keeps the contract too. The TCP transport will call `transportContract` the same way.
 *
 * Method: the fixture runs virtual time in small slices until the awaited condition
 * holds; no test waits on real time.
 */
import { MemoryTransport } from '../src/transport/memory.js';
import type { Message } from '../src/core/types.js';
import { SeededRng } from '../src/sim/rng.js';
import { Scheduler } from '../src/sim/scheduler.js';
import { SimNetwork, type SimCodec } from '../src/sim/network.js';
import { transportContract, type TransportFixture } from './transport-contract-suite.js';

/** Virtual time (ms) the fixture is willing to wait for an awaited condition. */
const PATIENCE_MS = 60_000;
/** Virtual time (ms) after which anything in flight has arrived (delays are at most 10 ms). */
const SETTLE_MS = 1_000;

/** A JSON codec that round-trips `Uint8Array`s: a stand-in until the wire codec lands. */
const jsonCodec: SimCodec = {
  encode(m: Message): Uint8Array {
    const text = JSON.stringify(m, (_key, value: unknown) =>
      value instanceof Uint8Array ? { $bytes: Array.from(value) } : value,
    );
    return new TextEncoder().encode(text);
  },
  decode(b: Uint8Array): Message {
    return JSON.parse(new TextDecoder().decode(b), (_key, value: unknown) => {
      if (typeof value === 'object' && value !== null && '$bytes' in value) {
        return Uint8Array.from((value as { $bytes: number[] }).$bytes);
      }
      return value;
    }) as Message;
  },
};

function simFixture(options: { codec?: SimCodec }): TransportFixture {
  const scheduler = new Scheduler();
  const network = new SimNetwork({
    scheduler,
    rng: new SeededRng(20261127),
    ...(options.codec === undefined ? {} : { codec: options.codec }),
  });
  let count = 0;
  const opened: MemoryTransport[] = [];
  return {
    open() {
      count++;
      const node = network.addNode(`n${count}`);
      opened.push(node.transport);
      return Promise.resolve(node.transport);
    },
    until(done, what) {
      const deadline = scheduler.now + PATIENCE_MS;
      while (!done()) {
        if (scheduler.now >= deadline) {
          return Promise.reject(new Error(`timed out after ${PATIENCE_MS} virtual ms waiting for ${what}`));
        }
        scheduler.runUntil(Math.min(deadline, scheduler.now + 1));
      }
      return Promise.resolve();
    },
    settle() {
      scheduler.runUntil(scheduler.now + SETTLE_MS);
      return Promise.resolve();
    },
    unreachableAddress() {
      return 'nowhere';
    },
    async dispose() {
      for (const t of opened) await t.close();
    },
  };
}

transportContract('MemoryTransport on SimNetwork', () => simFixture({}));
transportContract('MemoryTransport on SimNetwork, through a codec', () => simFixture({ codec: jsonCodec }));
