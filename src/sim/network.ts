/**
 * The simulated network: nodes addressed by name, and every fault a real network (and
 * real processes) can inflict on messages, drawn from one seeded generator.
 *
 * Intuition: a message handed to `send` becomes one scheduler event at its arrival
 * time, or none if it is lost. Each fault is a decision taken at send time from the
 * `SeededRng`, in a fixed order (partition, drop, delay, extra reorder delay,
 * duplicate), so a run is a pure function of the seed and the fault settings.
 * Reordering needs no special machinery: two messages with independent random delays
 * arrive in either order; `reorderProbability` adds a larger extra delay to a few
 * messages so that reordering also happens across a wide gap, the way a retransmitted
 * TCP segment or a congested queue overtakes.
 *
 * On arrival the message goes through the destination node's gate
 * (`NodeClock.runOrHold`): delivered at once to a running node, buffered for a paused
 * one (like a kernel socket buffer, bounded by `heldMessagesMax`, released in arrival
 * order on resume, interleaved with the node's overdue timers), dropped for a crashed
 * one. Delivery calls the node's `MemoryTransport` handler synchronously from that
 * scheduler event, never from inside `send`, so handlers are never re-entered.
 *
 * Addresses outlive nodes: a node crashed at `n1` can be replaced by a fresh one at
 * `n1` (a restart), and a message still in flight to `n1` then reaches the new node, as
 * a datagram would reach a restarted process listening on the same port. Telling
 * incarnations apart is the protocol's job (`MemberRef.inc`).
 *
 * Partition semantics. `partition(sides)` splits addresses into groups that can only
 * talk within themselves. Every address that no side lists (including nodes added
 * later) belongs to one further, implicit side, "the rest": `partition([['n1']])`
 * isolates n1 from everyone else, who still talk among themselves. A partition is
 * checked both when a message is sent and when it arrives: a message sent across a cut
 * is lost even if the partition heals before its arrival time, and a message in flight
 * when a cut appears is lost if the cut still stands when it arrives. A new
 * `partition()` replaces the previous one; `heal()` removes it. A node's messages to
 * itself are never partitioned, dropped, duplicated or given extra delay.
 *
 * Link cuts. A partition is symmetric and transitive: sides are equivalence classes.
 * Real networks also fail in ways that are neither: a firewall rule or a half-broken
 * NIC loses one direction only (A reaches B, B's replies never reach A), and a broken
 * path between two racks leaves both reaching a third. `cutLink(from, to)` loses every
 * message from `from` to `to` (one direction, checked at send and at arrival like a
 * partition), on top of whatever partition stands; cutting both directions of one
 * pair gives a non-transitive cut. Cuts stay across `partition()` calls and are
 * removed one by one with `restoreLink` or all at once by `heal()`. They draw no
 * randomness, so adding one leaves the rest of a run's stream unchanged.
 *
 * This file is the message path; the options and fault settings (with their
 * validation) are in `network-options.ts`, the node records in `network-node.ts`.
 */
import type { Message } from '../core/types.js';
import { OptionError } from '../errors.js';
import type { SeededRng } from './rng.js';
import { GateOutcome, type Scheduler } from './scheduler.js';
import {
  checkFaults,
  DEFAULT_FAULTS,
  DEFAULT_HELD_MESSAGES_MAX,
  DROP_REASONS,
  DropReason,
  FAULT_KEYS,
  OPTION_KEYS,
  pickFaults,
  type NetworkFaults,
  type NetworkStats,
  type SimCodec,
  type SimNetworkOptions,
} from './network-options.js';
import { NodeRecord, type NetworkHooks, type SimNode } from './network-node.js';

export { DEFAULT_FAULTS, DEFAULT_HELD_MESSAGES_MAX, DropReason } from './network-options.js';
export type { NetworkFaults, NetworkStats, SimCodec, SimNetworkOptions } from './network-options.js';
export type { SimNode } from './network-node.js';

