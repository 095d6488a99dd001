/**
 * THE native contract: every function, object and field the addon exposes, with the names the
 * C++ uses (native/include/bertkit/engine.h for the structs, native/napi/ for the classes).
 * Nothing else in src-ts talks to the addon except through these types.
 */

/** bertkit::Architecture, by its transformers class name. */
export type NativeArchitecture =
  | 'BertModel'
  | 'BertForMaskedLM'
  | 'BertForNextSentencePrediction'
  | 'BertForPreTraining'
  | 'BertForSequenceClassification'
  | 'BertForTokenClassification'
  | 'BertForQuestionAnswering'
  | 'BertForMultipleChoice';

/** bertkit::ModelConfig (config.json names). */
export interface ModelConfig {
  architecture: NativeArchitecture;
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  num_labels: number;
  layer_norm_eps: number;
  /** "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" | "relu" */
  hidden_act: string;
  has_pooler: boolean;
  tie_word_embeddings: boolean;
}

/**
 * bertkit::TensorView: a checkpoint tensor as stored; the engine copies and converts it. Its
 * bytes are either given (`data`) or left in a file (`file`, `offset`, `nbytes`) for the engine to
 * read once.
 */
export type TensorView = {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16';
  dims: number[];
} & ({ data: Uint8Array } | { file: string; offset: number; nbytes: number });

/** bertkit::EngineOptions. */
export interface EngineOptions {
  /** 0 = every core this process may use. */
  threads?: number;
  /** bertkit::ComputeDType: what the encoder's linear layers compute in. */
  dtype?: 'float32' | 'bfloat16' | 'int8';
  /** Models created with the same key (and dtype) in one process share one read-only copy of the weights. */
  share_key?: string;
}

/** bertkit::BatchInput: a packed batch; sequence s is tokens [cu_seqlens[s], cu_seqlens[s+1]). */
export interface BatchInput {
  input_ids: Int32Array;
  cu_seqlens: Int32Array;
  token_type_ids?: Int32Array;
  position_ids?: Int32Array;
  attention_mask?: Uint8Array;
}

/**
 * bertkit::ForwardOutputs: JS-allocated buffers the engine writes into (sizes in the comments of
 * engine.h; T tokens, B sequences). Omitted = not wanted.
 */
export interface ForwardOutputs {
  last_hidden_state?: Float32Array;
  pooler_output?: Float32Array;
  logits?: Float32Array;
  prediction_logits?: Float32Array;
  seq_relationship_logits?: Float32Array;
  start_logits?: Float32Array;
  end_logits?: Float32Array;
  hidden_states?: Float32Array;
  attentions?: Float32Array;
}

/** bertkit::ModelInfo. */
export interface ModelInfo {
  backend: string;
  isa: string;
  threads: number;
  dtype: 'float32' | 'bfloat16' | 'int8';
  /** Why the requested dtype is not used ('' when it is). */
  dtype_fallback: string;
  weight_bytes: number;
  /** The weights are another model's (same share_key). */
  weights_shared: boolean;
  workspace_bytes: number;
}

/** napi::AddonModel (native/napi/addon_model.h). */
export interface AddonModel {
  /** Runs on a libuv pool thread; rejects with an Error whose `code` is a bertkit::StatusCode name. */
  forward(input: BatchInput, outputs: ForwardOutputs): Promise<void>;
  /** Releases the weights (after an in-flight forward ends). Safe to repeat. */
  dispose(): void;
  info(): ModelInfo;
  readonly disposed: boolean;
}

/** napi::BertkitAddon (native/napi/addon.cc): the module's exports. */
export interface NativeBinding {
  createModel(config: ModelConfig, tensors: TensorView[], options?: EngineOptions): Promise<AddonModel>;
  cpuInfo(): { isa: string; features: string; cores: number };
  readonly engineVersion: string;
}

/** bertkit::StatusCode names, as the `code` of native errors. */
export type StatusCodeName =
  | 'OK'
  | 'INVALID_ARGUMENT'
  | 'OUT_OF_RANGE'
  | 'OUT_OF_MEMORY'
  | 'UNAVAILABLE'
  | 'DISPOSED'
  | 'BUSY'
  | 'INTERNAL';
