/**
 * The documentation cannot drift from the code. Goals:
 *
 * - every code block of docs/guide.md that follows a marker `<!-- recipe: PATH -->` is
 *   exactly the file PATH (which test/recipes.test.ts runs), the only difference being
 *   that the guide imports from the package (`cohort-vsync`, `cohort-vsync/sim`) where
 *   the file, inside this repository, imports from the sources; and every recipe file
 *   is in the guide;
 * - in README.md and every docs/*.md: every ```ts block type-checks against the
 *   package as a user installs it, every ```json block parses, every `npm run X` names
 *   a script of package.json and every `node PATH` of a ```sh block names a file that
 *   exists; every relative link resolves to a file of the repository, and to one of its
 *   headings where it names an anchor; no page names SPEC.md, DESIGN.md or ../shared
 *   (files users do not have);
 * - the README stays a front page: the two commands first, at most 250 lines;
 * - the API reference (typedoc, as `npm run docs` runs it, without writing files)
 *   builds without a warning, so an export without TSDoc fails here rather than on a
 *   fresh clone.
 *
 * Method: read the files and compare; the ```ts blocks are written to a temporary
 * directory (removed even on failure) whose node_modules/cohort-vsync links to this
 * repository, and compiled there by tsc with the project's strict options, so imports
 * resolve through package.json's exports to the built declarations, as a user's would.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// Compiled to dist/test/, run from anywhere: the repository is two levels up.
const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(root + path, 'utf8');

/** The pages checked: the README and every page of docs/. */
const pages: readonly string[] = [
  'README.md',
  ...readdirSync(root + 'docs')
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];

/**
 * Scripts a page may name before they exist on this branch.
 * `bench:peers`: added by the peers' benchmark branch.
 */
// ---------------------------------------------------------------------------------
// Recipes

/** The import specifiers a recipe uses in the repository, and what a user writes instead. */
const packageImports: ReadonlyArray<readonly [string, string]> = [
  ["'../../src/index.js'", "'cohort-vsync'"],
  ["'../../src/sim/index.js'", "'cohort-vsync/sim'"],
  ["'../../src/check/index.js'", "'cohort-vsync/check'"],
];

/** The page that shows the recipes (scripts/sync-recipes.js writes into it). */
const recipePage = 'docs/guide.md';

/** A recipe file as the guide shows it. */
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

test('every recipe block of the guide is exactly its tested file', () => {
  const guide = read(recipePage);
  const blocks = recipeBlocks(guide);
  const markers = guide.split('<!-- recipe:').length - 1;
  assert.equal(blocks.length, markers, 'a recipe marker is not followed directly by a ```ts block');
  assert.ok(blocks.length >= 4, `only ${blocks.length} recipe blocks in ${recipePage}`);
  for (const { path, code } of blocks) {
    const expected = asUserCode(read(path));
    const got = code.split('\n');
    const want = expected.split('\n');
    const first = want.findIndex((line, i) => got[i] !== line);
    const fix = `run \`node scripts/sync-recipes.js\` to copy the tested files into ${recipePage}`;
    assert.equal(first, -1, `${recipePage} block for ${path} differs from the file at line ${first + 1}:\n  guide: ${got[first]}\n  file:  ${want[first]}\n${fix}`);
    assert.equal(code, expected, `${recipePage} block for ${path} differs from the file; ${fix}`);
  }
});

test('every file in examples/recipes/ is in the guide, and imports only the package', () => {
  const shown = new Set(recipeBlocks(read(recipePage)).map((b) => b.path));
  const files = readdirSync(root + 'examples/recipes').filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 4);
  for (const f of files) {
    const path = `examples/recipes/${f}`;
    assert.ok(shown.has(path), `${path} has no block in ${recipePage}`);
    // A recipe imports the package's entry points (or Node's), nothing internal.
    for (const m of read(path).matchAll(/from '([^']+)'/g)) {
      const spec = m[1] ?? '';
      const allowed = spec.startsWith('node:') || packageImports.some(([repo]) => repo === `'${spec}'`);
      assert.ok(allowed, `${path} imports ${spec}: a user could not`);
    }
  }
  // Only the guide carries recipe markers: a marker elsewhere would not be synced.
  for (const page of pages) if (page !== recipePage) assert.ok(!read(page).includes('<!-- recipe:'), `${page} has a recipe marker; recipes live in ${recipePage}`);
});

test('the transformation only touches import specifiers', () => {
  assert.equal(asUserCode("import { Simulation } from '../../src/sim/index.js';"), "import { Simulation } from 'cohort-vsync/sim';");
  assert.equal(asUserCode("const s = '../../src/index.js';"), "const s = '../../src/index.js';");
  assert.deepEqual(recipeBlocks('<!-- recipe: a.ts -->\n```ts\nx\n```\n'), [{ path: 'a.ts', code: 'x\n' }]);
});

// ---------------------------------------------------------------------------------
// Code blocks and links of every page

/** A fenced code block: its language, its text, and the line of its opening fence. */
interface CodeBlock {
  readonly lang: string;
  readonly code: string;
  readonly line: number;
}

