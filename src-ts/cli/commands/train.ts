/**
 * `bertkit finetune` and `bertkit pretrain`: the training loop of src-ts/training behind the CLI,
 * with a progress bar on stderr and the evaluations as JSON Lines (or a table) on stdout.
 */
import { readFile, readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { InvalidInputError, fileSystemError } from '../../errors.js';
import { loadTokenizer, hasTokenizerFiles } from '../../tokenizer/index.js';
import { readConfig, type Architecture } from '../../config.js';
import { pickArchitecture } from '../../model/families.js';
import { withHead, type Head } from '../../model/heads.js';
import {
  createMlmCollator,
  createNspExamples,
  fit,
  initTrainableModel,
  questionAnsweringExamples,
  readRecords,
  textClassificationExamples,
  tokenClassificationExamples,
  type Example,
  type FitOptions,
  type LabelMap,
  type LogEntry,
} from '../../training/index.js';
import { HUB_OPTIONS, type Command, type Context, type Options } from '../app.js';
import { UsageError, nonNegativeInt, oneOf, positiveInt } from '../usage.js';

/** finetune's tasks and the head each trains (on the checkpoint's own family). */
const TASKS = {
  'text-classification': 'SequenceClassification',
  classify: 'SequenceClassification',
  'token-classification': 'TokenClassification',
  ner: 'TokenClassification',
  'question-answering': 'QuestionAnswering',
  qa: 'QuestionAnswering',
} as const satisfies Record<string, Head>;

const TRAIN_OPTIONS: Options = {
  output: { type: 'string', short: 'o', value: 'DIR', description: 'where the model, checkpoints, loss.svg and log.jsonl go (required)' },
  epochs: { type: 'string', value: 'N', description: 'passes over the training data (default 3)' },
  'max-steps': { type: 'string', value: 'N', description: 'stop after N optimizer steps (overrides --epochs)' },
  'batch-size': { type: 'string', short: 'b', value: 'N', description: 'examples per step (default 16; pretrain 32)' },
  lr: { type: 'string', value: 'X', description: 'peak learning rate (default 2e-5; pretrain 1e-4)' },
  'weight-decay': { type: 'string', value: 'X', description: 'AdamW decoupled weight decay (default 0.01), not on biases / LayerNorm' },
  'warmup-ratio': { type: 'string', value: 'X', description: 'share of the steps spent warming up (default 0; pretrain 0.06)' },
  schedule: { type: 'string', value: 'NAME', description: 'linear (default), cosine, constant or constant_with_warmup' },
  'max-grad-norm': { type: 'string', value: 'X', description: 'clip the global gradient norm (default 1.0; 0 = off)' },
  'grad-accum': { type: 'string', value: 'N', description: 'micro-batches per optimizer step (default 1)' },
  'max-length': { type: 'string', value: 'N', description: 'tokens per example (default 128; QA 384)' },
  seed: { type: 'string', value: 'N', description: 'shuffle, initialization and dropout seed (default 42)' },
  'eval-every': { type: 'string', value: 'N', description: 'evaluate every N steps (default: each epoch)' },
  threads: { type: 'string', value: 'N', description: 'CPU threads (default 0: all cores)' },
  format: { type: 'string', short: 'f', value: 'FMT', description: 'jsonl or table (default: table on a terminal, else jsonl)' },
  overwrite: { type: 'boolean', description: "train into an --output folder that holds another run's checkpoints (they are removed)" },
};

function num(ctx: Context, name: string, fallback: number): number {
  const v = ctx.str(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a number >= 0, got ${JSON.stringify(v)}`);
  return n;
}

function common(ctx: Context, defaults: { batchSize: number; lr: number; warmupRatio: number }): Partial<FitOptions> & { batchSize: number } {
  const o: Partial<FitOptions> & { batchSize: number } = {
    batchSize: positiveInt(ctx.str('batch-size'), 'batch-size', defaults.batchSize),
    learningRate: num(ctx, 'lr', defaults.lr),
    weightDecay: num(ctx, 'weight-decay', 0.01),
    warmupRatio: num(ctx, 'warmup-ratio', defaults.warmupRatio),
    maxGradNorm: num(ctx, 'max-grad-norm', 1),
    gradientAccumulationSteps: positiveInt(ctx.str('grad-accum'), 'grad-accum', 1),
    seed: nonNegativeInt(ctx.str('seed'), 'seed', 42),
    schedule: oneOf(ctx.str('schedule'), 'schedule', ['linear', 'cosine', 'constant', 'constant_with_warmup'] as const, 'linear'),
    epochs: positiveInt(ctx.str('epochs'), 'epochs', 3),
  };
  if (ctx.str('max-steps') !== undefined) o.maxSteps = positiveInt(ctx.str('max-steps'), 'max-steps', 1);
  if (ctx.str('eval-every') !== undefined) o.evalEvery = positiveInt(ctx.str('eval-every'), 'eval-every', 1);
  return o;
}

/**
 * --output, checked: a folder that holds another run's checkpoint-* folders is refused without
 * --overwrite (they would sit beside this run's and look like its own); with it they are removed.
 */
async function output(ctx: Context): Promise<string> {
  const out = ctx.str('output');
  if (out === undefined) throw new UsageError('--output DIR is required');
  const entries = await readdir(out).catch(() => [] as string[]);
  const old = entries.filter((e) => /^checkpoint-\d+$/.test(e));
  if (old.length && !ctx.flag('overwrite')) {
    throw new UsageError(`${out} holds another run's checkpoints (${old.slice(0, 3).join(', ')}${old.length > 3 ? ', ...' : ''}): choose another --output, or add --overwrite to replace them`);
  }
  for (const e of old) {
    await rm(join(out, e), { recursive: true, force: true }).catch((err: unknown) => {
      throw fileSystemError(err, 'cannot remove', join(out, e));
    });
  }
  return out;
}

/** Runs fit() with a progress bar and the log entries written as they come. */
async function runTraining(ctx: Context, model: Awaited<ReturnType<typeof initTrainableModel>>['model'], options: FitOptions): Promise<void> {
  const bar = ctx.progress(ctx.command.name);
  const writer = ctx.writer(
    [{ header: 'step', align: 'right' }, { header: 'epoch', align: 'right' }, { header: 'loss', align: 'right' }, { header: 'metrics', max: 80 }],
    (r) => {
      const e = r as LogEntry & { summary?: boolean };
      const metrics = e.eval ? Object.entries(e.eval).map(([k, v]) => `${k}=${Number(v.toPrecision(4))}`).join(' ') : '';
      return [String(e.step), e.epoch.toFixed(2), e.loss === undefined ? '' : e.loss.toFixed(4), metrics];
    },
  );
  const pending: Promise<void>[] = [];
  let sinceLog = 0;
  let lossSum = 0;
  const result = await fit(model, {
    ...options,
    onStep: ({ step, totalSteps, loss }) => {
      bar.update(step, totalSteps);
      lossSum += loss;
      sinceLog++;
    },
    onLog: (e) => {
      if (e.eval) {
        pending.push(writer.write({ step: e.step, epoch: e.epoch, eval: e.eval, ...(sinceLog ? { loss: lossSum / sinceLog } : {}) }));
        sinceLog = 0;
        lossSum = 0;
      }
    },
  });
  bar.finish();
  await Promise.all(pending);
  // The epoch reached (fractional, as log.jsonl has it), not the number asked for.
  const epoch = result.history.at(-1)?.epoch ?? 0;
  if (!options.eval?.length && sinceLog) await writer.write({ step: result.globalStep, epoch, loss: lossSum / sinceLog });
  await writer.end();
  ctx.io.stderr.write(
    `${ctx.command.name}: ${result.globalStep} steps${result.stoppedEarly ? ' (stopped early)' : ''}` +
      `${result.best ? `, best ${result.best.metric} ${result.best.value.toPrecision(4)} at step ${result.best.step}` : ''}; model, checkpoints and loss.svg in ${options.outputDir}\n`,
  );
  await model.dispose();
}

export const finetune: Command = {
  name: 'finetune',
  summary: 'fine-tune a model for classification, NER or question answering',
  usage: [
    'bertkit finetune --model ID|DIR --task TASK --train FILE [--eval FILE] --output DIR',
    '',
    'TASK: text-classification (records {"text", "text_pair"?, "label"}), token-classification',
    '({"tokens": [words], "tags": [tag per word]}) or question-answering (SQuAD style:',
    '{"question", "context", "answers": {"text": [...], "answer_start": [...]}}). FILE: JSON Lines,',
    'or CSV / TSV with a header row. A head the checkpoint lacks is initialized as transformers does.',
    'Prints each evaluation (loss, accuracy / F1 / exact match); writes the best model to --output.',
    '',
    'bertkit finetune -m google-bert/bert-base-uncased --task text-classification \\',
    '  --train train.jsonl --eval dev.jsonl --epochs 3 --lr 2e-5 -o ./sst2-bert',
  ],
  options: {
    model: { type: 'string', short: 'm', value: 'ID|DIR', description: 'model folder or Hugging Face Hub id to start from (required)' },
    task: { type: 'string', short: 't', value: 'TASK', description: 'text-classification, token-classification or question-answering' },
    train: { type: 'string', value: 'FILE', description: 'training records (.jsonl, .csv, .tsv)' },
    eval: { type: 'string', value: 'FILE', description: 'evaluation records (early stopping and the best checkpoint use them)' },
    patience: { type: 'string', value: 'N', description: 'stop after N evaluations without improvement' },
    metric: { type: 'string', value: 'NAME', description: 'metric for the best checkpoint (default: accuracy / f1 / exact_match)' },
    'problem-type': { type: 'string', value: 'TYPE', description: 'single_label_classification (default), regression or multi_label_classification' },
    'text-field': { type: 'string', value: 'NAME', description: 'text column (default text; tokens for NER, question for QA)' },
    'pair-field': { type: 'string', value: 'NAME', description: 'second text column (default text_pair; context for QA)' },
    'label-field': { type: 'string', value: 'NAME', description: 'label column (default label; tags for NER, answers for QA)' },
    ...TRAIN_OPTIONS,
    ...HUB_OPTIONS,
  },
  async run(ctx) {
    const taskName = ctx.str('task');
    if (taskName === undefined || !Object.hasOwn(TASKS, taskName)) {
      throw new UsageError(`--task must be one of ${Object.keys(TASKS).join(', ')}`);
    }
    const head = TASKS[taskName as keyof typeof TASKS];
    const trainFile = ctx.str('train');
    if (trainFile === undefined) throw new UsageError('--train FILE is required');
    const outputDir = await output(ctx);
    const dir = await ctx.modelDir();
    if (!(await hasTokenizerFiles(dir))) throw new InvalidInputError(`${dir} has no tokenizer files (tokenizer.json or vocab.txt)`);
    const tokenizer = await loadTokenizer(dir);
    const records = await readRecords(trainFile);
    const evalRecords = ctx.str('eval') ? await readRecords(ctx.str('eval')!) : [];
    const qa = head === 'QuestionAnswering';
    const maxLength = positiveInt(ctx.str('max-length'), 'max-length', qa ? 384 : 128);
    let train: Example[];
    let evalSet: Example[] = [];
    let labels: LabelMap | undefined;
    const config: Record<string, unknown> = {};
    if (head === 'SequenceClassification') {
      const problemType = oneOf(ctx.str('problem-type'), 'problem-type', ['single_label_classification', 'regression', 'multi_label_classification'] as const, 'single_label_classification');
      const opts = {
        textField: ctx.str('text-field') ?? 'text',
        pairField: ctx.str('pair-field') ?? 'text_pair',
        labelField: ctx.str('label-field') ?? 'label',
        maxLength,
        problemType,
      };
      const t = textClassificationExamples(records, tokenizer, opts);
      train = t.examples;
      labels = t.labels;
      if (evalRecords.length) evalSet = textClassificationExamples(evalRecords, tokenizer, { ...opts, ...(labels ? { labels } : {}) }).examples;
      config.problem_type = problemType;
      if (problemType === 'regression') {
        const first = train[0]?.label;
        config.num_labels = Array.isArray(first) ? first.length : 1;
      }
    } else if (head === 'TokenClassification') {
      const opts = { tokensField: ctx.str('text-field') ?? 'tokens', tagsField: ctx.str('label-field') ?? 'tags', maxLength };
      const t = tokenClassificationExamples(records, tokenizer, opts);
      train = t.examples;
      labels = t.labels;
      if (evalRecords.length) evalSet = tokenClassificationExamples(evalRecords, tokenizer, { ...opts, labels }).examples;
    } else {
      const opts = {
        questionField: ctx.str('text-field') ?? 'question',
        contextField: ctx.str('pair-field') ?? 'context',
        answersField: ctx.str('label-field') ?? 'answers',
        maxLength,
      };
      train = questionAnsweringExamples(records, tokenizer, opts);
      if (evalRecords.length) evalSet = questionAnsweringExamples(evalRecords, tokenizer, opts);
    }
    if (labels) {
      config.num_labels = Object.keys(labels.label2id).length;
      config.id2label = labels.id2label;
      config.label2id = labels.label2id;
    }
    const threads = ctx.str('threads') === undefined ? 0 : nonNegativeInt(ctx.str('threads'), 'threads', 0);
    const c = common(ctx, { batchSize: 16, lr: 2e-5, warmupRatio: 0 });
    const folderConfig = await readConfig(join(dir, 'config.json'));
    const declared = folderConfig.architectures?.[0] ?? pickArchitecture(folderConfig, undefined);
    const architecture = withHead(declared, head) as Architecture;
    const { model, initialized } = await initTrainableModel({ from: dir, architecture, config, threads, seed: c.seed ?? 42, ignoreMismatchedSizes: true });
    if (initialized.length) ctx.io.stderr.write(`finetune: newly initialized: ${initialized.join(', ')}\n`);
    const patience = ctx.str('patience');
    await runTraining(ctx, model, {
      ...c,
      learningRate: c.learningRate!,
      train,
      ...(evalSet.length ? { eval: evalSet } : {}),
      ...(labels ? { labels } : {}),
      ...(patience !== undefined ? { earlyStoppingPatience: positiveInt(patience, 'patience', 1) } : {}),
      ...(ctx.str('metric') ? { metric: ctx.str('metric')! } : {}),
      outputDir,
    });
  },
};

/** Documents of a corpus file: one sentence a line, a blank line between documents. */
function documents(text: string): string[][] {
  const docs: string[][] = [[]];
  for (const line of text.split(/\r?\n/)) {
    const s = line.trim();
    if (s === '') {
      if (docs.at(-1)!.length) docs.push([]);
    } else docs.at(-1)!.push(s);
  }
  return docs.filter((d) => d.length);
}

export const pretrain: Command = {
  name: 'pretrain',
  summary: 'pre-train a BERT with masked-LM and next-sentence prediction on a text corpus',
  usage: [
    'bertkit pretrain --corpus FILE --output DIR (--model ID|DIR | --tokenizer DIR [--layers N --hidden N ...])',
    '',
    'FILE: plain text, one sentence a line, a blank line between documents (BERT\'s format).',
    'Starts from --model (continued pre-training) or from random weights of the given size with',
    "--tokenizer's vocabulary. MLM: 15% of the tokens, 80% [MASK] / 10% random / 10% kept; NSP:",
    'half the pairs are consecutive sentences, half from another document (--no-nsp: MLM only).',
    '',
    'bertkit pretrain --tokenizer ./bert-base-uncased --corpus wiki.txt --layers 4 --hidden 256 \\',
    '  --max-steps 10000 -o ./mini-bert',
  ],
  options: {
    corpus: { type: 'string', value: 'FILE', description: 'training text (required)' },
    model: { type: 'string', short: 'm', value: 'ID|DIR', description: 'continue pre-training this model' },
    tokenizer: { type: 'string', value: 'DIR', description: 'tokenizer folder for a model made from scratch' },
    layers: { type: 'string', value: 'N', description: 'new model: encoder layers (default 4)' },
    hidden: { type: 'string', value: 'N', description: 'new model: hidden size (default 256)' },
    heads: { type: 'string', value: 'N', description: 'new model: attention heads (default hidden / 64)' },
    intermediate: { type: 'string', value: 'N', description: 'new model: FFN size (default 4 x hidden)' },
    'no-nsp': { type: 'boolean', description: 'masked-LM only (BertForMaskedLM)' },
    'mlm-probability': { type: 'string', value: 'X', description: 'share of tokens masked (default 0.15)' },
    'eval-fraction': { type: 'string', value: 'X', description: 'documents held out for the evaluation loss (default 0.05)' },
    ...TRAIN_OPTIONS,
    ...HUB_OPTIONS,
  },
  async run(ctx) {
    const corpus = ctx.str('corpus');
    if (corpus === undefined) throw new UsageError('--corpus FILE is required');
    const outputDir = await output(ctx);
    const nsp = !ctx.flag('no-nsp');
    const architecture: Architecture = nsp ? 'BertForPreTraining' : 'BertForMaskedLM';
    const modelDir = ctx.str('model') === undefined ? undefined : await ctx.modelDir();
    const tokDir = modelDir ?? (ctx.str('tokenizer') === undefined ? undefined : await ctx.resolve(ctx.str('tokenizer')!));
    if (tokDir === undefined) throw new UsageError('--model or --tokenizer is required (the vocabulary comes from there)');
    const tokenizer = await loadTokenizer(tokDir);
    const maxLength = positiveInt(ctx.str('max-length'), 'max-length', 128);
    const c = common(ctx, { batchSize: 32, lr: 1e-4, warmupRatio: 0.06 });
    const docs = documents(await readFile(corpus, 'utf8'));
    if (docs.length < 2) throw new InvalidInputError(`${basename(corpus)}: the corpus needs at least two documents (separated by blank lines)`);
    const evalFraction = num(ctx, 'eval-fraction', 0.05);
    const nEval = Math.min(docs.length - 2, Math.floor(docs.length * evalFraction));
    const evalDocs = docs.slice(0, nEval);
    const trainDocs = docs.slice(nEval);
    const seed = c.seed ?? 42;
    const toExamples = (ds: string[][], s: number): Example[] => {
      if (nsp) return createNspExamples(ds, tokenizer, { maxLength, seed: s });
      // MLM only: consecutive sentences packed up to maxLength.
      const out: Example[] = [];
      const cls = tokenizer.tokenToId(tokenizer.specialTokens['cls_token'] ?? '[CLS]')!;
      const sep = tokenizer.tokenToId(tokenizer.specialTokens['sep_token'] ?? '[SEP]')!;
      for (const d of ds) {
        let cur: number[] = [];
        for (const sent of d) {
          const ids = [...tokenizer.encode(sent, { addSpecialTokens: false }).ids];
          if (cur.length && cur.length + ids.length > maxLength - 2) {
            out.push({ inputIds: [cls, ...cur, sep] });
            cur = [];
          }
          cur.push(...ids.slice(0, maxLength - 2));
        }
        if (cur.length) out.push({ inputIds: [cls, ...cur, sep] });
      }
      return out;
    };
    const train = toExamples(trainDocs, seed);
    const evalSet = evalDocs.length >= 2 || (!nsp && evalDocs.length) ? toExamples(evalDocs, seed + 1) : [];
    const mlmProbability = num(ctx, 'mlm-probability', 0.15);
    const config: Record<string, unknown> = {};
    if (!modelDir) {
      const hidden = positiveInt(ctx.str('hidden'), 'hidden', 256);
      Object.assign(config, {
        vocab_size: tokenizer.getVocab().size,
        hidden_size: hidden,
        num_hidden_layers: positiveInt(ctx.str('layers'), 'layers', 4),
        num_attention_heads: positiveInt(ctx.str('heads'), 'heads', Math.max(1, Math.round(hidden / 64))),
        intermediate_size: positiveInt(ctx.str('intermediate'), 'intermediate', 4 * hidden),
        max_position_embeddings: Math.max(512, maxLength),
        pad_token_id: tokenizer.padTokenId ?? 0,
      });
    }
    const threads = ctx.str('threads') === undefined ? 0 : nonNegativeInt(ctx.str('threads'), 'threads', 0);
    const { model } = await initTrainableModel({ ...(modelDir ? { from: modelDir } : { tokenizer }), architecture, config, threads, seed });
    await runTraining(ctx, model, {
      ...c,
      learningRate: c.learningRate!,
      train,
      ...(evalSet.length ? { eval: evalSet, evalCollate: (ex: readonly Example[]) => createMlmCollator(tokenizer, { mlmProbability, seed: seed + 7 })(ex) } : {}),
      collate: createMlmCollator(tokenizer, { mlmProbability, seed }),
      outputDir,
    });
  },
};
