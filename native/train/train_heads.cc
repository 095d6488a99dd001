// The task heads in training: the pooler and the head's forward (HeadSpec, not the architecture),
// the outputs, the labels' checks, every loss with d loss / d logits, and the heads' backward down
// to d loss / d last hidden state. Losses mirror transformers (see the table in
// shared/fixtures/training/README.md): CrossEntropyLoss with ignore_index -100, MSELoss after
// squeeze, BCEWithLogitsLoss, QA's clamp to [0, L] with L ignored, PreTraining = MLM + NSP.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "train/trainable_model_impl.h"

namespace bertkit::train::detail {

Status TrainableModelImpl::ValidateLabels(const BatchInput& in, const TrainLabels& lb) const {
  const ModelConfig& c = config_;
  const int64_t T = in.num_tokens, B = in.num_sequences;
  auto need = [](bool ok, const std::string& what) { return ok ? Status::Ok() : InvalidArgument(what); };
  auto classes = [&](const int32_t* v, int64_t n, int64_t k, const char* what) -> Status {
    for (int64_t i = 0; i < n; ++i) {
      if (v[i] != kIgnore && (v[i] < 0 || v[i] >= k)) {
        return OutOfRange(std::string(what) + " " + std::to_string(v[i]) + " at index " + std::to_string(i) +
                          " is outside [0, " + std::to_string(k) + ") (and is not -100, the ignored label)");
      }
    }
    return Status::Ok();
  };
  auto sized = [&](const int32_t* v, int64_t have, int64_t want, const char* what) -> Status {
    if (v == nullptr) return InvalidArgument(std::string(ArchitectureName(c.architecture)) + " needs " + what);
    if (have != want)
      return InvalidArgument(std::string(what) + " has " + std::to_string(have) + " entries, the batch needs " + std::to_string(want));
    return Status::Ok();
  };
  switch (c.head()) {
    case Head::kNone:
      return InvalidArgument(std::string(ArchitectureName(c.architecture)) + " has no head and no loss: train a task architecture");
    case Head::kSequenceClassification:
      if (lb.problem_type == ProblemType::kSingleLabel) {
        BK_RETURN_IF_ERROR(sized(lb.labels, lb.labels_size, B, "labels"));
        return classes(lb.labels, B, c.num_labels, "label");
      }
      BK_RETURN_IF_ERROR(need(lb.float_labels != nullptr, "regression / multi-label classification needs float labels"));
      BK_RETURN_IF_ERROR(need(lb.float_labels_size == B * c.num_labels,
                              "float labels have " + std::to_string(lb.float_labels_size) + " values, the batch needs " +
                                  std::to_string(B * c.num_labels) + " (batch x num_labels)"));
      for (int64_t i = 0; i < lb.float_labels_size; ++i)
        if (!std::isfinite(lb.float_labels[i])) return OutOfRange("float label " + std::to_string(i) + " is not finite");
      return Status::Ok();
    case Head::kMultipleChoice: {
      if (lb.num_choices < 1 || B % lb.num_choices != 0)
        return InvalidArgument("multiple choice: " + std::to_string(B) + " sequences are not a whole number of examples of " +
                               std::to_string(lb.num_choices) + " choices");
      BK_RETURN_IF_ERROR(sized(lb.labels, lb.labels_size, B / lb.num_choices, "labels"));
      return classes(lb.labels, B / lb.num_choices, lb.num_choices, "label");
    }
    case Head::kTokenClassification:
      BK_RETURN_IF_ERROR(sized(lb.labels, lb.labels_size, T, "labels"));
      return classes(lb.labels, T, c.num_labels, "label");
    case Head::kMaskedLM:
      BK_RETURN_IF_ERROR(sized(lb.labels, lb.labels_size, T, "labels"));
      return classes(lb.labels, T, c.vocab_size, "label");
    case Head::kNextSentencePrediction:
      BK_RETURN_IF_ERROR(sized(lb.labels, lb.labels_size, B, "labels"));
      return classes(lb.labels, B, 2, "label");
    case Head::kPreTraining:
      BK_RETURN_IF_ERROR(sized(lb.labels, lb.labels_size, T, "labels"));
      BK_RETURN_IF_ERROR(classes(lb.labels, T, c.vocab_size, "label"));
      BK_RETURN_IF_ERROR(sized(lb.next_sentence_label, lb.next_sentence_label_size, B, "next_sentence_label"));
      return classes(lb.next_sentence_label, B, 2, "next_sentence_label");
    case Head::kQuestionAnswering:
      BK_RETURN_IF_ERROR(sized(lb.start_positions, lb.positions_size, B, "start_positions"));
      return sized(lb.end_positions, lb.positions_size, B, "end_positions");
    case Head::kDiscriminator: {
      // 1 = replaced, 0 = original; -100 = not in the loss (padding).
      BK_RETURN_IF_ERROR(sized(lb.labels, lb.labels_size, T, "labels"));
      for (int64_t t = 0; t < T; ++t)
        if (lb.labels[t] != 0 && lb.labels[t] != 1 && lb.labels[t] != kIgnore)
          return OutOfRange("discriminator label " + std::to_string(lb.labels[t]) + " at token " + std::to_string(t) + " is not 0, 1 or -100");
      return Status::Ok();
    }
  }
  return Status::Ok();
}

void TrainableModelImpl::HeadsForward(Pass& ps) {
  const ModelConfig& c = config_;
  const HeadSpec& spec = SpecOf(c);
  const BatchInput& in = *ps.in;
  const int64_t T = ps.T, B = ps.B, R = ps.R, H = c.hidden_size, V = c.vocab_size;
  const int64_t E = c.embeddings.embedding_size > 0 ? c.embeddings.embedding_size : H;
  const float eps = static_cast<float>(c.layer_norm_eps);
  Saved& p = ps.p;
  const float* last = ps.last;

  if (ps.pooled_head) {
    for (int64_t s = 0; s < B; ++s) std::memcpy(p.first + s * H, last + static_cast<int64_t>(in.cu_seqlens[s]) * H, H * 4);
    if (c.own_dense) {
      // The head's own dense layer on the first tokens (RobertaClassificationHead: dropout, dense,
      // tanh; DistilBERT: pre_classifier, ReLU), in place of the pooler.
      std::memcpy(p.first_drop, p.first, B * H * 4);
      if (c.own_dense_input_dropout) { Phase ph("dropout"); Dropout(p.first_drop, B * H, ps.p_cls, ps.Key(kSiteClassifier + 1), 0, &pool_); }
      LinearFwd(p.first_drop, B, w_.head_dense, p.dense_u);
      if (c.own_dense_act == Activation::kTanh) {
        std::memcpy(p.pooled, p.dense_u, B * H * 4);
        TanhForward(p.pooled, B * H, isa_);
      } else {
        ActivationForward(p.dense_u, B * H, c.own_dense_act, p.pooled, isa_, &pool_);
      }
    } else {
      LinearFwd(p.first, B, w_.pooler, p.pooled);
      TanhForward(p.pooled, B * H, isa_);
    }
    std::memcpy(p.pooled_drop, p.pooled, B * H * 4);
  }
  if (spec.mlm) {
    // BertLMPredictionHead on the MLM rows: decoder(LayerNorm(act(dense(h)))).
    for (int64_t r = 0; r < R; ++r) std::memcpy(p.g_in + r * H, last + plan_.mlm_rows[r] * H, H * 4);
    LinearFwd(p.g_in, R, w_.transform, p.t_u);
    ActivationForward(p.t_u, R * E, c.TransformAct(), p.t_act, isa_, &pool_);
    { Phase ph("layernorm"); LayerNormForward(p.t_act, R, E, P(w_.transform_ln.g), P(w_.transform_ln.b), eps, p.t_y, p.t_xhat, p.t_rstd, &pool_); }
    LinearForward(p.t_y, R, E, P(w_.decoder.w), V, P(w_.decoder.b), p.logits, isa_, &pool_, gemm_scratch_);
  }
  if (spec.linear != nullptr) {
    // The head's linear on every token or on the pooled rows, after the classifier dropout.
    float* y = spec.mlm ? p.nsp_logits : p.logits;
    if (spec.per_token) {
      const float* x = last;
      if (c.own_dense) {
        // ElectraDiscriminatorPredictions: dense -> hidden_act on every token, then dense_prediction.
        LinearFwd(last, T, w_.head_dense, p.tok_u);
        ActivationForward(p.tok_u, T * H, c.own_dense_act, p.tok_act, isa_, &pool_);
        x = p.tok_act;
      }
      if (spec.classifier_dropout) {
        std::memcpy(p.seq_drop, last, T * H * 4);
        { Phase ph("dropout"); Dropout(p.seq_drop, T * H, ps.p_cls, ps.Key(kSiteClassifier), 0, &pool_); }
        x = p.seq_drop;
      }
      LinearFwd(x, T, w_.head, y);
    } else {
      const float* x = p.pooled;
      if (spec.classifier_dropout) {
        { Phase ph("dropout"); Dropout(p.pooled_drop, B * H, ps.p_cls, ps.Key(kSiteClassifier), 0, &pool_); }
        x = p.pooled_drop;
      }
      LinearFwd(x, B, w_.head, y);
    }
  }
}

void TrainableModelImpl::WriteOutputs(const Pass& ps, const TrainOutputs* train_out, const ForwardOutputs* fwd_out) {
  const ModelConfig& c = config_;
  const HeadSpec& spec = SpecOf(c);
  const int64_t T = ps.T, B = ps.B, R = ps.R, H = c.hidden_size, V = c.vocab_size, NL = NumLayerApplications(c);
  const Saved& p = ps.p;
  if (fwd_out != nullptr) {
    const ForwardOutputs& o = *fwd_out;
    if (o.last_hidden_state.data) std::memcpy(o.last_hidden_state.data, ps.last, T * H * 4);
    if (o.pooler_output.data) std::memcpy(o.pooler_output.data, p.pooled, B * H * 4);
    if (o.hidden_states.data) {
      std::memcpy(o.hidden_states.data, p.x0, T * H * 4);
      for (int64_t l = 0; l < NL; ++l) std::memcpy(o.hidden_states.data + (l + 1) * T * H, p.L[l].y2, T * H * 4);
    }
    const int64_t probs_per_layer = plan_.probs_per_layer;
    if (o.attentions.data)
      for (int64_t l = 0; l < NL; ++l) std::memcpy(o.attentions.data + l * probs_per_layer, p.L[l].probs, probs_per_layer * 4);
  }
  OutputBuffer logits, prediction, seqrel, start, end;
  if (fwd_out) {
    logits = fwd_out->logits;
    prediction = fwd_out->prediction_logits;
    seqrel = fwd_out->seq_relationship_logits;
    start = fwd_out->start_logits;
    end = fwd_out->end_logits;
  } else if (train_out) {
    logits = train_out->logits;
    prediction = train_out->prediction_logits;
    seqrel = train_out->seq_relationship_logits;
    start = train_out->start_logits;
    end = train_out->end_logits;
  }
  if (spec.start_end) {
    for (int64_t t = 0; t < T; ++t) {
      if (start.data) start.data[t] = p.logits[2 * t];
      if (end.data) end.data[t] = p.logits[2 * t + 1];
    }
  } else if (spec.mlm && spec.linear != nullptr) {
    if (prediction.data) std::memcpy(prediction.data, p.logits, R * V * 4);  // R: every token, or logits_tokens
    if (seqrel.data) std::memcpy(seqrel.data, p.nsp_logits, B * 2 * 4);
  } else if (logits.data) {
    std::memcpy(logits.data, p.logits, ps.head_rows * ps.head_width * 4);  // MLM: head_rows == R
  }
}

LossParts TrainableModelImpl::Loss(Pass& ps) {
  const ModelConfig& c = config_;
  const BatchInput& in = *ps.in;
  const int64_t T = ps.T, B = ps.B, R = ps.R, V = c.vocab_size;
  const int64_t head_width = ps.head_width, head_rows = ps.head_rows;
  Saved& p = ps.p;
  const TrainLabels& lb = *ps.labels;
  const float scale = ps.options.loss_scale;
  LossParts parts;
  switch (c.head()) {
    case Head::kSequenceClassification:
      if (lb.problem_type == ProblemType::kSingleLabel) {
        parts.loss = CrossEntropy(p.logits, B, head_width, head_width, lb.labels, kIgnore, scale, p.dlogits, head_width, &pool_, isa_);
      } else if (lb.problem_type == ProblemType::kRegression) {
        parts.loss = MseLoss(p.logits, lb.float_labels, B * head_width, scale, p.dlogits);
      } else {
        parts.loss = BceWithLogits(p.logits, lb.float_labels, B * head_width, scale, p.dlogits);
      }
      break;
    case Head::kMultipleChoice:
      // logits [B] viewed as [B / choices, choices]
      parts.loss = CrossEntropy(p.logits, B / lb.num_choices, lb.num_choices, lb.num_choices, lb.labels, kIgnore, scale, p.dlogits,
                                lb.num_choices, &pool_, isa_);
      break;
    case Head::kNextSentencePrediction:
    case Head::kTokenClassification:
      parts.loss = CrossEntropy(p.logits, head_rows, head_width, head_width, lb.labels, kIgnore, scale, p.dlogits, head_width, &pool_, isa_);
      break;
    case Head::kMaskedLM:
    case Head::kPreTraining:
      parts.mlm_loss = CrossEntropy(p.logits, R, V, V, mlm_labels_.data(), kIgnore, scale, p.dlogits, V, &pool_, isa_);
      parts.loss = parts.mlm_loss;
      if (ps.nsp_rows > 0) {
        parts.nsp_loss = CrossEntropy(p.nsp_logits, B, 2, 2, lb.next_sentence_label, kIgnore, scale, p.dnsp, 2, &pool_, isa_);
        parts.loss = parts.mlm_loss + parts.nsp_loss;
      }
      break;
    case Head::kQuestionAnswering: {
      // Per sequence of n tokens: position clamp(x, 0, n), ignored when == n; softmax over all n.
      double sum[2] = {0, 0};
      int64_t count[2] = {0, 0};
      std::vector<int64_t> target(2 * B);
      for (int64_t s = 0; s < B; ++s) {
        const int64_t n = in.cu_seqlens[s + 1] - in.cu_seqlens[s];
        const int32_t raw[2] = {lb.start_positions[s], lb.end_positions[s]};
        for (int k = 0; k < 2; ++k) {
          target[2 * s + k] = std::min<int64_t>(std::max<int64_t>(raw[k], 0), n);
          if (target[2 * s + k] != n) ++count[k];
        }
      }
      std::fill(p.dlogits, p.dlogits + 2 * T, 0.f);
      for (int64_t s = 0; s < B; ++s) {
        const int64_t st = in.cu_seqlens[s], n = in.cu_seqlens[s + 1] - st;
        for (int k = 0; k < 2; ++k) {
          const int64_t tgt = target[2 * s + k];
          if (tgt == n) continue;
          double mx = -INFINITY;
          for (int64_t j = 0; j < n; ++j) mx = std::max<double>(mx, p.logits[2 * (st + j) + k]);
          double z = 0;
          for (int64_t j = 0; j < n; ++j) z += std::exp(p.logits[2 * (st + j) + k] - mx);
          sum[k] += mx + std::log(z) - p.logits[2 * (st + tgt) + k];
          const double g = 0.5 * scale / static_cast<double>(count[k]);
          for (int64_t j = 0; j < n; ++j)
            p.dlogits[2 * (st + j) + k] = static_cast<float>(std::exp(p.logits[2 * (st + j) + k] - mx) / z * g - (j == tgt ? g : 0.0));
        }
      }
      const double nan = std::numeric_limits<double>::quiet_NaN();
      const double ls = count[0] ? sum[0] / count[0] : nan, le = count[1] ? sum[1] / count[1] : nan;
      parts.loss = (ls + le) / 2;
      break;
    }
    case Head::kDiscriminator: {
      // BCE-with-logits, mean over the labelled tokens (transformers: those with attention mask 1).
      double sum = 0;
      int64_t n = 0;
      for (int64_t t = 0; t < T; ++t) n += lb.labels[t] != kIgnore;
      for (int64_t t = 0; t < T; ++t) {
        p.dlogits[t] = 0.f;
        if (lb.labels[t] == kIgnore) continue;
        const double z = p.logits[t], y = lb.labels[t];
        sum += std::max(z, 0.0) - z * y + std::log1p(std::exp(-std::abs(z)));
        p.dlogits[t] = static_cast<float>((1.0 / (1.0 + std::exp(-z)) - y) * scale / static_cast<double>(n));
      }
      parts.loss = n > 0 ? sum / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
      break;
    }
    case Head::kNone:
      break;
  }
  return parts;
}

void TrainableModelImpl::HeadsBackward(Pass& ps) {
  const ModelConfig& c = config_;
  const HeadSpec& spec = SpecOf(c);
  const BatchInput& in = *ps.in;
  const int64_t T = ps.T, B = ps.B, R = ps.R, H = c.hidden_size, V = c.vocab_size;
  const int64_t E = c.embeddings.embedding_size > 0 ? c.embeddings.embedding_size : H;
  Saved& p = ps.p;
  { Phase ph("zero grads"); if (!ps.options.accumulate) std::fill(grads_.data(), grads_.data() + grads_.size, 0.f); }
  float* dY = p.dA;  // d loss / d last hidden state
  std::fill(dY, dY + T * H, 0.f);
  auto pooler_backward = [&](const float* dpooled) {
    if (c.own_dense) {
      if (c.own_dense_act == Activation::kTanh) TanhBackward(p.pooled, dpooled, B * H, p.dpooled);
      else ActivationBackward(p.dense_u, dpooled, B * H, c.own_dense_act, p.dpooled, isa_, &pool_);
      LinearBwd(p.dpooled, B, w_.head_dense, p.first_drop, p.dfirst, false);
      if (c.own_dense_input_dropout) { Phase ph("dropout"); Dropout(p.dfirst, B * H, ps.p_cls, ps.Key(kSiteClassifier + 1), 0, &pool_); }
    } else {
      TanhBackward(p.pooled, dpooled, B * H, p.dpooled);
      LinearBwd(p.dpooled, B, w_.pooler, p.first, p.dfirst, false);
    }
    for (int64_t s = 0; s < B; ++s) {
      float* row = dY + static_cast<int64_t>(in.cu_seqlens[s]) * H;
      for (int64_t i = 0; i < H; ++i) row[i] += p.dfirst[s * H + i];
    }
  };
  if (spec.mlm) {
    // decoder (tied: the word embeddings' gradient), bias
    LinearBackwardWeight(p.dlogits, R, V, p.t_y, E, G(w_.decoder.w), isa_, &pool_, gemm_scratch_);
    ColumnSumAccumulate(p.dlogits, R, V, V, G(w_.decoder.b), &pool_, column_scratch_);
    LinearBackwardInput(p.dlogits, R, V, P(w_.decoder.w), E, p.dt, false, isa_, &pool_, gemm_scratch_);
    { Phase ph("layernorm"); LayerNormBackward(p.dt, p.t_xhat, p.t_rstd, P(w_.transform_ln.g), R, E, p.dt, G(w_.transform_ln.g), G(w_.transform_ln.b), &pool_,
                      column_scratch_); }
    ActivationBackward(p.t_u, p.dt, R * E, c.TransformAct(), p.dt, isa_, &pool_);
    LinearBwd(p.dt, R, w_.transform, p.g_in, p.dt2, false);
    for (int64_t r = 0; r < R; ++r) {
      float* row = dY + plan_.mlm_rows[r] * H;
      for (int64_t i = 0; i < H; ++i) row[i] += p.dt2[r * H + i];
    }
  }
  if (spec.linear != nullptr) {
    const float* dlogits = spec.mlm ? p.dnsp : p.dlogits;
    if (spec.per_token && c.own_dense) {
      // The discriminator: dense_prediction, hidden_act, dense, into dY.
      LinearBwd(dlogits, T, w_.head, p.tok_act, p.dtok, false);
      ActivationBackward(p.tok_u, p.dtok, T * H, c.own_dense_act, p.dtok, isa_, &pool_);
      LinearBwd(p.dtok, T, w_.head_dense, ps.last, dY, false);
    } else if (spec.per_token) {
      LinearBwd(dlogits, T, w_.head, spec.classifier_dropout ? p.seq_drop : ps.last, dY, false);
      if (spec.classifier_dropout) { Phase ph("dropout"); Dropout(dY, T * H, ps.p_cls, ps.Key(kSiteClassifier), 0, &pool_); }
    } else {
      // d pooled (after dropout) into dB (a free [T, H] buffer, B <= T rows)
      LinearBwd(dlogits, B, w_.head, spec.classifier_dropout ? p.pooled_drop : p.pooled, p.dB, false);
      if (spec.classifier_dropout) { Phase ph("dropout"); Dropout(p.dB, B * H, ps.p_cls, ps.Key(kSiteClassifier), 0, &pool_); }
      pooler_backward(p.dB);
    }
  }
}

}  // namespace bertkit::train::detail
