/**
 * A joining endpoint follows the network that can take it in. Driven by hand against
 * one `EndpointCore`: answers to its probes arrive in a scripted order, and what it
 * sends back (join requests) is what we check.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultCoreConfig } from '../src/core/config.js';
import { EndpointCore } from '../src/core/endpoint-core.js';
import type { EndpointView, Message, MemberRef } from '../src/core/types.js';
import { SeededRng } from '../src/sim/rng.js';

const ref = (id: string, inc = 1): MemberRef => ({ id, inc });
const view = (epoch: number, ...ids: string[]): EndpointView => ({ epoch, members: ids.map((id) => ({ ...ref(id), addr: id })) });
const reply = (from: string, v: EndpointView, inc = 1, joining = false): Message => ({ t: 'probe-reply', from: ref(from, inc), addr: from, config: ['n1', 'n2', 'n3', 'x'], view: v, joining });

function joinRequests(core: EndpointCore): string[] {
  return core
    .takeOutput()
    .send.filter((s) => s.msg.t === 'join-req')
    .map((s) => s.to);
}

test('a joiner whose contact turns out to be in no network any more follows a network of a lower epoch', () => {
  const core = new EndpointCore({ self: ref('x'), addr: 'x', seeds: ['n1', 'n2', 'n3'], config: defaultCoreConfig, rng: new SeededRng(1) });
  core.start(0);
  core.takeOutput();
  // j3 answers for a network at epoch 8: x joins through it.
  core.receive(10, 'j3', reply('j3', view(8, 'j3', 'j1', 'j2', 'j4', 'n3')));
  assert.deepEqual(joinRequests(core), ['j3']);
  // j3 restarted (or was excluded): its new incarnation answers as joining, in no network.
  core.receive(20, 'j3', reply('j3', view(0), 2, true));
  // Another network, of a lower epoch (founded later), answers: x must follow it rather
  // than wait for ever on an epoch-8 coordinator that is gone.
  core.receive(30, 'n1', reply('n1', view(4, 'n1', 'n2', 'n3', 'j1')));
  assert.deepEqual(joinRequests(core), ['n1']);
});

test('a joiner whose known network is dead (a majority of its view gone) follows any live network', () => {
  const core = new EndpointCore({ self: ref('x'), addr: 'x', seeds: ['n1', 'n2', 'n3'], config: defaultCoreConfig, rng: new SeededRng(2) });
  core.start(0);
  core.takeOutput();
  core.receive(10, 'a', reply('a', view(9, 'a', 'b', 'c')));
  assert.deepEqual(joinRequests(core), ['a']);
  // b and c refuse connections: gone. a is silent (a stale contact, not known gone).
  core.refused(20, 'b');
  core.refused(21, 'c');
  core.receive(30, 'n1', reply('n1', view(3, 'n1', 'n2')));
  assert.deepEqual(joinRequests(core), ['n1']);
});
