/// <reference lib="esnext.disposable" preserve="true" />
/** bertkit: BERT-family models from Hugging Face checkpoints in Node.js. Public exports only. */
// The reference above: models, pipelines and batchers are AsyncDisposable (`await using`), which a
// user's project compiles without @types/node or a lib setting of its own.
export {
  BertError,
  InvalidFileError,
  UnsafePickleError,
  WeightsMismatchError,
  ConfigError,
  UnsupportedModelError,
  InvalidInputError,
  DisposedError,
  BackendUnavailableError,
  HubError,
  OutOfMemoryError,
  NativeError,
  FileSystemError,
  type BertErrorCode,
} from './errors.js';
export { ARCHITECTURES, HIDDEN_ACTS, parseConfig, readConfig, type Architecture, type BertConfig, type HiddenAct } from './config.js';
export { BertModel, type ComputeDType, type BackendInfo, type WeightsInfo, type ForwardInput, type MultipleChoiceInput } from './model/bert-model.js';
export type { LoadModelOptions, TensorInput } from './model/load.js';
export { HEADS, type Head } from './model/heads.js';
export type { ModelOutput, Tensor, ForwardOptions, PackedForwardOptions } from './model/outputs.js';
export type { PaddedInput, PackedInput, IntRows } from './inputs.js';
export type { Device, CudaStatus } from './native/select-backend.js';
export { cudaStatus } from './native/select-backend.js';
export { readCheckpoint, type Checkpoint, type RawTensor, type DType } from './weights/index.js';
export {
  Tokenizer,
  Encoding,
  BatchEncoding,
  loadTokenizer,
  tokenizerFromJSON,
  tokenizerFromVocab,
  type DecodeOptions,
  type EncodeInput,
  type EncodeOptions,
  type PaddingParams,
  type Side,
  type TruncationParams,
  type TruncationStrategy,
  type BertTokenizerOptions,
  type LoadTokenizerOptions,
  type AddedToken,
} from './tokenizer/index.js';

import { captureCallerStack } from './errors.js';
import type { BertModel } from './model/bert-model.js';
import { createModel as createInferenceModel, loadModel as loadInferenceModel, type LoadModelOptions, type TensorInput } from './model/load.js';
import { loadBinding } from './native/load-binding.js';
import { createTrainableAs, loadTrainableAs } from './training/load.js';
import type { TrainableBertModel } from './training/trainable-model.js';

// loadModel / createModel route `training: true` here, in the package entry, so that model/ never
// imports training/ (layers point one way); loadTrainableModel() is the same entry by name.

/**
 * Loads a Hugging Face model folder (config.json + weights), or a Hub id (`'org/name'`, downloaded
 * into the Hugging Face cache); the class follows config.architectures. With `training: true`, a
 * TrainableBertModel (see loadTrainableModel).
 */
export function loadModel(dirOrId: string, options: LoadModelOptions & { training: true }): Promise<TrainableBertModel>;
export function loadModel(dirOrId: string, options?: LoadModelOptions): Promise<BertModel>;
export function loadModel(dirOrId: string, options: LoadModelOptions = {}): Promise<BertModel> {
  if (options !== null && typeof options === 'object' && options.training) return loadTrainableAs('loadModel()', captureCallerStack(), dirOrId, options);
  return loadInferenceModel(dirOrId, options);
}

/**
 * Builds a model from a config object (config.json keys) and tensors in memory, named as in a
 * checkpoint — for generated weights and tests. With `training: true`, a TrainableBertModel.
 */
export function createModel(
  config: Record<string, unknown>,
  tensors: Map<string, TensorInput> | Record<string, TensorInput>,
  options: LoadModelOptions & { training: true },
): Promise<TrainableBertModel>;
export function createModel(config: Record<string, unknown>, tensors: Map<string, TensorInput> | Record<string, TensorInput>, options?: LoadModelOptions): Promise<BertModel>;
export function createModel(config: Record<string, unknown>, tensors: Map<string, TensorInput> | Record<string, TensorInput>, options: LoadModelOptions = {}): Promise<BertModel> {
  if (options !== null && typeof options === 'object' && options.training) return createTrainableAs('createModel()', captureCallerStack(), config, tensors, options);
  return createInferenceModel(config, tensors, options);
}


/** What the CPU engine sees on this machine: the kernel ISA it picked, CPU features, usable cores. */
export function cpuInfo(): { isa: string; features: string; cores: number } {
  return loadBinding().cpuInfo();
}

export { VERSION } from './version.js';

