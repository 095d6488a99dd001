/**
 * Training data: a seeded generator and shuffle, the MLM collator (transformers'
 * DataCollatorForLanguageModeling rule), next-sentence pairs from documents, and fine-tuning
 * datasets read from JSON Lines or CSV (text classification, NER with label alignment, SQuAD-style
 * question answering), padded into batches that computeGradients / trainer.step take.
 */
import { readFile } from 'node:fs/promises';
import { InvalidFileError, InvalidInputError } from '../errors.js';
import type { Encoding, Tokenizer } from '../tokenizer/index.js';
import type { TrainingInput, TrainingLabels } from './batch.js';
import { quote } from '../util/quote.js';
import { checkOptionNames, optionNames } from '../options.js';

// ---- randomness -------------------------------------------------------------------------------

/** A small seeded generator (splitmix32 → mulberry32): same seed, same sequence, everywhere. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new InvalidInputError(`seed must be an integer, got ${String(seed)}`);
    let z = (seed ^ Math.floor(seed / 4294967296)) >>> 0;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    this.#s = (z ^ (z >>> 16)) >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** Fisher–Yates with a seeded generator; returns a shuffled copy. */
export function shuffle<T>(items: readonly T[], rng: Rng): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

// ---- examples and padding ---------------------------------------------------------------------

/** One tokenized example; `label` as the task needs it (class id, floats, tags, positions). */
export interface Example {
  inputIds: number[];
  tokenTypeIds?: number[];
  /** Class id, regression value(s) or multi-hot [num_labels]. */
  label?: number | number[];
  /** Token classification: one label per token, -100 where ignored. */
  tokenLabels?: number[];
  startPosition?: number;
  endPosition?: number;
  nextSentenceLabel?: number;
  /** Kept for evaluation (QA answers, NER words). */
  meta?: Record<string, unknown>;
}

export interface Batch {
  inputs: TrainingInput & { inputIds: number[][]; attentionMask: number[][]; tokenTypeIds: number[][] };
  labels: TrainingLabels;
  examples: Example[];
}

/** Right-pads examples to the longest one and gathers their labels. */
export function collate(examples: readonly Example[], padTokenId = 0): Batch {
  if (examples.length === 0) throw new InvalidInputError('a batch needs at least one example');
  const L = Math.max(...examples.map((e) => e.inputIds.length));
  const pad = (row: number[], v: number) => [...row, ...new Array<number>(L - row.length).fill(v)];
  const inputs = {
    inputIds: examples.map((e) => pad(e.inputIds, padTokenId)),
    attentionMask: examples.map((e) => pad(new Array<number>(e.inputIds.length).fill(1), 0)),
    tokenTypeIds: examples.map((e) => pad(e.tokenTypeIds ?? new Array<number>(e.inputIds.length).fill(0), 0)),
  };
  const labels: TrainingLabels = {};
  const first = examples[0]!;
  if (first.tokenLabels) labels.labels = examples.map((e) => pad(e.tokenLabels!, -100));
  else if (first.label !== undefined) labels.labels = examples.map((e) => e.label!) as number[] | number[][];
  if (first.startPosition !== undefined) {
    labels.startPositions = examples.map((e) => e.startPosition!);
    labels.endPositions = examples.map((e) => e.endPosition!);
  }
  if (first.nextSentenceLabel !== undefined) labels.nextSentenceLabel = examples.map((e) => e.nextSentenceLabel!);
  return { inputs, labels, examples: [...examples] };
}

/** Batches of `batchSize` examples (the last may be smaller), shuffled with `rng` when given. */
export function* batches(examples: readonly Example[], batchSize: number, rng?: Rng, padTokenId = 0): Generator<Batch> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidInputError(`batchSize must be an integer >= 1, got ${String(batchSize)}`);
  const order = rng ? shuffle(examples, rng) : examples;
  for (let i = 0; i < order.length; i += batchSize) yield collate(order.slice(i, i + batchSize), padTokenId);
}

