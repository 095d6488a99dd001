/**
 * Padded training batches (and their labels) to the training engine's packed form.
 *
 * A padded position is packed only where Hugging Face lets it reach the loss: every real token;
 * a padded position whose token label is not -100 (token classification / MLM compute a loss
 * wherever a label is given, whatever the attention mask); every position of every row for
 * question answering (its start/end softmax runs over all L positions, padding included); the
 * pooler's position 0. A kept padded position is a query-only token (attention mask 0: nobody
 * attends to it), which is exactly how transformers computes it; positions that cannot matter
 * are dropped, so no FLOP is spent on them. A row whose mask is all zeros is kept whole and
 * attends uniformly, as transformers' finfo.min mask does.
 */
import type { Architecture, BertConfig, ProblemType } from '../config.js';
import { InvalidInputError } from '../errors.js';
import { headOf, outputField } from '../model/heads.js';
import type { IntRows } from '../inputs.js';
import type { BatchInput, ProblemTypeName, TrainLabels } from '../native/types.js';

/** What computeGradients / trainer.step take: padded rows ([B][choices][L] for multiple choice). */
export interface TrainingInput {
  inputIds: IntRows | IntRows[];
  attentionMask?: IntRows | IntRows[];
  tokenTypeIds?: IntRows | IntRows[];
}

type NumRows = ArrayLike<number>[];

/**
 * Labels with transformers' argument names, camelCase:
 *  - `{ labels }`: sequence classification [B] class ids, or [B] / [B][num_labels] floats for
 *    regression and [B][num_labels] 0/1 for multi-label; token classification and MLM [B][L]
 *    (-100 = ignored); NSP [B]; multiple choice [B];
 *  - `{ startPositions, endPositions }`: question answering [B] (clamped as transformers does);
 *  - `{ labels, nextSentenceLabel }`: BertForPreTraining ([B][L] and [B]).
 */
export interface TrainingLabels {
  labels?: ArrayLike<number> | NumRows;
  startPositions?: ArrayLike<number>;
  endPositions?: ArrayLike<number>;
  nextSentenceLabel?: ArrayLike<number>;
}

export interface PackedTrainingBatch {
  input: BatchInput;
  labels: TrainLabels;
  rows: number;
  length: number;
  choices: number;
  /** Packed token t came from row tokenRow[t], padded position tokenPos[t]. */
  tokenRow: Int32Array;
  tokenPos: Int32Array;
  problemType?: ProblemTypeName;
}

const IGNORE = -100;

function rowsOf(name: string, v: unknown): IntRows {
  if (!Array.isArray(v) && !(v !== null && typeof v === 'object' && typeof (v as ArrayLike<unknown>).length === 'number')) {
    throw new InvalidInputError(`${name} must be an array of rows`);
  }
  const rows = Array.from(v as ArrayLike<unknown>);
  for (let b = 0; b < rows.length; b++) {
    const r = rows[b];
    if (r === null || typeof r !== 'object' || typeof (r as ArrayLike<number>).length !== 'number') {
      throw new InvalidInputError(`${name}[${b}] must be an array or typed array of integers`);
    }
  }
  return rows as IntRows;
}

function isRowArray(v: unknown): boolean {
  const first = (v as ArrayLike<unknown>)?.[0];
  return first !== null && typeof first === 'object';
}

function int(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
    throw new InvalidInputError(`${name} must be an integer, got ${String(v)}`);
  }
  return v;
}

function flat1(name: string, v: unknown, n: number): number[] {
  if (v == null || typeof (v as ArrayLike<number>).length !== 'number' || isRowArray(v)) {
    throw new InvalidInputError(`${name} must be a flat array of ${n} numbers (one per sequence)`);
  }
  const a = Array.from(v as ArrayLike<number>);
  if (a.length !== n) throw new InvalidInputError(`${name} has ${a.length} entries, the batch has ${n} rows`);
  return a;
}

