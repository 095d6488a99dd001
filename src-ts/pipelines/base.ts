/**
 * What every pipeline shares: resolving the model argument (a folder, a Hub id, or a loaded
 * BertModel), loading it with the head the task needs, the callable object with `dispose()`, and
 * the options common to all tasks.
 */
import { join } from 'node:path';
import { readConfig, type Architecture, type BertConfig } from '../config.js';
import { BertError, DisposedError, InvalidInputError, UnsupportedModelError, captureCallerStack, withCallerStack } from '../errors.js';
import { BertModel, type ComputeDType } from '../model/bert-model.js';
import { pickArchitecture } from '../model/families.js';
import { headOf, outputField, withHead, type Head } from '../model/heads.js';
import { loadModel } from '../model/load.js';
import type { Device } from '../native/select-backend.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { hubOptionsOf, resolveModel, type HubOptions } from '../hub/index.js';

/** Options of `pipeline(task, model, options)` common to every task. */
export interface PipelineOptions extends HubOptions {
  /** 'auto' (default), 'cpu' or 'cuda'; passed to loadModel. Ignored for an already-loaded model. */
  device?: Device;
  /** CPU threads of the model (loadModel's `threads`). Ignored for an already-loaded model. */
  threads?: number;
  /** What the encoder computes in (loadModel's `dtype`: 'float32', 'bfloat16', 'int8'). Ignored for an already-loaded model. */
  dtype?: ComputeDType;
  /** Sequences per forward when a call gets an array (default 32); a call's own `batchSize` wins. */
  batchSize?: number;
  /** A tokenizer to use instead of the model folder's. */
  tokenizer?: Tokenizer;
}

/** What every pipeline object has besides being callable. */
export interface PipelineBase extends AsyncDisposable {
  readonly task: string;
  readonly model: BertModel;
  readonly tokenizer: Tokenizer;
  /** True after dispose(). */
  readonly disposed: boolean;
  /** Releases the model when the pipeline loaded it (a model passed in is left to its owner). */
  dispose(): Promise<void>;
}

/**
 * The one place a model argument given as a string becomes a folder. Today: an existing folder is
 * used as is; anything else is refused (Hub ids need the hub module).
 */
export async function resolveModelDir(idOrDir: string, options: PipelineOptions = {}): Promise<string> {
  if (typeof idOrDir !== 'string' || idOrDir === '') {
    throw new InvalidInputError('pipeline() needs a model folder path, a Hugging Face Hub id or an already-loaded BertModel');
  }
  return resolveModel(idOrDir, hubOptionsOf(options));
}

/**
 * How a task wants its model: the heads it can run on, and the head it loads a folder with (in
 * the checkpoint's own family: a BertForPreTraining folder loads as BertForMaskedLM).
 */
export interface ModelRequirement {
  task: string;
  /** Heads a loaded model (or a folder's config) may have; null: any. */
  accepts: readonly Head[] | null;
  /** Loads folders with this head (e.g. a pre-training checkpoint as a masked LM). */
  loadAs: Head | ((config: BertConfig) => Head);
  /**
   * The logits the task reads: an accepted head whose family computes none is refused
   * (ElectraForPreTraining is the replaced-token discriminator, with no masked-LM logits).
   */
  reads?: 'mlm' | 'nsp';
}

/** The accepted heads that `modelType`'s classes serve the task with (all of them when it reads no particular logits). */
function servingHeads(req: ModelRequirement, modelType: string): readonly Head[] {
  const accepts = req.accepts ?? [];
  return req.reads === undefined ? accepts : accepts.filter((h) => outputField(h, req.reads!, modelType) !== undefined);
}

export interface Acquired {
  model: BertModel;
  tokenizer: Tokenizer;
  owned: boolean;
  /** The folder the model came from (null for a model passed in). */
  dir: string | null;
}

function checkCommonOptions(options: PipelineOptions): void {
  if (options === null || typeof options !== 'object') throw new InvalidInputError('pipeline options must be an object');
  if (options.batchSize !== undefined) checkBatchSize(options.batchSize);
}

