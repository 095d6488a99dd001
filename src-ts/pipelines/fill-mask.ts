/** `fill-mask`: transformers' FillMaskPipeline on BertForMaskedLM / BertForPreTraining. */
import { InvalidInputError, UnsupportedModelError } from '../errors.js';
import type { BertModel } from '../model/bert-model.js';
import { outputField } from '../model/heads.js';
import type { EncodeOptions } from '../tokenizer/index.js';
import { acquireModel, makePipeline, type PipelineBase, type PipelineOptions } from './base.js';
import { rowFromEncoding, runRows } from './run.js';
import { positiveInt } from '../util/checks.js';
import { softmax } from '../util/math.js';
import { asBatch, checkOptions, checkString, checkTokenizeOptions, encodeOptions, resolveBatchSize } from './util.js';
import { optionNames } from '../options.js';

/** The option names a call takes (the compiler checks the list against the type). */
const CALL_OPTIONS = optionNames<FillMaskOptions>({ topK: true, targets: true, tokenizeOptions: true, batchSize: true });

export interface FillMaskOptions {
  /** Predictions per mask (default 5; at most the number of distinct targets). */
  topK?: number;
  /**
   * Score only these tokens. A target that is not a vocabulary token is tokenized and its first
   * piece is used (as transformers does); scores stay the softmax over the whole vocabulary.
   */
  targets?: string | string[];
  tokenizeOptions?: EncodeOptions;
  batchSize?: number;
}

export interface FillMaskResult {
  /** Softmax probability over the whole vocabulary. */
  score: number;
  /** Token id. */
  token: number;
  /** The token decoded alone (a `##` piece keeps its `##`). */
  tokenStr: string;
  /** The input with the mask replaced, decoded (see the README for the multi-mask form). */
  sequence: string;
}

/**
 * What one text gives: a list of predictions for one mask, a list per mask for several. A string
 * literal says how many `[MASK]`s it holds, so `fill('a [MASK]')` is `FillMaskResult[]`; a `string`
 * variable could hold either.
 */
export type FillMaskOutput<T extends string = string> = string extends T
  ? FillMaskResult[] | FillMaskResult[][]
  : T extends `${string}[MASK]${string}[MASK]${string}`
    ? FillMaskResult[][]
    : FillMaskResult[];

export interface FillMaskPipeline extends PipelineBase {
  /** One mask: a list of predictions; several masks: a list per mask. */
  <T extends string>(text: T, options?: FillMaskOptions): Promise<FillMaskOutput<T>>;
  /** One entry per text, in input order. */
  (texts: string[], options?: FillMaskOptions): Promise<FillMaskOutput[]>;
}

