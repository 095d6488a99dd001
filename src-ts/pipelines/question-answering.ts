/**
 * `question-answering`: transformers' (4.x, fast tokenizer) QuestionAnsweringPipeline on
 * BertForQuestionAnswering — long contexts split into overlapping windows, span scores
 * softmax(start) × softmax(end), candidates with the same answer text summed across windows.
 */
import { InvalidInputError } from '../errors.js';
import type { BertModel } from '../model/bert-model.js';
import type { BatchEncoding, Encoding, Tokenizer } from '../tokenizer/index.js';
import { acquireModel, makePipeline, type PipelineBase, type PipelineOptions } from './base.js';
import { rowFromEncoding, runRows, type Row } from './run.js';
import { positiveInt } from '../util/checks.js';
import { softmax } from '../util/math.js';
import { asBatch, checkOptions, checkString, describe, resolveBatchSize } from './util.js';
import { optionNames } from '../options.js';

/** The option names a call takes (the compiler checks the list against the type). */
const CALL_OPTIONS = optionNames<QuestionAnsweringOptions>({ topK: true, docStride: true, maxSeqLen: true, maxQuestionLen: true, maxAnswerLen: true, handleImpossibleAnswer: true, alignToWords: true, batchSize: true });

export interface QuestionAnsweringOptions {
  /** Answers to return (default 1: a bare object; more: a list, best first). */
  topK?: number;
  /** Tokens each context window repeats from the previous one (default min(maxSeqLen / 2, 128)). */
  docStride?: number;
  /** Tokens per window, question and special tokens included (default min(model_max_length, 384, max_position_embeddings)). */
  maxSeqLen?: number;
  /**
   * transformers ignores it with a fast tokenizer (the question is kept whole), and so does bertkit —
   * except where the whole question leaves no room for the context windows, where transformers
   * crashes: bertkit then truncates the question to this many tokens (default 64).
   */
  maxQuestionLen?: number;
  /** Longest answer in tokens (default 15). */
  maxAnswerLen?: number;
  /** Also offer the empty answer ({ start: 0, end: 0, answer: '' }) with the [CLS] score (default false). */
  handleImpossibleAnswer?: boolean;
  /** Widen answers to whole words (default true). */
  alignToWords?: boolean;
  batchSize?: number;
}

export interface QuestionAnsweringInput {
  question: string;
  context: string;
}

export interface Answer {
  score: number;
  /** UTF-16 offsets into the context: `answer === context.slice(start, end)`. */
  start: number;
  end: number;
  answer: string;
}

export interface QuestionAnsweringPipeline extends PipelineBase {
  /** The best answer (topK 1, the default). */
  (input: QuestionAnsweringInput, options?: QuestionAnsweringOptions & { topK?: 1 }): Promise<Answer>;
  (inputs: QuestionAnsweringInput[], options?: QuestionAnsweringOptions & { topK?: 1 }): Promise<Answer[]>;
  /** The `topK` best answers (a bare Answer when topK is 1, as in transformers). */
  (input: QuestionAnsweringInput, options: QuestionAnsweringOptions): Promise<Answer | Answer[]>;
  (inputs: QuestionAnsweringInput[], options: QuestionAnsweringOptions): Promise<(Answer | Answer[])[]>;
}

function checkQA(x: unknown, what: string): QuestionAnsweringInput {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) {
    throw new InvalidInputError(`${what} must be { question, context }, got ${describe(x)}`);
  }
  const q = x as Partial<QuestionAnsweringInput>;
  return { question: checkString(q.question, `${what}.question`, true), context: checkString(q.context, `${what}.context`, true) };
}

interface Span {
  s: number;
  e: number;
  score: number;
}

/**
 * transformers' decode_spans: the k best (start, end) pairs of the outer product of the start and
 * end probabilities with start ≤ end < start + maxAnswerLen; pairs of score 0 fill up in row-major
 * order (where numpy's partition order is unspecified). Only pairs of allowed tokens are kept.
 */
