/**
 * A durable group member as a process, for the real-process restart test: it starts
 * an endpoint with `persist` on its data directory, joins group `g`, multicasts each
 * line of standard input (at the default durability, `'majority'`), and prints one
 * JSON line per event: `view` (members), `state` (the list it starts from), `message`
 * (with `restored` when replayed from the log), and `acked` when a multicast's promise
 * resolved. The application state is the list of messages, in order.
 *
 * Usage: node durable-child.js ID PORT SEEDS(comma-separated ports) DATA_DIR
 */
import { createInterface } from 'node:readline';
import { Endpoint } from '../src/index.js';

const [id, port, seeds, dir] = process.argv.slice(2) as [string, string, string, string];
const out = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const enc = new TextEncoder();
const dec = new TextDecoder();
let items: string[] = [];

const ep = await Endpoint.start({
  id,
  listen: `127.0.0.1:${port}`,
  seeds: seeds === '' ? [] : seeds.split(',').map((p) => `127.0.0.1:${p}`),
  persist: { dir },
  heartbeatMs: 50,
  suspectTimeoutMs: 1000,
  startTimeoutMs: 60_000,
  onLog: (line, level) => void process.stderr.write(`${level} ${line}\n`),
});
const group = await ep.join('g', {
  onEvent: (e) => {
    if (e.type === 'view') out({ event: 'view', members: e.view.members });
    else if (e.type === 'state') {
      items = JSON.parse(dec.decode(e.data)) as string[];
      out({ event: 'state', items });
    } else if (e.type === 'message') {
      const data = dec.decode(e.data);
      items.push(data);
      out({ event: 'message', data, count: items.length, ...(e.restored === true ? { restored: true } : {}) });
    }
  },
  checkpoint: () => enc.encode(JSON.stringify(items)),
});
out({ event: 'joined' });
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'items') {
    out({ event: 'items', items });
    continue;
  }
  group.multicast(enc.encode(line)).then(
    () => out({ event: 'acked', data: line }),
    (err: Error) => out({ event: 'not-acked', data: line, error: err.message }),
  );
}
await ep.stop();