export async function createFillMask(model: string | BertModel, options: PipelineOptions): Promise<FillMaskPipeline> {
  const acquired = await acquireModel(
    model,
    { task: 'fill-mask', accepts: ['MaskedLM', 'PreTraining'], loadAs: 'MaskedLM', reads: 'mlm' },
    options,
  );
  const { model: m, tokenizer } = acquired;
  const maskToken = tokenizer.specialTokens['mask_token'];
  const maskId = maskToken === undefined ? undefined : tokenizer.tokenToId(maskToken);
  if (maskToken === undefined || maskId === undefined) throw new UnsupportedModelError('fill-mask: the tokenizer defines no mask token');
  const padId = tokenizer.padTokenId;
  const field = outputField(m.head, 'mlm', m.config.model_type) as 'logits' | 'predictionLogits';
  const V = m.config.vocab_size;

  const warned = new Set<string>();
  const targetIds = (targets: unknown): number[] => {
    const list = typeof targets === 'string' ? [targets] : targets;
    if (!Array.isArray(list)) throw new InvalidInputError('targets must be a string or an array of strings');
    const ids = new Set<number>();
    list.forEach((t, i) => {
      checkString(t, `targets[${i}]`);
      let id = tokenizer.tokenToId(t as string);
      if (id === undefined) {
        // transformers: tokenize the target and take its first piece (it warns); nothing: skipped.
        const e = tokenizer.encode(t as string, { addSpecialTokens: false, truncation: false, padding: false });
        if (e.length === 0) return;
        id = e.ids[0]!;
        // Once per target and pipeline, as transformers' warning (through process warnings: --no-warnings silences it).
        if (!warned.has(t as string)) {
          warned.add(t as string);
          process.emitWarning(
            `fill-mask: the target ${JSON.stringify(t)} is not in the vocabulary; it is replaced by its first piece ${JSON.stringify(tokenizer.idToToken(id))}`,
            { code: 'BERTKIT_FILL_MASK_TARGET' },
          );
        }
      }
      if (id >= V) throw new InvalidInputError(`target ${JSON.stringify(t)} is token ${id}, outside the model's vocabulary of ${V}`);
      ids.add(id);
    });
    if (ids.size === 0) throw new InvalidInputError('At least one target must be provided when passed.');
    return [...ids];
  };

  return makePipeline<FillMaskPipeline>('fill-mask', acquired, async (inputs: unknown, callOptions?: unknown) => {
    const o = checkOptions<FillMaskOptions>(callOptions, CALL_OPTIONS, 'fill-mask options');
    let topK = o.topK === undefined ? 5 : positiveInt(o.topK, 'topK');
    const targets = o.targets === undefined ? null : targetIds(o.targets);
    if (targets && targets.length < topK) topK = targets.length;
    const { items, batched } = asBatch(inputs, (x, w) => checkString(x, w));
    const enc = tokenizer.encodeBatch(items, encodeOptions(checkTokenizeOptions(o.tokenizeOptions)));
    const rows = enc.encodings.map(rowFromEncoding);
    const masks = rows.map((r, i) => {
      const at: number[] = [];
      for (let t = 0; t < r.ids.length; t++) if (r.ids[t] === maskId) at.push(t);
      if (at.length === 0) throw new InvalidInputError(`No mask_token (${maskToken}) found on the input${batched ? ` ${i}` : ''}`);
      // Vocabulary logits at the masks only: the MLM head is vocab x hidden per token.
      r.logitsAt = at;
      return at;
    });
    const results = new Array<FillMaskResult[] | FillMaskResult[][]>(items.length);
    await runRows(m, rows, { batchSize: resolveBatchSize(o.batchSize, options.batchSize) }, (i, r) => {
      const logits = r.selected(field);
      const ids = rows[i]!.ids;
      const single = masks[i]!.length === 1;
      const perMask = masks[i]!.map((pos, k) => {
        const probs = softmax(logits, k * V, V);
        const cand = targets ?? null;
        let picked: number[];
        if (cand) {
          picked = [...cand].sort((a, b) => probs[b]! - probs[a]! || a - b).slice(0, topK);
        } else {
          picked = topKIndices(probs, topK);
        }
        return picked.map((p): FillMaskResult => {
          const tokens: number[] = [];
          for (let t = 0; t < ids.length; t++) {
            const id = t === pos ? p : ids[t]!;
            if (id !== padId) tokens.push(id);
          }
          // Single mask: decoded without special tokens; several: with them, so the other masks stay visible.
          const sequence = tokenizer.decode(tokens, { skipSpecialTokens: single });
          return { score: probs[p]!, token: p, tokenStr: tokenizer.decode([p]), sequence };
        });
      });
      results[i] = single ? perMask[0]! : perMask;
    });
    return batched ? results : results[0];
  });
}

/** The k largest entries' indices, highest first (ties: lower index first). */
function topKIndices(x: Float64Array, k: number): number[] {
  const n = x.length;
  if (k >= n) return Array.from({ length: n }, (_, i) => i).sort((a, b) => x[b]! - x[a]! || a - b);
  const heap: number[] = []; // min-heap of the best k by (value, -index)
  const worse = (a: number, b: number): boolean => x[a]! < x[b]! || (x[a] === x[b] && a > b);
  const up = (i: number): void => {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!worse(heap[i]!, heap[p]!)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  };
  const down = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && worse(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && worse(heap[r]!, heap[m]!)) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (let i = 0; i < n; i++) {
    if (heap.length < k) {
      heap.push(i);
      up(heap.length - 1);
    } else if (worse(heap[0]!, i)) {
      heap[0] = i;
      down(0);
    }
  }
  return heap.sort((a, b) => x[b]! - x[a]! || a - b);
}
