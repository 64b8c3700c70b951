/**
 * The JSON-lines session of `cohort member`, once its endpoint runs: the digest
 * application in its group, the events it prints on standard output, and the lines of
 * standard input it multicasts, until the end of input (or a signal) leaves the group
 * and stops the endpoint.
 *
 * The protocol (docs/cli.md, "The JSON-lines protocol"; other programs depend on it, so it does not change): each
 * event is one JSON line: `view` (with `self` and `incarnation`), `state`, `message`
 * (with the running `count` and `digest`), `blocked`, `excluded`. The state is the
 * digest of `check/digest.ts`; the checkpoint is `{"count":…,"digest":…}`. After
 * `excluded` the member joins again by itself as a new incarnation, from a fresh state,
 * and multicasts again, in the order typed, the lines the exclusion rejected.
 *
 * Intuition for the flow control: at most `IN_FLIGHT_MAX` multicasts are unresolved;
 * reading pauses while the queue holds more than four times that, and resumes when
 * half of them resolved. A line that no retry could send (too large) is reported and
 * skipped; a failure no later line could get past ends the session with an error.
 */
import { createInterface, type Interface } from 'node:readline';
import { digestStep, INITIAL_DIGEST } from '../check/digest.js';
import type { Endpoint, Group, GroupEvent, StateProgress } from '../endpoint.js';
import { ClosedError, CohortError, ErrorCode, InputError } from '../errors.js';
import type { LogLevel, Logger } from '../log.js';
import type { Durability } from '../api/durable-waits.js';

/** Unresolved multicasts at most; reading pauses past four times as many queued lines. */
const IN_FLIGHT_MAX = 256;

/** A line of standard input with its line number. */
interface Line {
  readonly n: number;
  readonly line: string;
}

/** What a {@link MemberSession} needs besides its endpoint. */
export interface MemberSessionOptions {
  /** The group to join. */
  readonly group: string;
  /** The largest line, in UTF-8 bytes, for the error that names the limit. */
  readonly messageBytesMax: number;
  /** Each line's multicast waits for this durability (`--durable`); the endpoint's default when absent. */
  readonly durable?: Durability;
  /** Diagnostics on standard error; absent with `--quiet`. */
  readonly logger?: Logger | undefined;
  /** Logs a diagnostic line (a no-op with `--quiet`). */
  readonly log: (line: string, level: LogLevel, fields?: Record<string, unknown>) => void;
  /** Progress of a large state transfer, on standard error. */
  readonly onProgress: (p: StateProgress) => void;
}