function decodeSpans(pS: Float64Array, pE: Float64Array, allowed: Uint8Array, maxAnswerLen: number, k: number): Span[] {
  const n = pS.length;
  const positive: Span[] = [];
  for (let s = 0; s < n; s++) {
    if (pS[s] === 0) continue;
    const last = Math.min(n - 1, s + maxAnswerLen - 1);
    for (let e = s; e <= last; e++) {
      const v = pS[s]! * pE[e]!;
      if (v > 0) positive.push({ s, e, score: v });
    }
  }
  positive.sort((a, b) => b.score - a.score || a.s * n + a.e - (b.s * n + b.e));
  let picked: Span[];
  if (positive.length >= k) picked = positive.slice(0, k);
  else {
    picked = positive;
    const taken = new Set(positive.map((p) => p.s * n + p.e));
    for (let f = 0; f < n * n && picked.length < k; f++) {
      if (!taken.has(f)) picked.push({ s: Math.floor(f / n), e: f % n, score: 0 });
    }
  }
  return picked.filter((p) => allowed[p.s] && allowed[p.e]);
}

/** Character span of a word of the context within one window (tokenizers' word_to_chars). */
function wordChars(enc: Encoding, word: number): [number, number] | null {
  const seq = enc.sequenceIds;
  const words = enc.wordIds;
  const offsets = enc.offsets;
  let first = -1;
  let last = -1;
  for (let t = 0; t < enc.length; t++) {
    if (seq[t] === 1 && words[t] === word) {
      if (first < 0) first = t;
      last = t;
    }
  }
  return first < 0 ? null : [offsets[first]![0], offsets[last]![1]];
}

function spanChars(enc: Encoding, s: number, e: number, alignToWords: boolean): [number, number] {
  if (alignToWords) {
    const ws = enc.wordIds[s];
    const we = enc.wordIds[e];
    if (ws !== null && ws !== undefined && we !== null && we !== undefined) {
      const a = wordChars(enc, ws);
      const b = wordChars(enc, we);
      if (a && b) return [a[0], b[1]];
    }
  }
  // Tokens without a word ([CLS]) keep their offsets, as transformers' fallback.
  return [enc.offsets[s]![0], enc.offsets[e]![1]];
}

const isTruncationError = (err: unknown): boolean =>
  err instanceof InvalidInputError && /stride|too short|shorter than the/i.test(err.message);

/** The question's first `n` tokens, as text. */
function truncateQuestion(tokenizer: Tokenizer, question: string, n: number): string {
  const e = tokenizer.encode(question, { addSpecialTokens: false, truncation: false, padding: false });
  if (e.length <= n) return question;
  return question.slice(0, e.offsets[n - 1]![1]);
}