// ---- masked language modelling ----------------------------------------------------------------

export interface MlmCollatorOptions {
  /** Share of eligible tokens selected (default 0.15). */
  mlmProbability?: number;
  /** Of the selected: replaced by [MASK] (default 0.8). */
  maskReplaceProb?: number;
  /** Of the selected: replaced by a random token (default 0.1; the rest stay unchanged). */
  randomReplaceProb?: number;
  seed?: number;
}

function specialIds(tokenizer: Tokenizer): Set<number> {
  const ids = new Set<number>();
  for (const tok of Object.values(tokenizer.specialTokens)) {
    const list = Array.isArray(tok) ? tok : [tok];
    for (const t of list) {
      const id = typeof t === 'string' ? tokenizer.tokenToId(t) : undefined;
      if (id !== undefined) ids.add(id);
    }
  }
  return ids;
}

/**
 * transformers' DataCollatorForLanguageModeling (mlm=True): pads the examples, then selects each
 * token that is not special ([PAD], [UNK], [CLS], [SEP], [MASK]: path A of the fixtures' README)
 * with probability 0.15; labels are the original ids there and -100 elsewhere; of the selected,
 * 80% become [MASK], 10% a random id of the whole vocabulary, 10% stay. Seeded.
 */
export function createMlmCollator(tokenizer: Tokenizer, options: MlmCollatorOptions = {}): (examples: readonly Example[]) => Batch {
  checkOptionNames(options, optionNames<MlmCollatorOptions>({ mlmProbability: true, maskReplaceProb: true, randomReplaceProb: true, seed: true }), 'createMlmCollator() options');
  const p = options.mlmProbability ?? 0.15;
  const pMask = options.maskReplaceProb ?? 0.8;
  const pRandom = options.randomReplaceProb ?? 0.1;
  for (const [k, v] of [['mlmProbability', p], ['maskReplaceProb', pMask], ['randomReplaceProb', pRandom]] as const) {
    if (!(v >= 0 && v <= 1)) throw new InvalidInputError(`${k} must be in [0, 1], got ${String(v)}`);
  }
  if (pMask + pRandom > 1) throw new InvalidInputError('maskReplaceProb + randomReplaceProb must not exceed 1');
  const maskId = tokenizer.tokenToId(tokenizer.specialTokens['mask_token'] ?? '[MASK]');
  if (maskId === undefined) throw new InvalidInputError('the tokenizer has no mask token');
  const special = specialIds(tokenizer);
  const vocabSize = tokenizer.getVocab().size;
  const padId = tokenizer.padTokenId ?? 0;
  const rng = new Rng(options.seed ?? 0);
  const randomShare = pMask < 1 ? pRandom / (1 - pMask) : 0;
  return (examples) => {
    const batch = collate(examples, padId);
    const labels: number[][] = [];
    batch.inputs.inputIds = batch.inputs.inputIds.map((row, b) => {
      const out = [...row];
      const lab = new Array<number>(row.length).fill(-100);
      for (let j = 0; j < row.length; j++) {
        if (batch.inputs.attentionMask[b]![j] === 0 || special.has(row[j]!)) continue;
        if (rng.next() >= p) continue;
        lab[j] = row[j]!;
        if (rng.next() < pMask) out[j] = maskId;
        else if (rng.next() < randomShare) out[j] = rng.int(vocabSize);
      }
      labels.push(lab);
      return out;
    });
    const nsp = batch.labels.nextSentenceLabel;
    batch.labels = { labels };
    if (nsp) batch.labels.nextSentenceLabel = nsp;
    return batch;
  };
}

// ---- next-sentence pairs ----------------------------------------------------------------------

export interface NspOptions {
  /** Tokens per pair, [CLS] and two [SEP] included (default 128). */
  maxLength?: number;
  seed?: number;
}

