/**
 * The task commands: each runs a pipeline (src-ts/pipelines) over its inputs, batch by batch, and
 * writes one JSON Lines record per input (or a table).
 */
import { readFile } from 'node:fs/promises';
import { POOLING_MODES, pipeline, type AggregationStrategy, type EntityGroup, type TokenEntity, type PipelineBase, type PipelineOptions, type PipelineTask, type PipelineTypes, type PoolingMode } from '../../pipelines/index.js';
import { INPUT_OPTIONS, MODEL_OPTIONS, type Command, type Context, type Options } from '../app.js';
import { field, textOf, textPairOf } from '../inputs.js';
import { floats, num, type Input } from '../io.js';
import { UsageError, positiveInt } from '../usage.js';
import { CORPUS_OPTIONS, embedOnQueue, rejectCorpusOptions } from './corpus.js';

const COMMON: Options = { ...MODEL_OPTIONS, ...INPUT_OPTIONS };

/** Loads --model as `task`, runs `fn`, disposes. */
async function withPipeline<T extends PipelineTask>(ctx: Context, task: T, fn: (p: PipelineTypes[T]) => Promise<void>): Promise<void> {
  const dir = await ctx.modelDir();
  const options: PipelineOptions = { batchSize: ctx.batchSize() };
  const device = ctx.device();
  const threads = ctx.threads();
  const dtype = ctx.dtype();
  if (device !== undefined) options.device = device;
  if (threads !== undefined) options.threads = threads;
  if (dtype !== undefined) options.dtype = dtype;
  const p = await pipeline(task, dir, options as never);
  try {
    await fn(p);
  } finally {
    await p.dispose();
  }
}

/** --top-k: a positive integer, or 'all' (null). */
function topK(ctx: Context, fallback: number): number | null {
  const v = ctx.str('top-k');
  return v === 'all' ? null : positiveInt(v, 'top-k', fallback);
}

const TRUNCATE: Options = {
  truncate: { type: 'boolean', description: "cut inputs longer than the model takes (default: such an input is an error record)" },
};

/** --truncate as the pipelines' tokenizeOptions: to the tokenizer's limit, capped at the model's positions. */
function truncation(ctx: Context, p: PipelineBase): { tokenizeOptions?: { truncation: true; maxLength: number } } {
  if (!ctx.flag('truncate')) return {};
  return { tokenizeOptions: { truncation: true, maxLength: Math.min(p.tokenizer.modelMaxLength, p.model.config.max_position_embeddings) } };
}

const TOP_K: Options = { 'top-k': { type: 'string', value: 'N', description: 'results per input (a number, or all)' } };

