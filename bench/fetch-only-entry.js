#!/usr/bin/env node
// The `modelctl` CLI with only the fetch command registered: what `modelctl fetch` would cost if the other
// commands loaded their roles lazily. Used by bench/fetch-cache-hit.js as its second figure.
import { Command } from 'commander';
import { registerFetchCommand } from '../dist/cli/commands/fetch.js';

const program = new Command('modelctl');
registerFetchCommand(program);
await program.parseAsync(process.argv);
