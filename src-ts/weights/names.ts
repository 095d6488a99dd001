/**
 * Checkpoint tensor names → canonical names, checked against what an architecture needs.
 *
 * Canonical names are transformers' `BertModel` names (no `bert.` prefix) for the encoder and
 * transformers' head names as is, so a canonical name is also a valid checkpoint name.
 */
import { ARCHITECTURES, type Architecture, type BertConfig } from '../config.js';
import { InvalidFileError, UnsupportedModelError, WeightsMismatchError } from '../errors.js';
import type { RawTensor } from './types.js';

const POOLER = ['pooler.dense.weight', 'pooler.dense.bias'];
const DECODER_WEIGHT = 'cls.predictions.decoder.weight';
/** The same parameter as `cls.predictions.bias` in transformers (`decoder.bias = bias`). */
const DECODER_BIAS = 'cls.predictions.decoder.bias';
const MLM_BIAS = 'cls.predictions.bias';
/** Buffers `BertEmbeddings` registers; old checkpoints store them, nothing reads them. */
const BUFFERS = ['embeddings.position_ids', 'embeddings.token_type_ids'];

/** HF: the MLM, token-classification and QA models are built with add_pooling_layer=False. */
const HEADS: Record<Architecture, { pooler: boolean; mlm?: true; nsp?: true; classifier?: 'labels' | 'choice'; qa?: true }> = {
  BertModel: { pooler: true },
  BertForMaskedLM: { pooler: false, mlm: true },
  BertForNextSentencePrediction: { pooler: true, nsp: true },
  BertForPreTraining: { pooler: true, mlm: true, nsp: true },
  BertForSequenceClassification: { pooler: true, classifier: 'labels' },
  BertForTokenClassification: { pooler: false, classifier: 'labels' },
  BertForQuestionAnswering: { pooler: false, qa: true },
  BertForMultipleChoice: { pooler: true, classifier: 'choice' },
};

/** Canonical name → shape of every tensor the architecture uses (BertModel's pooler included). */
export function expectedTensors(config: BertConfig, architecture: Architecture): Map<string, number[]> {
  // hasOwn: a name from config.json must not reach Object.prototype ("constructor").
  if (!Object.hasOwn(HEADS, architecture)) throw new UnsupportedModelError(`architecture ${JSON.stringify(architecture)} is not supported; supported: ${ARCHITECTURES.join(', ')}`);
  const heads = HEADS[architecture];
  const H = config.hidden_size;
  const I = config.intermediate_size;
  const m = new Map<string, number[]>();
  const linear = (prefix: string, out: number, inp: number) => {
    m.set(`${prefix}.weight`, [out, inp]);
    m.set(`${prefix}.bias`, [out]);
  };
  const layerNorm = (prefix: string) => {
    m.set(`${prefix}.weight`, [H]);
    m.set(`${prefix}.bias`, [H]);
  };

  m.set('embeddings.word_embeddings.weight', [config.vocab_size, H]);
  m.set('embeddings.position_embeddings.weight', [config.max_position_embeddings, H]);
  m.set('embeddings.token_type_embeddings.weight', [config.type_vocab_size, H]);
  layerNorm('embeddings.LayerNorm');
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const l = `encoder.layer.${i}`;
    linear(`${l}.attention.self.query`, H, H);
    linear(`${l}.attention.self.key`, H, H);
    linear(`${l}.attention.self.value`, H, H);
    linear(`${l}.attention.output.dense`, H, H);
    layerNorm(`${l}.attention.output.LayerNorm`);
    linear(`${l}.intermediate.dense`, I, H);
    linear(`${l}.output.dense`, H, I);
    layerNorm(`${l}.output.LayerNorm`);
  }
  if (heads.pooler) linear('pooler.dense', H, H);
  if (heads.mlm) {
    linear('cls.predictions.transform.dense', H, H);
    layerNorm('cls.predictions.transform.LayerNorm');
    m.set(MLM_BIAS, [config.vocab_size]);
    if (!config.tie_word_embeddings) m.set(DECODER_WEIGHT, [config.vocab_size, H]);
  }
  if (heads.nsp) linear('cls.seq_relationship', 2, H);
  if (heads.classifier) linear('classifier', heads.classifier === 'choice' ? 1 : config.num_labels, H);
  if (heads.qa) linear('qa_outputs', 2, H);
  return m;
}

