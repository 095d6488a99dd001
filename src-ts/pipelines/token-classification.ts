/** `token-classification` (NER): transformers' TokenClassificationPipeline on BertForTokenClassification. */
import { InvalidInputError } from '../errors.js';
import type { BertModel } from '../model/bert-model.js';
import type { Encoding } from '../tokenizer/index.js';
import { acquireModel, makePipeline, type PipelineBase, type PipelineOptions } from './base.js';
import { rowFromEncoding, runRows } from './run.js';
import { nonNegativeInt } from '../util/checks.js';
import { softmax } from '../util/math.js';
import { asBatch, checkOptions, checkString, codePointLength, describe, resolveBatchSize, tokensToString } from './util.js';
import { optionNames } from '../options.js';

/** The option names a call takes (the compiler checks the list against the type). */
const CALL_OPTIONS = optionNames<TokenClassificationOptions>({ aggregationStrategy: true, ignoreLabels: true, stride: true, batchSize: true });

export type AggregationStrategy = 'none' | 'simple' | 'first' | 'average' | 'max';

export interface TokenClassificationOptions {
  /** Default 'none': one entry per token; 'simple' groups adjacent B-/I- tags; first/average/max work on whole words. */
  aggregationStrategy?: AggregationStrategy;
  /** Labels left out of the output (default ['O']). */
  ignoreLabels?: string[];
  /**
   * Texts longer than the model are cut into windows overlapping by `stride` tokens and the
   * entities of all windows merged (not with aggregationStrategy 'none', as transformers).
   */
  stride?: number;
  batchSize?: number;
}

/** aggregationStrategy 'none': one per token. start/end are UTF-16 offsets into the input. */
export interface TokenEntity {
  entity: string;
  score: number;
  /** Token position ([CLS] = 0). */
  index: number;
  /** The token string (`##` kept; the text itself for an unknown token). */
  word: string;
  start: number;
  end: number;
}

/** Other strategies: one per group. */
export interface EntityGroup {
  entityGroup: string;
  score: number;
  word: string;
  start: number;
  end: number;
}

export interface TokenClassificationPipeline extends PipelineBase {
  /** aggregationStrategy 'none' (the default): one entry per token. */
  (text: string, options?: TokenClassificationOptions & { aggregationStrategy?: 'none' }): Promise<TokenEntity[]>;
  (texts: string[], options?: TokenClassificationOptions & { aggregationStrategy?: 'none' }): Promise<TokenEntity[][]>;
  /** Any other strategy: entities grouped from B-/I- tags. */
  (text: string, options: TokenClassificationOptions & { aggregationStrategy: Exclude<AggregationStrategy, 'none'> }): Promise<EntityGroup[]>;
  (texts: string[], options: TokenClassificationOptions & { aggregationStrategy: Exclude<AggregationStrategy, 'none'> }): Promise<EntityGroup[][]>;
  (text: string, options?: TokenClassificationOptions): Promise<(TokenEntity | EntityGroup)[]>;
  (texts: string[], options?: TokenClassificationOptions): Promise<(TokenEntity | EntityGroup)[][]>;
}

interface PreEntity {
  word: string;
  scores: Float64Array;
  start: number;
  end: number;
  index: number;
  isSubword: boolean;
}

interface Tagged {
  entity: string;
  score: number;
  word: string;
  start: number;
  end: number;
  index?: number;
}

const STRATEGIES: readonly AggregationStrategy[] = ['none', 'simple', 'first', 'average', 'max'];

function argmax(x: ArrayLike<number>): number {
  let b = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[b]!) b = i;
  return b;
}

function getTag(name: string): [string, string] {
  if (name.startsWith('B-')) return ['B', name.slice(2)];
  if (name.startsWith('I-')) return ['I', name.slice(2)];
  return ['I', name];
}

