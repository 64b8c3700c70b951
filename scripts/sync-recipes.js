#!/usr/bin/env node
// Copies every examples/recipes/ file into docs/guide.md, into the code block that
// follows its `<!-- recipe: PATH -->` marker, with imports as a user writes them
// (`cohort-vsync`, `cohort-vsync/sim`, `cohort-vsync/check`). test/docs.test.ts fails
// when the two differ; run this from the repository's root after changing a recipe:
// `node scripts/sync-recipes.js`.
import { readFileSync, writeFileSync } from 'node:fs';

const guide = 'docs/guide.md';
const packageImports = [
  ["'../../src/index.js'", "'cohort-vsync'"],
  ["'../../src/sim/index.js'", "'cohort-vsync/sim'"],
  ["'../../src/check/index.js'", "'cohort-vsync/check'"],
];
const asUserCode = (source) => packageImports.reduce((code, [repo, pkg]) => code.split(`from ${repo}`).join(`from ${pkg}`), source);

const markdown = readFileSync(guide, 'utf8');
let count = 0;
const synced = markdown.replace(/<!-- recipe: (\S+) -->\n```ts\n[\s\S]*?```\n/g, (_, path) => {
  count += 1;
  return `<!-- recipe: ${path} -->\n\`\`\`ts\n${asUserCode(readFileSync(path, 'utf8'))}\`\`\`\n`;
});
writeFileSync(guide, synced);
console.log(`${count} recipe blocks synced into ${guide}`);
