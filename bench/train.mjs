#!/usr/bin/env node
// Training throughput: bertkit's training engine against PyTorch on the CPU, same weights, same
// batches, same optimizer (AdamW, Trainer-style no-decay groups, linear schedule, clipping at 1.0,
// dropout 0.1 in train mode), same thread count, alternating rounds in one run. Then a small
// BERT pre-trained with MLM + NSP on a generated corpus, showing the MLM loss fall.
//
//   npm run build:ts && node bench/train.mjs [--threads 2] [--steps 1] [--rounds 6]
//       [--only small,base] [--shapes full,ragged] [--head seqcls|tokcls]
//       [--python /tmp/hfref/bin/python] [--no-torch] [--pretrain-steps 300] [--no-pretrain] [--json]
//
// --head: the task head trained. seqcls (BertForSequenceClassification, the default) reads one
// row per sequence, so bertkit's last layer runs its queries and FFN on those rows only; tokcls
// (BertForTokenClassification, a label on every real token) needs every row of every layer.
//
// PyTorch (torch + transformers, offline wheels) runs in a child process; each contender runs in
// its own process so that its peak RSS is its own. Timings are medians of per-step wall times.
// This machine is shared and noisy: compare the ratios of one run, not numbers across runs.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = fileURLToPath(import.meta.url);
const { values: args } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '6' },
    only: { type: 'string', default: 'small,base' },
    shapes: { type: 'string', default: 'full,ragged' },
    head: { type: 'string', default: 'seqcls' },
    python: { type: 'string', default: process.env.BERTKIT_PYTHON ?? '/tmp/hfref/bin/python' },
    'no-torch': { type: 'boolean', default: false },
    'pretrain-steps': { type: 'string', default: '300' },
    'no-pretrain': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    serve: { type: 'string' }, // internal: run the bertkit side as a child process
  },
});

const MODELS = {
  small: { layers: 4, hidden: 256, heads: 4, intermediate: 1024 },
  base: { layers: 12, hidden: 768, heads: 12, intermediate: 3072 },
};
const B = 8;
const L = 128;
const VOCAB = 30522;
const OPT = { learningRate: 2e-5, weightDecay: 0.01, warmupSteps: 2, totalSteps: 1000, maxGradNorm: 1.0 };

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Seeded batches: random ids; 'ragged' rows have lengths uniform in [32, 128], right-padded. */
function makeBatches(kind, count) {
  let s = 12345;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  const out = [];
  for (let i = 0; i < count; i++) {
    const inputIds = [];
    const attentionMask = [];
    for (let b = 0; b < B; b++) {
      const n = kind === 'ragged' ? 32 + Math.floor(rand() * (L - 31)) : L;
      const row = [101];
      for (let j = 1; j < n - 1; j++) row.push(1000 + Math.floor(rand() * 29000));
      row.push(102);
      inputIds.push([...row, ...new Array(L - n).fill(0)]);
      attentionMask.push([...new Array(n).fill(1), ...new Array(L - n).fill(0)]);
    }
    // seqcls: a label per row; tokcls: per position, -100 (ignored) on padding as a collator does
    const labels =
      args.head === 'tokcls'
        ? attentionMask.map((m) => m.map((x) => (x ? Math.floor(rand() * 2) : -100)))
        : Array.from({ length: B }, () => Math.floor(rand() * 2));
    out.push({ inputIds, attentionMask, labels });
  }
  return out;
}

// ---- a line-JSON server per contender ----------------------------------------------------------

const TORCH_SERVER = String.raw`
import json, resource, sys, time
import torch, transformers
model_dir, threads, batches_file, head = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
torch.set_num_threads(threads)
torch.manual_seed(0)
cls = transformers.BertForTokenClassification if head == "tokcls" else transformers.BertForSequenceClassification
model = cls.from_pretrained(model_dir)
model.train()
decay = set(transformers.Trainer.get_decay_parameter_names(None, model))
groups = [
    {"params": [p for n, p in model.named_parameters() if n in decay], "weight_decay": 0.01},
    {"params": [p for n, p in model.named_parameters() if n not in decay], "weight_decay": 0.0},
]
opt = torch.optim.AdamW(groups, lr=2e-5, betas=(0.9, 0.999), eps=1e-8)
sched = transformers.get_linear_schedule_with_warmup(opt, num_warmup_steps=2, num_training_steps=1000)
batches = [{"input_ids": torch.tensor(b["inputIds"]), "attention_mask": torch.tensor(b["attentionMask"]),
            "labels": torch.tensor(b["labels"])} for b in json.load(open(batches_file))]
k = 0
print(json.dumps({"ready": True, "torch": torch.__version__, "transformers": transformers.__version__,
                  "attn": model.config._attn_implementation}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["op"] == "quit":
        break
    times, losses = [], []
    for _ in range(cmd["n"]):
        b = batches[k % len(batches)]
        k += 1
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = model(**b)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        times.append(time.perf_counter() - t0)
        losses.append(out.loss.item())
    print(json.dumps({"times": times, "losses": losses,
                      "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}), flush=True)
`;

