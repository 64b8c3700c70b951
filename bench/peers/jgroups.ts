/**
 * JGroups' side of `npm run bench:peers`: 3 JVMs running `JgroupsMember` on 127.0.0.1,
 * with Debian's JGroups 2.12 jar (libjgroups-java) and a total-order stack derived
 * from the jar's own `tcp.xml` (TCP + TCPPING + NAKACK/UNICAST + UFC/MFC + FRAG2 ...).
 *
 * What the stack needs on this version (found by trying it on a 2-core machine):
 * - SEQUENCER (total order) directly above MFC, below FRAG2. Where the jar's own
 *   sequencer.xml puts it (between GMS and UFC), non-coordinator senders stop for good
 *   after UFC's 2 MB of credits: forwarded messages are consumed below UFC at the
 *   coordinator, so their credits never come back.
 * - the regular thread pool's queue on (`thread_pool.queue_enabled="true"`, 10000
 *   entries): tcp.xml has it off with `rejection_policy=discard`, and with 3 JVMs on a
 *   small machine incoming messages are then discarded and retransmitted 0.3-1.2 s
 *   later.
 * - for latency, message bundling off (`enable_bundling="false"`): with bundling an
 *   isolated message waits up to `max_bundle_timeout` (30 ms) per hop. Throughput
 *   keeps bundling on (its default, and what a flood wants).
 * So the RESULT lines say config=tcp-seq-q (throughput) and tcp-seq-q-nb (latency).
 *
 * A fresh group (3 new JVMs) runs every repetition of every point: under saturation
 * SEQUENCER's ordered backlog takes minutes to drain and would spill into the next
 * point. Member 0 starts first, alone, and so is the coordinator and the sequencer;
 * senders are chosen by view rank, youngest first, so that a single sender is never
 * the sequencer (as in Cohort's bench, whose single sender is the youngest too).
 * 2.12's SEQUENCER with credit flow control can block senders for good when 3
 * members flood; the members still report what they delivered, the blocked sender
 * with blocked=1, and the RESULT line counts such repetitions (blocked_reps).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePorts } from '../../src/tools/ports.js';
import { MEMBERS } from './options.js';
import type { PeersOptions } from './options.js';
import { log, must, run, sleep, start, waitAll } from './procs.js';
import type { Tracked } from './procs.js';
import { memberLines, runWorkload } from './results.js';

export const jgroupsJar = '/usr/share/java/jgroups.jar';
export const jgroupsPackages = ['libjgroups-java', 'unzip'];
const JVM_OPTS = ['-Xms256m', '-Xmx1g', '-Djava.net.preferIPv4Stack=true', '-Djgroups.bind_addr=127.0.0.1'];

/** Replace `from` by `to` in `xml`, insisting that `from` is there (the jar's tcp.xml may change). */
function edit(xml: string, from: string | RegExp, to: string, what: string): string {
  const next = xml.replace(from, to);
  if (next === xml) throw new Error(`cannot make the JGroups stack: ${what} not found in the jar's tcp.xml`);
  return next;
}

/** The two stacks (throughput, latency) for one member bound to `port`. */
export function stacks(tcpXml: string, port: number): { tput: string; lat: string } {
  let x = edit(tcpXml, /bind_port="\d+"/, `bind_port="${port}"`, 'TCP bind_port');
  x = edit(x, /^(\s*)<FRAG2\b/m, '$1<SEQUENCER />\n$1<FRAG2', 'FRAG2');
  x = edit(x, 'thread_pool.queue_enabled="false"', 'thread_pool.queue_enabled="true"', 'thread_pool.queue_enabled="false"');
  x = edit(x, /thread_pool\.queue_max_size="\d+"/, 'thread_pool.queue_max_size="10000"', 'thread_pool.queue_max_size');
  return { tput: x, lat: edit(x, 'enable_bundling="true"', 'enable_bundling="false"', 'enable_bundling="true"') };
}

