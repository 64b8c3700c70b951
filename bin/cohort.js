#!/usr/bin/env node
// The `cohort` command. The package ships compiled JavaScript (built by `npm pack`, the prepack
// script); in a clone of the repository, `npm run build` (or `npm test`, `npm start`) compiles it.
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