export async function createTokenClassification(model: string | BertModel, options: PipelineOptions): Promise<TokenClassificationPipeline> {
  const acquired = await acquireModel(
    model,
    { task: 'token-classification', accepts: ['TokenClassification'], loadAs: 'TokenClassification' },
    options,
  );
  const { model: m, tokenizer } = acquired;
  const id2label = m.config.id2label;
  const label = (i: number): string => id2label[i] ?? `LABEL_${i}`;
  const unkId = tokenizer.specialTokens['unk_token'] === undefined ? undefined : tokenizer.tokenToId(tokenizer.specialTokens['unk_token']);
  const L = m.config.num_labels;

  const wordAware = tokenizer.continuingSubwordPrefix !== null;
  const gather = (text: string, e: Encoding, logits: Float32Array): PreEntity[] => {
    const out: PreEntity[] = [];
    const special = e.specialTokensMask;
    const offsets = e.offsets;
    for (let i = 0; i < e.length; i++) {
      if (special[i]) continue;
      const id = e.ids[i]!;
      let word = tokenizer.idToToken(id) ?? '';
      const [start, end] = offsets[i]!;
      const ref = text.slice(start, end);
      // transformers: with a continuing-subword prefix, a token whose string is not as long as its
      // source text is a subword piece; without one (SentencePiece, byte-level BPE), a token that
      // starts at neither a space nor after one continues a word (its fallback heuristic).
      let isSubword = wordAware
        ? codePointLength(word) !== codePointLength(ref)
        : start > 0 && !/ /.test(text.slice(start - 1, start + 1));
      if (id === unkId) {
        word = ref;
        isSubword = false;
      }
      out.push({ word, scores: softmax(logits, i * L, L), start, end, index: i, isSubword });
    }
    return out;
  };

  const aggregateWord = (group: PreEntity[], strategy: AggregationStrategy): Tagged => {
    const word = tokensToString(tokenizer, group.map((g) => g.word));
    let idx: number;
    let score: number;
    if (strategy === 'first') {
      idx = argmax(group[0]!.scores);
      score = group[0]!.scores[idx]!;
    } else if (strategy === 'max') {
      let best = group[0]!;
      let bestMax = -Infinity;
      for (const g of group) {
        const mx = g.scores[argmax(g.scores)]!;
        if (mx > bestMax) {
          bestMax = mx;
          best = g;
        }
      }
      idx = argmax(best.scores);
      score = best.scores[idx]!;
    } else {
      const avg = new Float64Array(L);
      for (const g of group) for (let k = 0; k < L; k++) avg[k]! += g.scores[k]!;
      for (let k = 0; k < L; k++) avg[k]! /= group.length;
      idx = argmax(avg);
      score = avg[idx]!;
    }
    return { entity: label(idx), score, word, start: group[0]!.start, end: group[group.length - 1]!.end };
  };

  const groupSub = (ents: Tagged[]): EntityGroup => {
    const first = ents[0]!.entity;
    const dash = first.indexOf('-');
    let s = 0;
    for (const e of ents) s += e.score;
    return {
      entityGroup: dash >= 0 ? first.slice(dash + 1) : first,
      score: s / ents.length,
      word: tokensToString(tokenizer, ents.map((e) => e.word)),
      start: ents[0]!.start,
      end: ents[ents.length - 1]!.end,
    };
  };

  const groupEntities = (ents: Tagged[]): EntityGroup[] => {
    const groups: EntityGroup[] = [];
    let cur: Tagged[] = [];
    for (const e of ents) {
      if (cur.length === 0) {
        cur.push(e);
        continue;
      }
      const [bi, tag] = getTag(e.entity);
      const [, lastTag] = getTag(cur[cur.length - 1]!.entity);
      if (tag === lastTag && bi !== 'B') cur.push(e);
      else {
        groups.push(groupSub(cur));
        cur = [e];
      }
    }
    if (cur.length) groups.push(groupSub(cur));
    return groups;
  };

  const aggregate = (pre: PreEntity[], strategy: AggregationStrategy): (TokenEntity | EntityGroup)[] => {
    let ents: Tagged[];
    if (strategy === 'none' || strategy === 'simple') {
      ents = pre.map((p) => {
        const k = argmax(p.scores);
        return { entity: label(k), score: p.scores[k]!, index: p.index, word: p.word, start: p.start, end: p.end };
      });
      if (strategy === 'none') {
        return ents.map((e) => ({ entity: e.entity, score: e.score, index: e.index!, word: e.word, start: e.start, end: e.end }));
      }
    } else {
      ents = [];
      let group: PreEntity[] | null = null;
      for (const p of pre) {
        if (group === null) group = [p];
        else if (p.isSubword) group.push(p);
        else {
          ents.push(aggregateWord(group, strategy));
          group = [p];
        }
      }
      if (group) ents.push(aggregateWord(group, strategy));
    }
    return groupEntities(ents);
  };

  return makePipeline<TokenClassificationPipeline>('token-classification', acquired, async (inputs: unknown, callOptions?: unknown) => {
    const o = checkOptions<TokenClassificationOptions>(callOptions, CALL_OPTIONS, 'token-classification options');
    const strategy = o.aggregationStrategy === undefined ? 'none' : (String(o.aggregationStrategy).toLowerCase() as AggregationStrategy);
    if (!STRATEGIES.includes(strategy)) {
      throw new InvalidInputError(`aggregationStrategy must be one of ${STRATEGIES.join(', ')}, got ${JSON.stringify(o.aggregationStrategy)}`);
    }
    let ignore: Set<string> = new Set(['O']);
    if (o.ignoreLabels !== undefined) {
      if (!Array.isArray(o.ignoreLabels)) throw new InvalidInputError(`ignoreLabels must be an array of labels, got ${describe(o.ignoreLabels)}`);
      ignore = new Set(o.ignoreLabels.map((l, i) => checkString(l, `ignoreLabels[${i}]`)));
    }
    let stride: number | undefined;
    if (o.stride !== undefined) {
      stride = nonNegativeInt(o.stride, 'stride');
      if (strategy === 'none') {
        throw new InvalidInputError("stride splits long texts into windows whose entities are merged: it needs an aggregationStrategy other than 'none'");
      }
      // transformers checks stride < model_max_length only; a stride up to the special tokens less
      // makes the Rust tokenizer panic.
      const maxLen = Math.min(tokenizer.modelMaxLength, m.config.encoder.maxSequenceLength);
      const room = maxLen - tokenizer.numSpecialTokensToAdd(false);
      if (stride >= room) {
        throw new InvalidInputError(`stride must be less than the ${room} text tokens a window holds (${maxLen} less ${maxLen - room} special tokens), got ${stride}`);
      }
    }
    const { items, batched } = asBatch(inputs, (x, w) => checkString(x, w));
    // transformers truncates to the tokenizer's model_max_length (bertkit caps it at the model's
    // positions, where transformers would crash); with a stride the rest becomes windows.
    const enc = tokenizer.encodeBatch(items, {
      padding: false,
      truncation: true,
      maxLength: Math.min(tokenizer.modelMaxLength, m.config.encoder.maxSequenceLength),
      ...(stride !== undefined ? { stride, returnOverflowing: true } : { returnOverflowing: false }),
    });
    const rows = enc.encodings.map(rowFromEncoding);
    const sample = enc.overflowToSampleMapping;
    const perRow = new Array<(TokenEntity | EntityGroup)[]>(rows.length);
    await runRows(
      m,
      rows,
      { batchSize: resolveBatchSize(o.batchSize, options.batchSize), what: stride !== undefined ? 'window of input' : 'input', reportIndex: (r) => sample[r]! },
      (r, res) => {
        const pre = gather(items[sample[r]!]!, enc.encodings[r]!, res.tokens('logits'));
        perRow[r] = aggregate(pre, strategy).filter((e) => !ignore.has('entity' in e ? e.entity : e.entityGroup));
      },
    );
    const results: (TokenEntity | EntityGroup)[][] = items.map(() => []);
    const windows = items.map(() => 0);
    for (let r = 0; r < rows.length; r++) {
      results[sample[r]!]!.push(...perRow[r]!);
      windows[sample[r]!]!++;
    }
    for (let i = 0; i < items.length; i++) if (windows[i]! > 1) results[i] = mergeOverlapping(results[i]!);
    return batched ? results : results[0];
  });
}

/** transformers' aggregate_overlapping_entities: of overlapping entities keep the longest (then the best). */
function mergeOverlapping<T extends { start: number; end: number; score: number }>(entities: T[]): T[] {
  if (entities.length === 0) return entities;
  const sorted = [...entities].sort((a, b) => a.start - b.start);
  const out: T[] = [];
  let prev = sorted[0]!;
  for (const e of sorted) {
    if (prev.start <= e.start && e.start < prev.end) {
      const cur = e.end - e.start;
      const was = prev.end - prev.start;
      if (cur > was || (cur === was && e.score > prev.score)) prev = e;
    } else {
      out.push(prev);
      prev = e;
    }
  }
  out.push(prev);
  return out;
}