/** Build the Java client; returns the classes folder. */
export function buildJgroupsClient(src: string, work: string): string {
  const classes = join(work, 'classes');
  mkdirSync(classes, { recursive: true });
  must('javac', ['-nowarn', '-cp', jgroupsJar, '-d', classes, src], 180_000);
  return classes;
}

export function jgroupsVersion(): string {
  const v = run('dpkg-query', ['-W', '-f=${Version}', 'libjgroups-java'], 10_000).stdout.trim();
  const j = /version "([^"]+)"/.exec(run('java', ['-version'], 20_000).stderr);
  return `jgroups ${v || '?'} java ${j?.[1] ?? '?'}`;
}

/** Wait until `file` contains `text`, or the process ended, or `ms` passed. */
async function waitForText(file: string, text: string, p: Tracked, ms: number): Promise<boolean> {
  const by = Date.now() + ms;
  while (Date.now() < by && !p.done) {
    if (existsSync(file) && readFileSync(file, 'utf8').includes(text)) return true;
    await sleep(100);
  }
  return false;
}

/** Run every point; returns the RESULT lines (NaN for the points that failed). */
export async function runJgroups(o: PeersOptions, work: string, classes: string): Promise<string[]> {
  const dir = join(work, 'jgroups');
  mkdirSync(dir, { recursive: true });
  const tcpXml = must('unzip', ['-p', jgroupsJar, 'tcp.xml'], 30_000);
  let runNo = 0;

  /** One fresh group of 3 JVMs; their MEMBER lines (fewer than 3 if one failed). */
  const once = async (mode: 'tput' | 'lat', senders: number, size: number, windowS: number): Promise<Map<string, string>[]> => {
    runNo++;
    const ports = await freePorts(MEMBERS);
    const hosts = ports.map((p) => `127.0.0.1[${p}]`).join(',');
    const warmMs = o.warmupSeconds * 1000;
    const members: Tracked[] = [];
    for (let i = 0; i < MEMBERS; i++) {
      const xml = join(dir, `run${runNo}.${i}.xml`);
      writeFileSync(xml, stacks(tcpXml, ports[i]!)[mode]);
      const base = join(dir, `run${runNo}.${i}`);
      const args = [...JVM_OPTS, `-Djgroups.tcpping.initial_hosts=${hosts}`, '-cp', `${classes}:${jgroupsJar}`, 'JgroupsMember', xml, String(i), String(MEMBERS), mode, String(senders), String(size), String(warmMs), String(windowS * 1000)];
      const p = start(`jgroups member ${i}`, 'java', args, `${base}.out`, `${base}.err`);
      members.push(p);
      // member 0 first, alone: it becomes the coordinator (and sequencer); the others
      // join it together (who sends is decided by view rank, not by index)
      if (i === 0 && !(await waitForText(`${base}.err`, 'JOINED', p, 60_000))) {
        log(`jgroups member 0 did not join within 60 s (see ${base}.err)`);
        break;
      }
    }
    // bound: the members' own barrier bound (60 s) + warm-up + window + linger + margin
    const ok = await waitAll(members, 60_000 + warmMs + windowS * 1000 + 15_000);
    const lines = members.flatMap((_, i) => memberLines(readFileSync(join(dir, `run${runNo}.${i}.out`), 'utf8')));
    if (!ok || lines.length < MEMBERS) {
      const errs = members.map((_, i) => readFileSync(join(dir, `run${runNo}.${i}.err`), 'utf8').split('\n').filter((l) => /halting|timed out|Exception|not delivered/.test(l)).slice(0, 3).join(' / ')).filter((e) => e !== '');
      log(`jgroups ${mode} senders=${senders} size=${size}: ${lines.length} of ${MEMBERS} members reported${errs.length > 0 ? `: ${errs.join(' | ').slice(0, 600)}` : ''}`);
    }
    return lines;
  };

  return runWorkload(o, 'jgroups', { tput: 'tcp-seq-q', lat: 'tcp-seq-q-nb' }, MEMBERS, once);
}