export const embed: Command = {
  name: 'embed',
  summary: 'sentence embeddings (sentence-transformers folders keep their own pooling)',
  usage: [
    'bertkit embed --model ID|DIR [TEXT...]',
    '',
    'One vector per input text (JSON Lines: a string or {"text": ...}). Pooling and normalisation',
    'follow a sentence-transformers folder (modules.json); other models default to mean pooling.',
    '',
    'bertkit embed -m sentence-transformers/all-MiniLM-L6-v2 -i sentences.txt > vectors.jsonl',
    '',
    'With --queue and --redis the texts go as jobs to `bertkit worker`s (which hold the model) and the',
    'vectors to -o FILE in input order; an interrupted run resumes where it stopped.',
    '',
    'bertkit embed --queue vectors --redis redis://127.0.0.1:6379 -i corpus.jsonl -o vectors.jsonl',
  ],
  options: {
    ...COMMON,
    pooling: { type: 'string', value: 'MODE', description: `${POOLING_MODES.join(', ')} (comma-separated to concatenate)` },
    normalize: { type: 'boolean', description: 'L2-normalise each vector' },
    'no-normalize': { type: 'boolean', description: 'do not normalise (overrides the folder)' },
    prompt: { type: 'string', value: 'TEXT', description: 'text prepended to every input' },
    'prompt-name': { type: 'string', value: 'NAME', description: "a prompt of the folder's config_sentence_transformers.json" },
    ...CORPUS_OPTIONS,
  },
  async run(ctx) {
    if (ctx.str('queue') !== undefined || ctx.str('redis') !== undefined) return embedOnQueue(ctx);
    rejectCorpusOptions(ctx);
    const call: Record<string, unknown> = {};
    const pooling = ctx.str('pooling');
    if (pooling !== undefined) {
      const modes = pooling.split(',').map((m) => m.trim());
      for (const m of modes) if (!(POOLING_MODES as readonly string[]).includes(m)) throw new UsageError(`--pooling must be among ${POOLING_MODES.join(', ')}, got ${JSON.stringify(m)}`);
      call.pooling = modes.length === 1 ? (modes[0] as PoolingMode) : (modes as PoolingMode[]);
    }
    if (ctx.flag('normalize') && ctx.flag('no-normalize')) throw new UsageError('--normalize or --no-normalize, not both');
    if (ctx.flag('normalize')) call.normalize = true;
    if (ctx.flag('no-normalize')) call.normalize = false;
    if (ctx.str('prompt') !== undefined) call.prompt = ctx.str('prompt');
    if (ctx.str('prompt-name') !== undefined) call.promptName = ctx.str('prompt-name');
    await withPipeline(ctx, 'sentence-embeddings', async (embedder) => {
      const out = ctx.writer([{ header: 'text', max: 40 }, { header: 'dim', align: 'right' }, { header: 'embedding', max: 60 }], (r) => {
        const { text, embedding } = r as { text: string; embedding: number[] };
        return [text, String(embedding.length), `[${embedding.slice(0, 4).map((x) => num(x)).join(', ')}${embedding.length > 4 ? ', …' : ''}]`];
      });
      for await (const batch of ctx.batches()) {
        await ctx.eachInput(
          batch,
          async (inputs) => {
            const texts = inputs.map(textOf);
            const vectors = await embedder(texts, call);
            return texts.map((text, i) => ({ text, embedding: floats(vectors[i]!) }));
          },
          (_input, record) => out.write(record),
          out,
        );
      }
      await out.end();
    });
  },
};

export const classify: Command = {
  name: 'classify',
  summary: 'text classification (sentiment, NLI pairs, ...)',
  usage: [
    'bertkit classify --model ID|DIR [TEXT...]',
    '',
    'Each input is a text, or (JSON Lines) {"text": ..., "text_pair": ...} or ["text", "pair"].',
    'Prints the best label and its score; with --top-k, the k best as "labels".',
    '',
    'bertkit classify -m distilbert/distilbert-base-uncased-finetuned-sst-2-english "a great movie"',
  ],
  options: {
    ...COMMON,
    ...TOP_K,
    ...TRUNCATE,
    function: { type: 'string', value: 'FN', description: "softmax, sigmoid or none (default: the model's)" },
  },
  async run(ctx) {
    const k = topK(ctx, 1);
    const fn = ctx.str('function');
    if (fn !== undefined && !['softmax', 'sigmoid', 'none'].includes(fn)) throw new UsageError(`--function must be softmax, sigmoid or none, got ${JSON.stringify(fn)}`);
    await withPipeline(ctx, 'text-classification', async (classifier) => {
      const out = ctx.writer([{ header: 'text', max: 50 }, { header: 'label', max: 30 }, { header: 'score', align: 'right' }], (r) => {
        const { text, text_pair, label, score } = r as { text: string; text_pair?: string; label: string; score: number };
        return [text_pair === undefined ? text : `${text} | ${text_pair}`, label, num(score)];
      });
      const table = ctx.outputFormat() === 'table';
      for await (const batch of ctx.batches()) {
        await ctx.eachInput(
          batch,
          async (inputs) => {
            const items = inputs.map(textPairOf);
            const results = (await classifier(
              items.map((x) => (x.pair === undefined ? x.text : { text: x.text, textPair: x.pair })),
              { topK: k, ...(fn === undefined ? {} : { functionToApply: fn as 'softmax' }), ...truncation(ctx, classifier) },
            )) as { label: string; score: number }[][];
            return items.map((item, i) => ({ item, labels: results[i]! }));
          },
          async (_input, { item, labels }) => {
            const text = { text: item.text, ...(item.pair === undefined ? {} : { text_pair: item.pair }) };
            // A table shows every label asked for, one row each.
            if (table && k !== 1) for (const l of labels) await out.write({ ...text, label: l.label, score: l.score });
            else await out.write({ ...text, label: labels[0]?.label, score: labels[0]?.score, ...(k === 1 ? {} : { labels }) });
          },
          out,
        );
      }
      await out.end();
    });
  },
};