export {
  pipeline,
  PIPELINE_TASKS,
  POOLING_MODES,
  type PipelineTask,
  type PipelineTypes,
  type PipelineOptions,
  type PipelineOptionsFor,
  type PipelineBase,
  type EmbeddingPipelineOptions,
  type EmbeddingSettings,
  type EncodedInput,
  type FeatureExtractionOptions,
  type FeatureExtractionPipeline,
  type PoolingMode,
  type PoolingOptions,
  type SentenceEmbeddingOptions,
  type SentenceEmbeddingsPipeline,
  type TokenEmbeddings,
  type FillMaskOptions,
  type FillMaskPipeline,
  type FillMaskResult,
  type FillMaskOutput,
  type ClassificationFunction,
  type LabelScore,
  type TextClassificationInput,
  type TextClassificationOptions,
  type TextClassificationPipeline,
  type TextPair,
  type AggregationStrategy,
  type EntityGroup,
  type TokenClassificationOptions,
  type TokenClassificationPipeline,
  type TokenEntity,
  type Answer,
  type QuestionAnsweringInput,
  type QuestionAnsweringOptions,
  type QuestionAnsweringPipeline,
  type NextSentencePredictionOptions,
  type NextSentencePredictionPipeline,
  type NextSentenceResult,
  type ZeroShotClassificationOptions,
  type ZeroShotClassificationPipeline,
  type ZeroShotResult,
  type RerankActivation,
  type RerankOptions,
  type RerankPipeline,
  type RerankResult,
} from './pipelines/index.js';
export { resolveModel, downloadModel, type HubOptions, type HubProgress } from './hub/index.js';

// Serving: dynamic batching, admission control, stats, Prometheus metrics.
export { OverloadedError, AbortedError, TimeoutError } from './errors.js';
export {
  Batcher,
  createBatcher,
  readEmbeddingSettings,
  formatPrometheus,
  writeBatcherMetrics,
  PrometheusText,
  Histogram,
  Reservoir,
  RateWindow,
  type AbortSignalLike,
  type BatcherOptions,
  type BatcherStats,
  type BatchRerankOptions,
  type BatchRerankResult,
  type ClassifyFunction,
  type ClassifyOptions,
  type EmbedOptions,
  type RequestOptions,
  type SequenceInput,
  type SequenceOutput,
  type TextPairInput,
  type TokenizedInput,
  type EmbeddingFolderSettings,
  type HistogramSnapshot,
  type Percentiles,
  type Labels as PrometheusLabels,
} from './serving/index.js';

// Job queues (src-ts/queue): BullMQ workers and producers; bullmq and ioredis are optional peers, loaded on first use.
export { MissingDependencyError, JobFailedError } from './errors.js';
export {
  createWorker,
  createJobClient,
  runCorpus,
  serveWorkerHealth,
  QUEUE_TASKS,
  type HealthServer,
  jobIdFor,
  type QueueWorker,
  type QueueWorkerOptions,
  type QueueWorkerStats,
  type JobClient,
  type JobClientOptions,
  type SubmitOptions,
  type CorpusError,
  type CorpusOptions,
  type CorpusProgress,
  type CorpusRow,
  type CorpusSummary,
  type JobData,
  type JobResult,
  type QueueTask,
  type RerankRow,
  type VectorEncoding,
} from './queue/index.js';

// Training (src-ts/training): loadTrainableModel(dir), or loadModel(dir, { training: true }), returns a TrainableBertModel.
export {
  TrainableBertModel,
  loadTrainableModel,
  createTrainableModel,
  type LoadTrainableOptions,
  TrainingError,
  createTrainer,
  Trainer,
  fit,
  evaluate,
  initTrainableModel,
  createMlmCollator,
  createNspExamples,
  readRecords,
  textClassificationExamples,
  tokenClassificationExamples,
  questionAnsweringExamples,
  buildLabelMap,
  collate,
  batches,
  shuffle,
  Rng,
  scheduleLambda,
  writeSafetensors,
  type TrainerOptions,
  type StepOutput,
  type TrainingInput,
  type TrainingLabels,
  type GradientsResult,
  type ComputeGradientsOptions,
  type StateDict,
  type DropoutSettings,
  type TrainingMemory,
  type FitOptions,
  type FitResult,
  type LogEntry,
  type Example,
  type Batch,
  type LabelMap,
  type ScheduleName,
  type InitModelOptions,
} from './training/index.js';

// Attention visualization (src-ts/visualize): a self-contained page, SVG, PNG, JSON.
export { OutputFileError } from './errors.js';
export {
  renderAttention,
  renderAttentionData,
  computeAttention,
  summarizeAttention,
  attentionHtml,
  attentionGridSvg,
  attentionHeadSvg,
  attentionGridPng,
  attentionHeadPng,
  attentionJson,
  encodePng,
  writeFileAtomic,
  type AttentionData,
  type AttentionOptions,
  type AttentionSummary,
  type LayerPatterns,
  type AttentionPrecision,
  type RenderAttentionOptions,
  type AttentionRendering,
  type AttentionJson,
  type HeadSelection,
} from './visualize/index.js';