/** One copy of a message on its way. */
interface Flight {
  /** Label in traces: `#17`, or `#17'` for the duplicate. */
  readonly label: string;
  /** The sending node incarnation (told if the destination's process is gone). */
  readonly sender: NodeRecord;
  readonly from: string;
  readonly to: string;
  /** The message's `t`, for traces. */
  readonly type: string;
  readonly msg: Message;
  /** The encoded message, when there is a codec. */
  readonly bytes: Uint8Array | null;
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/**
 * A deterministic simulated network of named nodes, with configurable loss,
 * duplication, delay, reordering, partitions, and node pauses and crashes.
 *
 * @example
 * ```ts
 * const scheduler = new Scheduler();
 * const net = new SimNetwork({ scheduler, rng: new SeededRng(7).fork(), dropProbability: 0.05 });
 * const a = net.addNode('n1');
 * const b = net.addNode('n2');
 * b.transport.onMessage((from, msg) => console.log(from, msg.t));
 * a.transport.send('n2', heartbeat);
 * scheduler.runUntil(100); // "n1 heartbeat", unless the 5% loss struck
 * ```
 */
export class SimNetwork {
  /** The virtual time everything runs on. */
  readonly scheduler: Scheduler;
  /** The generator every fault decision is drawn from. */
  readonly rng: SeededRng;
  /** Receives trace lines when set (see {@link SimNetworkOptions.onTrace}); may be changed at any time. */
  onTrace: ((line: string) => void) | undefined;

  private readonly codec: SimCodec | undefined;
  private readonly onSend: SimNetworkOptions['onSend'];
  private readonly heldMessagesMax: number;
  private faultSettings: NetworkFaults;
  private readonly nodes = new Map<string, NodeRecord>();
  /** Side index of each address named in the current partition; absent: "the rest" side. */
  private sides: Map<string, number> | null = null;
  /** Extra one-way delay per directed link, `from\nto` → ms (a slow or congested path). */
  private readonly linkDelays = new Map<string, number>();
  /** Cut directed links, `from\nto`: every message on them is lost. */
  private readonly cuts = new Set<string>();
  private nextId = 0;
  private sentCount = 0;
  private deliveredCount = 0;
  private duplicatedCount = 0;
  private inFlightCount = 0;
  private readonly droppedCounts: Record<DropReason, number>;
  private dropFilter: ((from: string, to: string, msg: Message) => boolean) | null = null;
  private readonly hooks: NetworkHooks = {
    send: (node, to, msg) => this.sendFrom(node, to, msg),
    traceNode: (node, what) => this.traceNode(node, what),
  };

  /**
   * @throws OptionError on an unknown option or a bad fault setting.
   */
  constructor(options: SimNetworkOptions) {
    for (const key of Object.keys(options)) {
      if (!OPTION_KEYS.has(key)) throw new OptionError(`unknown SimNetwork option: ${key}`);
    }
    this.scheduler = options.scheduler;
    this.rng = options.rng;
    this.codec = options.codec;
    this.onSend = options.onSend;
    this.onTrace = options.onTrace;
    const heldMax = options.heldMessagesMax ?? DEFAULT_HELD_MESSAGES_MAX;
    if (!Number.isSafeInteger(heldMax) || heldMax < 0) {
      throw new OptionError(`heldMessagesMax must be an integer >= 0, got ${String(heldMax)}`);
    }
    this.heldMessagesMax = heldMax;
    const faults = pickFaults(options, DEFAULT_FAULTS);
    checkFaults(faults);
    this.faultSettings = faults;
    this.droppedCounts = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
  }

  /** The current fault settings. */
  get faults(): NetworkFaults {
    return this.faultSettings;
  }

  /**
   * Change some fault settings, effective for messages sent from now on (messages in
   * flight keep the fate drawn at their send). The change is all or nothing.
   *
   * @throws OptionError on an unknown key or a bad value (nothing is changed then).
   */
  configure(faults: Partial<NetworkFaults>): void {
    for (const key of Object.keys(faults)) {
      if (!FAULT_KEYS.has(key)) throw new OptionError(`unknown network fault setting: ${key}`);
    }
    const next = pickFaults(faults, this.faultSettings);
    checkFaults(next);
    this.faultSettings = next;
  }