function sameShape(name: string, v: unknown, B: number, L: number): number[][] {
  const rows = rowsOf(name, v);
  if (rows.length !== B) throw new InvalidInputError(`${name} has ${rows.length} rows, inputIds has ${B}`);
  return rows.map((r, b) => {
    if (r.length !== L) throw new InvalidInputError(`${name}[${b}] has ${r.length} entries, expected ${L} (the padded length)`);
    return Array.from(r);
  });
}

/** The problem type transformers would pick for these labels (config.problem_type first). */
export function problemTypeFor(config: BertConfig, labels: unknown): ProblemType {
  if (config.problem_type) return config.problem_type;
  if (config.num_labels === 1) return 'regression';
  if (isRowArray(labels)) return 'multi_label_classification';
  return 'single_label_classification';
}

/** Checks and packs one padded batch with its labels for `architecture`. */
export function packTrainingBatch(
  config: BertConfig,
  architecture: Architecture,
  input: TrainingInput,
  labels: TrainingLabels,
): PackedTrainingBatch {
  if (input === null || typeof input !== 'object') throw new InvalidInputError('inputs must be { inputIds, attentionMask?, tokenTypeIds? }');
  if (labels === null || typeof labels !== 'object') {
    throw new InvalidInputError('labels must be { labels } | { startPositions, endPositions } | { labels, nextSentenceLabel }');
  }
  const head = headOf(architecture) ?? 'base';
  if (head === 'base') {
    throw new InvalidInputError(`${architecture} has no head and no loss: load the checkpoint with a task architecture to train it`);
  }
  let ids = rowsOf('inputIds', input.inputIds);
  let mask = input.attentionMask == null ? undefined : rowsOf('attentionMask', input.attentionMask);
  let types = input.tokenTypeIds == null ? undefined : rowsOf('tokenTypeIds', input.tokenTypeIds);
  let choices = 0;
  if (head === 'MultipleChoice') {
    // [B][choices][L] -> [B * choices][L]
    if (!ids.length || !isRowArray(ids[0])) throw new InvalidInputError(`${architecture} takes inputIds shaped [batch][choices][length]`);
    choices = ids[0]!.length;
    const examples = ids.length;
    const flat = (rows: IntRows | undefined, name: string): IntRows | undefined => {
      if (!rows) return undefined;
      if (rows.length !== examples) throw new InvalidInputError(`${name} must be shaped like inputIds`);
      const out: IntRows = [];
      rows.forEach((r, b) => {
        const ex = rowsOf(`${name}[${b}]`, r);
        if (ex.length !== choices) throw new InvalidInputError(`${name}[${b}] has ${ex.length} choices, expected ${choices}`);
        out.push(...ex);
      });
      return out;
    };
    ids = flat(ids, 'inputIds')!;
    mask = flat(mask, 'attentionMask');
    types = flat(types, 'tokenTypeIds');
  }
  const B = ids.length;
  if (B === 0) throw new InvalidInputError('the batch is empty: inputIds needs at least one row');
  let L = 0;
  for (const r of ids) L = Math.max(L, r.length);
  if (L === 0) throw new InvalidInputError('inputIds rows are empty');
  // Rows shorter than L (the tokenizer's unpadded batches) are right-padded with mask 0.
  const at = (rows: IntRows | undefined, b: number, j: number, fallback: number): number =>
    rows && j < rows[b]!.length ? rows[b]![j]! : fallback;
  for (const [name, rows] of [['attentionMask', mask], ['tokenTypeIds', types]] as const) {
    if (!rows) continue;
    if (rows.length !== B) throw new InvalidInputError(`${name} has ${rows.length} rows, inputIds has ${B}`);
    rows.forEach((r, b) => {
      if (r.length !== ids[b]!.length) throw new InvalidInputError(`${name}[${b}] has ${r.length} entries, inputIds[${b}] has ${ids[b]!.length}`);
    });
  }
  if (L > config.max_position_embeddings) {
    throw new InvalidInputError(
      `sequence length ${L} exceeds the model's max_position_embeddings (${config.max_position_embeddings}); truncate the input`,
    );
  }
  const maskAt = (b: number, j: number): number => {
    if (j >= ids[b]!.length) return 0;
    const m = at(mask, b, j, 1);
    if (m !== 0 && m !== 1) throw new InvalidInputError(`attentionMask[${b}][${j}] must be 0 or 1, got ${String(m)}`);
    return m;
  };

  // Labels, in padded form first.
  const out: TrainLabels = {};
  let tokenLabels: number[][] | undefined;
  let problemType: ProblemTypeName | undefined;
  const need = (cond: unknown, what: string) => {
    if (!cond) throw new InvalidInputError(`${architecture} needs ${what}`);
  };
  const classRange = (name: string, v: number, k: number) => {
    int(name, v);
    if (v !== IGNORE && (v < 0 || v >= k)) throw new InvalidInputError(`${name} = ${v} is outside [0, ${k}) (and is not -100, the ignored label)`);
    return v;
  };
  // ELECTRA's PreTraining head is the replaced-token discriminator: its labels are per token, 0 / 1.
  switch (outputField(head, 'replaced', config.model_type) !== undefined ? 'discriminator' : head) {
    case 'SequenceClassification': {
      need(labels.labels != null, '{ labels }');
      problemType = problemTypeFor(config, labels.labels);
      const C = config.num_labels;
      if (problemType === 'single_label_classification') {
        const l = flat1('labels', labels.labels, B);
        out.labels = Int32Array.from(l, (v, i) => classRange(`labels[${i}]`, v, C));
      } else {
        let values: number[];
        if (isRowArray(labels.labels)) {
          values = sameShape('labels', labels.labels, B, C).flat();
        } else if (C === 1) {
          values = flat1('labels', labels.labels, B);
        } else {
          throw new InvalidInputError(`${problemType} with ${C} labels needs labels shaped [batch][${C}]`);
        }
        values.forEach((v, i) => {
          if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidInputError(`labels: value ${i} is not a finite number`);
        });
        out.float_labels = Float32Array.from(values);
      }
      out.problem_type = problemType;
      break;
    }
    case 'MultipleChoice': {
      need(labels.labels != null, '{ labels }');
      const l = flat1('labels', labels.labels, B / choices);
      out.labels = Int32Array.from(l, (v, i) => classRange(`labels[${i}]`, v, choices));
      out.num_choices = choices;
      break;
    }
    case 'NextSentencePrediction': {
      need(labels.labels != null, '{ labels } (0 = is next, 1 = random)');
      const l = flat1('labels', labels.labels, B);
      out.labels = Int32Array.from(l, (v, i) => classRange(`labels[${i}]`, v, 2));
      break;
    }
    case 'TokenClassification':
    case 'MaskedLM':
    case 'PreTraining': {
      need(labels.labels != null, head === 'PreTraining' ? '{ labels, nextSentenceLabel }' : '{ labels } shaped [batch][length]');
      if (!isRowArray(labels.labels)) throw new InvalidInputError(`${architecture} labels must be shaped [batch][length] (-100 = ignored)`);
      const K = head === 'TokenClassification' ? config.num_labels : config.vocab_size;
      tokenLabels = sameShape('labels', labels.labels, B, L).map((r, b) => r.map((v, j) => classRange(`labels[${b}][${j}]`, v, K)));
      if (head === 'PreTraining') {
        need(labels.nextSentenceLabel != null, '{ labels, nextSentenceLabel }');
        const n = flat1('nextSentenceLabel', labels.nextSentenceLabel, B);
        out.next_sentence_label = Int32Array.from(n, (v, i) => classRange(`nextSentenceLabel[${i}]`, v, 2));
      }
      break;
    }
    case 'discriminator': {
      // The discriminator: per token 1 = replaced, 0 = original; tokens with mask 0 are left out
      // of the loss, as transformers does.
      need(labels.labels != null, '{ labels } shaped [batch][length] (1 = replaced token)');
      if (!isRowArray(labels.labels)) throw new InvalidInputError(`${architecture} labels must be shaped [batch][length]`);
      tokenLabels = sameShape('labels', labels.labels, B, L).map((r, b) => r.map((v, j) => (maskAt(b, j) === 1 ? classRange(`labels[${b}][${j}]`, v, 2) : IGNORE)));
      break;
    }
    case 'QuestionAnswering': {
      need(labels.startPositions != null && labels.endPositions != null, '{ startPositions, endPositions }');
      out.start_positions = Int32Array.from(flat1('startPositions', labels.startPositions, B), (v, i) => int(`startPositions[${i}]`, v));
      out.end_positions = Int32Array.from(flat1('endPositions', labels.endPositions, B), (v, i) => int(`endPositions[${i}]`, v));
      break;
    }
    default:
      throw new InvalidInputError(`${architecture} cannot be trained`);
  }

  // Which padded positions to pack: 1 = token, 2 = query-only (mask 0) token.
  const keep = new Uint8Array(B * L);
  const allPositions = head === 'QuestionAnswering';
  let total = 0;
  for (let b = 0; b < B; b++) {
    let any = false;
    for (let j = 0; j < L; j++) {
      if (maskAt(b, j) === 1) {
        keep[b * L + j] = 1;
        any = true;
      } else if (allPositions || (tokenLabels && tokenLabels[b]![j] !== IGNORE)) {
        keep[b * L + j] = 2;
      }
    }
    if (!any) {
      for (let j = 0; j < L; j++) keep[b * L + j] = 2;
    } else if (keep[b * L] === 0) {
      keep[b * L] = 2;
    }
    for (let j = 0; j < L; j++) if (keep[b * L + j]) total++;
  }
  const padId = config.pad_token_id ?? 0;
  const inputIds = new Int32Array(total);
  const tokenTypes = types ? new Int32Array(total) : undefined;
  const positions = new Int32Array(total);
  const maskOut = new Uint8Array(total);
  const cu = new Int32Array(B + 1);
  const tokenRow = new Int32Array(total);
  const tokenPos = new Int32Array(total);
  const packedLabels = tokenLabels ? new Int32Array(total) : undefined;
  let anyMasked = false;
  let t = 0;
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < L; j++) {
      const k = keep[b * L + j]!;
      if (!k) continue;
      inputIds[t] = int(`inputIds[${b}][${j}]`, at(ids, b, j, padId));
      if (tokenTypes) tokenTypes[t] = int(`tokenTypeIds[${b}][${j}]`, at(types, b, j, 0));
      positions[t] = j;
      maskOut[t] = k === 1 ? 1 : 0;
      if (k !== 1) anyMasked = true;
      tokenRow[t] = b;
      tokenPos[t] = j;
      if (packedLabels) packedLabels[t] = tokenLabels![b]![j]!;
      t++;
    }
    cu[b + 1] = t;
  }
  if (packedLabels) out.labels = packedLabels;
  const batch: BatchInput = { input_ids: inputIds, cu_seqlens: cu, position_ids: positions };
  if (tokenTypes) batch.token_type_ids = tokenTypes;
  if (anyMasked) batch.attention_mask = maskOut;
  return { input: batch, labels: out, rows: B, length: L, choices, tokenRow, tokenPos, problemType };
}

/** Packed per-token rows of `width` floats to a zero-filled padded [B, L, width] array. */
export function scatterRows(packed: Float32Array, width: number, p: PackedTrainingBatch): Float32Array {
  const out = new Float32Array(p.rows * p.length * width);
  for (let t = 0; t < p.tokenRow.length; t++) {
    out.set(packed.subarray(t * width, (t + 1) * width), (p.tokenRow[t]! * p.length + p.tokenPos[t]!) * width);
  }
  return out;
}