/**
 * Sentence pairs for next-sentence prediction from documents (lists of sentences), as BERT's
 * create_pretraining_data: segment A is one or more consecutive sentences, B is what follows it
 * in the same document (label 0) or, half of the time, sentences from another document (label 1).
 * Pairs longer than maxLength are trimmed from the longer side.
 */
export function createNspExamples(documents: readonly (readonly string[])[], tokenizer: Tokenizer, options: NspOptions = {}): Example[] {
  checkOptionNames(options, optionNames<NspOptions>({ maxLength: true, seed: true }), 'createNspExamples() options');
  const maxLength = options.maxLength ?? 128;
  if (!Number.isInteger(maxLength) || maxLength < 5) throw new InvalidInputError('maxLength must be an integer >= 5');
  const docs = documents.filter((d) => d.length > 0);
  if (docs.length < 2) throw new InvalidInputError('next-sentence pairs need at least two non-empty documents');
  const rng = new Rng(options.seed ?? 0);
  const pieces = (s: string) => [...tokenizer.encode(s, { addSpecialTokens: false }).ids];
  const tokDocs = docs.map((d) => d.map(pieces).filter((s) => s.length > 0));
  const cls = tokenizer.tokenToId(tokenizer.specialTokens['cls_token'] ?? '[CLS]')!;
  const sep = tokenizer.tokenToId(tokenizer.specialTokens['sep_token'] ?? '[SEP]')!;
  const budget = maxLength - 3;
  const out: Example[] = [];
  tokDocs.forEach((doc, di) => {
    let i = 0;
    while (i < doc.length - 1 || (i < doc.length && doc.length === 1)) {
      // A: sentences up to half the budget (at least one), B: the rest of the budget.
      const aEnd = Math.min(doc.length - 1, i + 1 + rng.int(Math.max(1, Math.min(3, doc.length - 1 - i))));
      let a = doc.slice(i, Math.max(i + 1, aEnd)).flat();
      let b: number[];
      let label: number;
      const next = Math.max(i + 1, aEnd);
      if (next >= doc.length || rng.next() < 0.5) {
        let other = rng.int(tokDocs.length - 1);
        if (other >= di) other++;
        const od = tokDocs[other]!;
        const start = rng.int(od.length);
        b = od.slice(start, start + 2).flat();
        label = 1;
        i = next;
      } else {
        b = doc.slice(next, next + 2).flat();
        label = 0;
        i = next + 2;
      }
      while (a.length + b.length > budget) {
        const trimA = a.length > b.length;
        const t = trimA ? a : b;
        if (rng.next() < 0.5) t.shift();
        else t.pop();
        if (trimA) a = t;
        else b = t;
      }
      if (a.length === 0 || b.length === 0) continue;
      out.push({
        inputIds: [cls, ...a, sep, ...b, sep],
        tokenTypeIds: [...new Array<number>(a.length + 2).fill(0), ...new Array<number>(b.length + 1).fill(1)],
        nextSentenceLabel: label,
      });
      if (doc.length === 1) break;
    }
  });
  return out;
}

// ---- reading records ----------------------------------------------------------------------------

/** Records of a JSON Lines file (one object a line) or a CSV file with a header row (RFC 4180). */
export async function readRecords(file: string): Promise<Record<string, unknown>[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new InvalidFileError(`cannot read: ${(cause as Error).message}`, file);
  }
  if (/\.csv$/i.test(file)) return parseCsv(text, file);
  if (/\.tsv$/i.test(file)) return parseCsv(text, file, '\t');
  const out: Record<string, unknown>[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (cause) {
      throw new InvalidFileError(`line ${i + 1} is not JSON: ${(cause as Error).message}`, file);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InvalidFileError(`line ${i + 1} is not a JSON object`, file);
    out.push(v as Record<string, unknown>);
  });
  return out;
}