  /**
   * Add a node at `address` and return it. If a node at that address crashed, the new
   * one replaces it (a restart), with `generation` one higher.
   *
   * @throws OptionError if the address is empty or a live (not crashed) node holds it.
   */
  addNode(address: string): SimNode {
    if (typeof address !== 'string' || address.length === 0) {
      throw new OptionError(`a node address must be a non-empty string, got ${JSON.stringify(address)}`);
    }
    const old = this.nodes.get(address);
    if (old !== undefined && old.isUp) {
      throw new OptionError(`address ${address} is in use by a live node: crash it before restarting it`);
    }
    const node = new NodeRecord(this.hooks, address, (old?.generation ?? 0) + 1, this.scheduler);
    this.nodes.set(address, node);
    this.traceNode(node, `up (generation ${node.generation})`);
    return node;
  }

  /** The node currently at `address` (possibly crashed), or undefined if none was ever added. */
  node(address: string): SimNode | undefined {
    return this.nodes.get(address);
  }

  /** Addresses of every node ever added, in the order first added. */
  get addresses(): string[] {
    return [...this.nodes.keys()];
  }

  /**
   * Split the network: messages between addresses on different sides are lost. Every
   * address no side lists, including ones added later, forms one more side ("the
   * rest"). Replaces any previous partition. Empty sides are allowed and mean nothing.
   *
   * @example
   * ```ts
   * net.partition([['n1', 'n2'], ['n3']]); // n1-n2 | n3 | everyone else
   * net.partition([['n1']]);               // n1 alone | everyone else
   * ```
   * @throws OptionError if an address appears on two sides or twice on one.
   */
  partition(sides: readonly (readonly string[])[]): void {
    const map = new Map<string, number>();
    sides.forEach((side, index) => {
      for (const address of side) {
        if (map.has(address)) throw new OptionError(`partition: address ${address} is listed twice`);
        map.set(address, index);
      }
    });
    this.sides = map;
    if (this.onTrace !== undefined) {
      const text = sides.map((s) => `[${s.join(' ')}]`).join(' ');
      this.trace(`partition ${text} [rest]`);
    }
  }

  /**
   * Give every message from `from` to `to` (one direction) `extraMs` more delay, on
   * top of the drawn one: a slow or congested path whose messages still all arrive.
   * 0 removes it. No randomness is drawn for it, so other runs replay unchanged.
   * @throws OptionError if `extraMs` is not a non-negative integer.
   */
  slowLink(from: string, to: string, extraMs: number): void {
    if (!Number.isSafeInteger(extraMs) || extraMs < 0) throw new OptionError(`slowLink: extraMs must be a non-negative integer, got ${extraMs}`);
    if (extraMs === 0) this.linkDelays.delete(`${from}\n${to}`);
    else this.linkDelays.set(`${from}\n${to}`, extraMs);
    this.trace(`slow ${from}->${to} +${extraMs}ms`);
  }

  /**
   * Lose every message for which `filter(from, to, msg)` returns true, at send (null
   * removes the filter): a lost prepare, a late accept, the one message whose loss
   * breaks a protocol. The filter is the caller's code: it draws no randomness, so
   * other runs replay unchanged. `heal` leaves it in place.
   */
  dropWhen(filter: ((from: string, to: string, msg: Message) => boolean) | null): void {
    this.dropFilter = filter;
    this.trace(filter === null ? 'filter removed' : 'filter set');
  }

  /**
   * Cut the directed link from `from` to `to`: every message from `from` to `to` is
   * lost (reason `cut`) until `restoreLink(from, to)` or `heal()`, while messages from
   * `to` to `from` still arrive. Cut both directions of a pair for a non-transitive
   * cut (both still reach everyone else). Cutting a cut link, or a node's link to
   * itself, changes nothing (a node always reaches itself).
   *
   * @example
   * ```ts
   * net.cutLink('n2', 'n1');  // n1 reaches n2, but n2's replies to n1 are lost
   * net.cutLink('n1', 'n3');
   * net.cutLink('n3', 'n1');  // n1 and n3 no longer talk; both still reach n2
   * ```
   * @throws OptionError if an address is empty.
   */
  cutLink(from: string, to: string): void {
    if (typeof from !== 'string' || from.length === 0 || typeof to !== 'string' || to.length === 0) {
      throw new OptionError(`cutLink: addresses must be non-empty strings, got ${JSON.stringify(from)}, ${JSON.stringify(to)}`);
    }
    if (from === to) return;
    this.cuts.add(`${from}\n${to}`);
    this.trace(`cut ${from}->${to}`);
  }

