/**
 * What `Endpoint.start` does before it opens an endpoint: check what only a real
 * process needs, and build its world — a TCP transport listening at `listen`, the
 * monotonic clock and the operating system's randomness.
 *
 * Intuition: `Endpoint.open` is the sans-I/O-friendly entry, given a world (the
 * simulator passes its own); `start` is `open` over a real world, the way raft's
 * `Node` wraps `RawNode`. Everything that touches sockets is here, loaded on demand,
 * so that a simulated endpoint never loads the TCP transport.
 */
import { CohortError, ErrorCode, OptionError } from '../errors.js';
import type { LogLevel } from '../log.js';
import type { Clock, TimerHandle } from '../runtime.js';
import { checkKnownOptions, checkLogOptions, checkPersistOptions, checkOwnCertificate, checkSignal, checkTimeout, accessFrom, networkIdentity, transportLogOf } from './option-checks.js';
import { DEFAULT_START_TIMEOUT_MS } from './options.js';
import { settleWithin } from './promises.js';
import type { EndpointOptions } from './options.js';

/** What `Endpoint.start` opens its endpoint with. */
export interface StartPlan {
  /** The options to open with: the caller's, with a TCP world when none was given. */
  readonly options: EndpointOptions;
  /** Whether the world's transport was opened here (and must be closed if the open fails). */
  readonly ownsTransport: boolean;
  /** How long to wait to be in a view (option `startTimeoutMs`; 0: for ever). */
  readonly timeoutMs: number;
  /** Aborts the start (option `signal`). */
  readonly signal: AbortSignal | undefined;
  /** Where to serve metrics (option `metrics: 'HOST:PORT'`), or `null`. */
  readonly metricsAt: { readonly host: string; readonly port: number } | null;
}

/**
 * Check the options only `start` reads, and without `world` open a TCP transport at
 * `listen` (see `Endpoint.start` for what it throws).
 */
export async function prepareStart(opts: EndpointOptions): Promise<StartPlan> {
  const isObject = opts !== null && typeof opts === 'object';
  const timeoutMs = checkTimeout('startTimeoutMs', isObject ? (opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS) : 0);
  const signal = checkSignal(isObject ? opts.signal : undefined);
  if (signal?.aborted === true) throw new CohortError(ErrorCode.aborted, `start of endpoint ${String(opts.id)} aborted before it began`, { cause: signal.reason });
  const metricsAt = isObject && typeof opts.metrics === 'string' ? (await import('../transport/tcp.js')).parseHostPort(opts.metrics, 'option metrics') : null;
  if (!isObject || opts.world !== undefined) return { options: await withPersistLog(opts, null), ownsTransport: false, timeoutMs, signal, metricsAt };
  // A real process: TCP, the monotonic clock, the operating system's randomness.
  if (typeof opts.listen !== 'string') throw new OptionError('option listen (host:port) is required without a world');
  checkKnownOptions(opts);
  const { TcpTransport, parseHostPort } = await import('../transport/tcp.js');
  const { realClock, cryptoRng } = await import('../runtime-node.js');
  checkLogOptions(opts);
  if (Array.isArray(opts.seeds)) opts.seeds.forEach((seed, i) => parseHostPort(seed, `option seeds[${i}]`));
  if (opts.tls !== undefined && opts.tls !== null && typeof opts.tls === 'object' && (opts.tls.idFrom ?? 'cn') === 'cn') checkOwnCertificate(opts.id, opts.tls.cert);
  const transportLog = transportLogOf(opts);
  const transport = await TcpTransport.listen({
    listen: opts.listen,
    ...(opts.advertise === undefined ? {} : { advertise: opts.advertise }),
    network: networkIdentity(opts.network ?? 'cohort', accessFrom(opts)),
    ...(transportLog === undefined ? {} : { onLog: transportLog }),
    ...(opts.secret === undefined ? {} : { secret: opts.secret }),
    ...(opts.insecure === undefined ? {} : { insecure: opts.insecure }),
    ...(opts.tls === undefined ? {} : { tls: opts.tls }),
  });
  const options = { ...opts, world: { transport, clock: realClock(), rng: cryptoRng() } };
  return { options: await withPersistLog(options, () => transport.close()), ownsTransport: true, timeoutMs, signal, metricsAt };
}

/**
 * Option `persist` with its log opened (recovered: a torn last write cut off, damage
 * elsewhere refused with `ERR_CORRUPT`). On failure, `undo` runs (it closes what was
 * opened before) and the error is thrown.
 */
async function withPersistLog(opts: EndpointOptions, undo: (() => Promise<void>) | null): Promise<EndpointOptions> {
  if (opts === null || typeof opts !== 'object' || opts.persist === undefined || opts.persist?.log !== undefined) return opts;
  try {
    const { dir, sync, segmentBytes } = checkPersistOptions(opts.persist);
    const { NodeDisk } = await import('../persist/node-disk.js');
    const { SegmentLog } = await import('../persist/segment-log.js');
    const { NodeVoteFile } = await import('../persist/votes.js');
    const disk = new NodeDisk(dir, { fsync: sync });
    disk.lock();
    let log;
    try {
      log = await SegmentLog.open(disk, { segmentBytes });
    } catch (err) {
      disk.close();
      throw err;
    }
    return { ...opts, persist: { ...opts.persist, log, votes: new NodeVoteFile(dir, sync) } };
  } catch (err) {
    if (undo !== null) await undo();
    throw err;
  }
}

/** While starting, what it waits for is logged this often. */
const START_LOG_EVERY_MS = 5_000;

/** What waiting for a starting endpoint's first view needs of it. */
export interface StartWait {
  /** The endpoint's clock. */
  readonly clock: Clock;
  /** Settles once it is in a view (or rejects once it is closed). */
  readonly started: Promise<void>;
  /** Whether it is closed. */
  isClosed(): boolean;
  /** What it waits for, in words, and the error code naming it (see `startDiagnosis`). */
  diagnose(): { text: string; code: ErrorCode | null };
  /** Write a diagnostic line. */
  log(line: string, level: LogLevel): void;
  /** Close it, failing everything with `err`. */
  close(err: CohortError): void;
}

/**
 * Wait to be in a view; say what is awaited every `START_LOG_EVERY_MS`. On timeout or
 * abort, close everything and reject with the reason (see `Endpoint.start`).
 */
export async function waitStarted(w: StartWait, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
  const clock = w.clock;
  let logTimer: TimerHandle | null = null;
  const logLater = (): void => {
    logTimer = clock.setTimer(START_LOG_EVERY_MS, () => {
      if (w.isClosed()) return;
      w.log(`still starting: ${w.diagnose().text}`, 'info');
      logLater();
    });
  };
  logLater();
  try {
    await settleWithin(clock, w.started, timeoutMs, signal, (aborted) => {
      const d = w.diagnose();
      const code = aborted ? ErrorCode.aborted : (d.code ?? ErrorCode.timeout);
      const err = new CohortError(code, `${aborted ? 'start aborted' : `not in a view after ${timeoutMs} ms (option startTimeoutMs)`}: ${d.text}`, aborted ? { cause: signal?.reason } : undefined);
      w.log(err.message, 'warn');
      w.close(err);
      return err;
    });
  } finally {
    if (logTimer !== null) clock.clearTimer(logTimer);
  }
}
