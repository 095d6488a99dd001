/**
 * A BERT with seeded random weights made in memory: what `bertkit bench` and bench/forward.mjs
 * time when no model is given, so they run offline on a fresh machine. The same weights every run.
 */
import type { BertModel } from '../model/bert-model.js';
import { expectedEncoderTensors } from '../model/families.js';
import { createModel, type LoadModelOptions, type TensorInput } from '../model/load.js';

export interface BertShape {
  layers: number;
  hidden: number;
  heads: number;
  intermediate: number;
  vocab: number;
  maxPositions: number;
}

/** bert-base-uncased's shape. */
export const BERT_BASE: BertShape = { layers: 12, hidden: 768, heads: 12, intermediate: 3072, vocab: 30522, maxPositions: 512 };

/** xorshift32: uniform in [0, 1). */
export function xorshift(seed = 0x9e3779b9): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

export function randomBertConfig(shape: BertShape = BERT_BASE): Record<string, unknown> {
  return {
    architectures: ['BertModel'],
    model_type: 'bert',
    vocab_size: shape.vocab,
    hidden_size: shape.hidden,
    num_hidden_layers: shape.layers,
    num_attention_heads: shape.heads,
    intermediate_size: shape.intermediate,
    max_position_embeddings: shape.maxPositions,
    type_vocab_size: 2,
    hidden_act: 'gelu',
    layer_norm_eps: 1e-12,
  };
}

/** Every BertModel tensor (encoder and pooler), uniform with std 0.02; LayerNorm weights around 1. */
export function randomBertTensors(shape: BertShape = BERT_BASE, seed?: number): Record<string, TensorInput> {
  const rand = xorshift(seed);
  const { hidden: H, intermediate: I } = shape;
  const tensor = (dims: number[], scale = 0.02, offset = 0): TensorInput => {
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = offset + (rand() * 2 - 1) * scale * 1.7320508;
    return { dtype: 'F32', dims, data };
  };
  const tensors: Record<string, TensorInput> = {
    'embeddings.word_embeddings.weight': tensor([shape.vocab, H]),
    'embeddings.position_embeddings.weight': tensor([shape.maxPositions, H]),
    'embeddings.token_type_embeddings.weight': tensor([2, H]),
    'embeddings.LayerNorm.weight': tensor([H], 0.1, 1),
    'embeddings.LayerNorm.bias': tensor([H]),
    'pooler.dense.weight': tensor([H, H]),
    'pooler.dense.bias': tensor([H]),
  };
  const linears: [string, number, number][] = [
    ['attention.self.query', H, H],
    ['attention.self.key', H, H],
    ['attention.self.value', H, H],
    ['attention.output.dense', H, H],
    ['intermediate.dense', I, H],
    ['output.dense', H, I],
  ];
  for (let l = 0; l < shape.layers; l++) {
    const p = `encoder.layer.${l}.`;
    for (const [name, out, inp] of linears) {
      tensors[`${p}${name}.weight`] = tensor([out, inp]);
      tensors[`${p}${name}.bias`] = tensor([out]);
    }
    for (const ln of ['attention.output.LayerNorm', 'output.LayerNorm']) {
      tensors[`${p}${ln}.weight`] = tensor([H], 0.1, 1);
      tensors[`${p}${ln}.bias`] = tensor([H]);
    }
  }
  return tensors;
}

/** A BertModel of `shape` (default BERT-base) with seeded random weights. */
export function createRandomBert(shape: BertShape = BERT_BASE, options: LoadModelOptions = {}, seed?: number): Promise<BertModel> {
  return createModel(randomBertConfig(shape), randomBertTensors(shape, seed), options);
}

/** The base-sized shape and config keys of each family's built-in random model (transformers' *-base checkpoints). */
export const VARIANT_BASES: Record<string, { name: string; shape: BertShape; config: Record<string, unknown> }> = {
  bert: { name: 'BERT', shape: BERT_BASE, config: {} },
  distilbert: { name: 'DistilBERT', shape: { ...BERT_BASE, layers: 6 }, config: {} },
  roberta: { name: 'RoBERTa', shape: { ...BERT_BASE, vocab: 50265, maxPositions: 514 }, config: { type_vocab_size: 1, pad_token_id: 1, layer_norm_eps: 1e-5 } },
  'xlm-roberta': { name: 'XLM-RoBERTa', shape: { ...BERT_BASE, vocab: 250002, maxPositions: 514 }, config: { type_vocab_size: 1, pad_token_id: 1, layer_norm_eps: 1e-5 } },
  camembert: { name: 'CamemBERT', shape: { ...BERT_BASE, vocab: 32005, maxPositions: 514 }, config: { type_vocab_size: 1, pad_token_id: 1, layer_norm_eps: 1e-5 } },
  albert: { name: 'ALBERT', shape: { ...BERT_BASE, vocab: 30000 }, config: { embedding_size: 128, num_hidden_groups: 1, inner_group_num: 1, hidden_act: 'gelu_new' } },
  electra: { name: 'ELECTRA', shape: BERT_BASE, config: { embedding_size: 768 } },
};

/** The bare encoder of model_type `modelType` (any family bertkit runs) with `shape`'s sizes, as config.json keys. */
export function randomVariantConfig(modelType: string, shape: BertShape): Record<string, unknown> {
  const base = VARIANT_BASES[modelType];
  if (!base) throw new Error(`no built-in model for model_type ${JSON.stringify(modelType)}; known: ${Object.keys(VARIANT_BASES).join(', ')}`);
  const { architectures: _, ...bert } = randomBertConfig(shape);
  return { ...bert, ...base.config, model_type: modelType };
}

/**
 * A bare encoder of any family with seeded random weights: every tensor the family's description
 * expects (canonical names), uniform with std 0.02, LayerNorm weights around 1.
 */
export function createRandomVariant(modelType: string, shape: BertShape, options: LoadModelOptions = {}, seed?: number): Promise<BertModel> {
  const config = randomVariantConfig(modelType, shape);
  const rand = xorshift(seed);
  const tensors: Record<string, TensorInput> = {};
  for (const [name, dims] of expectedEncoderTensors(config)) {
    const norm = /LayerNorm\.weight$/.test(name);
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = (norm ? 1 : 0) + (rand() * 2 - 1) * (norm ? 0.1 : 0.02) * 1.7320508;
    tensors[name] = { dtype: 'F32', dims, data };
  }
  return createModel(config, tensors, options);
}
