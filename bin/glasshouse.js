#!/usr/bin/env node
// The glasshouse command. A plain Node script: it loads the TypeScript sources in this same process
// (no wrapper process), so a signal sent to this pid reaches the server and drains it.
import { register } from 'tsx/esm/api';

register();
const { boundHeapGrowth } = await import('../services/runtime/heap.ts');
boundHeapGrowth();
const { runCli } = await import('../services/cli.ts');
const code = await runCli(process.argv.slice(2));
process.exitCode = code;