export function checkBatchSize(n: unknown): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new InvalidInputError(`batchSize must be a positive integer, got ${String(n)}`);
  }
  return n;
}

/** Loads (or adopts) the model a task runs on, with its tokenizer. */
export async function acquireModel(model: string | BertModel, req: ModelRequirement, options: PipelineOptions): Promise<Acquired> {
  checkCommonOptions(options);
  if (model instanceof BertModel) {
    if (model.disposed) throw new DisposedError('model');
    // Heads are named by kind: any family's class of an accepted head serves, when it computes what the task reads.
    if (req.accepts && !servingHeads(req, model.config.model_type).includes(model.head)) {
      throw new UnsupportedModelError(
        `${req.task} needs a model with one of the heads ${servingHeads(req, model.config.model_type).map((h) => withHead(model.architecture, h)).join(', ')}; this model is ${model.architecture}`,
      );
    }
    const tokenizer = options.tokenizer ?? (model.hasTokenizer ? model.tokenizer : undefined);
    if (!tokenizer) throw new InvalidInputError(`${req.task}: the model has no tokenizer; pass options.tokenizer`);
    return { model, tokenizer, owned: false, dir: null };
  }
  if (typeof model !== 'string') {
    throw new InvalidInputError('pipeline() needs a model folder path or an already-loaded BertModel');
  }
  const dir = await resolveModelDir(model, options);
  const config = await readConfig(join(dir, 'config.json'));
  const declared = config.architectures?.[0] ?? null;
  if (req.accepts && declared !== null && !servingHeads(req, config.model_type).includes(headOf(declared) ?? 'base')) {
    throw new UnsupportedModelError(
      `${req.task} needs a checkpoint with one of the heads ${servingHeads(req, config.model_type).map((h) => withHead(declared, h)).join(', ')}; ${dir} is ${declared}`,
    );
  }
  // The family's own class of the head (a RoBERTa folder loads as RobertaForMaskedLM); without
  // architectures, the family's bare encoder names it.
  const architecture = withHead(declared ?? pickArchitecture(config, undefined), typeof req.loadAs === 'function' ? req.loadAs(config) : req.loadAs) as Architecture;
  const loaded = await loadModel(dir, {
    ...(options.device !== undefined ? { device: options.device } : {}),
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.dtype !== undefined ? { dtype: options.dtype } : {}),
    architecture,
    tokenizer: options.tokenizer === undefined,
  });
  const tokenizer = options.tokenizer ?? (loaded.hasTokenizer ? loaded.tokenizer : undefined);
  if (!tokenizer) {
    await loaded.dispose();
    throw new InvalidInputError(`${req.task}: ${dir} has no tokenizer (tokenizer.json or vocab.txt); pass options.tokenizer`);
  }
  return { model: loaded, tokenizer, owned: true, dir };
}

/**
 * Builds the callable pipeline object: `fn` does the work; calls after dispose() reject with
 * DisposedError, and errors carry the caller's stack.
 */
export function makePipeline<P extends PipelineBase>(
  task: string,
  acquired: Acquired,
  fn: (...args: any[]) => Promise<unknown>,
  extra: Record<string, unknown> = {},
): P {
  let disposed = false;
  const call = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
    const caller = captureCallerStack();
    if (disposed) throw withCallerStack(new DisposedError('pipeline'), caller);
    try {
      return await fn(...args);
    } catch (err) {
      // Typed errors get the caller's stack (the useful one); anything else is a bug: keep its own.
      throw err instanceof BertError ? withCallerStack(err, caller) : err;
    }
  };
  const dispose = async (): Promise<void> => {
    if (disposed) return;
    disposed = true;
    if (acquired.owned) await acquired.model.dispose();
  };
  Object.defineProperties(call, {
    task: { value: task, enumerable: true },
    model: { value: acquired.model, enumerable: true },
    tokenizer: { value: acquired.tokenizer, enumerable: true },
    disposed: { get: () => disposed, enumerable: true },
    dispose: { value: dispose },
    [Symbol.asyncDispose]: { value: dispose },
  });
  for (const [k, v] of Object.entries(extra)) Object.defineProperty(call, k, { value: v, enumerable: true });
  return call as unknown as P;
}
