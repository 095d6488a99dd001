/** Training: backward pass, AdamW, schedules, data, the trainer loop and saving. */
export {
  TrainableBertModel,
  TrainingError,
  asTrainable,
  type StateDict,
  type ComputeGradientsOptions,
  type GradientsResult,
  type DropoutSettings,
  type TrainingMemory,
  type TrainingInput,
  type TrainingLabels,
} from './trainable-model.js';
export { loadTrainableModel, createTrainableModel, type LoadTrainableOptions } from './load.js';
export { writeSafetensors, type SaveOptions } from './save.js';
export { createTrainer, Trainer, isNoDecayParameter, type TrainerOptions, type StepOutput, type TrainerState } from './trainer.js';
export { scheduleLambda, SCHEDULES, type ScheduleName, type ScheduleOptions } from './schedules.js';
export {
  Rng,
  shuffle,
  collate,
  batches,
  createMlmCollator,
  createNspExamples,
  readRecords,
  parseCsv,
  buildLabelMap,
  textClassificationExamples,
  tokenClassificationExamples,
  questionAnsweringExamples,
  alignWordLabels,
  type Example,
  type Batch,
  type LabelMap,
  type MlmCollatorOptions,
  type NspOptions,
  type TextClassificationOptions,
  type TokenClassificationOptions,
  type QuestionAnsweringOptions,
} from './data.js';
export { accuracy, f1Score, entityF1, entities, exactMatch, squadF1, normalizeAnswer, argmaxRows, bestSpan } from './metrics.js';
export { lossChartSvg, smooth, type ChartSeries } from './chart.js';
export { fit, evaluate, type FitOptions, type FitResult, type LogEntry, type EvaluateOptions } from './loop.js';
export { initTrainableModel, type InitModelOptions, type InitModelResult } from './init.js';
