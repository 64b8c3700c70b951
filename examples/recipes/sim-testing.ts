// Testing your own application in the simulator. The application below is an
// account that refuses withdrawals beyond its balance; the test runs four replicas on
// simulated endpoints, under loss, duplication and reordering, with concurrent
// withdrawals, a crash and a restart that takes the state by transfer, and then asks
// one question: do all replicas agree? Every run replays from its seed.
//
// `eager: true` plants a classic bug: the sender applies its own withdrawal when it
// sends it, before the group has ordered it, so replicas decide differently about
// concurrent withdrawals. The simulator finds a seed that shows it.
import type { GroupEvent } from '../../src/index.js';
import { SeededRng, Simulation } from '../../src/sim/index.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The application under test: one replica of an account. */
export class Account {
  balance = 100;
  /** Withdrawals this replica accepted, as `member:amount`, in the order it applied them. */
  accepted: string[] = [];

  constructor(
    private readonly self: string,
    private readonly eager: boolean,
  ) {}

  /** What to multicast to withdraw `amount`. */
  withdraw(amount: number): Uint8Array {
    if (this.eager) this.apply(this.self, amount); // the bug: applied before it is ordered
    return encoder.encode(String(amount));
  }

  onEvent(event: GroupEvent): void {
    if (event.type === 'state' && event.data.length > 0) {
      const state = JSON.parse(decoder.decode(event.data)) as { balance: number; accepted: string[] };
      this.balance = state.balance;
      this.accepted = state.accepted;
    }
    if (event.type === 'message' && !(this.eager && event.sender === this.self)) {
      this.apply(event.sender, Number(decoder.decode(event.data)));
    }
  }

  checkpoint(): Uint8Array {
    return encoder.encode(this.digest());
  }

  /** Everything that must be equal on every replica. */
  digest(): string {
    return JSON.stringify({ balance: this.balance, accepted: this.accepted });
  }

  private apply(member: string, amount: number): void {
    if (amount > this.balance) return; // refused, the same way everywhere (if ordered)
    this.balance -= amount;
    this.accepted.push(`${member}:${amount}`);
  }
}

/** One seeded run; resolves with every live replica's digest. */
export async function runAccounts(seed: number, options: { eager?: boolean } = {}): Promise<Map<string, string>> {
  const sim = new Simulation({ seed, faults: { dropProbability: 0.05, duplicateProbability: 0.02, reorderProbability: 0.1 } });
  const draw = new SeededRng(seed); // the workload comes from the seed too
  const replicas = new Map<string, Account>();
  const join = async (id: string): Promise<void> => {
    const account = new Account(id, options.eager === true);
    replicas.set(id, account);
    const endpoint = sim.endpoint(id);
    await sim.run(endpoint.join('account', { onEvent: (e) => account.onEvent(e), checkpoint: () => account.checkpoint() }));
  };
  const withdraw = (id: string): void => {
    const group = sim.endpoint(id).group('account');
    const data = replicas.get(id)?.withdraw(10 + draw.below(50));
    if (group !== undefined && data !== undefined) group.multicast(data).catch(() => {}); // a crash may cut it off
  };

  const ids = ['a', 'b', 'c', 'd'];
  await sim.startAll(ids);
  for (const id of ids) await join(id);
  for (let round = 0; round < 3; round += 1) {
    for (const id of ids) if (draw.below(2) === 0) withdraw(id); // concurrent, from anyone
    await sim.runFor(draw.below(20));
  }
  sim.crash('d');
  withdraw('a');
  await sim.runFor(3_000); // virtual milliseconds: the crash becomes a view change
  replicas.delete('d');
  await sim.run(sim.open('d', ['a']).ready); // d restarts, a new incarnation
  await join('d'); // and gets the account by state transfer
  withdraw('d');
  withdraw('b');
  await sim.runFor(3_000);
  return new Map([...replicas].map(([id, account]) => [id, account.digest()]));
}

/** The first of `seeds` whose replicas disagree (replay it to debug), or undefined. */
export async function firstDivergentSeed(seeds: Iterable<number>, options: { eager?: boolean } = {}): Promise<number | undefined> {
  for (const seed of seeds) {
    const digests = await runAccounts(seed, options);
    if (new Set(digests.values()).size > 1) return seed;
  }
  return undefined;
}
