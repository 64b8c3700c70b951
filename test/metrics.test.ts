/**
 * Metrics as an operator meets them: real endpoints over TCP on 127.0.0.1, each
 * serving `/metrics` on a port the system picked, scraped with `fetch` after known
 * traffic and parsed by a small parser of the text format written here (so the test
 * judges the format, not the code that wrote it). The counters must equal exactly
 * what was multicast and delivered (messages and bytes, per group), state transfers
 * must count the same bytes on both sides, a crash and a graceful leave must show up
 * as view changes by reason, and histograms must be well formed. A unit test pins the
 * exposition format itself (escaping, HELP/TYPE lines, cumulative buckets).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { Endpoint } from '../src/endpoint.js';
import type { Group, GroupEvent } from '../src/endpoint.js';
import { OptionError } from '../src/errors.js';
import { MetricsRegistry, escapeLabelValue } from '../src/ops/metrics.js';
import { Simulation } from '../src/sim/simulation.js';
import { until } from './procs.js';

// ------------------------------------------------------------------ a parser of the text format

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

interface Family {
  help: string | null;
  type: string | null;
  readonly samples: Sample[];
}

const sampleRe = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/;

/** Label pairs `a="x",b="y\"z"`, unescaping `\\`, `\"` and `\n`. */
function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    assert.ok(eq > i, `label name in ${line}`);
    const name = text.slice(i, eq);
    assert.match(name, /^[a-zA-Z_][a-zA-Z0-9_]*$/, `label name ${name} in ${line}`);
    assert.equal(text[eq + 1], '"', `quoted label value in ${line}`);
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else assert.fail(`bad escape \\${next} in ${line}`);
      } else {
        value += text[j];
      }
    }
    assert.equal(text[j], '"', `unterminated label value in ${line}`);
    assert.ok(!(name in labels), `label ${name} repeated in ${line}`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
  }
  return labels;
}

/** The family a sample belongs to: its name, or its name less a histogram's suffix. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const f = families.get(name);
  if (f !== undefined) return f;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const h = families.get(name.slice(0, -suffix.length));
      if (h?.type === 'histogram') return h;
    }
  }
  return undefined;
}

/** Parse an exposition; every sample must follow its family's HELP and TYPE lines. */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
      const rest = line.slice(7);
      const sp = rest.indexOf(' ');
      const name = rest.slice(0, sp);
      const f = families.get(name) ?? { help: null, type: null, samples: [] };
      families.set(name, f);
      if (line.startsWith('# HELP ')) {
        assert.equal(f.help, null, `second HELP for ${name}`);
        f.help = rest.slice(sp + 1).replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      } else {
        assert.equal(f.type, null, `second TYPE for ${name}`);
        f.type = rest.slice(sp + 1);
        assert.match(f.type, /^(counter|gauge|histogram|summary|untyped)$/, line);
        if (f.type === 'counter') assert.match(name, /_total$/, `counter ${name} ends in _total`);
      }
      continue;
    }
    assert.ok(!line.startsWith('#'), `unexpected comment ${line}`);
    const m = sampleRe.exec(line);
    assert.ok(m !== null, `not a sample line: ${JSON.stringify(line)}`);
    const name = m[1]!;
    const f = familyOf(name, families);
    assert.ok(f !== undefined && f.type !== null && f.help !== null, `sample ${name} before its HELP and TYPE`);
    const raw = m[4]!;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    assert.ok(raw === 'NaN' || !Number.isNaN(value), `bad value in ${line}`);
    f.samples.push({ name, labels: parseLabels(m[3] ?? '', line), value });
  }
  return families;
}

/** The value of the one sample `name` with exactly `labels`. */
function valueOf(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const f = familyOf(name, fams);
  assert.ok(f !== undefined, `no family for ${name}`);
  const want = JSON.stringify(Object.entries(labels).sort());
  const hits = f.samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want);
  assert.equal(hits.length, 1, `one sample ${name}${want}, found ${hits.length}`);
  return hits[0]!.value;
}