  /** Undo `cutLink(from, to)`; other cuts and the partition stay. */
  restoreLink(from: string, to: string): void {
    if (this.cuts.delete(`${from}\n${to}`)) this.trace(`restore ${from}->${to}`);
  }

  /** The directed links currently cut, as `[from, to]` pairs in the order they were cut. */
  get cutLinks(): [string, string][] {
    return [...this.cuts].map((k) => k.split('\n') as [string, string]);
  }

  /** Remove the partition and every link cut: every node can reach every other again. Slow links stay. */
  heal(): void {
    this.sides = null;
    this.cuts.clear();
    this.trace('heal');
  }

  /**
   * True when the current partition and link cuts let a message from `from` reach `to`
   * (always for `from === to`).
   */
  /**
   * Whether a message from `from` to `to` gets through now (partitions and cuts). Every
   * send and arrival asks this, so a test may wrap it to shape reachability its own way.
   */
  canReach(from: string, to: string): boolean {
    return this.blockedBy(from, to) === null;
  }

  /** Why a message from `from` to `to` would be lost now by partition or cut; null if it would not. */
  private blockedBy(from: string, to: string): DropReason | null {
    if (from === to) return null;
    if (this.sides !== null && (this.sides.get(from) ?? -1) !== (this.sides.get(to) ?? -1)) return DropReason.partition;
    if (this.cuts.size > 0 && this.cuts.has(`${from}\n${to}`)) return DropReason.cut;
    return null;
  }

  /** A snapshot of the counters. */
  stats(): NetworkStats {
    const dropped = { ...this.droppedCounts };
    let droppedTotal = 0;
    for (const r of DROP_REASONS) droppedTotal += dropped[r];
    return {
      sent: this.sentCount,
      delivered: this.deliveredCount,
      duplicated: this.duplicatedCount,
      dropped,
      droppedTotal,
      inFlight: this.inFlightCount,
    };
  }

  // --- the message path ----------------------------------------------------------

  /** A node's transport sends: decide the message's fate now, from the rng. */
  private sendFrom(node: NodeRecord, to: string, msg: Message): void {
    this.sentCount++;
    const id = ++this.nextId;
    const label = `#${id}`;
    if (!node.isUp) {
      this.onSend?.(node.address, to, msg, null);
      this.inFlightCount++;
      this.lose(DropReason.senderCrashed, node.address, to, label, msg.t);
      return;
    }
    // Encode even messages about to be lost: the codec is exercised on every send, as
    // a real transport encodes before the network loses anything.
    const bytes = this.codec === undefined ? null : this.codec.encode(msg);
    this.onSend?.(node.address, to, msg, bytes);
    const f = this.faultSettings;
    const rng = this.rng;
    const flight: Flight = { label, sender: node, from: node.address, to, type: msg.t, msg, bytes };
    this.inFlightCount++;
    if (to === node.address) {
      this.launch(flight, rng.between(f.delayMinMs, f.delayMaxMs), 'send');
      return;
    }
    if (!this.canReach(node.address, to)) {
      this.lose(this.blockedBy(node.address, to) ?? DropReason.cut, node.address, to, label, msg.t);
      return;
    }
    if (this.dropFilter !== null && this.dropFilter(node.address, to, msg)) {
      this.lose(DropReason.filtered, node.address, to, label, msg.t);
      return;
    }
    if (rng.chance(f.dropProbability)) {
      this.lose(DropReason.random, node.address, to, label, msg.t);
      return;
    }
    const extra = this.linkDelays.size === 0 ? 0 : (this.linkDelays.get(`${node.address}\n${to}`) ?? 0);
    this.launch(flight, this.drawDelay(f) + extra, 'send');
    if (rng.chance(f.duplicateProbability)) {
      this.duplicatedCount++;
      this.inFlightCount++;
      // The copy gets its own buffer: a decoder may return views into it, and two
      // receivers must not share mutable bytes.
      const copy: Flight = { ...flight, label: `${label}'`, bytes: bytes === null ? null : bytes.slice() };
      this.launch(copy, this.drawDelay(f) + extra, 'dup');
    }
  }

  private drawDelay(f: NetworkFaults): number {
    const rng = this.rng;
    let delayMs = rng.between(f.delayMinMs, f.delayMaxMs);
    if (rng.chance(f.reorderProbability)) delayMs += rng.between(1, f.reorderDelayMaxMs);
    return delayMs;
  }

