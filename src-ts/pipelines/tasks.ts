/**
 * The pipeline task names, apart from the pipelines themselves: the package entry exports this list
 * at import, before the pipelines are loaded (scripts/bundle.mjs). pipelines/index.ts checks that
 * it names every task of PipelineTypes, and that each has a factory.
 */
import type { PipelineTask } from './index.js';

export const TASK_NAMES = [
  'feature-extraction',
  'sentence-embeddings',
  'fill-mask',
  'text-classification',
  'sentiment-analysis',
  'token-classification',
  'ner',
  'question-answering',
  'next-sentence-prediction',
  'zero-shot-classification',
  'rerank',
  'text-ranking',
] as const;

export const PIPELINE_TASKS: readonly PipelineTask[] = Object.freeze([...TASK_NAMES]);