/** Every histogram: buckets non-decreasing in `le`, ending at +Inf, which equals `_count`. */
function checkHistograms(fams: Map<string, Family>): number {
  let checked = 0;
  for (const [name, f] of fams) {
    if (f.type !== 'histogram') continue;
    const series = new Map<string, Sample[]>();
    for (const s of f.samples) {
      const { le, ...rest } = s.labels;
      const key = JSON.stringify(Object.entries(rest).sort());
      if (s.name === `${name}_bucket`) {
        assert.ok(le !== undefined, `${name}_bucket without le`);
        series.set(key, [...(series.get(key) ?? []), s]);
      }
    }
    assert.ok(series.size > 0, `histogram ${name} has series`);
    for (const [key, buckets] of series) {
      const labels = Object.fromEntries(JSON.parse(key) as [string, string][]);
      const les = buckets.map((b) => (b.labels['le'] === '+Inf' ? Infinity : Number(b.labels['le'])));
      for (let i = 1; i < buckets.length; i++) {
        assert.ok(les[i]! > les[i - 1]!, `${name} le increasing`);
        assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, `${name}${key} buckets are cumulative`);
      }
      assert.equal(les[les.length - 1], Infinity, `${name} ends with le="+Inf"`);
      const count = valueOf(fams, `${name}_count`, labels);
      assert.equal(buckets[buckets.length - 1]!.value, count, `${name}${key}: +Inf bucket equals _count`);
      const sum = valueOf(fams, `${name}_sum`, labels);
      assert.ok(sum >= 0 && (count > 0 || sum === 0), `${name}${key}: sum ${sum} with count ${count}`);
      checked++;
    }
  }
  return checked;
}

// ------------------------------------------------------------------ the format itself

test('the exposition format: HELP and TYPE lines, escaping, counters, gauges and cumulative histograms', () => {
  const r = new MetricsRegistry();
  const c = r.counter({ name: 'x_events_total', help: 'Events.\nSecond line with a \\ backslash.', labelNames: ['group'] });
  const tricky = 'a"b\\c\nd';
  c.inc({ group: tricky });
  c.inc({ group: tricky }, 2);
  c.inc({ group: 'plain' });
  const g = r.gauge({ name: 'x_depth', help: 'Depth.' });
  g.set(undefined, -3.5);
  const h = r.histogram({ name: 'x_duration_seconds', help: 'Durations.', buckets: [0.1, 1] });
  h.observe(0.05);
  h.observe(0.1);
  h.observe(0.5);
  h.observe(7);
  const text = r.expose();
  assert.equal(
    text,
    [
      '# HELP x_events_total Events.\\nSecond line with a \\\\ backslash.',
      '# TYPE x_events_total counter',
      'x_events_total{group="a\\"b\\\\c\\nd"} 3',
      'x_events_total{group="plain"} 1',
      '# HELP x_depth Depth.',
      '# TYPE x_depth gauge',
      'x_depth -3.5',
      '# HELP x_duration_seconds Durations.',
      '# TYPE x_duration_seconds histogram',
      'x_duration_seconds_bucket{le="0.1"} 2',
      'x_duration_seconds_bucket{le="1"} 3',
      'x_duration_seconds_bucket{le="+Inf"} 4',
      'x_duration_seconds_sum 7.65',
      'x_duration_seconds_count 4',
      '',
    ].join('\n'),
  );
  // The test's parser reads back what was written, escapes included.
  const fams = parseExposition(text);
  assert.equal(valueOf(fams, 'x_events_total', { group: tricky }), 3);
  assert.equal(fams.get('x_events_total')!.help, 'Events.\nSecond line with a \\ backslash.');
  assert.equal(checkHistograms(fams), 1);
  assert.equal(escapeLabelValue('\\"\n'), '\\\\\\"\\n');
  // Mistakes are typed errors, never a malformed exposition.
  assert.throws(() => r.counter({ name: 'x_events', help: 'no suffix' }), OptionError);
  assert.throws(() => r.gauge({ name: 'x_depth', help: 'twice' }), OptionError);
  assert.throws(() => r.gauge({ name: 'bad-name', help: '' }), OptionError);
  assert.throws(() => r.gauge({ name: 'x_ok', help: '', labelNames: ['__reserved'] }), OptionError);
  assert.throws(() => r.histogram({ name: 'x_h', help: '', buckets: [1, 1] }), OptionError);
  assert.throws(() => r.histogram({ name: 'x_h2', help: '', buckets: [1], labelNames: ['le'] }), OptionError);
  assert.throws(() => c.inc({ group: 'g' }, -1), OptionError);
  assert.throws(() => c.set({ group: tricky }, 2), OptionError, 'a counter never goes down');
  // A removed series is gone from the exposition; set again, it starts afresh.
  c.remove({ group: tricky });
  assert.equal(r.expose().includes(escapeLabelValue(tricky)), false);
  c.set({ group: tricky }, 1);
  assert.equal(valueOf(parseExposition(r.expose()), 'x_events_total', { group: tricky }), 1);
  assert.throws(() => c.inc({ other: 'x' }), OptionError, 'labels must match the family');
  assert.throws(() => c.inc(), OptionError, 'labels must be given');
});

