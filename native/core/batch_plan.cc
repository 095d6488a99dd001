#include "core/batch_plan.h"

#include <algorithm>

namespace bertkit {

void PlanBatch(const ModelConfig& c, const BatchInput& in, BatchPlan* plan) {
  const int64_t T = in.num_tokens, B = in.num_sequences;
  plan->max_len = 0;
  plan->probs_offsets.resize(B);
  plan->probs_per_layer = 0;
  for (int64_t s = 0; s < B; ++s) {
    const int64_t n = static_cast<int64_t>(in.cu_seqlens[s + 1]) - in.cu_seqlens[s];
    plan->max_len = std::max(plan->max_len, n);
    plan->probs_offsets[s] = plan->probs_per_layer;
    plan->probs_per_layer += c.num_attention_heads * n * n;
  }

  plan->position_ids = in.position_ids;
  if (plan->position_ids == nullptr) {
    plan->positions.resize(T);
    int32_t* pos = plan->positions.data();
    const int64_t pad = c.embeddings.padding_idx;
    for (int64_t s = 0; s < B; ++s) {
      const int32_t start = in.cu_seqlens[s], end = in.cu_seqlens[s + 1];
      if (pad < 0) {
        for (int32_t t = start; t < end; ++t) pos[t] = t - start;
      } else {
        // transformers' create_position_ids_from_input_ids: cumsum(ids != pad) * (ids != pad) + pad.
        int32_t count = 0;
        for (int32_t t = start; t < end; ++t) {
          const bool real = in.input_ids[t] != pad;
          count += real;
          pos[t] = static_cast<int32_t>(real ? count + pad : pad);
        }
      }
    }
    plan->position_ids = plan->positions.data();
  }

  plan->mlm_rows.clear();
  plan->mlm_every_token = false;
  if (UsesMlmHead(c)) PlanMlmRows(c, in, nullptr, 0, true, plan);
}

void PlanMlmRows(const ModelConfig& c, const BatchInput& in, const int32_t* labels, int32_t ignore, bool all, BatchPlan* plan) {
  plan->mlm_rows.clear();
  plan->mlm_every_token = false;
  if (!UsesMlmHead(c)) return;
  if (in.logits_tokens != nullptr) {
    plan->mlm_rows.assign(in.logits_tokens, in.logits_tokens + in.num_logits_tokens);
    return;
  }
  for (int64_t t = 0; t < in.num_tokens; ++t)
    if (all || labels == nullptr || labels[t] != ignore) plan->mlm_rows.push_back(t);
  plan->mlm_every_token = plan->R() == in.num_tokens;
}

void PlanHeadRows(const ModelConfig& c, const BatchInput& in, const BatchPlan& plan, std::vector<int64_t>* rows) {
  rows->clear();
  const HeadSpec& spec = SpecOf(c);
  if (spec.per_token || (spec.linear == nullptr && !spec.mlm)) return;
  if (spec.pooler && (UsesPooler(c) || c.own_dense))
    for (int64_t s = 0; s < in.num_sequences; ++s) rows->push_back(in.cu_seqlens[s]);
  rows->insert(rows->end(), plan.mlm_rows.begin(), plan.mlm_rows.end());
  std::sort(rows->begin(), rows->end());
  rows->erase(std::unique(rows->begin(), rows->end()), rows->end());
}

}  // namespace bertkit
