#!/usr/bin/env node
// The `cohort` command. The TypeScript is compiled by `npm install` (the prepare script).
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
