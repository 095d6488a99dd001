/**
 * Loading a model for training: the same source and resolution as model/load.ts, built on the
 * training engine. Training runs on the CPU engine: `device: 'cuda'` is refused, and under
 * 'auto' a usable GPU is passed over with a `fallbackReason` (the CUDA addon carries the CPU
 * training engine too, so without this check it would train on the CPU and say nothing).
 */
import { UnsupportedModelError, captureCallerStack } from '../errors.js';
import {
  LOAD_OPTION_NAMES,
  checkLoadArguments,
  memorySource,
  prepareModel,
  readModelSource,
  withLoadErrors,
  type LoadModelOptions,
  type ModelSource,
  type TensorInput,
} from '../model/load.js';
import { refuseTraining } from '../model/families.js';
import { loadBinding } from '../native/load-binding.js';
import { resolveDevice, selectBackend, type BackendChoice } from '../native/select-backend.js';
import { checkOptionNames } from '../options.js';
import { buildTrainableModel, type TrainableBertModel } from './trainable-model.js';

/** loadModel's options; `training` is implied. */
export type LoadTrainableOptions = LoadModelOptions;

/** The engine a trainable model runs on: the CPU addon, and why when 'auto' could have used a GPU. */
export function trainingBackend(device: unknown): BackendChoice {
  const want = resolveDevice(device);
  if (want === 'cuda') {
    throw new UnsupportedModelError("training runs on the CPU engine for now (the CUDA backend has no training engine): load the model with device: 'cpu' (or 'auto')");
  }
  const choice = selectBackend(want);
  if (choice.device !== 'cuda') return choice;
  return { binding: loadBinding(), device: 'cpu', fallbackReason: 'training runs on the CPU engine (the CUDA backend has no training yet)' };
}

async function build(source: ModelSource, options: LoadTrainableOptions): Promise<TrainableBertModel> {
  refuseTraining(source.config);
  const backend = trainingBackend(options.device);
  const p = prepareModel(source, options);
  return buildTrainableModel({ ...p, binding: backend.binding, ...(backend.fallbackReason ? { fallbackReason: backend.fallbackReason } : {}) });
}

/** @internal loadTrainableModel under another name (the package's loadModel with training: true). */
export function loadTrainableAs(what: string, caller: Error, dirOrId: string, options: LoadTrainableOptions): Promise<TrainableBertModel> {
  return withLoadErrors(caller, async () => {
    const dir = checkLoadArguments(dirOrId, options, what);
    return build(await readModelSource(dir, options), options);
  });
}

/** @internal createTrainableModel under another name (the package's createModel with training: true). */
export function createTrainableAs(
  what: string,
  caller: Error,
  config: Record<string, unknown>,
  tensors: Map<string, TensorInput> | Record<string, TensorInput>,
  options: LoadTrainableOptions,
): Promise<TrainableBertModel> {
  return withLoadErrors(caller, async () => {
    checkOptionNames(options, LOAD_OPTION_NAMES, `${what} options`);
    return build(memorySource(config, tensors), options);
  });
}

/**
 * Loads a model folder (or Hub id) for training: a TrainableBertModel (computeGradients,
 * stateDict, save, and forward as usual). The same as `loadModel(dir, { training: true })`.
 */
export function loadTrainableModel(dirOrId: string, options: LoadTrainableOptions = {}): Promise<TrainableBertModel> {
  return loadTrainableAs('loadTrainableModel()', captureCallerStack(), dirOrId, options);
}

/** createModel() for training: a TrainableBertModel from a config object and tensors in memory. */
export function createTrainableModel(
  config: Record<string, unknown>,
  tensors: Map<string, TensorInput> | Record<string, TensorInput>,
  options: LoadTrainableOptions = {},
): Promise<TrainableBertModel> {
  return createTrainableAs('createTrainableModel()', captureCallerStack(), config, tensors, options);
}