export interface ResolvedWeights {
  /** Canonical name → tensor, in `expectedTensors` order; float dtypes only (F64 became F32). */
  tensors: Map<string, RawTensor>;
  /** Canonical name → the name it had in the checkpoint. */
  sourceNames: Map<string, string>;
  /** Checkpoint names that belong to BERT but not to this architecture (other heads, buffers, tied copies). */
  ignored: string[];
  /** False only for a BertModel checkpoint saved without its pooler. */
  hasPooler: boolean;
}

/** The canonical name a checkpoint name stands for (not yet checked against anything). */
function canonicalName(name: string): string {
  let n = name;
  if (/^bert\.(embeddings|encoder|pooler)\./.test(n)) n = n.slice('bert.'.length);
  // TF-era LayerNorm names, renamed as transformers does on load.
  if (n.endsWith('LayerNorm.gamma')) n = `${n.slice(0, -'gamma'.length)}weight`;
  else if (n.endsWith('LayerNorm.beta')) n = `${n.slice(0, -'beta'.length)}bias`;
  return n;
}

export function resolveWeights(
  tensors: Map<string, RawTensor>,
  config: BertConfig,
  architecture: Architecture,
  file?: string,
): ResolvedWeights {
  const expected = expectedTensors(config, architecture);
  // Everything any BERT architecture may store, so only foreign names count as unexpected.
  const known = new Set<string>([DECODER_WEIGHT, DECODER_BIAS, ...BUFFERS]);
  for (const a of ARCHITECTURES) for (const n of expectedTensors(config, a).keys()) known.add(n);

  const found = new Map<string, RawTensor>();
  const sourceNames = new Map<string, string>();
  const ignored: string[] = [];
  const unexpected: string[] = [];
  let decoderBias: [string, RawTensor] | undefined;
  for (const [source, t] of tensors) {
    const name = canonicalName(source);
    if (name === DECODER_BIAS && expected.has(MLM_BIAS)) {
      decoderBias = [source, t];
    } else if (expected.has(name)) {
      const other = sourceNames.get(name);
      if (other !== undefined) throw new InvalidFileError(`"${other}" and "${source}" are both stored for ${name}`, file);
      found.set(name, t);
      sourceNames.set(name, source);
    } else if (known.has(name)) {
      ignored.push(source);
    } else {
      unexpected.push(source);
    }
  }
  if (decoderBias) {
    if (found.has(MLM_BIAS)) {
      ignored.push(decoderBias[0]);
    } else {
      found.set(MLM_BIAS, decoderBias[1]);
      sourceNames.set(MLM_BIAS, decoderBias[0]);
    }
  }

  // BertModel's pooler is optional (add_pooling_layer=False models are saved without one).
  const hasPooler = expected.has(POOLER[0]!) && (architecture !== 'BertModel' || POOLER.some((n) => found.has(n)));
  const missing: string[] = [];
  const wrongShape: { name: string; expected: number[]; actual: number[] }[] = [];
  for (const [name, shape] of expected) {
    const t = found.get(name);
    if (!t) {
      if (hasPooler || !POOLER.includes(name)) missing.push(name);
    } else if (t.dims.length !== shape.length || t.dims.some((d, i) => d !== shape[i])) {
      wrongShape.push({ name: sourceNames.get(name)!, expected: shape, actual: t.dims });
    }
  }
  if (missing.length || unexpected.length || wrongShape.length) throw new WeightsMismatchError({ missing, unexpected, wrongShape }, file);

  const notFloat: string[] = [];
  const out = new Map<string, RawTensor>();
  for (const name of expected.keys()) {
    const t = found.get(name);
    if (!t) continue;
    if (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16') out.set(name, { ...t, name });
    else if (t.dtype === 'F64') out.set(name, { name, dtype: 'F32', dims: t.dims, data: f64ToF32(t.data) });
    else notFloat.push(`${sourceNames.get(name)} (${t.dtype})`);
  }
  if (notFloat.length) throw new InvalidFileError(`weights must be floating point (F32, F16, BF16 or F64): ${notFloat.join(', ')}`, file);
  return { tensors: out, sourceNames, ignored, hasPooler };
}

function f64ToF32(data: Uint8Array): Uint8Array {
  const src = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength / 2);
  const dst = new DataView(out.buffer);
  for (let i = 0; i * 8 < data.byteLength; i++) dst.setFloat32(i * 4, src.getFloat64(i * 8, true), true);
  return out;
}
