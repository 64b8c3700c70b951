/**
 * The guide cannot drift from tested code. Goal: every code block of README.md that
 * follows a marker `<!-- recipe: PATH -->` is exactly the file PATH (which
 * test/recipes.test.ts runs), the only difference being that the README imports from
 * the package (`cohort`, `cohort-vsync/sim`) where the file, inside this repository, imports
 * from the sources. Method: read both and compare them, line for line; and check that
 * every recipe file appears in the README. Last, the API reference: typedoc (as
 * `npm run docs` runs it, without writing files) must build without a warning, so an
 * export without TSDoc fails here rather than on a fresh clone.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// Compiled to dist/test/, run from anywhere: the repository is two levels up.
const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(root + path, 'utf8');

/** The import specifiers a recipe uses in the repository, and what a user writes instead. */
const packageImports: ReadonlyArray<readonly [string, string]> = [
  ["'../../src/index.js'", "'cohort-vsync'"],
  ["'../../src/sim/index.js'", "'cohort-vsync/sim'"],
  ["'../../src/check/index.js'", "'cohort-vsync/check'"],
];

/** A recipe file as the README shows it. */
function asUserCode(source: string): string {
  let code = source;
  for (const [repo, pkg] of packageImports) code = code.split(`from ${repo}`).join(`from ${pkg}`);
  return code;
}

/** Every `<!-- recipe: PATH -->` marker of `markdown` and the code block right after it. */
function recipeBlocks(markdown: string): { path: string; code: string }[] {
  const blocks: { path: string; code: string }[] = [];
  const marker = /<!-- recipe: (\S+) -->\n```ts\n([\s\S]*?)```\n/g;
  for (const m of markdown.matchAll(marker)) blocks.push({ path: m[1] ?? '', code: m[2] ?? '' });
  return blocks;
}

test('every recipe block of the README is exactly its tested file', () => {
  const readme = read('README.md');
  const blocks = recipeBlocks(readme);
  const markers = readme.split('<!-- recipe:').length - 1;
  assert.equal(blocks.length, markers, 'a recipe marker is not followed directly by a ```ts block');
  assert.ok(blocks.length >= 4, `only ${blocks.length} recipe blocks in README.md`);
  for (const { path, code } of blocks) {
    const expected = asUserCode(read(path));
    const got = code.split('\n');
    const want = expected.split('\n');
    const first = want.findIndex((line, i) => got[i] !== line);
    const fix = 'run `node scripts/sync-recipes.js` to copy the tested files into README.md';
    assert.equal(first, -1, `README block for ${path} differs from the file at line ${first + 1}:\n  README: ${got[first]}\n  file:   ${want[first]}\n${fix}`);
    assert.equal(code, expected, `README block for ${path} differs from the file; ${fix}`);
  }
});

test('every file in examples/recipes/ is in the README, and imports only the package', () => {
  const shown = new Set(recipeBlocks(read('README.md')).map((b) => b.path));
  const files = readdirSync(root + 'examples/recipes').filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 4);
  for (const f of files) {
    const path = `examples/recipes/${f}`;
    assert.ok(shown.has(path), `${path} has no README block`);
    // A recipe imports the package's entry points (or Node's), nothing internal.
    for (const m of read(path).matchAll(/from '([^']+)'/g)) {
      const spec = m[1] ?? '';
      const allowed = spec.startsWith('node:') || packageImports.some(([repo]) => repo === `'${spec}'`);
      assert.ok(allowed, `${path} imports ${spec}: a user could not`);
    }
  }
});

test('the transformation only touches import specifiers', () => {
  assert.equal(asUserCode("import { Simulation } from '../../src/sim/index.js';"), "import { Simulation } from 'cohort-vsync/sim';");
  assert.equal(asUserCode("const s = '../../src/index.js';"), "const s = '../../src/index.js';");
  assert.deepEqual(recipeBlocks('<!-- recipe: a.ts -->\n```ts\nx\n```\n'), [{ path: 'a.ts', code: 'x\n' }]);
});

test('the API reference builds without warnings (typedoc, every export documented)', { timeout: 180_000 }, () => {
  const bin = root + 'node_modules/typedoc/bin/typedoc';
  const r = spawnSync(process.execPath, [bin, '--emit', 'none'], { cwd: root, encoding: 'utf8', timeout: 170_000 });
  const output = `${r.stdout}${r.stderr}`;
  assert.equal(r.status, 0, `typedoc failed:\n${output}`);
  assert.doesNotMatch(output, /warning|error/i, output);
});
