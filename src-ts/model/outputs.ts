/** Model outputs with transformers' field names in camelCase; dims as transformers gives them. */

export interface Tensor {
  dims: number[];
  data: Float32Array;
}

export interface ModelOutput {
  /** [B, L, H] (packed form: [T, H]). */
  lastHiddenState: Tensor;
  /** [B, H]: tanh(dense(h[:, 0])), when the model has a pooler. */
  poolerOutput?: Tensor;
  /** MLM [B, L, vocab] · NSP [B, 2] · sequence classification [B, num_labels] · token classification [B, L, num_labels] · multiple choice [B, num_choices] · ELECTRA discriminator [B, L]. */
  logits?: Tensor;
  /** BertForPreTraining: [B, L, vocab]. */
  predictionLogits?: Tensor;
  /** BertForPreTraining: [B, 2]. */
  seqRelationshipLogits?: Tensor;
  /** AlbertForPreTraining: sentence-order logits [B, 2]. */
  sopLogits?: Tensor;
  /** BertForQuestionAnswering: [B, L]. */
  startLogits?: Tensor;
  endLogits?: Tensor;
  /** With outputHiddenStates: layers + 1 tensors [B, L, H] (embeddings output first; ALBERT: one per inner-layer application). */
  hiddenStates?: Tensor[];
  /** With outputAttentions: one [B, heads, L, L] per layer (softmax probabilities). */
  attentions?: Tensor[];
}

export interface ForwardOptions {
  outputHiddenStates?: boolean;
  outputAttentions?: boolean;
}

export interface PackedForwardOptions extends ForwardOptions {
  /**
   * Masked-LM models: compute the vocabulary logits only for these tokens (indices into the
   * packed batch, in this order); `logits` / `predictionLogits` are then [n, vocab]. The MLM head
   * costs vocab x hidden per token, so fill-mask asks for the [MASK] positions only.
   */
  logitsTokens?: Int32Array;
}
