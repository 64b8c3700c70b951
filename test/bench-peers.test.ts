/**
 * `npm run bench:peers` and `bench:matrix -- --peers`, without root, packages or a real
 * peer run: the command line, the refusal without root (as a function, and end to
 * end as an unprivileged process), the RESULT lines made from the clients' MEMBER
 * lines, the results file's merge, and the table with its ratios and footer on a
 * fixture. The real runs are manual: `npm run bench:peers -- --quick`, as root.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { defaultResultsFile, estimateSeconds, parsePeersArgs, rootRefusal, UsageError } from '../bench/peers/options.js';
import { formatFooter, formatTable, readPeers, splitPeersArgs } from '../bench/peers/report.js';
import type { Figures, Point } from '../bench/peers/report.js';
import { latResult, memberLines, mergeResults, tputResult } from '../bench/peers/results.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

test('the command line: defaults, --quick, explicit options over --quick, subsets', () => {
  const d = parsePeersArgs([]);
  assert.deepEqual(d.systems, ['corosync', 'jgroups']);
  assert.deepEqual(d.sizes, [100, 1024, 10240]);
  assert.deepEqual(d.senders, [3, 1]);
  assert.equal(d.tput && d.lat, true);
  assert.deepEqual([d.seconds, d.latSeconds, d.reps, d.warmupSeconds], [10, 5, 3, 1]);
  assert.equal(d.out, defaultResultsFile);
  assert.equal(d.out, join(root, 'bench', 'peers', 'results', 'latest.txt'));
  assert.equal(d.keep, false);

  const q = parsePeersArgs(['--quick']);
  assert.deepEqual([q.seconds, q.latSeconds, q.reps], [2, 2, 1]);
  const q2 = parsePeersArgs(['--quick', '--seconds', '4', '--reps', '2']);
  assert.deepEqual([q2.seconds, q2.latSeconds, q2.reps], [4, 2, 2]);

  const s = parsePeersArgs(['--only', 'jgroups', '--sizes', '1024,100,1024', '--senders', '3', '--modes', 'lat', '--out', '/tmp/x.txt', '--keep']);
  assert.deepEqual(s.systems, ['jgroups']);
  assert.deepEqual(s.sizes, [1024, 100]);
  assert.deepEqual(s.senders, [3]);
  assert.deepEqual([s.tput, s.lat], [false, true]);
  assert.equal(s.out, '/tmp/x.txt');
  assert.equal(s.keep, true);
  // a full run's estimate grows with the work asked for
  assert.ok(estimateSeconds(d) > estimateSeconds(q) && estimateSeconds(q) > estimateSeconds(s));

  for (const bad of [['--only', 'consul'], ['--sizes', '0'], ['--sizes', '1k'], ['--senders', '4'], ['--modes', 'fail'], ['--reps', '-1'], ['--seconds', '0'], ['--frobnicate'], ['extra']]) {
    assert.throws(() => parsePeersArgs(bad), UsageError, bad.join(' '));
  }
});

test('without root: a message that says why, and the exact command to run instead', () => {
  assert.equal(rootRefusal(0, ['--quick']), null);
  const m = rootRefusal(1000, ['--quick', '--only', 'jgroups']);
  assert.ok(m !== null);
  assert.match(m, /must run as root/);
  assert.match(m, /apt-get/);
  assert.match(m, /namespaces/);
  assert.ok(m.includes('  sudo env "PATH=$PATH" npm run bench:peers -- --quick --only jgroups\n') || m.endsWith('  sudo env "PATH=$PATH" npm run bench:peers -- --quick --only jgroups'), m);
  assert.match(rootRefusal(1000, [])!, /npm run bench:peers$/);
  assert.match(rootRefusal(1000, ['--out', "it's here"])!, /--out 'it'\\''s here'$/);
});

test('end to end as an unprivileged process: exit status 2, the message, nothing started', (t) => {
  const script = join(root, 'dist', 'bench', 'peers', 'peers.js');
  const uid = process.getuid?.() ?? -1;
  let cmd: string;
  let args: string[];
  if (uid !== 0) {
    cmd = process.execPath;
    args = [script, '--quick'];
  } else {
    // as root: drop to nobody for this one run (setpriv is part of util-linux)
    const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
    if (setpriv === undefined) return t.skip('running as root and setpriv is missing');
    const drop = ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath];
    // a checkout under a private home (e.g. /root) is not readable by nobody: nothing to check then
    const canRead = spawnSync(setpriv, [...drop, '-e', `require('node:fs').accessSync(${JSON.stringify(script)})`], { timeout: 20_000, killSignal: 'SIGKILL' });
    if (canRead.status !== 0) return t.skip('the checkout is not readable by the unprivileged user nobody');
    cmd = setpriv;
    args = [...drop, script, '--quick'];
  }
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /must run as root/);
  assert.match(r.stderr, /npm run bench:peers -- --quick/);
  assert.doesNotMatch(r.stderr, /installing|work folder/);
});

const member = (id: number, rate: number, blocked = 0): string => `MEMBER id=${id} mode=tput sent=10 delivered_win=${rate * 2} window_s=2.000 msgs_per_s=${rate.toFixed(1)} blocked=${blocked}`;

test('RESULT lines from MEMBER lines: mean over members, median over repetitions, a short repetition is NaN', () => {
  const output = `banner line\n${member(0, 100)}\nnoise\n${member(1, 200)}\n`;
  const rep1 = memberLines(output).concat(memberLines(member(2, 300)));
  assert.equal(rep1.length, 3);
  // a sender stuck in its send call (blocked=1) still reports what it delivered: the repetition counts, flagged
  const rep2 = memberLines([member(0, 400), member(1, 400), member(2, 400, 1)].join('\n'));
  const rep3 = memberLines([member(0, 1000), member(1, 1000)].join('\n')); // member 2 hung: no line
  const line = tputResult({ system: 'corosync', config: 'knet', senders: 3, size: 1024 }, [rep1, rep2, rep3], 3);
  // reps 200 and 400 count, the third is NaN: median 300, MB/s = 300 * 1024 / 1e6
  assert.equal(line, 'RESULT system=corosync config=knet mode=tput senders=3 size=1024 msgs_per_s=300.0 mb_per_s=0.31 p50_us=- p99_us=- slowest_member_msgs_per_s=250.0 reps=200.0,400.0,NaN blocked_reps=1');
  // a membership change during the run discards the repetition, as npm run bench fails such a run
  const changed = memberLines([member(0, 500), member(1, 500), `${member(2, 500)} view_changes=1`].join('\n'));
  assert.match(tputResult({ system: 's', config: 'c', senders: 3, size: 100 }, [changed, rep2], 3), / msgs_per_s=400\.0 .*reps=NaN,400\.0 /);
  // the same member twice is not three members
  const dup = memberLines([member(0, 1), member(0, 1), member(1, 1)].join('\n'));
  assert.match(tputResult({ system: 's', config: 'c', senders: 1, size: 100 }, [dup], 3), /msgs_per_s=NaN .*reps=NaN blocked_reps=0$/);

  const lat = (p50: number, p99: number): Map<string, string>[] =>
    memberLines(`MEMBER id=0 mode=tput sent=0 delivered_win=9 window_s=2.000 msgs_per_s=4.5\nMEMBER id=2 mode=lat sent=9 samples=9 p50_us=${p50} p99_us=${p99}`);
  const l = latResult({ system: 'jgroups', config: 'nb', senders: 1, size: 100 }, [lat(300, 900), lat(100, 700), memberLines('')]);
  assert.equal(l, 'RESULT system=jgroups config=nb mode=lat senders=1 size=100 msgs_per_s=- mb_per_s=- p50_us=200.0 p99_us=800.0 samples=9,9,0 reps=300.0,100.0,NaN');
  const latChanged = memberLines('MEMBER id=0 mode=lat sent=0 view_changes=2\nMEMBER id=2 mode=lat sent=9 samples=9 p50_us=50 p99_us=60 view_changes=0');
  assert.match(latResult({ system: 'jgroups', config: 'nb', senders: 1, size: 100 }, [latChanged, lat(100, 700)]), / p50_us=100\.0 p99_us=700\.0 samples=0,9 reps=NaN,100\.0$/);
});

test('the results file: a run of one system keeps the other system\'s lines', () => {
  const previous = ['# MACHINE system=corosync date=2026-01-01T00:00Z cores=2', 'RESULT system=corosync config=a mode=tput senders=3 size=100 msgs_per_s=1', '# MACHINE system=jgroups date=2026-01-01T00:00Z', 'RESULT system=jgroups config=old mode=tput senders=3 size=100 msgs_per_s=2', 'stray text'].join('\n');
  const merged = mergeResults(previous, ['jgroups'], ['# MACHINE system=jgroups date=2026-02-02T00:00Z', 'RESULT system=jgroups config=new mode=tput senders=3 size=100 msgs_per_s=3']);
  assert.equal(merged, ['# MACHINE system=corosync date=2026-01-01T00:00Z cores=2', 'RESULT system=corosync config=a mode=tput senders=3 size=100 msgs_per_s=1', '# MACHINE system=jgroups date=2026-02-02T00:00Z', 'RESULT system=jgroups config=new mode=tput senders=3 size=100 msgs_per_s=3', ''].join('\n'));
});

test('bench:matrix --peers: alone it means the default file; with names, those files', () => {
  assert.deepEqual(splitPeersArgs(['--sizes', '1024', '--peers', '--reps', '1'], '/d.txt'), { rest: ['--sizes', '1024', '--reps', '1'], files: ['/d.txt'] });
  assert.deepEqual(splitPeersArgs(['--peers'], '/d.txt'), { rest: [], files: ['/d.txt'] });
  assert.deepEqual(splitPeersArgs(['--peers', 'a.txt', 'b.txt', '--seconds', '3', '--peers=c.txt'], '/d.txt'), { rest: ['--seconds', '3'], files: ['a.txt', 'b.txt', 'c.txt'] });
  assert.deepEqual(splitPeersArgs(['--reps', '1'], '/d.txt'), { rest: ['--reps', '1'], files: [] });
  assert.deepEqual(splitPeersArgs(['--peers']).files, [defaultResultsFile]);
});

test('the table: medians, ratios (throughput ours ÷ theirs, latency theirs ÷ ours), missing points, date and machine', () => {
  const fixture = [
    '# MACHINE system=corosync date=2026-12-05T21:31Z cores=2 memory=23.4GiB kernel=6.18.44 node=v20.20.2 software=corosync_3.1.7',
    'RESULT system=corosync config=knet-agreed-rr_no mode=tput senders=3 size=1024 msgs_per_s=10000.0 mb_per_s=10.24 p50_us=- p99_us=- slowest_member_msgs_per_s=9000 reps=10000.0',
    'RESULT system=corosync config=knet-agreed-rr_no mode=lat senders=1 size=1024 msgs_per_s=- mb_per_s=- p50_us=400.0 p99_us=1200.0 samples=9 reps=400.0',
    '# MACHINE system=jgroups date=2026-12-05T21:30Z cores=2 memory=23.4GiB kernel=6.18.44 node=v20.20.2 software=jgroups_2.12.2.Final-5_java_17.0.15',
    'RESULT system=jgroups config=tcp-seq-q mode=tput senders=3 size=1024 msgs_per_s=NaN mb_per_s=NaN p50_us=- p99_us=- slowest_member_msgs_per_s=NaN reps=NaN',
    'RESULT system=jgroups config=tcp-seq-q-nb mode=lat senders=1 size=1024 msgs_per_s=- mb_per_s=- p50_us=100.0 p99_us=300.0 samples=9 reps=100.0',
  ].join('\n');
  const peers = readPeers([fixture]);
  // JGroups' two configurations cover different points: one column, and a note
  assert.deepEqual([...peers.columns.keys()], ['corosync', 'jgroups']);
  assert.deepEqual(peers.configs, ['corosync: knet-agreed-rr_no', 'jgroups: tcp-seq-q (throughput), tcp-seq-q-nb (latency)']);

  const points: Point[] = [
    { mode: 'tput', senders: 3, size: 1024 },
    { mode: 'tput', senders: 1, size: 1024 },
    { mode: 'lat', senders: 1, size: 1024 },
  ];
  const f = (msgsPerS: number, p50Us: number, p99Us: number): Figures => ({ msgsPerS, mbPerS: (msgsPerS * 1024) / 1e6, p50Us, p99Us });
  const ours = new Map([
    [
      'agreed',
      new Map([
        ['tput/3/1024', f(25000, NaN, NaN)],
        ['tput/1/1024', f(30000, NaN, NaN)],
        ['lat/1/1024', f(NaN, 200, 600)],
      ]),
    ],
  ]);
  const table = formatTable(points, ours, peers).split('\n');
  assert.equal(table[0], '| point | Cohort | corosync | Cohort vs corosync | jgroups | Cohort vs jgroups |');
  assert.equal(table[1], '|---|---|---|---|---|---|');
  assert.equal(table[2], '| 3 senders, 1024 B (msgs/s, MB/s) | 25,000 (25.6) | 10,000 (10.2) | 2.50× | — (—) | — |');
  assert.equal(table[3], '| 1 sender, 1024 B (msgs/s, MB/s) | 30,000 (30.7) | — | — | — | — |');
  assert.equal(table[4], '| latency, 1024 B (p50 / p99 µs) | 200 / 600 | 400 / 1,200 | 2.00× / 2.00× | 100 / 300 | 0.50× / 0.50× |');
  assert.equal(table.length, 5);

  const footer = formatFooter(new Date('2026-12-05T22:00:00Z'), peers, { cores: '2', memory: '23.4GiB', kernel: '6.18.44', node: 'v20.20.2' }).split('\n');
  assert.deepEqual(footer, [
    'Cohort measured 2026-12-05 22:00 UTC on 2 cores, 23.4 GiB, kernel 6.18.44, Node v20.20.2.',
    'corosync (corosync 3.1.7) measured 2026-12-05 21:31 UTC on 2 cores, 23.4 GiB, kernel 6.18.44, Node v20.20.2.',
    'jgroups (jgroups 2.12.2.Final-5 java 17.0.15) measured 2026-12-05 21:30 UTC on 2 cores, 23.4 GiB, kernel 6.18.44, Node v20.20.2.',
    'Configurations: corosync: knet-agreed-rr_no; jgroups: tcp-seq-q (throughput), tcp-seq-q-nb (latency).',
    'Ratios: throughput Cohort ÷ peer, latency peer ÷ Cohort; above 1× Cohort is ahead.',
  ]);
});

test('older RESULT files with two stacks for the same points get one column per stack', () => {
  const text = [
    'RESULT system=jgroups config=tcp-fifo-q mode=lat senders=1 size=100 msgs_per_s=- mb_per_s=- p50_us=10 p99_us=40',
    'RESULT system=jgroups config=tcp-seq-q mode=lat senders=1 size=100 msgs_per_s=- mb_per_s=- p50_us=30000 p99_us=31000',
  ].join('\n');
  const peers = readPeers([text]);
  assert.deepEqual([...peers.columns.keys()], ['jgroups tcp-fifo-q', 'jgroups tcp-seq-q']);
  assert.deepEqual(peers.configs, []);
  assert.equal(peers.columns.get('jgroups tcp-seq-q')!.get('lat/1/100')!.p50Us, 30000);
});