export function parseCsv(text: string, file = 'csv', delimiter = ','): Record<string, unknown>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === delimiter) {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      field = '';
      if (row.length > 1 || row[0] !== '') rows.push(row);
      row = [];
    } else field += c;
  }
  if (quoted) throw new InvalidFileError('unterminated quoted field', file);
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  if (rows.length === 0) return [];
  const header = rows[0]!;
  return rows.slice(1).map((r, i) => {
    if (r.length !== header.length) throw new InvalidFileError(`row ${i + 2} has ${r.length} fields, the header ${header.length}`, file);
    return Object.fromEntries(header.map((h, k) => [h, r[k]]));
  });
}

// ---- fine-tuning datasets -----------------------------------------------------------------------

export interface LabelMap {
  label2id: Record<string, number>;
  id2label: Record<number, string>;
}

/** A label value as a name: strings, numbers and booleans as String() has them; anything else quoted (String() of a deeply nested list overflows the stack). */
function labelName(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : quote(v);
}

/** The id of a label value, or undefined: own keys only (not Object.prototype's). */
function labelId(map: LabelMap, v: unknown): number | undefined {
  const name = labelName(v);
  return Object.hasOwn(map.label2id, name) ? map.label2id[name] : undefined;
}

/** Label names → ids: the config's when it names them, else sorted distinct values. */
export function buildLabelMap(values: readonly unknown[], config?: { label2id?: Record<string, number> }): LabelMap {
  const fromConfig = config?.label2id && !Object.keys(config.label2id).every((k) => /^LABEL_\d+$/.test(k)) ? config.label2id : undefined;
  // No prototype: a label called "__proto__" or "constructor" is a label like any other.
  const label2id: Record<string, number> = Object.create(null) as Record<string, number>;
  if (fromConfig) Object.assign(label2id, fromConfig);
  else {
    const distinct = [...new Set(values.map(labelName))].sort((a, b) => {
      const na = Number(a), nb = Number(b);
      return Number.isFinite(na) && Number.isFinite(nb) ? na - nb : a < b ? -1 : a > b ? 1 : 0;
    });
    distinct.forEach((v, i) => (label2id[v] = i));
  }
  const id2label: Record<number, string> = {};
  for (const [k, v] of Object.entries(label2id)) id2label[v] = k;
  return { label2id, id2label };
}

function field(r: Record<string, unknown>, name: string, i: number, required = true): unknown {
  const v = r[name];
  if (required && (v === undefined || v === null || v === '')) throw new InvalidInputError(`record ${i + 1} has no "${name}"`);
  return v;
}

export interface TextClassificationOptions {
  textField?: string;
  pairField?: string;
  labelField?: string;
  maxLength?: number;
  /** 'single_label_classification' (default), 'regression' (numbers) or 'multi_label_classification' (label lists). */
  problemType?: 'single_label_classification' | 'regression' | 'multi_label_classification';
  labels?: LabelMap;
}

