// What every backend (CPU engine, CUDA backend, trainer) derives from a packed batch before
// running it, computed in one place: the position ids (given, or made as the description says),
// where each sequence's attention probabilities start, and the rows the heads read.
#pragma once

#include <cstdint>
#include <vector>

#include "bertkit/engine.h"

namespace bertkit {

struct BatchPlan {
  int64_t max_len = 0;  // the longest sequence
  // BatchInput::position_ids, or `positions`: 0..n-1 per sequence, or RoBERTa's from the ids
  // (EmbeddingsConfig::padding_idx).
  const int32_t* position_ids = nullptr;
  std::vector<int32_t> positions;
  // Sequence s's heads x n x n attention probabilities start at probs_offsets[s] within a layer's
  // probs_per_layer (the packed layout of ForwardOutputs::attentions).
  std::vector<int64_t> probs_offsets;
  int64_t probs_per_layer = 0;
  // The tokens the MLM head runs on, in order (empty without an MLM head), and whether they are
  // simply every token 0..T-1 (a backend may then read the hidden states in place).
  std::vector<int64_t> mlm_rows;
  bool mlm_every_token = false;

  int64_t R() const { return static_cast<int64_t>(mlm_rows.size()); }
};

// Positions, offsets and the longest sequence of a validated batch; the MLM rows are
// BatchInput::logits_tokens when given, else every token.
void PlanBatch(const ModelConfig& config, const BatchInput& in, BatchPlan* plan);

// The MLM rows of a training batch: every token when `all`, else those whose label is not
// `ignore` (logits_tokens, a forward's selection, still wins when given). `labels` may be null (all).
void PlanMlmRows(const ModelConfig& config, const BatchInput& in, const int32_t* labels, int32_t ignore, bool all, BatchPlan* plan);

// The rows of the last layer's output that the head reads when it reads few: each sequence's
// first token for a pooled head, and the MLM rows; sorted, unique. Empty when the head reads
// every token (token classification, QA) or there is no head.
void PlanHeadRows(const ModelConfig& config, const BatchInput& in, const BatchPlan& plan, std::vector<int64_t>* rows);

}  // namespace bertkit
