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
export { writeSafetensors, type SaveOptions } from './save.js';
export { createTrainer, Trainer, isNoDecayParameter, type TrainerOptions, type StepOutput, type TrainerState } from './trainer.js';
export { scheduleLambda, SCHEDULES, type ScheduleName, type ScheduleOptions } from './schedules.js';
