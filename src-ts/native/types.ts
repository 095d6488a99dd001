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
  | 'BertForMultipleChoice'
  | 'DistilBertModel'
  | 'DistilBertForMaskedLM'
  | 'DistilBertForSequenceClassification'
  | 'DistilBertForTokenClassification'
  | 'DistilBertForQuestionAnswering'
  | 'DistilBertForMultipleChoice'
  | 'RobertaModel'
  | 'RobertaForMaskedLM'
  | 'RobertaForSequenceClassification'
  | 'RobertaForTokenClassification'
  | 'RobertaForQuestionAnswering'
  | 'RobertaForMultipleChoice'
  | 'XLMRobertaModel'
  | 'XLMRobertaForMaskedLM'
  | 'XLMRobertaForSequenceClassification'
  | 'XLMRobertaForTokenClassification'
  | 'XLMRobertaForQuestionAnswering'
  | 'XLMRobertaForMultipleChoice'
  | 'CamembertModel'
  | 'CamembertForMaskedLM'
  | 'CamembertForSequenceClassification'
  | 'CamembertForTokenClassification'
  | 'CamembertForQuestionAnswering'
  | 'CamembertForMultipleChoice'
  | 'AlbertModel'
  | 'AlbertForMaskedLM'
  | 'AlbertForPreTraining'
  | 'AlbertForSequenceClassification'
  | 'AlbertForTokenClassification'
  | 'AlbertForQuestionAnswering'
  | 'AlbertForMultipleChoice'
  | 'ElectraModel'
  | 'ElectraForPreTraining'
  | 'ElectraForMaskedLM'
  | 'ElectraForSequenceClassification'
  | 'ElectraForTokenClassification'
  | 'ElectraForQuestionAnswering';

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
  /** bertkit::EmbeddingsConfig (absent: BERT's). False: no token type embeddings (DistilBERT). */
  token_type_embeddings?: boolean;
  /** >= 0: positions made from the ids after this id (RoBERTa); -1: 0..n-1. */
  padding_idx?: number;
  /** The lookup tables' width when not hidden_size (projected by embeddings_project); 0 = hidden_size. */
  embedding_size?: number;
  /** bertkit::LayerSharing (ALBERT): 0 groups = every layer its own weights. */
  num_hidden_groups?: number;
  inner_group_num?: number;
  /** bertkit::HeadConfig: the head's own dense layer (classifier.dense) and its activation ("tanh", "relu", a hidden_act). */
  own_dense?: boolean;
  own_dense_act?: string;
  /** Training: the classifier dropout also before the own dense layer (RoBERTa, ELECTRA). */
  own_dense_input_dropout?: boolean;
  /** The MLM transform's activation when the family hard-codes one (absent: hidden_act). */
  transform_act?: string;
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
  /**
   * bertkit::Device: the CPU engine (default) or the CUDA one (the CUDA addon only; the CPU addon
   * rejects 'cuda' with UNAVAILABLE).
   */
  device?: 'cpu' | 'cuda';
  /** 0 = every core this process may use. */
  threads?: number;
  /** bertkit::ComputeDType: what the encoder's linear layers compute in. */
  dtype?: 'float32' | 'bfloat16' | 'int8' | 'float16';
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
  /** Tokens whose masked-LM logits are wanted (indices into the batch); omitted = all. */
  logits_tokens?: Int32Array;
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
  /** "cpu" or "cuda". */
  backend: string;
  /** CPU: the kernels' ISA ("avx512", ...); CUDA: the device's architecture ("sm_90"). */
  isa: string;
  /** CPU threads (0 on CUDA). */
  threads: number;
  /** 'float16' on CUDA only. */
  dtype: 'float32' | 'bfloat16' | 'int8' | 'float16';
  /** Why the requested dtype is not used ('' when it is). */
  dtype_fallback: string;
  /** CUDA: what the Linear layers run on ('cublasLt', 'wgmma', 'mma', 'simt'); '' on the CPU. */
  gemm: string;
  /** CUDA: why not cuBLASLt ('' when it is). */
  gemm_reason: string;
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

/** bertkit::cuda::DeviceInfo (cuda/backend.h). */
export interface NativeCudaDevice {
  ordinal: number;
  name: string;
  /** "8.0", "9.0", ... */
  computeCapability: string;
  memoryBytes: number;
  multiprocessors: number;
  /** Compute capability 8.0 or newer. */
  supported: boolean;
  unsupportedReason?: string;
}

/** bertkit::cuda::ProbeResult (cuda/backend.h), as cudaProbe() returns it. */
export interface NativeCudaProbe {
  /** A supported device answered: a context was created and a kernel ran. */
  available: boolean;
  /** Why not (each with a fix where there is one). */
  reasons: string[];
  devices: NativeCudaDevice[];
  /** The ordinal models use (BERTKIT_CUDA_DEVICE, else the first supported); -1 when none. */
  device: number;
  /** 0 when no driver could be loaded. */
  driverVersion: number;
  runtimeVersion: number;
}