async function serveBertkit(modelDir, threads, batchesFile) {
  const { loadModel } = await import('../dist/index.js');
  const { createTrainer } = await import('../dist/training/index.js');
  const { readFile } = await import('node:fs/promises');
  const model = await loadModel(modelDir, { training: true, threads, device: 'cpu' });
  const trainer = createTrainer(model, { ...OPT, schedule: 'linear', noDecay: 'bias-and-layernorm', seed: 0 });
  const batches = JSON.parse(await readFile(batchesFile, 'utf8'));
  let k = 0;
  const info = model.backend;
  process.stdout.write(`${JSON.stringify({ ready: true, isa: info.isa, threads: info.threads })}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    const cmd = JSON.parse(line);
    if (cmd.op === 'quit') break;
    const times = [];
    const losses = [];
    for (let i = 0; i < cmd.n; i++) {
      const b = batches[k++ % batches.length];
      const t0 = performance.now();
      const r = await trainer.step({ inputIds: b.inputIds, attentionMask: b.attentionMask }, { labels: b.labels });
      times.push((performance.now() - t0) / 1000);
      losses.push(r.loss);
    }
    const mem = model.trainingMemory();
    process.stdout.write(`${JSON.stringify({ times, losses, maxrss: process.resourceUsage().maxRSS * 1024, engine: mem })}\n`);
  }
  await model.dispose();
  process.stdin.destroy();
}

function server(cmd, argv) {
  const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const queue = [];
  const waiters = [];
  lines.on('line', (l) => {
    if (!l.startsWith('{')) return; // library chatter
    const v = JSON.parse(l);
    if (waiters.length) waiters.shift()(v);
    else queue.push(v);
  });
  const next = () =>
    new Promise((resolve, reject) => {
      if (queue.length) return resolve(queue.shift());
      waiters.push(resolve);
      child.once('exit', (code) => reject(new Error(`${cmd} exited (${code})`)));
    });
  return {
    next,
    async run(n) {
      child.stdin.write(`${JSON.stringify({ op: 'steps', n })}\n`);
      return next();
    },
    async quit() {
      child.stdin.write(`${JSON.stringify({ op: 'quit' })}\n`);
      await new Promise((r) => child.once('exit', r));
    },
  };
}

async function speed() {
  const { initTrainableModel } = await import('../dist/training/index.js');
  const threads = Number(args.threads);
  const steps = Number(args.steps);
  const rounds = Number(args.rounds);
  const results = [];
  const dir = await mkdtemp(join(tmpdir(), 'bertkit-train-bench-'));
  try {
    for (const name of args.only.split(',')) {
      const shape = MODELS[name];
      if (!shape) throw new Error(`--only: unknown model ${name}`);
      // The same weights for both: made here, saved as a Hugging Face folder.
      const modelDir = join(dir, name);
      const { model } = await initTrainableModel({
        architecture: args.head === 'tokcls' ? 'BertForTokenClassification' : 'BertForSequenceClassification',
        config: {
          vocab_size: VOCAB,
          hidden_size: shape.hidden,
          num_hidden_layers: shape.layers,
          num_attention_heads: shape.heads,
          intermediate_size: shape.intermediate,
          max_position_embeddings: 512,
          num_labels: 2,
        },
        seed: 1,
        threads: 1,
      });
      await model.save(modelDir, { tokenizer: false });
      await model.dispose();
      for (const kind of args.shapes.split(',')) {
        const batchesFile = join(dir, `batches-${kind}.json`);
        const batches = makeBatches(kind, 6);
        await writeFile(batchesFile, JSON.stringify(batches));
        const tokens = batches.map((b) => b.attentionMask.flat().reduce((a, x) => a + x, 0));
        const realPerBatch = tokens.reduce((a, x) => a + x, 0) / tokens.length;
        const contenders = [['bertkit', server(process.execPath, [here, '--serve', JSON.stringify({ modelDir, threads, batchesFile })])]];
        if (!args['no-torch']) contenders.push(['pytorch', server(args.python, ['-c', TORCH_SERVER, modelDir, String(threads), batchesFile, args.head])]);
        const meta = {};
        for (const [n, s] of contenders) meta[n] = await s.next();
        const times = Object.fromEntries(contenders.map(([n]) => [n, []]));
        const last = {};
        // Warm-up step each, then alternating rounds.
        for (const [n, s] of contenders) last[n] = await s.run(1);
        for (let r = 0; r < rounds; r++) {
          for (const [n, s] of contenders) {
            last[n] = await s.run(steps);
            times[n].push(...last[n].times);
          }
        }
        for (const [, s] of contenders) await s.quit();
        const row = { model: name, head: args.head, batch: `${B}x${L}`, kind, realTokensPerBatch: realPerBatch, threads, loadavg: loadavg()[0], contenders: {} };
        for (const [n] of contenders) {
          const t = median(times[n]);
          row.contenders[n] = {
            stepSeconds: t,
            allSteps: times[n],
            // Throughput counts the B x L positions of the batch, as the caller sees them.
            tokensPerSecond: (B * L) / t,
            peakRssMB: last[n].maxrss / 1e6,
            ...(last[n].engine ? { engineMB: Object.fromEntries(Object.entries(last[n].engine).map(([k, v]) => [k, v / 1e6])) } : {}),
            meta: meta[n],
          };
        }
        if (row.contenders.pytorch) row.speedup = row.contenders.pytorch.stepSeconds / row.contenders.bertkit.stepSeconds;
        results.push(row);
        if (!args.json) {
          const c = row.contenders;
          const line = Object.entries(c)
            .map(([n, v]) => `${n} ${v.stepSeconds.toFixed(3)} s/step, ${Math.round(v.tokensPerSecond)} tok/s, peak RSS ${Math.round(v.peakRssMB)} MB`)
            .join(' | ');
          console.log(`${name} ${args.head} ${row.batch} ${kind} (${Math.round(realPerBatch)} real tokens/batch): ${line}${row.speedup ? ` | bertkit ${row.speedup.toFixed(2)}x` : ''}`);
        }
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return results;
}

/** A small BERT pre-trained with MLM + NSP on generated documents: the MLM loss should fall. */
async function pretrain() {
  const { tokenizerFromVocab } = await import('../dist/index.js');
  const { initTrainableModel, createTrainer, createMlmCollator, createNspExamples, Rng, shuffle } = await import('../dist/training/index.js');
  const steps = Number(args['pretrain-steps']);
  // A generated language: 400 words in 8 topics; a sentence is a topic's words in a
  // first-order Markov chain; a document keeps one topic. MLM can learn the transitions, NSP the topics.
  const rng = new Rng(3);
  const words = Array.from({ length: 400 }, (_, i) => `w${i}`);
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...words];
  const tokenizer = tokenizerFromVocab(vocab, { doLowerCase: true });
  const next = words.map(() => [rng.int(50), rng.int(50), rng.int(50)]);
  const documents = [];
  for (let d = 0; d < 400; d++) {
    const topic = d % 8;
    const doc = [];
    for (let s = 0; s < 6; s++) {
      let w = rng.int(50);
      const sent = [];
      for (let k = 0; k < 6 + rng.int(6); k++) {
        sent.push(words[topic * 50 + w]);
        w = next[topic * 50 + w][rng.int(3)];
      }
      doc.push(sent.join(' '));
    }
    documents.push(doc);
  }
  const examples = createNspExamples(documents, tokenizer, { maxLength: 64, seed: 1 });
  const collate = createMlmCollator(tokenizer, { seed: 2 });
  const { model } = await initTrainableModel({
    architecture: 'BertForPreTraining',
    config: { vocab_size: vocab.length, hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 512, max_position_embeddings: 64 },
    threads: Number(args.threads),
    seed: 5,
    tokenizer,
  });
  const trainer = createTrainer(model, { learningRate: 1e-3, warmupSteps: 20, totalSteps: steps, weightDecay: 0.01, seed: 0 });
  const curve = [];
  let order = [];
  const t0 = performance.now();
  let mlm = 0;
  let nsp = 0;
  let n = 0;
  for (let step = 0; step < steps; step++) {
    if (order.length < 32) order = [...order, ...shuffle(examples, rng)];
    const batch = collate(order.splice(0, 32));
    const r = await trainer.step(batch.inputs, batch.labels);
    mlm += r.mlmLoss;
    nsp += r.nspLoss;
    n++;
    if ((step + 1) % 25 === 0) {
      curve.push({ step: step + 1, mlmLoss: mlm / n, nspLoss: nsp / n });
      if (!args.json) console.log(`pretrain step ${step + 1}: MLM loss ${(mlm / n).toFixed(3)}, NSP loss ${(nsp / n).toFixed(3)}`);
      mlm = nsp = n = 0;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  await model.dispose();
  return { examples: examples.length, steps, batch: 32, seconds, curve, uniformLoss: Math.log(vocab.length) };
}

if (args.serve) {
  const { modelDir, threads, batchesFile } = JSON.parse(args.serve);
  await serveBertkit(modelDir, threads, batchesFile);
} else {
  if (!['seqcls', 'tokcls'].includes(args.head)) throw new Error(`--head: seqcls or tokcls, not ${args.head}`);
  const out = { date: new Date().toISOString(), cpu: cpus()[0]?.model, cores: cpus().length, loadavgAtStart: loadavg()[0], speed: await speed() };
  if (!args['no-pretrain']) out.pretrain = await pretrain();
  if (args.json) console.log(JSON.stringify(out, null, 2));
}
