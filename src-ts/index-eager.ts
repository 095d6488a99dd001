/**
 * What `import 'bertkit'` compiles at once in the published bundle: the errors, config and the
 * constants, which are small; the helpers that stand in for everything else until its first use.
 * scripts/bundle.mjs writes the package entry from src-ts/index.ts's exports: those found here are
 * re-exported from here (the same objects), the other functions and classes load src-ts/index.ts's
 * bundle on first use (util/lazy-exports.ts). Anything else it exports must be here.
 */
export * from './errors.js';
export { ARCHITECTURES, HIDDEN_ACTS, parseConfig, readConfig } from './config.js';
export { HEADS } from './model/heads.js';
export { PIPELINE_TASKS } from './pipelines/tasks.js';
export { POOLING_MODES } from './pipelines/pooling.js';
export { QUEUE_TASKS } from './queue/protocol.js';
export { VERSION } from './version.js';
export { lazyClass, onceLoader } from './util/lazy-exports.js';