/** The fenced code blocks of `markdown`, and its prose (every line outside them). */
function parseMarkdown(markdown: string): { blocks: CodeBlock[]; prose: { text: string; line: number }[] } {
  const blocks: CodeBlock[] = [];
  const prose: { text: string; line: number }[] = [];
  const lines = markdown.split('\n');
  let open: { lang: string; line: number; body: string[] } | null = null;
  lines.forEach((text, i) => {
    const fence = /^```(\S*)\s*$/.exec(text);
    if (open === null && fence !== null) open = { lang: fence[1] ?? '', line: i + 1, body: [] };
    else if (open !== null && text.trimEnd() === '```') {
      blocks.push({ lang: open.lang, code: open.body.join('\n') + '\n', line: open.line });
      open = null;
    } else if (open !== null) open.body.push(text);
    else prose.push({ text, line: i + 1 });
  });
  assert.equal(open, null, 'a code block is never closed');
  return { blocks, prose };
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  const text = heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1') // a link: its text
    .replace(/[`*]/g, ''); // code and emphasis marks
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a page's headings, with GitHub's `-1`, `-2` for repeated ones. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of parseMarkdown(markdown).prose) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (m === null) continue;
    const base = slug(m[1] ?? '');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Prose without inline code spans (a link inside backticks is not a link); lines kept. */
const withoutCodeSpans = (text: string): string => text.replace(/`[^`]*`/g, (span) => `\`\`${span.replace(/[^\n]/g, '')}`);

/**
 * What is wrong with the relative links of `page` (a path from the repository's root)
 * whose text is `markdown`: a target outside the repository, a file that does not
 * exist, an anchor that is no heading of its page. Links with a scheme are not checked.
 */
function linkProblems(page: string, markdown: string): string[] {
  const problems: string[] = [];
  // The prose as one text (a link may wrap), code blocks as empty lines, so that an
  // offset still tells the line.
  const { prose } = parseMarkdown(markdown);
  const lines: string[] = [];
  for (const { text, line } of prose) lines[line - 1] = text;
  const text = withoutCodeSpans(Array.from(lines, (l) => l ?? '').join('\n'));
  for (const m of text.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1] ?? '';
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
    const line = text.slice(0, (m.index ?? 0) + m[0].length).split('\n').length;
    const where = `${page}:${line}: link ${target}`;
    const [pathPart = '', anchor] = target.split('#', 2);
    const file = pathPart === '' ? page : normalize(join(dirname(page), decodeURIComponent(pathPart)));
    if (file.startsWith('..') || relative(root, join(root, file)).startsWith('..')) {
      problems.push(`${where}: outside the repository`);
      continue;
    }
    if (pathPart !== '' && !existsSync(root + file)) {
      problems.push(`${where}: no file ${file}`);
      continue;
    }
    if (anchor === undefined) continue;
    if (!file.endsWith('.md') || (pathPart !== '' && statSync(root + file).isDirectory())) {
      problems.push(`${where}: an anchor into ${file}, which is no markdown page`);
      continue;
    }
    const anchors = anchorsOf(file === page ? markdown : read(file));
    if (!anchors.has(anchor)) problems.push(`${where}: no heading #${anchor} in ${file}`);
  }
  return problems;
}

/** The `npm run` scripts that `text` names (also `npm start` and `npm test`). */
function scriptsNamed(text: string): string[] {
  const names = [...text.matchAll(/\bnpm run ([\w:.-]+)/g)].map((m) => m[1] ?? '');
  for (const m of text.matchAll(/\bnpm (start|test)\b/g)) names.push(m[1] ?? '');
  return names;
}

test('the checks of links and anchors catch what is broken', () => {
  // A broken file, a broken anchor, a file outside the repository: each one found.
  const broken = ['[a](missing.md)', '[b](guide.md#no-such-heading)', '[c](../../shared/SPEC.md)', '[d](#nowhere)', '![e](atc-missing.png)'].join('\n');
  assert.equal(linkProblems('docs/x.md', broken).length, 5, linkProblems('docs/x.md', broken).join('\n'));
  // Links that resolve pass, and links in code are not links.
  const fine = ['# Top', '[a](guide.md)', '[wrapped\nlink](guide.md#recipes)', '[b](guide.md#recipes)', '[c](../README.md#performance)', '[d](#top)', '![e](atc.png)', '`[f](missing.md)`', '[g](https://example.com/x)'].join('\n');
  assert.deepEqual(linkProblems('docs/x.md', fine), []);
  assert.deepEqual(linkProblems('docs/x.md', '```\n[a](missing.md)\n```\n'), []);
  assert.deepEqual(linkProblems('docs/x.md', 'a\n```\nx\n```\n[a\nb](missing.md)'), ['docs/x.md:6: link missing.md: no file docs/missing.md']);
  // GitHub's anchors.
  assert.equal(slug('Options (`Endpoint.start`)'), 'options-endpointstart');
  assert.equal(slug('View change = single-decree Paxos per epoch'), 'view-change--single-decree-paxos-per-epoch');
  assert.equal(slug('G7 liveness and self-delivery'), 'g7-liveness-and-self-delivery');
  assert.deepEqual([...anchorsOf('# A\n## A\n```\n# not a heading\n```\n')], ['a', 'a-1']);
  assert.deepEqual(scriptsNamed('npm run bench:matrix -- --peers && npm start; npm run sim'), ['bench:matrix', 'sim', 'start']);
});

test('every relative link of the README and docs/ resolves to a file, and to a heading where it names one', () => {
  assert.ok(pages.length >= 7, `only ${pages.length} pages`);
  const problems = pages.flatMap((page) => linkProblems(page, read(page)));
  assert.deepEqual(problems, []);
});

test('no page names files that users do not have (SPEC.md, DESIGN.md, ../shared)', () => {
  for (const page of pages) {
    const text = read(page);
    for (const name of ['SPEC.md', 'DESIGN.md', '../shared', 'shared/peers']) assert.ok(!text.includes(name), `${page} names ${name}`);
  }
});

test('the README is a front page: the two commands first, at most 250 lines', () => {
  const readme = read('README.md');
  const lines = readme.split('\n');
  assert.ok(lines.length <= 251, `README.md has ${lines.length} lines; the rest belongs in docs/`);
  const first = parseMarkdown(readme).blocks[0];
  assert.ok(first !== undefined && first.line <= 5, 'the README does not start with its commands');
  assert.match(first.code, /^npm install && npm start\b/m);
  assert.match(first.code, /^npm install && npm test\b/m);
});

test('every npm script and node file that the pages name exists', () => {
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  const problems: string[] = [];
  for (const page of pages) {
    const { blocks, prose } = parseMarkdown(read(page));
    // `npm run X` in prose (inline code) and in shell blocks alike.
    const texts = [...prose.map((p) => ({ text: p.text, line: p.line })), ...blocks.filter((b) => b.lang === 'sh').map((b) => ({ text: b.code, line: b.line }))];
    for (const { text, line } of texts) {
      for (const name of scriptsNamed(text)) {
        if (pkg.scripts[name] === undefined) problems.push(`${page}:${line}: npm run ${name}: no such script in package.json`);
      }
    }
    for (const block of blocks.filter((b) => b.lang === 'sh')) {
      for (const m of block.code.matchAll(/(?:^|[\s;&|(])node\s+([\w./-]+\.(?:js|mjs|cjs|ts))\b/g)) {
        const path = m[1] ?? '';
        if (path.startsWith('/')) continue; // a path of the user's machine, not of the repository
        if (!existsSync(root + normalize(path))) problems.push(`${page}:${block.line}: node ${path}: no such file`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

test('every ```json block of the pages parses', () => {
  let count = 0;
  for (const page of pages) {
    for (const block of parseMarkdown(read(page)).blocks.filter((b) => b.lang === 'json')) {
      count += 1;
      assert.doesNotThrow(() => JSON.parse(block.code), `${page}:${block.line}: a json block does not parse`);
    }
  }
  assert.ok(count >= 1, 'no json block checked');
});

test('every ```ts block of the pages type-checks against the package', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-docs-'));
  try {
    // The package as a user's project sees it: node_modules/cohort-vsync is this repository.
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(root, join(dir, 'node_modules', 'cohort-vsync'), 'dir');
    symlinkSync(join(root, 'node_modules', '@types'), join(dir, 'node_modules', '@types'), 'dir');
    const files: string[] = [];
    for (const page of pages) {
      for (const block of parseMarkdown(read(page)).blocks.filter((b) => b.lang === 'ts')) {
        // One module per block (.mts: an ES module, so top-level await is allowed).
        const name = `${page.replace(/[/.]/g, '_')}_line${block.line}.mts`;
        const isModule = /^\s*(import|export)\s/m.test(block.code);
        writeFileSync(join(dir, name), isModule ? block.code : `${block.code}export {};\n`);
        files.push(name);
      }
    }
    assert.ok(files.length >= 10, `only ${files.length} ts blocks`);
    const compilerOptions = {
      target: 'ES2022',
      module: 'nodenext',
      moduleResolution: 'nodenext',
      lib: ['ES2022'],
      types: ['node'],
      strict: true,
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
      noFallthroughCasesInSwitch: true,
      noImplicitOverride: true,
      noImplicitReturns: true,
      verbatimModuleSyntax: true,
      skipLibCheck: true,
      noEmit: true,
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files }));
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', dir], { cwd: dir, encoding: 'utf8', timeout: 110_000 });
    // File names say where each block is: docs_guide_md_line12.mts(3,5) is docs/guide.md, the block at line 12.
    assert.equal(r.status, 0, `ts blocks do not type-check:\n${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the API reference builds without warnings (typedoc, every export documented)', { timeout: 180_000 }, () => {
  const bin = root + 'node_modules/typedoc/bin/typedoc';
  const r = spawnSync(process.execPath, [bin, '--emit', 'none'], { cwd: root, encoding: 'utf8', timeout: 170_000 });
  const output = `${r.stdout}${r.stderr}`;
  assert.equal(r.status, 0, `typedoc failed:\n${output}`);
  assert.doesNotMatch(output, /warning|error/i, output);
});