export async function createQuestionAnswering(model: string | BertModel, options: PipelineOptions): Promise<QuestionAnsweringPipeline> {
  const acquired = await acquireModel(
    model,
    { task: 'question-answering', accepts: ['QuestionAnswering'], loadAs: 'QuestionAnswering' },
    options,
  );
  const { model: m, tokenizer } = acquired;
  const clsToken = tokenizer.specialTokens['cls_token'];
  const clsId = clsToken === undefined ? undefined : tokenizer.tokenToId(clsToken);

  return makePipeline<QuestionAnsweringPipeline>('question-answering', acquired, async (inputs: unknown, callOptions?: unknown) => {
    const o = checkOptions<QuestionAnsweringOptions>(callOptions, CALL_OPTIONS, 'question-answering options');
    const topK = o.topK === undefined ? 1 : positiveInt(o.topK, 'topK');
    const maxSeqLen = o.maxSeqLen === undefined ? Math.min(tokenizer.modelMaxLength, 384, m.config.encoder.maxSequenceLength) : positiveInt(o.maxSeqLen, 'maxSeqLen');
    const docStride = o.docStride === undefined ? Math.min(Math.floor(maxSeqLen / 2), 128) : positiveInt(o.docStride, 'docStride');
    if (docStride > maxSeqLen) throw new InvalidInputError(`docStride (${docStride}) is larger than maxSeqLen (${maxSeqLen})`);
    const maxQuestionLen = o.maxQuestionLen === undefined ? 64 : positiveInt(o.maxQuestionLen, 'maxQuestionLen');
    const maxAnswerLen = o.maxAnswerLen === undefined ? 15 : positiveInt(o.maxAnswerLen, 'maxAnswerLen');
    const handleImpossible = o.handleImpossibleAnswer ?? false;
    const alignToWords = o.alignToWords ?? true;
    if (typeof handleImpossible !== 'boolean') throw new InvalidInputError('handleImpossibleAnswer must be a boolean');
    if (typeof alignToWords !== 'boolean') throw new InvalidInputError('alignToWords must be a boolean');
    const { items, batched } = asBatch(inputs, checkQA);

    // Windows of every input: [question] + a slice of the context, docStride tokens of overlap.
    const encOptions = { truncation: 'only_second', maxLength: maxSeqLen, stride: docStride, returnOverflowing: true, padding: false } as const;
    const windows: Encoding[] = [];
    const owner: number[] = [];
    items.forEach(({ question, context }, i) => {
      let batch: BatchEncoding;
      try {
        batch = tokenizer.encodeBatch([[question, context]], encOptions);
      } catch (err) {
        if (!isTruncationError(err)) throw err;
        const qLen = tokenizer.encode(question, { addSpecialTokens: false, truncation: false, padding: false }).length;
        const room = maxSeqLen - qLen - tokenizer.numSpecialTokensToAdd(true);
        const why =
          `the question${batched ? ` of input ${i}` : ''} takes ${qLen} tokens, which leaves ${Math.max(room, 0)} of maxSeqLen ${maxSeqLen} ` +
          `for the context, not more than docStride ${docStride}`;
        if (qLen <= maxQuestionLen) {
          throw new InvalidInputError(`${why}: raise maxSeqLen, lower docStride or shorten the question`, { cause: err });
        }
        // transformers crashes here (a Rust panic); keep the question's first maxQuestionLen tokens instead.
        try {
          batch = tokenizer.encodeBatch([[truncateQuestion(tokenizer, question, maxQuestionLen), context]], encOptions);
        } catch (err2) {
          if (!isTruncationError(err2)) throw err2;
          throw new InvalidInputError(`${why}, even cut to maxQuestionLen ${maxQuestionLen}: raise maxSeqLen or lower docStride/maxQuestionLen`, { cause: err2 });
        }
      }
      for (const e of batch.encodings) {
        windows.push(e);
        owner.push(i);
      }
    });
    const rows: Row[] = windows.map(rowFromEncoding);

    const answers: Answer[][] = items.map(() => []);
    const minNull = items.map(() => 1_000_000);
    const preTopK = alignToWords ? 2 * topK + 10 : topK;
    // Windows are handled in input order so that merged answers keep transformers' first occurrence.
    const perWindow = new Array<{ spans: Span[] } | undefined>(rows.length);
    await runRows(
      m,
      rows,
      {
        batchSize: resolveBatchSize(o.batchSize, options.batchSize),
        what: 'window of input',
        reportIndex: (r) => owner[r]!,
        tooLongHint: `lower maxSeqLen (${maxSeqLen})`,
      },
      (w, res) => {
        const enc = windows[w]!;
        const n = enc.length;
        const seq = enc.sequenceIds;
        const mask = enc.attentionMask;
        const allowed = new Uint8Array(n);
        for (let t = 0; t < n; t++) allowed[t] = (seq[t] === 1 || enc.ids[t] === clsId) && mask[t] !== 0 ? 1 : 0;
        const maskLogits = (x: Float32Array): Float64Array => {
          const y = new Float64Array(n);
          for (let t = 0; t < n; t++) y[t] = allowed[t] ? x[t]! : -10000;
          return softmax(y);
        };
        const pS = maskLogits(res.tokens('startLogits'));
        const pE = maskLogits(res.tokens('endLogits'));
        const i = owner[w]!;
        if (handleImpossible) minNull[i] = Math.min(minNull[i]!, pS[0]! * pE[0]!);
        pS[0] = 0;
        pE[0] = 0;
        perWindow[w] = { spans: decodeSpans(pS, pE, allowed, maxAnswerLen, preTopK) };
      },
    );
    for (let w = 0; w < windows.length; w++) {
      const i = owner[w]!;
      const context = items[i]!.context;
      const list = answers[i]!;
      for (const { s, e, score } of perWindow[w]!.spans) {
        const [start, end] = spanChars(windows[w]!, s, e, alignToWords);
        const text = context.slice(start, end);
        const lower = text.toLowerCase();
        const same = list.find((a) => a.answer.toLowerCase() === lower);
        if (same) same.score += score;
        else list.push({ score, start, end, answer: text });
      }
    }
    const results = items.map((_, i) => {
      const list = answers[i]!;
      if (handleImpossible) list.push({ score: minNull[i]!, start: 0, end: 0, answer: '' });
      const best = list.map((a, k) => [a, k] as const).sort((x, y) => y[0].score - x[0].score || x[1] - y[1]).map(([a]) => a).slice(0, topK);
      // No candidate at all (no context token survived): the empty answer, score 0.
      return topK === 1 ? (best[0] ?? { score: 0, start: 0, end: 0, answer: '' }) : best;
    });
    return batched ? results : results[0];
  });
}
