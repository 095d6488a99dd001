/** Checkpoint loading: safetensors and legacy PyTorch files, names mapped onto the architecture. */
export type { DType, RawTensor } from './types.js';
export { DTYPE_SIZE } from './types.js';
export { parseSafetensors } from './safetensors.js';
export { parseTorchCheckpoint } from './torch-pickle.js';
export { readCheckpoint, type Checkpoint, type CheckpointFormat } from './checkpoint.js';
export { checkpointNamesOf, expectedTensors, registerCheckpointNames, resolveWeights, type CheckpointNames, type ResolvedWeights } from './names.js';
