/**
 * `npm run sim -- --seeds N [--from S]` soaks the protocol with N seeded fault
 * scenarios; `npm run sim -- --seed S` replays one with a readable trace. A failing
 * run prints its seed and the violations, and the command exits 1.
 */
import { parseArgs } from 'node:util';
import { formatViolations } from '../check/checker.js';
import { ScenarioProfile, runScenario } from '../sim/scenario.js';
import type { ScenarioProfile as Profile } from '../sim/scenario.js';

const usage = `usage: npm run sim -- --seeds N [--from S] [--profile mixed|crashes]
       npm run sim -- --seed S [--quiet] [--profile mixed|crashes]`;

async function main(): Promise<number> {
  let values: { seeds?: string; from?: string; seed?: string; quiet?: boolean; profile?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        seeds: { type: 'string' },
        from: { type: 'string' },
        seed: { type: 'string' },
        profile: { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`sim: ${(err as Error).message.split('\n')[0]} (try --help)`);
    return 2;
  }
  if (values.help === true) {
    console.log(usage);
    return 0;
  }
  const int = (name: string, v: string | undefined, fallback: number): number => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`);
    return n;
  };
  let profile: Profile | undefined;
  if (values.profile !== undefined) {
    if (values.profile !== ScenarioProfile.mixed && values.profile !== ScenarioProfile.crashes) {
      console.error('sim: --profile must be mixed or crashes (try --help)');
      return 2;
    }
    profile = values.profile;
  }
  try {
    if (values.seed !== undefined) {
      const seed = int('seed', values.seed, 0);
      const r = await runScenario({
        seed,
        ...(profile === undefined ? {} : { profile }),
        ...(values.quiet === true ? {} : { trace: (line: string) => console.log(line) }),
      });
      console.log(`${r.shape}: ${r.events} events, ${r.virtualMs} virtual ms, ${r.delivered} deliveries`);
      if (r.violations.length > 0) {
        console.log(`FAILED seed ${seed}\n${formatViolations(r.violations)}`);
        return 1;
      }
      console.log(`ok seed ${seed}`);
      return 0;
    }
    const count = int('seeds', values.seeds, 100);
    const from = int('from', values.from, 1);
    const started = performance.now();
    let failed = 0;
    let maxState = 0;
    let liveness = 0;
    const detect: number[] = [];
    for (let seed = from; seed < from + count; seed++) {
      const r = await runScenario({ seed, ...(profile === undefined ? {} : { profile }) });
      maxState = Math.max(maxState, r.maxStateBytes);
      if (r.livenessChecked) liveness += 1;
      if (r.profile === ScenarioProfile.crashes) detect.push(...r.crashToViewMs);
      if (r.violations.length > 0) {
        failed += 1;
        console.log(`FAILED seed ${seed} (${r.shape}); replay: npm run sim -- --seed ${seed}\n${formatViolations(r.violations.slice(0, 5))}`);
      }
    }
    const secs = (performance.now() - started) / 1000;
    detect.sort((a, b) => a - b);
    const at = (p: number): number | string => detect[Math.min(detect.length - 1, Math.floor(p * detect.length))] ?? '-';
    console.log(
      `runs: ${count} in ${secs.toFixed(1)} s (${(count / secs).toFixed(1)} runs/s on one core); liveness judged in ${liveness}; ` +
        `largest state transferred ${maxState} B; crash-only runs, crash to agreed view (virtual ms, suspicion timeout 1000): ` +
        `median ${at(0.5)}, p99 ${at(0.99)}, max ${detect[detect.length - 1] ?? '-'} over ${detect.length} crashes`,
    );
    console.log(`${count - failed} passed, ${failed} failed`);
    return failed === 0 ? 0 : 1;
  } catch (err) {
    console.error(`sim: ${(err as Error).message.split('\n')[0]}`);
    return 2;
  }
}

process.exitCode = await main();
