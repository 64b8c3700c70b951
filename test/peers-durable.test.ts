/**
 * The durable-write peers of `npm run bench:peers` (etcd, ZooKeeper), without root,
 * packages, network or a real cluster: choosing them on the command line (and the
 * default run staying Corosync and JGroups), etcd's command line and its gateway's
 * JSON (request body, acknowledgement) and its gRPC frame, ZooKeeper's zoo.cfg, its jar found in a dpkg
 * listing and its `srvr` answer, the clients' WRITER lines to RESULT lines (writes
 * acknowledged per second summed over the writers), and the matrix leaving these
 * lines out. The real runs are manual, as root:
 * `npm run bench:peers -- --only etcd,zookeeper --quick`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { durableLatResult, durableTputRep, durableTputResult, percentile, writerLines } from '../bench/peers/durable.js';
import { etcdArgs, grpcPutFrame, KEYS, memoryFs, putAcknowledged, putBody, putPaths, writerKey } from '../bench/peers/etcd.js';
import { DEFAULT_WINDOW, estimateSeconds, parsePeersArgs, rootRefusal, usage, UsageError } from '../bench/peers/options.js';
import { readPeers } from '../bench/peers/report.js';
import { srvrMode, zooCfg, zookeeperJarFrom } from '../bench/peers/zookeeper.js';

test('the command line: the default run stays Corosync and JGroups; etcd and zookeeper only when named', () => {
  const d = parsePeersArgs([]);
  assert.deepEqual(d.systems, ['corosync', 'jgroups']);
  assert.equal(d.window, DEFAULT_WINDOW);
  assert.equal(DEFAULT_WINDOW, 256);
  assert.deepEqual(parsePeersArgs(['--only', 'etcd']).systems, ['etcd']);
  assert.deepEqual(parsePeersArgs(['--only', 'zookeeper']).systems, ['zookeeper']);
  assert.deepEqual(parsePeersArgs(['--only', 'etcd,zookeeper,etcd']).systems, ['etcd', 'zookeeper']);
  assert.deepEqual(parsePeersArgs(['--only', 'jgroups,etcd']).systems, ['jgroups', 'etcd']);
  const o = parsePeersArgs(['--only', 'etcd', '--sizes', '1024', '--senders', '3', '--reps', '1', '--seconds', '5', '--lat-seconds', '5', '--window', '16']);
  assert.deepEqual([o.sizes, o.senders, o.reps, o.seconds, o.latSeconds, o.window, o.warmupSeconds], [[1024], [3], 1, 5, 5, 16, 1]);
  assert.equal(parsePeersArgs(['--only', 'zookeeper', '--warmup', '10']).warmupSeconds, 10);
  assert.equal(d.etcdApi, 'gateway');
  assert.equal(parsePeersArgs(['--only', 'etcd', '--etcd-api', 'grpc']).etcdApi, 'grpc');
  // naming the durable systems adds their time to the estimate; the default run does not include it
  assert.ok(estimateSeconds(parsePeersArgs(['--only', 'corosync,jgroups,etcd,zookeeper'])) > estimateSeconds(d));
  for (const bad of [['--only', 'etcd,consul'], ['--only', ''], ['--only', 'etcd,'], ['--window', '0'], ['--window', 'many'], ['--window', '5000'], ['--warmup', '0'], ['--warmup', '1.5'], ['--etcd-api', 'v2']]) {
    assert.throws(() => parsePeersArgs(bad), UsageError, bad.join(' '));
  }
  assert.match(usage, /--only LIST/);
  assert.match(usage, /etcd, zookeeper/);
  assert.match(usage, /--window W/);
  assert.match(usage, /--warmup S/);
  assert.match(usage, /--etcd-api API/);
  assert.match(usage, /summed over the\s+writers/);
  // the refusal without root is unchanged, and repeats the arguments
  assert.match(rootRefusal(1000, ['--only', 'etcd'])!, /must run as root[\s\S]*npm run bench:peers -- --only etcd$/);
});

test('etcd: the members\' command line, with default fsync', () => {
  const ports = { client: [7001, 7002, 7003], peer: [7101, 7102, 7103] };
  const a = etcdArgs(1, ports, '/w/m1.data', 'tok');
  const flag = (name: string): string | undefined => a[a.indexOf(name) + 1];
  assert.equal(flag('--name'), 'm1');
  assert.equal(flag('--data-dir'), '/w/m1.data');
  assert.equal(flag('--listen-client-urls'), 'http://127.0.0.1:7002');
  assert.equal(flag('--advertise-client-urls'), 'http://127.0.0.1:7002');
  assert.equal(flag('--listen-peer-urls'), 'http://127.0.0.1:7102');
  assert.equal(flag('--initial-cluster'), 'm0=http://127.0.0.1:7101,m1=http://127.0.0.1:7102,m2=http://127.0.0.1:7103');
  assert.equal(flag('--initial-cluster-state'), 'new');
  assert.equal(flag('--initial-cluster-token'), 'tok');
  assert.ok(!a.some((x) => /fsync/.test(x)), 'no flag touches fsync');
});

test('etcd: the gateway\'s JSON: base64 key and value, acknowledgements, keys per writer', () => {
  const value = Buffer.alloc(1024, 0x61);
  const body = JSON.parse(putBody(writerKey(2, 1234), value)) as { key: string; value: string };
  assert.deepEqual(Object.keys(body).sort(), ['key', 'value']);
  assert.equal(Buffer.from(body.key, 'base64').toString(), 'w2/234');
  assert.deepEqual(Buffer.from(body.value, 'base64'), value);
  assert.equal(putBody('k', Buffer.from('v')), '{"key":"aw==","value":"dg=="}');
  assert.equal(writerKey(0, KEYS - 1), `w0/${KEYS - 1}`);
  assert.equal(writerKey(0, KEYS), 'w0/0');
  assert.equal(putPaths[0], '/v3/kv/put');

  const ok = '{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","revision":"7","raft_term":"2"}}';
  assert.equal(putAcknowledged(200, ok), true);
  assert.equal(putAcknowledged(503, ok), false);
  assert.equal(putAcknowledged(200, '{"error":"etcdserver: too many requests","code":14,"message":"etcdserver: too many requests"}'), false);
  assert.equal(putAcknowledged(404, '404 page not found\n'), false);
  assert.equal(putAcknowledged(200, 'not json'), false);
  assert.equal(putAcknowledged(200, '{"header":{}}'), false);
  assert.equal(putAcknowledged(0, 'socket hang up'), false);

  // gRPC: PutRequest { key = 1; value = 2 } in a frame (flag 0, big-endian length)
  assert.deepEqual(grpcPutFrame('k', Buffer.from('v')), Buffer.from([0, 0, 0, 0, 6, 0x0a, 1, 0x6b, 0x12, 1, 0x76]));
  const big = grpcPutFrame('w1/7', value); // 1024 = varint 0x80 0x08
  assert.equal(big.readUInt32BE(1), big.length - 5);
  assert.deepEqual(big.subarray(5, 11), Buffer.from([0x0a, 4, 0x77, 0x31, 0x2f, 0x37]));
  assert.deepEqual(big.subarray(11, 14), Buffer.from([0x12, 0x80, 0x08]));
  assert.equal(big.length, 5 + 6 + 3 + 1024);

  assert.equal(memoryFs('tmpfs'), true);
  assert.equal(memoryFs('ramfs'), true);
  assert.equal(memoryFs('ext2/ext3'), false);
  assert.equal(memoryFs('xfs'), false);
});

test('zookeeper: zoo.cfg per server, the jar from a dpkg listing, the srvr mode', () => {
  const ports = { client: [8001, 8002, 8003], quorum: [8101, 8102, 8103], election: [8201, 8202, 8203] };
  const cfg = zooCfg(2, ports, '/w/s3.data').split('\n');
  for (const line of ['dataDir=/w/s3.data', 'clientPort=8003', 'clientPortAddress=127.0.0.1', 'server.1=127.0.0.1:8101:8201', 'server.2=127.0.0.1:8102:8202', 'server.3=127.0.0.1:8103:8203', 'forceSync=yes', 'admin.enableServer=false', '4lw.commands.whitelist=srvr']) {
    assert.ok(cfg.includes(line), line);
  }
  assert.equal(cfg.filter((l) => l.startsWith('server.')).length, 3);

  const listing = ['/.', '/usr', '/usr/share/java', '/usr/share/java/zookeeper-jute.jar', '/usr/share/java/zookeeper.jar', '/usr/share/java/zookeeper-3.8.0.jar', '/usr/share/maven-repo/org/apache/zookeeper/zookeeper/3.8.0/zookeeper-3.8.0.jar'].join('\n');
  assert.equal(zookeeperJarFrom(listing), '/usr/share/java/zookeeper.jar');
  assert.throws(() => zookeeperJarFrom('/usr/share/doc/zookeeper/copyright\n'), /no zookeeper\.jar/);

  const srvr = 'Zookeeper version: 3.8.0-debian, built on 2024-06-16\nLatency min/avg/max: 0/0.0/0\nReceived: 1\nSent: 0\nConnections: 1\nOutstanding: 0\nZxid: 0x100000000\nMode: follower\nNode count: 5\n';
  assert.equal(srvrMode(srvr), 'follower');
  assert.equal(srvrMode(srvr.replace('follower', 'leader')), 'leader');
  assert.equal(srvrMode('This ZooKeeper instance is not currently serving requests\n'), null);
  assert.equal(srvrMode(''), null);
});

const writer = (id: number, rate: number, errors = 0): string => `WRITER id=${id} mode=tput sent=9 acked=9 acked_win=${rate * 5} window_s=5.000 acks_per_s=${rate.toFixed(1)} errors=${errors}`;

test('RESULT lines from WRITER lines: summed over the writers, median over repetitions, a failed repetition is NaN', () => {
  const rep1 = writerLines(`SLF4J: noise\n${writer(0, 100)}\n${writer(1, 200)}\nREADY\n${writer(2, 300)}\n`);
  assert.equal(rep1.length, 3);
  assert.equal(durableTputRep(rep1, 3), 600);
  const rep2 = writerLines([writer(0, 300), writer(1, 300), writer(2, 400)].join('\n'));
  const missing = writerLines([writer(0, 1000), writer(1, 1000)].join('\n')); // writer 2 did not report
  const failed = writerLines([writer(0, 1000), writer(1, 1000), writer(2, 1000, 3)].join('\n')); // 3 writes failed
  assert.ok(Number.isNaN(durableTputRep(missing, 3)));
  assert.ok(Number.isNaN(durableTputRep(failed, 3)));
  assert.ok(Number.isNaN(durableTputRep(writerLines([writer(0, 1), writer(0, 1), writer(1, 1)].join('\n')), 3)), 'the same writer twice is not three writers');
  assert.ok(Number.isNaN(durableTputRep(writerLines('WRITER id=0 mode=tput acks_per_s=5.0'), 1)), 'a line without an error count does not count');
  const line = durableTputResult({ system: 'etcd', config: 'raft3', senders: 3, size: 1024 }, [rep1, rep2, missing, failed], 64);
  // reps 600 and 1000 count, the others are NaN: median 800; MB/s = 800 * 1024 / 1e6
  assert.equal(line, 'RESULT system=etcd config=raft3 mode=tput senders=3 size=1024 msgs_per_s=800.0 mb_per_s=0.82 p50_us=- p99_us=- kind=durable window=64 reps=600.0,1000.0,NaN,NaN errors=0,0,0,3');
  assert.match(durableTputResult({ system: 'zookeeper', config: 'zab3', senders: 1, size: 100 }, [[]], 8), / msgs_per_s=NaN mb_per_s=NaN .* reps=NaN errors=0$/);

  const lat = (p50: number, p99: number, errors = 0): Map<string, string>[] => writerLines(`WRITER id=0 mode=lat sent=99 samples=90 p50_us=${p50} p99_us=${p99} errors=${errors}`);
  const l = durableLatResult({ system: 'zookeeper', config: 'zab3', senders: 1, size: 1024 }, [lat(2000, 9000), lat(1000, 7000), lat(5, 5, 1), []]);
  assert.equal(l, 'RESULT system=zookeeper config=zab3 mode=lat senders=1 size=1024 msgs_per_s=- mb_per_s=- p50_us=1500.0 p99_us=8000.0 kind=durable samples=90,90,0,0 reps=2000.0,1000.0,NaN,NaN');

  assert.equal(percentile([1, 2, 3, 4], 0.5), 2);
  assert.equal(percentile([1, 2, 3, 4], 0.99), 4);
  assert.ok(Number.isNaN(percentile([], 0.5)));
});

test('bench:matrix leaves the durable lines (and their systems\' MACHINE lines) out of the multicast table', () => {
  const text = [
    '# MACHINE system=corosync date=2026-12-05T21:31Z cores=2 memory=23.4GiB kernel=6.18.44 node=v20.20.2 software=corosync_3.1.7',
    'RESULT system=corosync config=knet mode=tput senders=3 size=1024 msgs_per_s=10000.0 mb_per_s=10.24 p50_us=- p99_us=-',
    '# MACHINE system=etcd date=2026-12-06T03:00Z cores=2 memory=23.4GiB kernel=6.18.44 node=v20.20.2 software=etcd_3.4.23',
    'RESULT system=etcd config=raft3-wal-fsync-gateway mode=tput senders=3 size=1024 msgs_per_s=2000.0 mb_per_s=2.05 p50_us=- p99_us=- kind=durable window=64',
    'RESULT system=etcd config=raft3-wal-fsync-gateway mode=lat senders=1 size=1024 msgs_per_s=- mb_per_s=- p50_us=2000.0 p99_us=8000.0 kind=durable',
  ].join('\n');
  const peers = readPeers([text]);
  assert.deepEqual([...peers.columns.keys()], ['corosync']);
  assert.deepEqual(peers.configs, ['corosync: knet']);
  assert.deepEqual(peers.machines.map((m) => m.get('system')), ['corosync']);
});
