/** A BERT with seeded random weights, built in memory (for tests that need size, not meaning). */
import { createModel, type BertModel, type LoadModelOptions, type TensorInput } from '../../src-ts/index.js';
import { randomBertConfig, randomBertTensors, type BertShape } from '../../src-ts/cli/random-bert.js';

export interface RandomModelShape {
  layers: number;
  hidden: number;
  heads: number;
  intermediate: number;
  vocab?: number;
  maxPositions?: number;
}

const full = (s: RandomModelShape): BertShape => ({ vocab: 1000, maxPositions: 512, ...s });

export function randomTensors(shape: RandomModelShape, seed = 1): Record<string, TensorInput> {
  return randomBertTensors(full(shape), seed);
}

export function randomConfig(shape: RandomModelShape): Record<string, unknown> {
  return randomBertConfig(full(shape));
}

export function randomModel(shape: RandomModelShape, options: LoadModelOptions = {}, seed = 1): Promise<BertModel> {
  return createModel(randomConfig(shape), randomTensors(shape, seed), { device: 'cpu', ...options });
}
