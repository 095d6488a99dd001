/** Serving: dynamic batching across concurrent requests, admission control, stats and metrics. */
export {
  Batcher,
  createBatcher,
  type AbortSignalLike,
  type BatcherOptions,
  type BatcherStats,
  type BatchRerankOptions,
  type BatchRerankResult,
  type ClassifyFunction,
  type ClassifyOptions,
  type EmbedOptions,
  type LabelScore,
  type RequestOptions,
  type SequenceInput,
  type SequenceOutput,
  type TextPairInput,
  type TokenizedInput,
} from './batcher.js';
export { PrometheusText, formatPrometheus, writeBatcherMetrics, type Labels } from './prometheus.js';
export { readEmbeddingSettings, type EmbeddingFolderSettings } from './settings.js';
export { Histogram, Reservoir, RateWindow, type HistogramSnapshot, type Percentiles } from './stats.js';