export const ner: Command = {
  name: 'ner',
  summary: 'named entities (token classification)',
  usage: [
    'bertkit ner --model ID|DIR [TEXT...]',
    '',
    'Prints each input with its entities. --aggregation simple (the default here) groups B-/I- tags',
    'into entities; none gives one entry per token, as transformers does by default.',
    '',
    'bertkit ner -m dslim/bert-base-NER "My name is Wolfgang and I live in Berlin"',
  ],
  options: {
    ...COMMON,
    aggregation: { type: 'string', value: 'HOW', description: 'none, simple, first, average or max (default simple)' },
  },
  async run(ctx) {
    const aggregation = ctx.str('aggregation') ?? 'simple';
    if (!['none', 'simple', 'first', 'average', 'max'].includes(aggregation)) {
      throw new UsageError(`--aggregation must be none, simple, first, average or max, got ${JSON.stringify(aggregation)}`);
    }
    await withPipeline(ctx, 'token-classification', async (tagger) => {
      // One table row per entity: the input's number, then the entity.
      let n = 0;
      const out = ctx.writer(
        [{ header: '#', align: 'right' }, { header: 'entity', max: 20 }, { header: 'word', max: 40 }, { header: 'start', align: 'right' }, { header: 'end', align: 'right' }, { header: 'score', align: 'right' }],
        (r) => {
          const { input, entity, word, start, end, score } = r as Record<string, string | number>;
          return [String(input), String(entity), String(word), String(start), String(end), typeof score === 'number' ? num(score) : ''];
        },
      );
      const table = ctx.outputFormat() === 'table';
      for await (const batch of ctx.batches()) {
        await ctx.eachInput(
          batch,
          async (inputs) => {
            const texts = inputs.map(textOf);
            const results: (TokenEntity | EntityGroup)[][] = await tagger(texts, { aggregationStrategy: aggregation as AggregationStrategy });
            return texts.map((text, i) => ({ text, entities: results[i]! }));
          },
          async (_input, { text, entities }) => {
            n++;
            if (!table) {
              await out.write({ text, entities });
              return;
            }
            if (entities.length === 0) await out.write({ input: n, entity: '-', word: '', start: '', end: '' });
            for (const e of entities) await out.write({ input: n, entity: 'entityGroup' in e ? e.entityGroup : e.entity, word: e.word, start: e.start, end: e.end, score: e.score });
          },
          out,
        );
      }
      await out.end();
    });
  },
};

