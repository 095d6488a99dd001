/** A BERT with seeded random weights, built in memory (for tests that need size, not meaning). */
import { createModel, type BertModel, type LoadModelOptions, type TensorInput } from '../../src-ts/index.js';

export interface RandomModelShape {
  layers: number;
  hidden: number;
  heads: number;
  intermediate: number;
  vocab?: number;
  maxPositions?: number;
}

export function randomTensors(shape: RandomModelShape, seed = 1): Record<string, TensorInput> {
  const { layers, hidden: H, intermediate: I } = shape;
  const V = shape.vocab ?? 1000;
  const P = shape.maxPositions ?? 512;
  let s = seed >>> 0 || 1;
  const rand = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296 - 0.5;
  };
  const t = (dims: number[], scale = 0.1, offset = 0): TensorInput => {
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = offset + rand() * scale;
    return { dtype: 'F32', dims, data };
  };
  const out: Record<string, TensorInput> = {
    'embeddings.word_embeddings.weight': t([V, H]),
    'embeddings.position_embeddings.weight': t([P, H]),
    'embeddings.token_type_embeddings.weight': t([2, H]),
    'embeddings.LayerNorm.weight': t([H], 0.2, 1),
    'embeddings.LayerNorm.bias': t([H]),
    'pooler.dense.weight': t([H, H]),
    'pooler.dense.bias': t([H]),
  };
  for (let l = 0; l < layers; l++) {
    const p = `encoder.layer.${l}.`;
    const lin = (name: string, o: number, i: number) => {
      out[`${p}${name}.weight`] = t([o, i]);
      out[`${p}${name}.bias`] = t([o]);
    };
    lin('attention.self.query', H, H);
    lin('attention.self.key', H, H);
    lin('attention.self.value', H, H);
    lin('attention.output.dense', H, H);
    lin('intermediate.dense', I, H);
    lin('output.dense', H, I);
    for (const ln of ['attention.output.LayerNorm', 'output.LayerNorm']) {
      out[`${p}${ln}.weight`] = t([H], 0.2, 1);
      out[`${p}${ln}.bias`] = t([H]);
    }
  }
  return out;
}

export function randomConfig(shape: RandomModelShape): Record<string, unknown> {
  return {
    model_type: 'bert',
    architectures: ['BertModel'],
    vocab_size: shape.vocab ?? 1000,
    hidden_size: shape.hidden,
    num_hidden_layers: shape.layers,
    num_attention_heads: shape.heads,
    intermediate_size: shape.intermediate,
    max_position_embeddings: shape.maxPositions ?? 512,
    type_vocab_size: 2,
  };
}

export function randomModel(shape: RandomModelShape, options: LoadModelOptions = {}, seed = 1): Promise<BertModel> {
  return createModel(randomConfig(shape), randomTensors(shape, seed), { device: 'cpu', ...options });
}