  private launch(flight: Flight, delayMs: number, verb: string): void {
    if (this.onTrace !== undefined) {
      this.trace(`${verb} ${flight.label} ${flight.from}->${flight.to} ${flight.type} +${delayMs}ms`);
    }
    this.scheduler.after(delayMs, () => this.arrive(flight));
  }

  /** The message reaches the destination's machine: deliver, hold or lose it. */
  private arrive(flight: Flight): void {
    const node = this.nodes.get(flight.to);
    if (node === undefined) return this.loseFlight(DropReason.noNode, flight);
    if (!node.isUp) {
      this.refuse(flight);
      return this.loseFlight(DropReason.crashed, flight);
    }
    if (!this.canReach(flight.from, flight.to)) return this.loseFlight(this.blockedBy(flight.from, flight.to) ?? DropReason.cut, flight);
    const willHold = node.clock.isPaused || node.clock.heldCount > 0;
    if (willHold && node.heldMessages >= this.heldMessagesMax) {
      return this.loseFlight(DropReason.bufferFull, flight);
    }
    let held = false;
    const outcome = node.clock.runOrHold(
      () => {
        if (held) node.heldMessages--;
        this.handOver(node, flight);
      },
      () => {
        node.heldMessages--;
        this.loseFlight(DropReason.crashed, flight);
      },
    );
    if (outcome === GateOutcome.held) {
      held = true;
      node.heldMessages++;
      if (this.onTrace !== undefined) {
        this.trace(`hold ${flight.label} ${flight.from}->${flight.to} ${flight.type} (${node.address} paused)`);
      }
    }
  }

  /**
   * The message reached a machine whose process is gone: as TCP refuses a connection
   * there, the sender learns it, the shortest delay later (no randomness is drawn, so
   * runs replay). Not across a partition or a cut of the way back, not to a crashed or replaced sender.
   */
  private refuse(flight: Flight): void {
    const sender = flight.sender;
    if (flight.from === flight.to) return;
    this.scheduler.after(this.faultSettings.delayMinMs, () => {
      if (!sender.isUp || !this.canReach(flight.to, flight.from)) return;
      if (this.onTrace !== undefined) this.trace(`refused ${flight.label} ${flight.to}->${flight.from}`);
      sender.clock.runOrHold(
        () => sender.transport.refused(flight.to),
        () => undefined,
      );
    });
  }

  /** Give the message to the node's transport, decoding it first when there is a codec. */
  private handOver(node: NodeRecord, flight: Flight): void {
    const transport = node.transport;
    if (transport.isClosed) return this.loseFlight(DropReason.closed, flight);
    if (!transport.canReceive) return this.loseFlight(DropReason.noHandler, flight);
    let msg = flight.msg;
    if (this.codec !== undefined && flight.bytes !== null) {
      try {
        msg = this.codec.decode(flight.bytes);
      } catch (err) {
        // A bad frame is a fault, not a crash of the simulation: count it and go on.
        return this.loseFlight(DropReason.decode, flight, errorText(err));
      }
    }
    this.inFlightCount--;
    this.deliveredCount++;
    if (this.onTrace !== undefined) {
      this.trace(`deliver ${flight.label} ${flight.from}->${flight.to} ${msg.t}`);
    }
    // Counted and traced before the handler runs, so that the trace lines of what the
    // handler sends come after the delivery that caused them.
    transport.deliver(flight.from, msg);
  }

  private loseFlight(reason: DropReason, flight: Flight, detail?: string): void {
    this.lose(reason, flight.from, flight.to, flight.label, flight.type, detail);
  }

  private lose(reason: DropReason, from: string, to: string, label: string, type: string, detail?: string): void {
    this.inFlightCount--;
    this.droppedCounts[reason]++;
    if (this.onTrace !== undefined) {
      this.trace(`drop ${label} ${from}->${to} ${type} (${reason}${detail === undefined ? '' : `: ${detail}`})`);
    }
  }

  private traceNode(node: SimNode, what: string): void {
    if (this.onTrace !== undefined) this.trace(`node ${node.address} ${what}`);
  }

  private trace(line: string): void {
    this.onTrace?.(`t=${this.scheduler.now} ${line}`);
  }
}
