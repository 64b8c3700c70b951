/**
 * Bundles (`src/core/bundle.ts`), by property: whatever messages and groups are added,
 * unbundling gives them back in order with their groups; bundles concatenate; no input
 * makes `unbundle` throw, and a cut bundle is refused rather than misread.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BundleBuilder, concatBundles, unbundle } from '../src/core/bundle.js';

const message = fc.uint8Array({ maxLength: 300 });
const group = fc.constantFrom('g', 'atc/sector-xyz', 'é', 'a'.repeat(200));
const item = fc.record({ group, data: message });

/** The bundles of `items` with at most `maxBytes` each (one message always fits its own). */
function build(items: readonly { group: string; data: Uint8Array }[], maxBytes: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let b: BundleBuilder | null = null;
  for (const it of items) {
    if (b === null || !b.add(it.data, it.group, maxBytes)) {
      if (b !== null) out.push(b.view());
      b = new BundleBuilder(it.data, it.group);
    }
  }
  if (b !== null) out.push(b.view());
  return out;
}

test('what is bundled is unbundled in order with its groups, within the size limit, and bundles concatenate', () => {
  fc.assert(
    fc.property(fc.array(item, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 4000 }), (items, maxBytes) => {
      const bundles = build(items, maxBytes);
      const back = bundles.flatMap((b) => {
        const u = unbundle(b);
        assert.ok(u !== null);
        return u;
      });
      assert.deepEqual(
        back.map((m) => ({ group: m.group, data: [...m.data] })),
        items.map((m) => ({ group: m.group, data: [...m.data] })),
      );
      // A bundle exceeds the limit only when it holds a single message.
      for (const b of bundles) assert.ok(b.length <= maxBytes || unbundle(b)!.length === 1);
      const all = concatBundles(bundles, bundles.reduce((n, b) => n + b.length, 0));
      assert.deepEqual(unbundle(all)!.map((m) => m.group), items.map((m) => m.group));
    }),
  );
});

test('no input makes unbundle throw; a bundle cut short is refused', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const u = unbundle(bytes);
      if (u !== null) for (const m of u) assert.ok(m.data.byteOffset >= bytes.byteOffset && m.data.length <= bytes.length);
    }),
  );
  fc.assert(
    fc.property(fc.array(item, { minLength: 1, maxLength: 5 }), (items) => {
      const [b] = build(items, 1 << 20);
      const lastLength = items[items.length - 1]!.data.length;
      // Cutting into the last message's bytes (or its header) leaves a length past the end.
      if (lastLength > 0) assert.equal(unbundle(b!.subarray(0, b!.length - 1)), null);
    }),
  );
  // The first record must name a group.
  assert.equal(unbundle(Uint8Array.of(2 * 1, 0x41)), null);
});

test('a bundle given room at the start fills it in place; without room it moves once it grows', () => {
  const msg = new Uint8Array(10 * 1024).fill(7);
  const roomy = new BundleBuilder(msg, 'g', 64 * 1024);
  const first = roomy.view().buffer;
  for (let i = 0; i < 5; i++) assert.ok(roomy.add(msg, 'g', 64 * 1024));
  assert.equal(roomy.view().buffer, first, 'no move while the messages fit the room given');
  assert.equal(unbundle(roomy.view())!.length, 6);
  assert.ok(!roomy.add(msg, 'g', 64 * 1024), 'the limit still holds');
  // The room is not zero-filled when it is made; sealing zeroes what is left of it, so
  // a delivered message's .buffer shows nothing but the bundle and zeros.
  const sealed = roomy.seal();
  const whole = new Uint8Array(sealed.buffer, sealed.byteOffset);
  assert.ok(whole.length > sealed.length);
  assert.ok(whole.subarray(sealed.length).every((x) => x === 0));
  assert.equal(Object.getPrototypeOf(sealed), Uint8Array.prototype, 'a plain Uint8Array, not a Buffer');
  // A bundle that used less than half its room moves to a buffer of its own size.
  const sparse = new BundleBuilder(new Uint8Array(1000).fill(1), 'g', 64 * 1024);
  assert.ok(sparse.add(new Uint8Array(1000).fill(2), 'g', 64 * 1024));
  const small = sparse.seal();
  assert.ok(small.buffer.byteLength < 64 * 1024, `pins ${small.buffer.byteLength} bytes for ${small.length}`);
  assert.deepEqual(unbundle(small)!.map((m) => [m.data.length, m.data[0]]), [[1000, 1], [1000, 2]]);
  const tight = new BundleBuilder(msg, 'g');
  const before = tight.view().buffer;
  assert.ok(tight.add(msg, 'g', 64 * 1024));
  assert.notEqual(tight.view().buffer, before);
  assert.deepEqual(unbundle(tight.view())!.map((m) => m.data.length), [msg.length, msg.length]);
});