export const qa: Command = {
  name: 'qa',
  summary: 'extractive question answering',
  usage: [
    'bertkit qa --model ID|DIR --context TEXT [QUESTION...]',
    'bertkit qa --model ID|DIR -i questions.jsonl        ({"question": ..., "context": ...} a line)',
    '',
    'Finds the answer span in the context. With --context (or --context-file) every input is a',
    'question about it; otherwise inputs are JSON Lines with "question" and "context".',
    '',
    'bertkit qa -m deepset/bert-base-cased-squad2 --context "Paris is in France." "Where is Paris?"',
  ],
  options: {
    ...COMMON,
    ...TOP_K,
    context: { type: 'string', short: 'c', value: 'TEXT', description: 'the context every question is about' },
    'context-file': { type: 'string', value: 'FILE', description: 'read the context from FILE' },
    'max-answer-len': { type: 'string', value: 'N', description: 'longest answer in tokens (default 15)' },
  },
  async run(ctx) {
    const k = topK(ctx, 1) ?? 20;
    let context = ctx.str('context');
    const contextFile = ctx.str('context-file');
    if (context !== undefined && contextFile !== undefined) throw new UsageError('--context or --context-file, not both');
    if (contextFile !== undefined) {
      context = await readFile(contextFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new UsageError(`cannot read ${contextFile}: ${err.code ?? err.message}`);
      });
    }
    const maxAnswerLen = ctx.str('max-answer-len') === undefined ? {} : { maxAnswerLen: positiveInt(ctx.str('max-answer-len'), 'max-answer-len', 15) };
    const question = (input: Input) => {
      if (context !== undefined) return { question: typeof input.value === 'string' ? input.value : field(input, 'question'), context };
      if (typeof input.value === 'string') throw new UsageError(`${input.where}: a question needs a context: give --context, or JSON Lines {"question": ..., "context": ...}`);
      return { question: field(input, 'question'), context: field(input, 'context') };
    };
    await withPipeline(ctx, 'question-answering', async (answerer) => {
      const out = ctx.writer([{ header: 'question', max: 50 }, { header: 'answer', max: 50 }, { header: 'score', align: 'right' }], (r) => {
        const { question: q, answer, score } = r as { question: string; answer: string; score: number };
        return [q, answer, num(score)];
      });
      for await (const batch of ctx.batches(0, 32, context === undefined ? 'jsonl' : 'text')) {
        await ctx.eachInput(
          batch,
          async (inputs) => {
            const items = inputs.map(question);
            const results = await answerer(items, { topK: k, ...maxAnswerLen });
            return items.map((item, i) => ({ item, answers: [results[i]!].flat() }));
          },
          async (_input, { item, answers }) => {
            const best = answers[0];
            await out.write({
              question: item.question,
              ...(context === undefined ? { context: item.context } : {}),
              answer: best?.answer,
              score: best?.score,
              start: best?.start,
              end: best?.end,
              ...(k === 1 ? {} : { answers }),
            });
          },
          out,
        );
      }
      await out.end();
    });
  },
};

export const fillMask: Command = {
  name: 'fill-mask',
  summary: 'predict the [MASK] tokens of a text',
  usage: [
    'bertkit fill-mask --model ID|DIR [TEXT...]',
    '',
    "Each input holds the tokenizer's mask token ([MASK]); prints the best tokens for it (a list",
    'per mask when there are several).',
    '',
    'bertkit fill-mask -m google-bert/bert-base-uncased "Paris is the [MASK] of France."',
  ],
  options: {
    ...COMMON,
    ...TOP_K,
    ...TRUNCATE,
    targets: { type: 'string', value: 'A,B,...', description: 'score only these tokens' },
  },
  async run(ctx) {
    const topk = topK(ctx, 5);
    const targets = ctx.str('targets')?.split(',').map((s) => s.trim());
    await withPipeline(ctx, 'fill-mask', async (filler) => {
      let n = 0;
      const out = ctx.writer([{ header: '#', align: 'right' }, { header: 'token', max: 20 }, { header: 'score', align: 'right' }, { header: 'sequence', max: 70 }], (r) => {
        const { input, tokenStr, score, sequence } = r as { input: number; tokenStr: string; score: number; sequence: string };
        return [String(input), tokenStr, num(score), sequence];
      });
      const table = ctx.outputFormat() === 'table';
      // 'all': every token of the vocabulary (or every target).
      const k = topk ?? filler.model.config.vocab_size;
      for await (const batch of ctx.batches()) {
        await ctx.eachInput(
          batch,
          async (inputs) => {
            const texts = inputs.map(textOf);
            const results = await filler(texts, { topK: k, ...(targets ? { targets } : {}), ...truncation(ctx, filler) });
            return texts.map((text, i) => ({ text, predictions: results[i]! }));
          },
          async (_input, { text, predictions }) => {
            n++;
            if (!table) await out.write({ text, predictions });
            else for (const p of predictions.flat()) await out.write({ input: n, ...p });
          },
          out,
        );
      }
      await out.end();
    });
  },
};

