/**
 * Forward-pass throughput: tokens/s and latency per batch shape, medians over repeats. With no
 * --model it times a BERT-base-shaped model with seeded random weights made in memory, so it needs
 * no download and no network (bench/forward.mjs runs this same code).
 */
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readConfig, type Architecture } from '../../config.js';
import { cpuInfo } from '../../index.js';
import type { BertModel } from '../../model/bert-model.js';
import { headOf, withHead } from '../../model/heads.js';
import { loadModel, type LoadModelOptions } from '../../model/load.js';
import { MODEL_OPTIONS, type Command } from '../app.js';
import { num } from '../io.js';
import { BERT_BASE, createRandomBert, createRandomVariant, VARIANT_BASES, xorshift, type BertShape } from '../random-bert.js';
import { UsageError, positiveInt } from '../usage.js';

export interface BenchShape {
  batch: number;
  seq: number;
}

export interface BenchResult {
  shape: string;
  batch: number;
  seq: number;
  p50_ms: number;
  min_ms: number;
  tokens_per_s: number;
  seq_per_s: number;
  gflops: number;
}

const DTYPE_LABELS: Record<string, string> = { float32: 'fp32', bfloat16: 'bf16', int8: 'int8', float16: 'fp16' };

function parseShapes(text: string): BenchShape[] {
  return text.split(',').map((s) => {
    const m = /^(\d+)x(\d+)$/.exec(s.trim());
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new UsageError(`--shapes takes BATCHxSEQ,... (e.g. 1x128,8x128), got ${JSON.stringify(s)}`);
    return { batch: Number(m[1]), seq: Number(m[2]) };
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Times `model.forward` at each shape (one warm-up, then `repeats` timed runs). */
export async function benchForward(
  model: BertModel,
  shapes: readonly BenchShape[],
  repeats: number,
  onForward: () => void = () => {},
): Promise<BenchResult[]> {
  const c = model.config;
  const rand = xorshift(12345);
  const lo = Math.min(1000, c.vocab_size >> 1);
  const rows = (b: number, l: number) =>
    Array.from({ length: b }, () => {
      const row = new Int32Array(l);
      for (let j = 0; j < l; j++) row[j] = lo + Math.floor(rand() * (c.vocab_size - lo));
      if (c.vocab_size > 102) {
        row[0] = 101;
        if (l > 1) row[l - 1] = 102;
      }
      return row;
    });
  // 2 FLOPs per multiply-add: QKV + output projection + FFN, plus attention scores and context.
  const H = c.hidden_size;
  const I = c.intermediate_size;
  // Layer applications: ALBERT's shared layers count at every depth.
  const flopsPerToken = (L: number) => c.encoder.layerApplications * (2 * (4 * H * H + 2 * H * I) + 4 * L * H);
  const results: BenchResult[] = [];
  for (const { batch: b, seq: l } of shapes) {
    const input = { inputIds: rows(b, l) };
    await model.forward(input); // warm-up: grows the workspace
    onForward();
    const times: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const s = performance.now();
      await model.forward(input);
      times.push(performance.now() - s);
      onForward();
    }
    const ms = median(times);
    results.push({
      shape: `${b}x${l}`,
      batch: b,
      seq: l,
      p50_ms: ms,
      min_ms: Math.min(...times),
      tokens_per_s: ((b * l) / ms) * 1000,
      seq_per_s: (b / ms) * 1000,
      gflops: (flopsPerToken(l) * b * l) / ms / 1e6,
    });
  }
  return results;
}

export const bench: Command = {
  name: 'bench',
  summary: 'time forward passes (a built-in BERT-base-shaped model when no --model is given)',
  usage: [
    'bertkit bench [--model ID|DIR] [--shapes 1x128,8x128] [--repeats 10]',
    '',
    'Without --model: BERT-base shape (12 layers, hidden 768) with seeded random weights made in',
    'memory: nothing to download, runs offline (--model-type roberta, albert, ...: that family\'s',
    'base shape). Reports the median and best latency, tokens/s and GFLOP/s per BATCHxSEQ shape.',
    'Sequences longer than the model allows are shortened to its limit.',
    '',
    'bertkit bench',
    'bertkit bench --model-type xlm-roberta --shapes 8x128',
    'bertkit bench --model google-bert/bert-base-uncased --batch-size 32 --seq-len 64 --json',
  ],
  options: {
    ...MODEL_OPTIONS,
    'batch-size': { type: 'string', short: 'b', value: 'N', description: 'time batches of N (with --seq-len, replaces --shapes)' },
    'seq-len': { type: 'string', value: 'L', description: 'tokens per sequence (default 128)' },
    shapes: { type: 'string', value: 'BxL,...', description: 'shapes to time (default 1x128,8x128)' },
    repeats: { type: 'string', value: 'N', description: 'timed runs per shape (default 10)' },
    layers: { type: 'string', value: 'N', description: 'built-in model: layers (default 12)' },
    hidden: { type: 'string', value: 'N', description: 'built-in model: hidden size (default 768)' },
    heads: { type: 'string', value: 'N', description: 'built-in model: attention heads (default 12)' },
    intermediate: { type: 'string', value: 'N', description: 'built-in model: FFN size (default 3072)' },
    'model-type': { type: 'string', value: 'TYPE', description: `built-in model: its family (${Object.keys(VARIANT_BASES).join(', ')}; default bert), base-sized` },
    json: { type: 'boolean', description: 'print one JSON document' },
  },
  async run(ctx) {
    const repeats = positiveInt(ctx.str('repeats'), 'repeats', 10);
    let shapes: BenchShape[];
    if (ctx.str('batch-size') !== undefined || ctx.str('seq-len') !== undefined) {
      if (ctx.str('shapes') !== undefined) throw new UsageError('give --shapes, or --batch-size / --seq-len, not both');
      shapes = [{ batch: positiveInt(ctx.str('batch-size'), 'batch-size', 8), seq: positiveInt(ctx.str('seq-len'), 'seq-len', 128) }];
    } else {
      shapes = parseShapes(ctx.str('shapes') ?? '1x128,8x128');
    }
    const options: LoadModelOptions = { device: ctx.device(), threads: ctx.threads() ?? 0, dtype: ctx.dtype(), tokenizer: false };

    const modelArg = ctx.str('model');
    let description: string;
    const t0 = performance.now();
    let model: BertModel;
    if (modelArg === undefined) {
      for (const k of ['revision', 'cache-dir', 'token']) if (ctx.str(k) !== undefined) throw new UsageError(`--${k} needs --model`);
      const modelType = ctx.str('model-type') ?? 'bert';
      if (!Object.hasOwn(VARIANT_BASES, modelType)) throw new UsageError(`--model-type takes one of ${Object.keys(VARIANT_BASES).join(', ')}, got ${JSON.stringify(modelType)}`);
      const base = VARIANT_BASES[modelType]!.shape;
      const shape: BertShape = {
        ...base,
        layers: positiveInt(ctx.str('layers'), 'layers', base.layers),
        hidden: positiveInt(ctx.str('hidden'), 'hidden', base.hidden),
        heads: positiveInt(ctx.str('heads'), 'heads', base.heads),
        intermediate: positiveInt(ctx.str('intermediate'), 'intermediate', base.intermediate),
      };
      model = modelType === 'bert' ? await createRandomBert(shape, options) : await createRandomVariant(modelType, shape, options);
      description = `${VARIANT_BASES[modelType]!.name}-base shape (${shape.layers} layers, hidden ${shape.hidden}), random weights`;
    } else {
      for (const k of ['layers', 'hidden', 'heads', 'intermediate', 'model-type']) if (ctx.str(k) !== undefined) throw new UsageError(`--${k} is for the built-in model; not with --model`);
      const dir = await ctx.modelDir();
      const config = await readConfig(join(dir, 'config.json'));
      // Multiple choice takes [B][choices][L]; its encoder is what there is to time.
      const declared = config.architectures?.[0];
      const architecture = declared && headOf(declared) === 'MultipleChoice' ? (withHead(declared, 'base') as Architecture) : undefined;
      model = await loadModel(dir, { ...options, ...(architecture ? { architecture } : {}) });
      description = `${modelArg} (${model.architecture}, ${model.config.num_hidden_layers} layers, hidden ${model.config.hidden_size})`;
    }
    const loadMs = performance.now() - t0;
    const { dtype, dtypeFallbackReason } = model.backend;
    description += `, ${DTYPE_LABELS[dtype] ?? dtype}${dtypeFallbackReason ? ` (${options.dtype} not used: ${dtypeFallbackReason})` : ''}`;
    try {
      const limit = model.config.max_position_embeddings;
      shapes = shapes.map((s) => ({ batch: s.batch, seq: Math.min(s.seq, limit) }));
      const bar = ctx.progress('bench');
      let done = 0;
      const total = shapes.length * (repeats + 1);
      const results = await benchForward(model, shapes, repeats, () => bar.update(++done, total));
      bar.finish();
      const info = cpuInfo();
      const summary = {
        date: new Date().toISOString(),
        cpu: os.cpus()[0]?.model,
        cores: info.cores,
        isa: model.backend.isa,
        threads: model.backend.threads,
        node: process.version,
        dtype,
        model: description,
        load_ms: Math.round(loadMs),
        results,
      };
      const out = ctx.io.stdout;
      if (ctx.flag('json')) {
        out.write(`${JSON.stringify(summary, null, 2)}\n`);
        return;
      }
      out.write(`${summary.model}; ${summary.cpu}, ${summary.threads} threads, kernels ${summary.isa}; load ${summary.load_ms} ms\n`);
      out.write('shape     p50 ms    min ms   tokens/s    seq/s   GFLOP/s\n');
      for (const r of results) {
        out.write(
          `${r.shape.padEnd(8)} ${r.p50_ms.toFixed(1).padStart(8)} ${r.min_ms.toFixed(1).padStart(9)} ${r.tokens_per_s.toFixed(0).padStart(10)} ${r.seq_per_s.toFixed(2).padStart(8)} ${num(r.gflops, 0).padStart(9)}\n`,
        );
      }
    } finally {
      await model.dispose();
    }
  },
};
