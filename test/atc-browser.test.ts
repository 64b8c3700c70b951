/**
 * The ATC web demo end to end, in a real browser: `npm start`'s supervisor with three
 * controller processes, and Debian's chromium driven by playwright-core.
 *
 * Goal: what a person sees on the pages is the replicated sector. Method: file a
 * flight plan on ctl-1's page and wait until ctl-2's page lists it; add a controller
 * from a page and wait until the new page shows the same sector (the same stream
 * digest at the same count as the others); crash ctl-2 (SIGKILL by the supervisor)
 * from ctl-1's page and wait until the survivors' pages show the agreed view without
 * it and its aircraft taken over; then compare the digests on every live page: every
 * count two pages both showed must have the same digest there, and the pages must
 * come to show the same count, digest and sector digest at once. Every wait is on page
 * content with a deadline, never a fixed sleep. Screenshots of each step go to
 * artifacts/atc/. Without chromium the test is skipped, saying why; under CI it fails.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { Demo, assertGone } from './atc-demo.js';

// The callbacks given to page.evaluate and page.waitForFunction run in the page; the
// project compiles without the DOM library, so this is the little of it they use.
interface PageElement {
  readonly textContent: string | null;
}
declare const document: {
  getElementById(id: string): PageElement | null;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
};
declare const window: unknown;

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const artifacts = join(root, 'artifacts', 'atc');
const chromiumPath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const haveChromium = existsSync(chromiumPath);
const inCi = process.env['CI'] !== undefined && process.env['CI'] !== '' && process.env['CI'] !== 'false';
const waitMs = 20_000;

const why = haveChromium ? undefined : `no chromium at ${chromiumPath} (apt-get install chromium, or set CHROMIUM_PATH)`;
if (why !== undefined) {
  if (inCi) throw new Error(`atc-browser: ${why}; CI must run this test`);
  console.log(`# atc-browser skipped: ${why}`);
}

interface Shown {
  count: number;
  digest: string;
  sectorDigest: string;
  members: string[];
  digests: [number, string][];
}

/** What a page shows: the numbers on screen, and the [count, digest] pairs it has displayed. */
async function shown(page: Page): Promise<Shown> {
  return page.evaluate(() => {
    const w = window as unknown as { atc: { snapshot: { members: string[]; digest: string; sectorDigest: string } | null; digests: Map<number, string> } };
    const text = (id: string): string => document.getElementById(id)?.textContent ?? '';
    return {
      count: Number(text('count')),
      digest: w.atc.snapshot?.digest ?? '',
      sectorDigest: w.atc.snapshot?.sectorDigest ?? '',
      members: w.atc.snapshot?.members ?? [],
      digests: [...w.atc.digests.entries()],
    };
  });
}

/** Every count that two pages both showed has the same digest on both. Returns how many counts were compared. */
function assertSameDigests(views: Map<string, Shown>): number {
  const byCount = new Map<number, { digest: string; who: string }>();
  let compared = 0;
  for (const [who, s] of views) {
    for (const [count, digest] of s.digests) {
      const seen = byCount.get(count);
      if (seen === undefined) {
        byCount.set(count, { digest, who });
        continue;
      }
      compared += 1;
      assert.equal(digest, seen.digest, `at count ${count}, ${who} shows digest ${digest} but ${seen.who} shows ${seen.digest}`);
    }
  }
  return compared;
}

/** Polls the pages until they show the same count, stream digest and sector digest at once. */
async function converged(pages: Map<string, Page>, timeoutMs: number): Promise<Shown> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (let i = 0; Date.now() < deadline && i < 10_000; i++) {
    const views = new Map<string, Shown>();
    for (const [who, p] of pages) views.set(who, await shown(p));
    assertSameDigests(views);
    const all = [...views.values()];
    const first = all[0]!;
    if (all.every((s) => s.count === first.count && s.digest === first.digest && s.sectorDigest === first.sectorDigest && s.count > 0)) return first;
    last = [...views].map(([w, s]) => `${w}: ${s.count} ${s.digest.slice(0, 12)} ${s.sectorDigest.slice(0, 12)}`).join('; ');
    // The radar applies an update every 500 ms: try again on the next animation frame of the first page.
    await pages.values().next().value!.waitForFunction((c) => Number(document.getElementById('count')?.textContent) !== c, first.count, { timeout: 2000 }).catch(() => undefined);
  }
  throw new Error(`pages did not converge within ${timeoutMs} ms: ${last}`);
}

/** Waits until `fn` is true in the page; on a timeout, says what was awaited and what the page showed. */
async function until(page: Page, what: string, fn: () => boolean, timeoutMs = waitMs): Promise<void> {
  try {
    await page.waitForFunction(fn, undefined, { timeout: timeoutMs });
  } catch (err) {
    const s = await shown(page).catch(() => null);
    throw new Error(`${what}: not within ${timeoutMs} ms (page shows count ${s?.count}, members ${s?.members.join(' ')}): ${(err as Error).message}`);
  }
}