/** `{ text, text_pair?, label }` records → examples (labels mapped through `labels`). */
export function textClassificationExamples(
  records: readonly Record<string, unknown>[],
  tokenizer: Tokenizer,
  options: TextClassificationOptions = {},
): { examples: Example[]; labels: LabelMap | undefined } {
  checkOptionNames(options, optionNames<TextClassificationOptions>({ textField: true, pairField: true, labelField: true, maxLength: true, problemType: true, labels: true }), 'textClassificationExamples() options');
  const tf = options.textField ?? 'text';
  const pf = options.pairField ?? 'text_pair';
  const lf = options.labelField ?? 'label';
  const maxLength = options.maxLength ?? 128;
  const pt = options.problemType ?? 'single_label_classification';
  let map = options.labels;
  if (pt === 'single_label_classification' && !map) map = buildLabelMap(records.map((r, i) => field(r, lf, i)));
  if (pt === 'multi_label_classification' && !map) map = buildLabelMap(records.flatMap((r, i) => field(r, lf, i) as unknown[]));
  const examples = records.map((r, i) => {
    const text = field(r, tf, i);
    if (typeof text !== 'string') throw new InvalidInputError(`record ${i + 1}: "${tf}" must be a string`);
    const pair = r[pf];
    const enc = tokenizer.encode(text, typeof pair === 'string' && pair !== '' ? pair : null, { truncation: true, maxLength });
    const raw = field(r, lf, i);
    let label: number | number[];
    if (pt === 'regression') {
      label = Array.isArray(raw) ? raw.map(Number) : Number(raw);
      if ([label].flat().some((x) => !Number.isFinite(x))) throw new InvalidInputError(`record ${i + 1}: regression label ${quote(raw)} is not a number`);
    } else if (pt === 'multi_label_classification') {
      if (!Array.isArray(raw)) throw new InvalidInputError(`record ${i + 1}: multi-label "${lf}" must be a list of labels`);
      const hot = new Array<number>(Object.keys(map!.label2id).length).fill(0);
      for (const l of raw) {
        const id = labelId(map!, l);
        if (id === undefined) throw new InvalidInputError(`record ${i + 1}: unknown label ${quote(l)}`);
        hot[id] = 1;
      }
      label = hot;
    } else {
      const id = labelId(map!, raw);
      if (id === undefined) throw new InvalidInputError(`record ${i + 1}: unknown label ${quote(raw)}`);
      label = id;
    }
    return { inputIds: [...enc.ids], tokenTypeIds: [...enc.typeIds], label, meta: { index: i } } satisfies Example;
  });
  return { examples, labels: map };
}

export interface TokenClassificationOptions {
  tokensField?: string;
  tagsField?: string;
  maxLength?: number;
  /** Label every sub-token with its word's tag (default false: the first sub-token only, -100 elsewhere). */
  labelAllTokens?: boolean;
  labels?: LabelMap;
}

/**
 * `{ tokens: [words], tags: [tag per word] }` records (CoNLL style) → examples. The words are
 * joined with spaces and tokenized; a word's tag goes to its first sub-token and -100 to the rest,
 * to [CLS], [SEP] and padding — what transformers' token-classification examples do with
 * word_ids().
 */
export function tokenClassificationExamples(
  records: readonly Record<string, unknown>[],
  tokenizer: Tokenizer,
  options: TokenClassificationOptions = {},
): { examples: Example[]; labels: LabelMap } {
  checkOptionNames(options, optionNames<TokenClassificationOptions>({ tokensField: true, tagsField: true, maxLength: true, labelAllTokens: true, labels: true }), 'tokenClassificationExamples() options');
  const wf = options.tokensField ?? 'tokens';
  const tf = options.tagsField ?? 'tags';
  const maxLength = options.maxLength ?? 128;
  const map = options.labels ?? buildLabelMap(records.flatMap((r, i) => field(r, tf, i) as unknown[]));
  const examples = records.map((r, i) => {
    const words = field(r, wf, i);
    const tags = field(r, tf, i);
    if (!Array.isArray(words) || !Array.isArray(tags) || words.length !== tags.length) {
      throw new InvalidInputError(`record ${i + 1}: "${wf}" and "${tf}" must be lists of the same length`);
    }
    // Character span of each word in the joined text.
    const spans: [number, number][] = [];
    let text = '';
    words.forEach((w, k) => {
      if (typeof w !== 'string') throw new InvalidInputError(`record ${i + 1}: word ${k} is not a string`);
      if (k) text += ' ';
      spans.push([text.length, text.length + w.length]);
      text += w;
    });
    const enc = tokenizer.encode(text, null, { truncation: true, maxLength });
    const tokenLabels = alignWordLabels(enc, spans, tags.map((t, k) => {
      const id = labelId(map, t);
      if (id === undefined) throw new InvalidInputError(`record ${i + 1}: unknown tag ${quote(t)} at word ${k}`);
      return id;
    }), options.labelAllTokens === true);
    return { inputIds: [...enc.ids], tokenTypeIds: [...enc.typeIds], tokenLabels, meta: { index: i, words } } satisfies Example;
  });
  return { examples, labels: map };
}

