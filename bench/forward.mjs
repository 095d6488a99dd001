#!/usr/bin/env node
// Forward-pass throughput of a BERT-base-shaped model (random weights made in memory, so no
// download and no files): tokens/s and latency at batch 1 and 8 x seq 128 (and whatever
// --shapes asks for). Medians over repeats; run on a quiet machine and compare ratios, not
// single numbers.
//
//   node bench/forward.mjs [--threads N] [--repeats N] [--shapes 1x128,8x128] [--layers 12]
//                          [--hidden 768] [--heads 12] [--intermediate 3072] [--json]
//
// This is `bertkit bench` (src-ts/cli/commands/bench.ts, with the model generator in
// src-ts/cli/random-bert.ts), run from dist/: `npm run build:ts` first. It also takes --model.
import { runCli } from '../dist/cli/app.js';
import { bench } from '../dist/cli/commands/bench.js';

process.exitCode = await runCli(['bench', ...process.argv.slice(2)], [bench], {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
});
