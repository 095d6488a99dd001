/**
 * `pipeline(task, model, options)`: the tasks users run, with transformers' (and
 * sentence-transformers') post-processing, defaults and output shapes (keys in camelCase).
 */
import { captureCallerStack, fromNativeError, InvalidInputError, withCallerStack } from '../errors.js';
import type { BertModel } from '../model/bert-model.js';
import { HUB_OPTION_NAMES, type HubOptions } from '../hub/index.js';
import { checkOptionNames, optionNames } from '../options.js';
import type { PipelineOptions } from './base.js';
import { createFeatureExtraction, createSentenceEmbeddings, type EmbeddingPipelineOptions, type FeatureExtractionPipeline, type SentenceEmbeddingsPipeline } from './embeddings.js';
import { createFillMask, type FillMaskPipeline } from './fill-mask.js';
import { createNextSentencePrediction, type NextSentencePredictionPipeline } from './next-sentence-prediction.js';
import { createQuestionAnswering, type QuestionAnsweringPipeline } from './question-answering.js';
import { createRerank, type RerankPipeline } from './rerank.js';
import { createTextClassification, type TextClassificationPipeline } from './text-classification.js';
import { createTokenClassification, type TokenClassificationPipeline } from './token-classification.js';
import { createZeroShotClassification, type ZeroShotClassificationPipeline } from './zero-shot-classification.js';
import { PIPELINE_TASKS, TASK_NAMES } from './tasks.js';

/** Each task name (and transformers' aliases) and the pipeline it gives. */
export interface PipelineTypes {
  'feature-extraction': FeatureExtractionPipeline;
  'sentence-embeddings': SentenceEmbeddingsPipeline;
  'fill-mask': FillMaskPipeline;
  'text-classification': TextClassificationPipeline;
  'sentiment-analysis': TextClassificationPipeline;
  'token-classification': TokenClassificationPipeline;
  ner: TokenClassificationPipeline;
  'question-answering': QuestionAnsweringPipeline;
  'next-sentence-prediction': NextSentencePredictionPipeline;
  'zero-shot-classification': ZeroShotClassificationPipeline;
  rerank: RerankPipeline;
  'text-ranking': RerankPipeline;
}

export type PipelineTask = keyof PipelineTypes;

/** Options by task: the common ones, plus pooling defaults for the embedding tasks. */
export type PipelineOptionsFor<T extends PipelineTask> = T extends 'feature-extraction' | 'sentence-embeddings' ? EmbeddingPipelineOptions : PipelineOptions;

type Factory = (model: string | BertModel, options: any) => Promise<unknown>;

const FACTORIES: Record<PipelineTask, Factory> = {
  'feature-extraction': createFeatureExtraction,
  'sentence-embeddings': createSentenceEmbeddings,
  'fill-mask': createFillMask,
  'text-classification': createTextClassification,
  'sentiment-analysis': createTextClassification,
  'token-classification': createTokenClassification,
  ner: createTokenClassification,
  'question-answering': createQuestionAnswering,
  'next-sentence-prediction': createNextSentencePrediction,
  'zero-shot-classification': createZeroShotClassification,
  rerank: createRerank,
  'text-ranking': createRerank,
};

const PIPELINE_OPTION_NAMES = [
  ...HUB_OPTION_NAMES,
  ...optionNames<Omit<PipelineOptions, keyof HubOptions>>({ device: true, threads: true, dtype: true, batchSize: true, tokenizer: true }),
];
const EMBEDDING_PIPELINE_OPTION_NAMES = [
  ...PIPELINE_OPTION_NAMES,
  ...optionNames<Omit<EmbeddingPipelineOptions, keyof PipelineOptions>>({ pooling: true, normalize: true, includePrompt: true, maxSeqLength: true }),
];

// Every task of PipelineTypes is in PIPELINE_TASKS (whose type checks that each name is a task;
// FACTORIES' type, that each task has a factory).
const ALL_TASKS_LISTED: [Exclude<PipelineTask, (typeof TASK_NAMES)[number]>] extends [never] ? true : never = true;
void ALL_TASKS_LISTED;
export { PIPELINE_TASKS };

/**
 * Builds a task pipeline on a model folder (a path) or an already-loaded BertModel (shared: the
 * pipeline's dispose() leaves it alone). The result is an async function with `dispose()`.
 */
export async function pipeline<T extends PipelineTask>(task: T, model: string | BertModel, options: PipelineOptionsFor<T> = {} as PipelineOptionsFor<T>): Promise<PipelineTypes[T]> {
  const caller = captureCallerStack();
  try {
    if (typeof task !== 'string' || !Object.hasOwn(FACTORIES, task)) {
      throw new InvalidInputError(`unknown task ${JSON.stringify(task)}; tasks: ${PIPELINE_TASKS.join(', ')}`);
    }
    if (options === null || typeof options !== 'object') throw new InvalidInputError('pipeline options must be an object');
    const embedding = task === 'feature-extraction' || task === 'sentence-embeddings';
    checkOptionNames(options, embedding ? EMBEDDING_PIPELINE_OPTION_NAMES : PIPELINE_OPTION_NAMES, `pipeline('${task}') options`);
    return (await FACTORIES[task](model, options)) as PipelineTypes[T];
  } catch (err) {
    throw withCallerStack(fromNativeError(err), caller);
  }
}

export { resolveModelDir, type PipelineBase, type PipelineOptions } from './base.js';
export type {
  EmbeddingPipelineOptions,
  EmbeddingSettings,
  EncodedInput,
  FeatureExtractionOptions,
  FeatureExtractionPipeline,
  PoolingOptions,
  SentenceEmbeddingOptions,
  SentenceEmbeddingsPipeline,
  TokenEmbeddings,
} from './embeddings.js';
export { POOLING_MODES, type PoolingMode } from './pooling.js';
export type { FillMaskOptions, FillMaskOutput, FillMaskPipeline, FillMaskResult } from './fill-mask.js';
export type {
  ClassificationFunction,
  LabelScore,
  TextClassificationInput,
  TextClassificationOptions,
  TextClassificationPipeline,
  TextPair,
} from './text-classification.js';
export type { AggregationStrategy, EntityGroup, TokenClassificationOptions, TokenClassificationPipeline, TokenEntity } from './token-classification.js';
export type { Answer, QuestionAnsweringInput, QuestionAnsweringOptions, QuestionAnsweringPipeline } from './question-answering.js';
export type { NextSentencePredictionOptions, NextSentencePredictionPipeline, NextSentenceResult } from './next-sentence-prediction.js';
export type { ZeroShotClassificationOptions, ZeroShotClassificationPipeline, ZeroShotResult } from './zero-shot-classification.js';
export type { RerankActivation, RerankOptions, RerankPipeline, RerankResult } from './rerank.js';
