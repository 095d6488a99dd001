/**
 * `bertkit embed --queue NAME --redis URL -i corpus.jsonl -o vectors.jsonl`: the corpus runner
 * (src-ts/queue/corpus.ts) behind the embed command. The producer holds no model: the workers do.
 */
import { createJobClient, runCorpus, type CorpusRow } from '../../queue/index.js';
import { POOLING_MODES, type PoolingMode } from '../../pipelines/index.js';
import type { Context, Options } from '../app.js';
import { textOf } from '../inputs.js';
import { floats, type Input } from '../io.js';
import { InputError, UsageError, oneOf, positiveInt } from '../usage.js';
import { QUEUE_OPTIONS } from './worker.js';

export const CORPUS_OPTIONS: Options = {
  ...QUEUE_OPTIONS,
  output: { type: 'string', short: 'o', value: 'FILE', description: 'with --queue: write the results here (resumable)' },
  'chunk-size': { type: 'string', value: 'N', description: 'with --queue: inputs per job (default 64)' },
  'in-flight': { type: 'string', value: 'N', description: 'with --queue: jobs submitted and not yet written (default 16)' },
  attempts: { type: 'string', value: 'N', description: 'with --queue: tries per job before its rows fail (default 3)' },
  backoff: { type: 'string', value: 'MS', description: 'with --queue: first retry delay (default 1000, doubling)' },
  encoding: { type: 'string', value: 'ENC', description: 'with --queue: vectors over the wire, float32 (default) or float16' },
};

const QUEUE_ONLY = ['output', 'chunk-size', 'in-flight', 'attempts', 'backoff', 'encoding', 'prefix'];

/** The queue's options without --queue are a mistake, not something to ignore. */
export function rejectCorpusOptions(ctx: Context): void {
  for (const name of QUEUE_ONLY) if (ctx.str(name) !== undefined) throw new UsageError(`--${name} goes with --queue and --redis`);
}

export async function embedOnQueue(ctx: Context): Promise<void> {
  const queue = ctx.str('queue');
  const redis = ctx.str('redis');
  const output = ctx.str('output');
  if (queue === undefined || redis === undefined) throw new UsageError('--queue and --redis go together');
  if (output === undefined) throw new UsageError('--queue needs -o FILE (the results, resumable after an interruption)');
  if (ctx.str('model') !== undefined) throw new UsageError('with --queue the workers hold the model (bertkit worker -m ...); leave out --model');
  for (const name of ['prompt', 'prompt-name', 'batch-size', 'format']) if (ctx.str(name) !== undefined) throw new UsageError(`--${name} does not go with --queue`);
  // Long texts are cut to the model's length, as `bertkit embed` (and sentence-transformers) does.
  const options: Record<string, unknown> = { truncate: true };
  const pooling = ctx.str('pooling');
  if (pooling !== undefined) {
    const modes = pooling.split(',').map((m) => m.trim());
    for (const m of modes) if (!(POOLING_MODES as readonly string[]).includes(m)) throw new UsageError(`--pooling must be among ${POOLING_MODES.join(', ')}, got ${JSON.stringify(m)}`);
    options.pooling = modes.length === 1 ? (modes[0] as PoolingMode) : (modes as PoolingMode[]);
  }
  if (ctx.flag('normalize') && ctx.flag('no-normalize')) throw new UsageError('--normalize or --no-normalize, not both');
  if (ctx.flag('normalize')) options.normalize = true;
  if (ctx.flag('no-normalize')) options.normalize = false;
  const encoding = oneOf(ctx.str('encoding'), 'encoding', ['float32', 'float16'] as const, 'float32');
  const client = await createJobClient({
    redis,
    queue,
    attempts: positiveInt(ctx.str('attempts'), 'attempts', 3),
    backoffMs: positiveInt(ctx.str('backoff'), 'backoff', 1000),
    ...(ctx.str('prefix') !== undefined ? { prefix: ctx.str('prefix')! } : {}),
  });
  const bar = ctx.progress('embed');
  try {
    const summary = await runCorpus({
      client,
      task: 'embed',
      rows: ctx.inputs() as AsyncIterable<CorpusRow>,
      output,
      chunkSize: positiveInt(ctx.str('chunk-size'), 'chunk-size', 64),
      maxInFlight: positiveInt(ctx.str('in-flight'), 'in-flight', 16),
      options,
      encoding,
      // As the single-process command words it: the line's own error, code ERR_CLI_INPUT.
      toInput: (row) => {
        try {
          return textOf(row as Input);
        } catch (err) {
          const e = new InputError((err as Error).message.replace(`${row.where}: `, ''));
          throw Object.assign(e, { code: 'ERR_CLI_INPUT' });
        }
      },
      record: (_row, text, v) => ({ text, embedding: floats(v as Float32Array) }),
      onProgress: (p) => bar.update(p.rows),
      onError: (e) => ctx.io.stderr.write(`bertkit embed: ${e.where}: ${e.name} (${e.code}): ${e.message}\n`),
    });
    bar.finish();
    ctx.failures = summary.failed;
    ctx.inputsSeen = summary.rows;
    if (!ctx.flag('quiet')) {
      ctx.io.stderr.write(`bertkit embed: ${summary.rows} rows to ${output}${summary.resumed ? ` (${summary.resumed} done before, resumed)` : ''}, ${summary.jobs} jobs\n`);
    }
  } finally {
    bar.finish();
    await client.close();
  }
}