/** Per token: the tag of the word its characters fall in (first sub-token only, unless `all`). */
export function alignWordLabels(enc: Encoding, spans: readonly [number, number][], wordLabels: readonly number[], all = false): number[] {
  const offsets = enc.offsets;
  const special = enc.specialTokensMask;
  const out = new Array<number>(offsets.length).fill(-100);
  let w = 0;
  let last = -1;
  for (let t = 0; t < offsets.length; t++) {
    if (special[t]) continue;
    const [s] = offsets[t]!;
    while (w < spans.length && s >= spans[w]![1]) w++;
    if (w >= spans.length) break;
    if (w !== last) out[t] = wordLabels[w]!;
    else if (all) out[t] = wordLabels[w]!;
    last = w;
  }
  return out;
}

export interface QuestionAnsweringOptions {
  questionField?: string;
  contextField?: string;
  answersField?: string;
  maxLength?: number;
}

/**
 * SQuAD-style records `{ question, context, answers: { text: [...], answer_start: [...] } }` (the
 * Hugging Face datasets layout; `{ answer: { text, start } }` works too) → examples whose
 * start/end positions are the first and last context tokens of the first answer. The question is
 * kept whole and the context truncated ('only_second'); an answer cut off by the truncation, or
 * none, points at [CLS] (0, 0), as transformers' run_qa does.
 */
export function questionAnsweringExamples(
  records: readonly Record<string, unknown>[],
  tokenizer: Tokenizer,
  options: QuestionAnsweringOptions = {},
): Example[] {
  checkOptionNames(options, optionNames<QuestionAnsweringOptions>({ questionField: true, contextField: true, answersField: true, maxLength: true }), 'questionAnsweringExamples() options');
  const qf = options.questionField ?? 'question';
  const cf = options.contextField ?? 'context';
  const af = options.answersField ?? 'answers';
  const maxLength = options.maxLength ?? 384;
  return records.map((r, i) => {
    const question = field(r, qf, i);
    const context = field(r, cf, i);
    if (typeof question !== 'string' || typeof context !== 'string') throw new InvalidInputError(`record ${i + 1}: question and context must be strings`);
    const answers: { text: string; start: number }[] = [];
    const a = (r[af] ?? r['answer']) as any;
    if (a && Array.isArray(a.text)) a.text.forEach((t: string, k: number) => answers.push({ text: t, start: Number(a.answer_start?.[k]) }));
    else if (a && typeof a.text === 'string') answers.push({ text: a.text, start: Number(a.start ?? a.answer_start) });
    const enc = tokenizer.encode(question, context, { truncation: 'only_second', maxLength });
    let startPosition = 0;
    let endPosition = 0;
    const ans = answers[0];
    if (ans && Number.isInteger(ans.start) && ans.start >= 0) {
      const s = ans.start;
      const e = s + ans.text.length;
      const seq = enc.sequenceIds;
      const off = enc.offsets;
      let first = -1;
      let last = -1;
      for (let t = 0; t < off.length; t++) {
        if (seq[t] !== 1) continue;
        if (first < 0 && off[t]![1] > s) first = t;
        if (off[t]![0] < e) last = t;
      }
      const ctxTokens = off.map((_, t) => t).filter((t) => seq[t] === 1);
      const ctxEnd = ctxTokens.length ? off[ctxTokens.at(-1)!]![1] : 0;
      if (first >= 0 && last >= first && e <= ctxEnd) {
        startPosition = first;
        endPosition = last;
      }
    }
    return {
      inputIds: [...enc.ids],
      tokenTypeIds: [...enc.typeIds],
      startPosition,
      endPosition,
      meta: { index: i, answers: answers.map((x) => x.text), context, offsets: enc.offsets, sequenceIds: enc.sequenceIds },
    } satisfies Example;
  });
}