/** One JSON line on standard output. */
function out(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/**
 * `cohort member`'s session on a started endpoint. Construct it, then `await
 * session.run()`: it resolves once the end of input (or a signal) left the group and
 * stopped the endpoint, and rejects with the failure that no later line could get past.
 */
export class MemberSession {
  /** The digest state of the group's stream. */
  private state = { count: 0, digest: INITIAL_DIGEST };
  private viewId = 0;
  private handle: Group | null = null;
  private joining: Promise<void> | null = null;
  private ended = false;
  private inputEnded = false;
  /** Lines read and not yet multicast, each with its line number on standard input. */
  private readonly queue: Line[] = [];
  /** Lines whose multicast failed with the exclusion, to go again in order after rejoining. */
  private readonly rejected: Line[] = [];
  private linesRead = 0;
  private inFlight = 0;
  private readonly input: Interface;
  private readonly encoder = new TextEncoder();
  private readonly done: Promise<void>;
  private resolveDone!: () => void;
  private rejectDone!: (err: Error) => void;

  /**
   * Starts reading standard input and listening for SIGTERM and SIGINT (which end the
   * input as its end does); joins nothing before {@link run}.
   */
  constructor(
    private readonly ep: Endpoint,
    private readonly opts: MemberSessionOptions,
  ) {
    this.input = createInterface({ input: process.stdin, crlfDelay: Infinity });
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // A fatal error may come before `run` awaits `done`: it is handled there, not lost.
    this.done.catch(() => undefined);
    this.input.on('line', (line) => {
      // Lines are numbered as read, so that an error names the line the user wrote;
      // after a signal or a fatal error nothing more is sent.
      const n = ++this.linesRead;
      if (this.ended || this.inputEnded) return;
      this.queue.push({ n, line });
      this.pump();
    });
    this.input.on('close', () => {
      this.opts.logger?.debug('end of input: leaving the group, then the network');
      this.inputEnded = true;
      this.maybeFinish();
    });
    const stopOnSignal = (): void => {
      this.inputEnded = true;
      this.queue.length = 0;
      this.rejected.length = 0;
      // Stop reading too: an open standard input would keep the process alive after
      // the session ended (a supervisor's SIGTERM while its pipe stays open).
      this.input.close();
      this.maybeFinish();
    };
    process.once('SIGTERM', stopOnSignal);
    process.once('SIGINT', stopOnSignal);
  }

  /** Joins the group, multicasts the input, and resolves when the session ended well. */
  async run(): Promise<void> {
    await this.join();
    this.maybeFinish();
    await this.done;
  }

  /** The digest application: prints each event of the group as a JSON line. */
  private readonly onEvent = (e: GroupEvent): void => {
    const { group } = this.opts;
    switch (e.type) {
      case 'view':
        this.viewId = e.view.id;
        out({
          event: 'view',
          group,
          view: e.view.id,
          members: e.view.members,
          joined: e.view.joined,
          left: e.view.left,
          failed: e.view.failed,
          failures: e.view.failures,
          reason: e.view.reason,
          network: e.view.network,
          self: this.ep.id,
          incarnation: this.ep.incarnation,
        });
        break;
      case 'state': {
        const s = JSON.parse(new TextDecoder().decode(e.data)) as { count: number; digest: string };
        this.state = { count: s.count, digest: s.digest };
        out({ event: 'state', group, count: this.state.count, digest: this.state.digest });
        break;
      }
      case 'message': {
        const data = new TextDecoder().decode(e.data);
        this.state = { count: this.state.count + 1, digest: digestStep(this.state.digest, e.sender, data) };
        out({ event: 'message', group, view: this.viewId, sender: e.sender, data, count: this.state.count, digest: this.state.digest, ...(e.restored === true ? { restored: true } : {}) });
        break;
      }
      case 'blocked':
        out({ event: 'blocked', group });
        break;
      case 'excluded':
        out({ event: 'excluded', group });
        this.handle = null;
        // Come back as a new incarnation: the endpoint rejoins the network by itself;
        // the group is joined again once the excluded event is handled.
        setImmediate(() => void this.join());
        break;
      default:
        break;
    }
  };

  /** The checkpoint: the digest state as JSON. */
  private readonly checkpoint = (): Uint8Array => new TextEncoder().encode(JSON.stringify(this.state));

  /** Joins the group from a fresh state, retrying until it works or the session ends; then sends what waits. */
  private async join(): Promise<void> {
    if (this.joining !== null || this.ended) return this.joining ?? undefined;
    const { group, log, onProgress } = this.opts;
    this.state = { count: 0, digest: INITIAL_DIGEST };
    this.joining = (async () => {
      for (;;) {
        try {
          this.handle = await this.ep.join(group, { onEvent: this.onEvent, checkpoint: this.checkpoint, onProgress });
          return;
        } catch (err) {
          if (this.ended) return;
          log(`join of ${group} failed (${(err as Error).message}); retrying`, 'warn');
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    })();
    await this.joining;
    this.joining = null;
    this.rejected.sort((a, b) => a.n - b.n);
    this.queue.unshift(...this.rejected.splice(0));
    this.pump();
  }

  /** Multicasts queued lines while the group is joined and fewer than IN_FLIGHT_MAX are unresolved. */
  private pump(): void {
    while (this.handle !== null && this.queue.length > 0 && this.inFlight < IN_FLIGHT_MAX && !this.ended) {
      const entry = this.queue.shift()!;
      const data = this.encoder.encode(entry.line);
      let p: Promise<void>;
      try {
        p = this.opts.durable === undefined ? this.handle.multicast(data) : this.handle.multicast(data, { durable: this.opts.durable });
      } catch (err) {
        if (err instanceof InputError) {
          // This line's content breaks a rule of multicast (today only its size): no
          // retry can succeed, so it is reported and skipped, and the lines after it go
          // on. Putting it back would stop every later line and the end of input.
          this.reportBadLine(entry.n, data.length, err);
          continue;
        }
        if (err instanceof ClosedError) {
          // The handle closed under us (excluded, or the endpoint is stopping): the
          // line waits at the head of the queue for the rejoin, which pumps again.
          this.queue.unshift(entry);
          return;
        }
        // Anything else is no fault of this line, and the next would meet it too.
        this.fail(new Error(`line ${entry.n} could not be multicast: ${(err as Error).message}`, { cause: err }));
        return;
      }
      this.inFlight += 1;
      p.then(
        () => this.onSent(),
        (err: unknown) => this.onNotSent(entry, err),
      );
    }
    if (this.queue.length > IN_FLIGHT_MAX * 4) this.input.pause();
  }

  /** A multicast resolved: read and send on. */
  private onSent(): void {
    this.inFlight -= 1;
    if (this.inFlight < IN_FLIGHT_MAX / 2) this.input.resume();
    this.pump();
    this.maybeFinish();
  }

  /** A multicast failed: again after the rejoin when excluded, else the end. */
  private onNotSent(entry: Line, err: unknown): void {
    this.inFlight -= 1;
    if (err instanceof CohortError && err.code === ErrorCode.excluded) {
      // Excluded before delivery: send it again after rejoining, in the order typed.
      this.rejected.push(entry);
    } else if (err instanceof CohortError && err.code === ErrorCode.notDurable) {
      // Delivered, but not on disk where --durable asked: say so, and go on.
      this.opts.log(`line ${entry.n} was delivered but is not on disk where --durable asked: ${err.message}`, 'warn', { line: entry.n, code: err.code });
      this.inFlight += 1;
      this.onSent();
    } else if (!this.ended) {
      // Nothing but an exclusion fails a multicast while we still run: the
      // endpoint is gone, and no later line could be sent either.
      this.fail(new Error(`line ${entry.n} was not delivered: ${(err as Error).message}`, { cause: err }));
    }
  }

  /** One line could not be sent for what it holds: say which and why, then go on. */
  private reportBadLine(n: number, bytes: number, err: InputError): void {
    const { logger, messageBytesMax } = this.opts;
    if (err.code === ErrorCode.messageTooLarge) {
      logger?.error(`line ${n} is ${bytes} bytes, over messageBytesMax (${messageBytesMax} bytes): not sent`, { line: n, bytes, messageBytesMax, code: err.code });
    } else {
      logger?.error(`line ${n} not sent: ${err.message}`, { line: n, bytes, code: err.code });
    }
  }

  /** Ends the session once the input ended and every line was delivered: stop the endpoint. */
  private maybeFinish(): void {
    if (!this.inputEnded || this.queue.length > 0 || this.rejected.length > 0 || this.inFlight > 0 || this.ended) return;
    this.ended = true;
    void (async () => {
      await this.ep.stop();
      this.resolveDone();
    })();
  }

  /**
   * A failure no later line can get past: stop reading, leave gracefully (the endpoint
   * bounds the leave), and let {@link run} throw it, which exits non-zero with its message.
   */
  private fail(err: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.input.close();
    void this.ep.stop().then(
      () => this.rejectDone(err),
      () => this.rejectDone(err),
    );
  }
}