export const rerank: Command = {
  name: 'rerank',
  summary: 'rank documents by relevance to a query (cross-encoder)',
  usage: [
    'bertkit rerank --model ID|DIR --query TEXT [DOCUMENT...]',
    'bertkit rerank --model ID|DIR -i queries.jsonl      ({"query": ..., "documents": [...]} a line)',
    '',
    'With --query, every input is a document and the output lists them best first (index = the',
    "document's position in the input). Otherwise each JSON Lines input is ranked on its own.",
    '',
    'bertkit rerank -m cross-encoder/ms-marco-MiniLM-L-6-v2 -q "how do bees fly" -i passages.txt',
  ],
  options: {
    ...COMMON,
    ...TOP_K,
    query: { type: 'string', short: 'q', value: 'TEXT', description: 'the query the inputs are ranked for' },
  },
  async run(ctx) {
    const all = ctx.str('top-k') === undefined || ctx.str('top-k') === 'all';
    const options = { returnDocuments: true, ...(all ? {} : { topK: positiveInt(ctx.str('top-k'), 'top-k', 1) }) };
    const query = ctx.str('query');
    await withPipeline(ctx, 'rerank', async (ranker) => {
      if (query !== undefined) {
        const out = ctx.writer([{ header: 'rank', align: 'right' }, { header: 'index', align: 'right' }, { header: 'score', align: 'right' }, { header: 'text', max: 80 }], (r) => {
          const { rank, index, score, text } = r as { rank: number; index: number; score: number; text: string };
          return [String(rank), String(index), num(score), text];
        });
        // Ranking needs every document first.
        const documents: string[] = [];
        for await (const batch of ctx.batches()) documents.push(...batch.map(textOf));
        const ranked = await ranker(query, documents, options);
        for (let r = 0; r < ranked.length; r++) await out.write({ rank: r + 1, index: ranked[r]!.corpusId, score: ranked[r]!.score, text: ranked[r]!.text });
        await out.end();
        return;
      }
      let n = 0;
      const out = ctx.writer([{ header: '#', align: 'right' }, { header: 'rank', align: 'right' }, { header: 'index', align: 'right' }, { header: 'score', align: 'right' }, { header: 'text', max: 70 }], (r) => {
        const { input, rank, index, score, text } = r as Record<string, string | number>;
        return [String(input), String(rank), String(index), num(score as number), String(text)];
      });
      const table = ctx.outputFormat() === 'table';
      for await (const batch of ctx.batches(0, 1, 'jsonl')) {
        for (const input of batch) {
          n++;
          if (typeof input.value === 'string') throw new UsageError(`${input.where}: give --query, or JSON Lines {"query": ..., "documents": [...]}`);
          const q = field(input, 'query');
          const docs = (input.value as { documents?: unknown }).documents;
          if (!Array.isArray(docs) || !docs.every((d) => typeof d === 'string')) throw new UsageError(`${input.where}: "documents" must be an array of strings`);
          const ranked = await ranker(q, docs as string[], options);
          const results = ranked.map((x) => ({ index: x.corpusId, score: x.score, text: x.text }));
          if (!table) await out.write({ query: q, results });
          else for (let r = 0; r < results.length; r++) await out.write({ input: n, rank: r + 1, ...results[r] });
        }
      }
      await out.end();
    });
  },
};