describe('ATC web demo in a browser', { skip: why ?? false, timeout: 180_000 }, () => {
  let demo: Demo | null = null;
  let browser: Browser | null = null;
  const pages = new Map<string, Page>();
  let step = 0;

  const shot = async (name: string, who: readonly string[]): Promise<void> => {
    step += 1;
    for (const w of who) await pages.get(w)!.screenshot({ path: join(artifacts, `${String(step).padStart(2, '0')}-${name}-${w}.png`) });
  };

  const open = async (id: string): Promise<Page> => {
    const url = demo!.urls.get(id);
    assert.ok(url !== undefined, `the supervisor printed no address for ${id}`);
    const page = await browser!.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(url);
    await until(page, `${id}'s page shows it a member`, () => document.getElementById('status')?.textContent === 'member');
    pages.set(id, page);
    return page;
  };

  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    demo = new Demo(['--controllers', '3']);
    await demo.urlsFor(3, 60_000);
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    const code = await demo?.stop();
    // Ctrl-C is a clean stop: the supervisor exits 0 once every controller is gone.
    if (demo !== null) {
      assert.equal(code, 0, `the supervisor exited ${code} on SIGINT:\n${demo.output.join('\n')}`);
      assertGone(demo.pids);
    }
  });

  it('shows one sector on every page through a new flight plan, a new controller and a crash', async () => {
    const p1 = await open('ctl-1');
    const p2 = await open('ctl-2');
    for (const p of [p1, p2]) await until(p, 'a view of three', () => (window as unknown as { atc: { snapshot: { members: string[] } } }).atc.snapshot.members.length === 3);
    await shot('start', ['ctl-1', 'ctl-2']);

    // A flight plan filed on ctl-1's page appears on ctl-2's, owned by ctl-1.
    await p1.fill('#callsign', 'TST123');
    await p1.selectOption('#route', 'LFPO-LIRF');
    await p1.fill('#level', '370');
    await p1.click('#plan-form button[type=submit]');
    const row = p2.locator('#plans tr[data-callsign="TST123"]');
    await row.waitFor({ timeout: waitMs });
    assert.equal(await row.locator('td.owner').textContent(), 'ctl-1');
    assert.match((await row.textContent()) ?? '', /LFPO-LIRF/);
    assert.equal(await row.locator('td.level input').inputValue(), '370');
    await shot('flight-plan', ['ctl-1', 'ctl-2']);

    // A controller added from ctl-2's page joins and shows the same sector.
    await p2.click('#add');
    await p2.locator('#controllers tr[data-controller="ctl-4"] a').waitFor({ timeout: 40_000 });
    await demo!.urlsFor(4, waitMs);
    const p4 = await open('ctl-4');
    await p4.locator('#plans tr[data-callsign="TST123"]').waitFor({ timeout: waitMs });
    await until(p4, "ctl-4's timeline shows it joined", () => [...document.querySelectorAll('#timeline li .joined')].some((e) => e.textContent?.includes('ctl-4') === true));
    const joined = await converged(pages, waitMs);
    // The first three joined the group in any order; the one added is the newest member.
    assert.deepEqual([...joined.members].sort(), ['ctl-1', 'ctl-2', 'ctl-3', 'ctl-4']);
    assert.equal(joined.members[3], 'ctl-4');
    await shot('added', ['ctl-2', 'ctl-4']);

    // ctl-2 owns aircraft now (the radar spreads generated traffic over the members); make sure with a claim.
    await p2.locator('#plans tr[data-callsign="TST123"] button', { hasText: 'Claim' }).click();
    await until(p1, 'TST123 claimed by ctl-2', () => document.querySelector('#plans tr[data-callsign="TST123"] td.owner')?.textContent === 'ctl-2');

    // Crash ctl-2 from ctl-1's page: the survivors show the agreed view without it and take over its aircraft.
    await p1.locator('#controllers tr[data-controller="ctl-2"] button[data-action="crash"]').click();
    for (const p of [p1, p4]) {
      await until(
        p,
        'the view without ctl-2, its aircraft taken over',
        () => {
          const s = (window as unknown as { atc: { snapshot: { members: string[]; aircraft: { owner: string }[] } } }).atc.snapshot;
          const failed = [...document.querySelectorAll('#timeline li .failed')].some((e) => e.textContent?.includes('ctl-2'));
          return failed && !s.members.includes('ctl-2') && s.aircraft.every((a) => a.owner !== 'ctl-2');
        },
      );
    }
    const owner = await p4.locator('#plans tr[data-callsign="TST123"] td.owner').textContent();
    assert.ok(owner === 'ctl-1' || owner === 'ctl-3' || owner === 'ctl-4', `TST123 taken over by a survivor, not ${owner}`);
    await until(p2, "ctl-2's page shows it offline", () => document.getElementById('status')?.textContent === 'offline');
    await shot('crashed', ['ctl-1', 'ctl-2', 'ctl-4']);
    pages.delete('ctl-2');

    // Every live controller's page: ctl-1, ctl-3 (opened only now) and ctl-4.
    await open('ctl-3');
    const final = await converged(pages, waitMs);
    assert.deepEqual([...final.members].sort(), ['ctl-1', 'ctl-3', 'ctl-4']);
    const views = new Map<string, Shown>();
    for (const [who, p] of pages) views.set(who, await shown(p));
    assert.ok(assertSameDigests(views) > 0, 'the pages showed counts in common');
    await shot('digests', ['ctl-1', 'ctl-3', 'ctl-4']);
  });
});