test('option metrics is validated, and off by default', async () => {
  const sim = new Simulation({ seed: 7 });
  const [a] = await sim.startAll(['a']);
  assert.equal(a!.metricsAddress, null);
  assert.throws(() => a!.metricsText(), OptionError);
  assert.throws(() => sim.open('b', [], { metrics: 42 } as never), OptionError);
  assert.throws(() => sim.open('c', [], { metrics: '127.0.0.1:0' }), (e: unknown) => e instanceof OptionError && /Endpoint\.start/.test(e.message));
  await assert.rejects(Endpoint.start({ id: 'x', listen: '127.0.0.1:0', metrics: 'nowhere' }), OptionError);
  // A metrics port already taken: a typed error (and the endpoint's transport is closed,
  // or this test file's process would not exit).
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  try {
    const port = (taken.address() as AddressInfo).port;
    await assert.rejects(Endpoint.start({ id: 'x', listen: '127.0.0.1:0', metrics: `127.0.0.1:${port}` }), (e: unknown) => e instanceof OptionError && /cannot listen/.test(e.message));
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
  // In the simulator, metrics: true collects without serving.
  const d = sim.open('d', [a!.address], { metrics: true });
  await sim.run(d.ready);
  const fams = parseExposition(d.metricsText());
  assert.equal(valueOf(fams, 'cohort_member_info', { member: 'd' }), 1);
  assert.equal(fams.has('cohort_transport_bytes_total'), false, 'no TCP transport in the simulator');
  await sim.run(Promise.all([a!.stop(), d.stop()]));
});

test('in the simulator, under loss: retransmissions and NAKs are counted, a crash is a failure view with suspicions, and counts stay exact', { timeout: 60_000 }, async () => {
  // Seeded: the same drops, hence the same counts, on every run.
  const sim = new Simulation({ seed: 11, faults: { dropProbability: 0.2 }, endpoint: { metrics: true } });
  const eps = await sim.startAll(['a', 'b', 'c']);
  const counts = new Map<string, number>();
  const groups: Group[] = [];
  for (const ep of eps) {
    counts.set(ep.id, 0);
    groups.push(await sim.run(ep.join('g', { onEvent: (e) => void (e.type === 'message' && counts.set(ep.id, counts.get(ep.id)! + 1)) })));
  }
  const n = 40;
  const sends: Promise<void>[] = [];
  for (let i = 0; i < n; i++) for (const g of groups) sends.push(g.multicast(new Uint8Array(5)));
  await sim.run(Promise.all(sends));
  await sim.runUntil(() => [...counts.values()].every((c) => c === 3 * n));
  const fams = eps.map((ep) => parseExposition(ep.metricsText()));
  const total = (name: string, labels: Record<string, string> = {}): number => fams.reduce((s, f) => s + valueOf(f, name, labels), 0);
  for (const f of fams) {
    assert.equal(valueOf(f, 'cohort_multicast_messages_total', { group: 'g' }), n);
    assert.equal(valueOf(f, 'cohort_delivered_messages_total', { group: 'g' }), 3 * n);
    assert.equal(valueOf(f, 'cohort_delivered_bytes_total', { group: 'g' }), 3 * n * 5);
  }
  assert.ok(total('cohort_naks_sent_total') > 0, 'a fifth of the messages lost: someone asked again');
  assert.ok(total('cohort_retransmissions_total', { kind: 'nak' }) + total('cohort_retransmissions_total', { kind: 'data' }) > 0, 'and something was sent again');

  sim.configure({ dropProbability: 0 });
  sim.crash('c');
  await sim.runUntil(() => eps.slice(0, 2).every((ep) => ep.view.members.length === 2));
  for (const f of eps.slice(0, 2).map((ep) => parseExposition(ep.metricsText()))) {
    assert.equal(valueOf(f, 'cohort_view_changes_total', { reason: 'failure' }), 1);
    assert.equal(valueOf(f, 'cohort_suspected_members'), 0, 'suspicions end with the view change');
    checkHistograms(f);
  }
  assert.ok(
    eps.slice(0, 2).reduce((s, ep) => s + valueOf(parseExposition(ep.metricsText()), 'cohort_suspicions_total'), 0) >= 1,
    'c was suspected before it was removed',
  );
  await sim.run(Promise.all(eps.slice(0, 2).map((ep) => ep.stop())));
});

test('a group left: its series go and the status totals keep its traffic; joined again (scraped in between or not) it counts from zero', async () => {
  const sim = new Simulation({ seed: 5, endpoint: { metrics: true } });
  const [a, b] = await sim.startAll(['a', 'b']);
  const groupSeries = (): string[] => {
    const f = parseExposition(a!.metricsText()).get('cohort_multicast_messages_total');
    return (f?.samples ?? []).map((x) => x.labels['group'] ?? '').sort();
  };
  await sim.run(b!.join('h'));
  const hb = await sim.run(a!.join('h'));
  let g = await sim.run(a!.join('g'));
  for (let i = 0; i < 3; i++) await sim.run(g.multicast(new Uint8Array(7)));
  assert.equal(valueOf(parseExposition(a!.metricsText()), 'cohort_multicast_messages_total', { group: 'g' }), 3);
  await sim.run(g.leave());
  assert.deepEqual(groupSeries(), ['h'], 'the series of g went when a left it');
  assert.deepEqual([a!.counters.groups.size, a!.status().counters.messagesSent, a!.status().counters.bytesSent], [1, 3, 21], 'the totals did not go down');
  // Joined again and left again without a scrape in between, then joined a third time:
  // the new counts start from zero (a counter that went down would throw at the scrape).
  g = await sim.run(a!.join('g'));
  await sim.run(g.multicast(new Uint8Array(7)));
  await sim.run(g.leave());
  g = await sim.run(a!.join('g'));
  await sim.run(g.multicast(new Uint8Array(7)));
  const fams = parseExposition(a!.metricsText());
  assert.equal(valueOf(fams, 'cohort_multicast_messages_total', { group: 'g' }), 1);
  assert.equal(valueOf(fams, 'cohort_multicast_bytes_total', { group: 'g' }), 7);
  assert.deepEqual(groupSeries(), ['g', 'h']);
  assert.equal(a!.status().counters.messagesSent, 5);
  await sim.run(Promise.all([g.leave(), hb.leave()]));
  assert.deepEqual([groupSeries(), a!.counters.groups.size], [[], 0], 'no group, no per-group series');
  await sim.run(Promise.all([a!.stop(), b!.stop()]));
});

// ------------------------------------------------------------------ real endpoints over TCP

const started: Endpoint[] = [];
after(async () => {
  // Whatever the test did, nothing it started keeps running.
  await Promise.all(started.map((ep) => ep.stop().catch(() => undefined)));
});

const stateBytes = 1000;

/** A member that counts what it delivers, per group, and whose state is `stateBytes` bytes. */
function member(ep: Endpoint): { counts: Map<string, { messages: number; bytes: number }>; join(name: string): Promise<Group> } {
  const counts = new Map<string, { messages: number; bytes: number }>();
  return {
    counts,
    join: (name) => {
      counts.set(name, { messages: 0, bytes: 0 });
      return ep.join(name, {
        onEvent: (e: GroupEvent) => {
          if (e.type !== 'message') return;
          const c = counts.get(name)!;
          c.messages++;
          c.bytes += e.data.length;
        },
        checkpoint: () => new Uint8Array(stateBytes).fill(7),
      });
    },
  };
}

async function scrape(ep: Endpoint): Promise<Map<string, Family>> {
  assert.ok(ep.metricsAddress !== null);
  const res = await fetch(`http://${ep.metricsAddress}/metrics`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

test('three endpoints over TCP: scraped counters equal the traffic, views count by reason, histograms are well formed', { timeout: 60_000 }, async () => {
  const opts = { listen: '127.0.0.1:0', metrics: '127.0.0.1:0' } as const;
  const a = await Endpoint.start({ id: 'a', ...opts });
  started.push(a);
  assert.match(a.metricsAddress ?? '', /^127\.0\.0\.1:\d+$/);
  assert.notEqual(a.metricsAddress, '127.0.0.1:0', 'the bound port, not 0');
  const b = await Endpoint.start({ id: 'b', ...opts, seeds: [a.address] });
  started.push(b);
  const c = await Endpoint.start({ id: 'c', ...opts, seeds: [a.address] });
  started.push(c);
  const [ma, mb, mc] = [member(a), member(b), member(c)];
  // Joined one after the other, so b's and c's states come from a member that has one.
  const ga = await ma.join('g');
  const gb = await mb.join('g');
  const gc = await mc.join('g');
  const ha = await ma.join('h');
  await mb.join('h');
  await until(() => ga.view?.members.length === 3 && gb.view?.members.length === 3, 10_000, 'everyone sees the three-member view of g');

  // Known traffic: a sends 20 x 10 bytes and b 15 x 7 bytes to g (c sends nothing);
  // a sends 5 x 3 bytes to h, which c is not in.
  const N = { a: 20, b: 15, h: 5 };
  const sends: Promise<void>[] = [];
  for (let i = 0; i < N.a; i++) sends.push(ga.multicast(new Uint8Array(10).fill(i)));
  for (let i = 0; i < N.b; i++) sends.push(gb.multicast(new Uint8Array(7).fill(i)));
  for (let i = 0; i < N.h; i++) sends.push(ha.multicast(new Uint8Array(3)));
  await Promise.all(sends);
  const gTotal = N.a + N.b;
  const gBytes = N.a * 10 + N.b * 7;
  await until(() => [ma, mb, mc].every((m) => m.counts.get('g')!.messages === gTotal) && mb.counts.get('h')!.messages === N.h, 10_000, 'every member delivered every message');
  void gc;

  const [fa, fb, fc] = [await scrape(a), await scrape(b), await scrape(c)];
  // Sent: exactly what each multicast, per group.
  assert.equal(valueOf(fa, 'cohort_multicast_messages_total', { group: 'g' }), N.a);
  assert.equal(valueOf(fa, 'cohort_multicast_bytes_total', { group: 'g' }), N.a * 10);
  assert.equal(valueOf(fb, 'cohort_multicast_messages_total', { group: 'g' }), N.b);
  assert.equal(valueOf(fb, 'cohort_multicast_bytes_total', { group: 'g' }), N.b * 7);
  assert.equal(valueOf(fc, 'cohort_multicast_messages_total', { group: 'g' }), 0);
  assert.equal(valueOf(fa, 'cohort_multicast_messages_total', { group: 'h' }), N.h);
  assert.equal(valueOf(fa, 'cohort_multicast_bytes_total', { group: 'h' }), N.h * 3);
  // Delivered: exactly what each handler saw.
  for (const [f, m] of [[fa, ma], [fb, mb], [fc, mc]] as const) {
    assert.equal(valueOf(f, 'cohort_delivered_messages_total', { group: 'g' }), gTotal);
    assert.equal(valueOf(f, 'cohort_delivered_bytes_total', { group: 'g' }), gBytes);
    assert.equal(m.counts.get('g')!.bytes, gBytes);
  }
  assert.equal(valueOf(fb, 'cohort_delivered_messages_total', { group: 'h' }), N.h);
  assert.equal(valueOf(fb, 'cohort_delivered_bytes_total', { group: 'h' }), N.h * 3);
  assert.equal(fc.get('cohort_delivered_messages_total')!.samples.some((s) => s.labels['group'] === 'h'), false, 'c is not in h');

  // State transfers: b joined g and h, c joined g: three states of stateBytes each,
  // counted alike by providers and joiners (the provider's count follows the last ack).
  const transfers = async (role: string): Promise<{ n: number; bytes: number }> => {
    const fs = [await scrape(a), await scrape(b), await scrape(c)];
    return {
      n: fs.reduce((s, f) => s + valueOf(f, 'cohort_state_transfers_total', { role }), 0),
      bytes: fs.reduce((s, f) => s + valueOf(f, 'cohort_state_transfer_bytes_total', { role }), 0),
    };
  };
  assert.deepEqual(await transfers('joiner'), { n: 3, bytes: 3 * stateBytes });
  let provided = await transfers('provider');
  for (let i = 0; i < 100 && provided.n < 3; i++) {
    await new Promise((r) => setTimeout(r, 20));
    provided = await transfers('provider');
  }
  assert.deepEqual(provided, { n: 3, bytes: 3 * stateBytes });
  assert.equal(valueOf(fb, 'cohort_state_transfer_duration_seconds_count', { role: 'joiner' }), 2);
  assert.equal(valueOf(fc, 'cohort_state_transfer_duration_seconds_count', { role: 'joiner' }), 1);

  // Views: a founded (join), then b and c joined: three join views at a, none other.
  assert.equal(valueOf(fa, 'cohort_view_changes_total', { reason: 'join' }), 3);
  assert.equal(valueOf(fa, 'cohort_view_changes_total', { reason: 'leave' }), 0);
  assert.equal(valueOf(fa, 'cohort_view_changes_total', { reason: 'failure' }), 0);
  assert.equal(valueOf(fa, 'cohort_views_installed_total'), 3);
  assert.equal(valueOf(fa, 'cohort_view_epoch'), 3);
  assert.equal(valueOf(fa, 'cohort_view_members'), 3);
  // a flushed for each view it installed (the founding one included).
  assert.equal(valueOf(fa, 'cohort_view_change_duration_seconds_count'), 3);

  // Gauges are there, and idle queues are empty.
  for (const f of [fa, fb, fc]) {
    for (const name of ['cohort_send_queue_entries', 'cohort_in_flight_messages', 'cohort_pending_multicasts', 'cohort_delivery_queue_events']) {
      assert.equal(f.get(name)?.type, 'gauge', name);
      assert.equal(valueOf(f, name), 0, `${name} when idle`);
    }
    for (const name of ['cohort_unstable_entries', 'cohort_transport_buffered_bytes', 'cohort_transport_connections', 'cohort_event_loop_lag_seconds', 'cohort_event_loop_lag_p99_seconds', 'cohort_event_loop_lag_max_seconds']) {
      assert.equal(f.get(name)?.type, 'gauge', name);
      assert.ok(valueOf(f, name) >= 0, name);
    }
    assert.ok(valueOf(f, 'cohort_transport_bytes_total', { direction: 'sent' }) > 0);
    assert.ok(valueOf(f, 'cohort_transport_frames_total', { direction: 'received' }) > 0);
    assert.ok(checkHistograms(f) >= 3);
  }

  // A crash: c's endpoint closes without a word (its port then refuses, so the others
  // suspect it at once). a and b, a majority, install a view with c failed.
  (c as unknown as { close(): void }).close();
  await until(() => ga.view?.failed.includes('c') === true, 10_000, 'a sees c failed');
  await assert.rejects(fetch(`http://${c.metricsAddress}/metrics`, { signal: AbortSignal.timeout(2_000) }), 'a closed endpoint serves no metrics');
  const fa2 = await scrape(a);
  assert.equal(valueOf(fa2, 'cohort_view_changes_total', { reason: 'failure' }), 1);
  assert.equal(valueOf(fa2, 'cohort_view_changes_total', { reason: 'leave' }), 0);
  const suspicions = valueOf(fa2, 'cohort_suspicions_total') + valueOf(await scrape(b), 'cohort_suspicions_total');
  assert.ok(suspicions >= 1, `someone suspected c (${suspicions})`);
  assert.equal(valueOf(fa2, 'cohort_view_change_duration_seconds_count'), 4);
  // Counters survive in the next scrape, unchanged without traffic.
  assert.equal(valueOf(fa2, 'cohort_delivered_messages_total', { group: 'g' }), gTotal);

  // A graceful leave: b stops; a installs a view with b left.
  const bAddress = b.metricsAddress;
  await b.stop();
  await assert.rejects(fetch(`http://${bAddress}/metrics`, { signal: AbortSignal.timeout(2_000) }), 'stop closes the metrics server');
  // (The group's own view with b left is followed at once by the network's view change,
  // which is a new group view too: watch the network view.)
  await until(() => a.view.members.length === 1, 10_000, 'a sees b leave the network');
  const fa3 = await scrape(a);
  assert.equal(valueOf(fa3, 'cohort_view_changes_total', { reason: 'leave' }), 1);
  assert.equal(valueOf(fa3, 'cohort_view_changes_total', { reason: 'failure' }), 1);
  assert.equal(valueOf(fa3, 'cohort_view_members'), 1);
  assert.ok(checkHistograms(fa3) >= 3);

  // Anything but GET /metrics is refused.
  assert.equal((await fetch(`http://${a.metricsAddress}/other`, { signal: AbortSignal.timeout(2_000) })).status, 404);
  assert.equal((await fetch(`http://${a.metricsAddress}/metrics`, { method: 'POST', signal: AbortSignal.timeout(2_000) })).status, 405);
});
