#!/usr/bin/env node
/** The `bertkit` executable (package.json "bin"): `bertkit <command> [options] [inputs...]`. */
import { runCli } from './app.js';
import { commands } from './commands/index.js';

// A reader that goes away (`bertkit embed ... | head`) ends the run quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

process.exitCode = await runCli(process.argv.slice(2), commands, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