/** napi::BertkitAddon (native/napi/addon.cc): the module's exports. */
export interface NativeBinding {
  createModel(config: ModelConfig, tensors: TensorView[], options?: EngineOptions): Promise<AddonModel>;
  cpuInfo(): { isa: string; features: string; cores: number };
  /**
   * Probes for a usable CUDA device; never throws, with or without a driver. The CPU addon
   * answers `available: false` with the reason. Cached by the addon after the first call.
   */
  cudaProbe(): NativeCudaProbe;
  /** This addon has the CUDA backend (the cmake-js build, bertkit_cuda.node). */
  readonly withCuda: boolean;
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

// ---- Training (native/train, native/napi/addon_trainer.h) ----

/** train::TrainOptions: what createTrainableModel takes besides the config and tensors. */
export interface TrainOptions {
  /** 0 = every core this process may use. */
  threads?: number;
  /** nn.Embedding padding_idx of the word embeddings: that row gets no gradient from the lookup (-1: none). */
  pad_token_id?: number;
  hidden_dropout_prob?: number;
  attention_probs_dropout_prob?: number;
  /** Dropout before the classifier (config.classifier_dropout, else hidden_dropout_prob). */
  classifier_dropout_prob?: number;
  /** Seed of the counter-based dropout stream (a safe integer). */
  seed?: number;
}

/** train::ProblemType (config.problem_type). */
export type ProblemTypeName = 'single_label_classification' | 'regression' | 'multi_label_classification';

/**
 * train::TrainLabels, in the packed layout of the batch (T tokens, B sequences); -100 = ignored.
 * Sequence classification: labels [B] or float_labels [B * num_labels] (regression, multi-label);
 * multiple choice: labels [B / num_choices]; token classification, MLM: labels [T]; QA:
 * start_positions, end_positions [B] (before the clamp); NSP: labels [B]; PreTraining: labels [T]
 * and next_sentence_label [B].
 */
export interface TrainLabels {
  labels?: Int32Array;
  float_labels?: Float32Array;
  start_positions?: Int32Array;
  end_positions?: Int32Array;
  next_sentence_label?: Int32Array;
  problem_type?: ProblemTypeName;
  num_choices?: number;
}

/** train::GradientOptions. */
export interface GradientOptions {
  /** Gradients of loss_scale * loss (1 / steps for gradient accumulation). Default 1. */
  loss_scale?: number;
  /** Add to the gradients held instead of replacing them. Default false. */
  accumulate?: boolean;
  /** Dropout on (the model's probabilities). Default true. */
  training?: boolean;
  /** false: forward and loss only (evaluation); the gradients held are left as they are. Default true. */
  backward?: boolean;
}

/** train::TrainOutputs: optional JS-allocated buffers, packed like ForwardOutputs. */
export interface TrainOutputs {
  logits?: Float32Array;
  prediction_logits?: Float32Array;
  seq_relationship_logits?: Float32Array;
  start_logits?: Float32Array;
  end_logits?: Float32Array;
}

/** train::LossParts: `loss` is transformers' out.loss; PreTraining's two terms apart. */
export interface LossParts {
  loss: number;
  mlm_loss: number;
  nsp_loss: number;
}

/** train::OptimizerStep: clip by global norm, then torch.optim.AdamW. */
export interface OptimizerStep {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weight_decay?: number;
  /** One entry per parameter (AddonTrainer.parameters() order): 1 = no weight decay. */
  no_decay?: Uint8Array;
  /** <= 0 or absent: no clipping. */
  max_grad_norm?: number;
}

/** train::StepResult. */
export interface StepResult {
  /** Global gradient norm before clipping. */
  grad_norm: number;
  clip_coef: number;
  /** Optimizer steps taken so far, this one included. */
  step: number;
  /** False when the gradient norm was not finite: nothing was changed. */
  applied: boolean;
}

/** train::ParameterInfo (canonical names). */
export interface ParameterInfo {
  name: string;
  dims: number[];
}

/** train::TrainInfo. */
export interface TrainInfo {
  isa: string;
  threads: number;
  parameters: number;
  weight_bytes: number;
  gradient_bytes: number;
  /** AdamW moments, allocated at the first step. */
  optimizer_bytes: number;
  /** Saved activations, backward temporaries and scratch (grows to the largest batch). */
  activation_bytes: number;
}

/** Canonical parameter name → a JS-allocated Float32Array of its size. */
export type TensorMap = Record<string, Float32Array>;

/** napi::AddonTrainer (native/napi/addon_trainer.h); usable wherever an AddonModel is. */
export interface AddonTrainer extends AddonModel {
  /** Forward, loss and backward on a libuv pool thread; gradients stay in the engine. */
  computeGradients(input: BatchInput, labels: TrainLabels, options?: GradientOptions, outputs?: TrainOutputs): Promise<LossParts>;
  step(step: OptimizerStep): Promise<StepResult>;
  parameters(): ParameterInfo[];
  readParameters(out: TensorMap): Promise<number>;
  writeParameters(values: TensorMap): Promise<number>;
  readGradients(out: TensorMap): Promise<number>;
  /** AdamW moments into the arrays; resolves to the optimizer's step count. */
  readOptimizerState(expAvg: TensorMap, expAvgSq: TensorMap): Promise<number>;
  writeOptimizerState(expAvg: TensorMap, expAvgSq: TensorMap, steps: number): Promise<number>;
  setDropout(hidden: number, attention: number, classifier: number): void;
  setRngState(seed: number, counter: number): void;
  getRngState(): { seed: number; counter: number };
  trainingInfo(): TrainInfo;
}

/** napi::BertkitAddon's training entry point (declaration merged into NativeBinding). */
export interface NativeBinding {
  createTrainableModel(config: ModelConfig, tensors: TensorView[], options?: TrainOptions): Promise<AddonTrainer>;
}
