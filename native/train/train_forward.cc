// The training forward of the encoder: the batch plan, the rows the last layer keeps, the arena
// carved for one call, then embeddings and layers with the activations the backward needs.
//
// Work: only real tokens are packed (no padding computed), and the last layer runs its queries,
// attention, dense layers and their backward only on the rows its head reads when those are few
// (pooled heads, MLM), which changes no result.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include "train/trainable_model_impl.h"

namespace bertkit::train::detail {

void TrainableModelImpl::Prepare(const BatchInput& in, const TrainLabels* labels, const GradientOptions& options, bool all_mlm_rows,
                                 bool wants_every_row, Pass* ps) {
  const ModelConfig& c = config_;
  const HeadSpec& spec = SpecOf(c);
  const int64_t T = in.num_tokens, B = in.num_sequences, H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  // Layer applications (ALBERT runs its shared layers at every depth) and the tables' width.
  const int64_t NL = NumLayerApplications(c);
  const int64_t E = c.embeddings.embedding_size > 0 ? c.embeddings.embedding_size : H;
  const int heads = static_cast<int>(c.num_attention_heads);
  const int head_dim = static_cast<int>(H / heads);
  ps->in = &in;
  ps->labels = labels;
  ps->options = options;
  ps->backward = labels != nullptr && options.backward;
  ps->T = T;
  ps->B = B;
  ps->p_hidden = options.training ? options_.hidden_dropout_prob : 0.f;
  ps->p_attn = options.training ? options_.attention_probs_dropout_prob : 0.f;
  ps->p_cls = options.training ? options_.classifier_dropout_prob : 0.f;
  ps->seed = options_.seed;
  ps->counter = rng_counter_;

  // Positions, attention offsets, and the MLM rows: every token, or those with a label.
  PlanBatch(c, in, &plan_);
  PlanMlmRows(c, in, labels ? labels->labels : nullptr, kIgnore, all_mlm_rows, &plan_);
  const int64_t max_len = plan_.max_len, probs_per_layer = plan_.probs_per_layer;
  const int64_t R = plan_.R();
  mlm_labels_.clear();
  if (labels != nullptr && UsesMlmHead(c))
    for (int64_t r : plan_.mlm_rows) mlm_labels_.push_back(labels->labels[r]);
  ps->R = R;
  const bool mlm = spec.mlm;
  // The pooler, or a sequence head's own dense layer on the first tokens (RoBERTa, DistilBERT).
  ps->pooled_head = (UsesPooler(c) && w_.pooler.w >= 0) || (c.own_dense && !spec.per_token);
  const bool pooled_head = ps->pooled_head;
  if (mlm) {
    ps->head_width = V;
    ps->head_rows = R;
  } else if (spec.linear != nullptr) {
    ps->head_width = HeadLinearWidth(c);
    ps->head_rows = spec.per_token ? T : B;
  }
  ps->nsp_rows = mlm && spec.linear != nullptr ? B : 0;
  const int64_t head_width = ps->head_width, head_rows = ps->head_rows, nsp_rows = ps->nsp_rows;

  // Rows of the last layer's output that anything reads. A pooled head reads each sequence's
  // first token and MLM its labelled tokens; when that is at most half the batch, the last layer
  // computes keys and values for every token but its queries, attention output, FFN and their
  // backward for those rows only. Same loss, logits and gradients (rows are independent after
  // attention, and the dropout masks are indexed by token), ~1/12 less work on BERT-base.
  std::vector<int64_t>& keep = keep_rows_;
  keep.clear();
  if (NL > 0 && options.last_layer_head_rows && !wants_every_row) PlanHeadRows(c, in, plan_, &keep);
  ps->prune = !keep.empty() && 2 * static_cast<int64_t>(keep.size()) <= T;
  const bool prune = ps->prune;
  ps->K = prune ? static_cast<int64_t>(keep.size()) : T;  // rows of the last layer after its keys and values
  const int64_t K = ps->K;

  // ---- arena layout (two passes: size, then carve) ----
  Saved& p = ps->p;
  p.L.resize(NL);
  int64_t used = 0;
  float* base = nullptr;
  auto take = [&](int64_t n) -> float* {
    float* r = base ? base + used : nullptr;
    used += (std::max<int64_t>(n, 1) + 15) / 16 * 16;
    return r;
  };
  const bool with_loss = labels != nullptr;
  const bool backward = ps->backward;
  const int64_t column_rows = std::max<int64_t>({T, B, R, 1});
  const int64_t column_cols = std::max<int64_t>({3 * H, I, 2 * H, 2 * E, mlm ? V : 0, head_width, 2});
  for (int pass = 0; pass < 2; ++pass) {
    used = 0;
    p.emb_sum = take(T * std::max(H, E));
    p.tmp = p.emb_sum;  // the embedding sum is dead once normalized
    p.x0 = take(T * H);
    p.x0e = take(E != H ? T * E : 0);  // the embeddings before embeddings_project
    p.xhat_e = take(T * E);
    p.rstd_e = take(T);
    for (int64_t l = 0; l < NL; ++l) {
      LayerActs& a = p.L[l];
      const int64_t rows = l == NL - 1 ? K : T;  // the pruned last layer: kept rows after keys and values
      a.qkv = take(T * 3 * H);
      a.probs = take(prune && l == NL - 1 ? K * heads * max_len : probs_per_layer);
      a.ctx = take(rows * H);
      a.xhat1 = take(rows * H);
      a.rstd1 = take(rows);
      a.y1 = take(rows * H);
      a.u = take(rows * I);
      a.act = take(rows * I);
      a.xhat2 = take(rows * H);
      a.rstd2 = take(rows);
      a.y2 = take(T * H);  // scattered back to token rows: the heads read it by token
    }
    p.x_sel = take(prune ? K * H : 0);
    p.q_sel = take(prune ? K * H : 0);
    p.y_sel = take(prune ? K * H : 0);
    p.first = take(pooled_head ? B * H : 0);
    p.pooled = take(pooled_head ? B * H : 0);
    p.pooled_drop = take(pooled_head ? B * H : 0);
    p.dense_u = take(pooled_head && c.own_dense ? B * H : 0);
    p.first_drop = take(pooled_head && c.own_dense ? B * H : 0);
    p.seq_drop = take(spec.per_token && spec.classifier_dropout ? T * H : 0);
    p.tok_u = take(spec.per_token && c.own_dense ? T * H : 0);  // ELECTRA's discriminator dense, per token
    p.tok_act = take(spec.per_token && c.own_dense ? T * H : 0);
    p.g_in = take(R * H);
    p.t_u = take(R * E);  // the MLM transform maps H to E (ALBERT, ELECTRA's generator)
    p.t_act = take(R * E);
    p.t_xhat = take(R * E);
    p.t_rstd = take(R);
    p.t_y = take(R * E);
    p.logits = take(head_rows * head_width);
    p.nsp_logits = take(nsp_rows * 2);
    if (with_loss) {
      p.dlogits = take(head_rows * head_width);
      p.dnsp = take(nsp_rows * 2);
    }
    if (backward) {
      p.dA = take(T * H);
      p.dB = take(T * H);
      p.dI = take(T * I);
      p.dqkv = take(T * 3 * H);
      p.dctx = take(T * H);
      p.dpooled = take(pooled_head ? B * H : 0);
      p.dfirst = take(pooled_head ? B * H : 0);
      p.dt = take(R * E);
      p.dtok = take(spec.per_token && c.own_dense ? T * H : 0);
      p.dx0e = take(E != H ? T * E : 0);
      p.dt2 = take(R * H);
      p.d_sel = take(prune ? K * H : 0);
      p.dq_sel = take(prune ? K * H : 0);
    }
    p.gemm = take(pool_.size() * GemmScratchFloats());
    p.column = take(ColumnScratchFloats(column_rows, column_cols));
    p.attention = take(pool_.size() * AttentionScratchFloats(max_len));  // >= AttentionRowsScratchFloats
    if (pass == 0) {
      if (arena_.size < used && !arena_.Allocate(used)) throw std::bad_alloc();
      base = arena_.data();
    }
  }
  gemm_scratch_ = p.gemm;
  column_scratch_ = p.column;

  AttentionShape shape;
  shape.cu_seqlens = in.cu_seqlens;
  shape.sequences = B;
  shape.key_mask = in.attention_mask;
  shape.heads = heads;
  shape.head_dim = head_dim;
  shape.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  shape.probs_offsets = plan_.probs_offsets.data();
  shape.dropout = ps->p_attn;
  shape.scratch = p.attention;
  shape.max_seq_len = max_len;
  static_cast<AttentionShape&>(ps->aa) = shape;
  ps->aa.tokens = T;
  static_cast<AttentionShape&>(ps->ra) = shape;
  ps->ra.rows = keep.data();
  ps->ra.num_rows = K;
  ps->ra.q = p.q_sel;
  ps->ra.dcontext = p.dctx;
  ps->ra.dq = p.dq_sel;
  ps->ra.dkv = p.dqkv;  // [T, 2H] within the [T, 3H] buffer
  const Layer* last_layer = NL > 0 ? &w_.layers[LayerWeightIndex(c, NL - 1)] : nullptr;
  ps->q_part = last_layer ? Linear{last_layer->qkv.w, last_layer->qkv.b, H, H} : Linear{};
  ps->kv_part = last_layer ? Linear{last_layer->qkv.w + H * H, last_layer->qkv.b + H, 2 * H, H} : Linear{};
}

// Hidden dropout of M rows of a layer: row r is token rows[r] (every token in order when null),
// so the kept rows of the last layer get the masks a full layer would.
void TrainableModelImpl::HiddenDropout(Pass& ps, float* x, int64_t M, const int64_t* rows, uint64_t key) {
  Phase ph("dropout");
  if (rows != nullptr) {
    DropoutRows(x, M, config_.hidden_size, rows, ps.p_hidden, key, &pool_);
  } else {
    Dropout(x, M * config_.hidden_size, ps.p_hidden, key, 0, &pool_);
  }
}

// A layer after its attention, on M rows (a.ctx given): attention.output (dense, dropout,
// residual `res`, LayerNorm), intermediate (dense + activation), output (dense, dropout,
// residual, LayerNorm into `out`).
void TrainableModelImpl::PostAttentionForward(Pass& ps, int64_t l, int64_t M, const int64_t* rows, const float* res, float* out) {
  const ModelConfig& c = config_;
  const int64_t H = c.hidden_size;
  const float eps = static_cast<float>(c.layer_norm_eps);
  auto add_into = [&](float* dst, const float* src, int64_t n) {
    pool_.ParallelFor((n + 16383) / 16384, [&](int64_t task, int) {
      const int64_t e = std::min(n, (task + 1) * 16384);
      for (int64_t i = task * 16384; i < e; ++i) dst[i] += src[i];
    });
  };
  const Layer& W = w_.layers[LayerWeightIndex(c, l)];
  LayerActs& a = ps.p.L[l];
  float* tmp = ps.p.tmp;
  LinearFwd(a.ctx, M, W.attention_output, tmp);
  HiddenDropout(ps, tmp, M, rows, ps.Key(2 + 3 * l));
  { Phase ph("residual"); add_into(tmp, res, M * H); }
  { Phase ph("layernorm"); LayerNormForward(tmp, M, H, P(W.attention_ln.g), P(W.attention_ln.b), eps, a.y1, a.xhat1, a.rstd1, &pool_); }
  LinearFwd(a.y1, M, W.intermediate, a.u, {c.hidden_act, a.act, nullptr});  // and act = hidden_act(u)
  LinearFwd(a.act, M, W.output, tmp);
  HiddenDropout(ps, tmp, M, rows, ps.Key(3 + 3 * l));
  { Phase ph("residual"); add_into(tmp, a.y1, M * H); }
  { Phase ph("layernorm"); LayerNormForward(tmp, M, H, P(W.output_ln.g), P(W.output_ln.b), eps, out, a.xhat2, a.rstd2, &pool_); }
}

void TrainableModelImpl::EncoderForward(Pass& ps) {
  const ModelConfig& c = config_;
  const BatchInput& in = *ps.in;
  const int64_t T = ps.T, H = c.hidden_size, NL = NumLayerApplications(c), K = ps.K;
  const int64_t E = c.embeddings.embedding_size > 0 ? c.embeddings.embedding_size : H;
  const float eps = static_cast<float>(c.layer_norm_eps);
  Saved& p = ps.p;
  const std::vector<int64_t>& keep = keep_rows_;

  const float* types_table = c.embeddings.token_type_embeddings ? P(w_.token_type_embeddings) : nullptr;
  // Lookups, LayerNorm and dropout at the tables' width E, then embeddings_project to H when E != H.
  float* emb = E != H ? p.x0e : p.x0;
  { Phase ph("embeddings"); EmbeddingsSum(in.input_ids, in.token_type_ids, plan_.position_ids, T, E, P(w_.word_embeddings), P(w_.position_embeddings), types_table, p.emb_sum, &pool_); }
  { Phase ph("layernorm"); LayerNormForward(p.emb_sum, T, E, P(w_.embeddings_ln.g), P(w_.embeddings_ln.b), eps, emb, p.xhat_e, p.rstd_e, &pool_); }
  { Phase ph("dropout"); Dropout(emb, T * E, ps.p_hidden, ps.Key(0), 0, &pool_); }
  if (E != H) LinearFwd(p.x0e, T, w_.embeddings_project, p.x0);

  for (int64_t l = 0; l < NL; ++l) {
    LayerActs& a = p.L[l];
    const float* x_in = l == 0 ? p.x0 : p.L[l - 1].y2;
    if (ps.prune && l == NL - 1) {
      for (int64_t r = 0; r < K; ++r) std::memcpy(p.x_sel + r * H, x_in + keep[r] * H, H * 4);
      LinearFwd(x_in, T, ps.kv_part, a.qkv);  // keys and values of every token, [T, 2H]
      LinearFwd(p.x_sel, K, ps.q_part, p.q_sel);
      ps.ra.kv = a.qkv;
      ps.ra.probs = a.probs;
      ps.ra.context = a.ctx;
      ps.ra.dropout_key = ps.Key(1 + 3 * l);
      { Phase ph("attention forward"); AttentionRowsForward(ps.ra, isa_, &pool_); }
      PostAttentionForward(ps, l, K, keep.data(), p.x_sel, p.y_sel);
      for (int64_t r = 0; r < K; ++r) std::memcpy(a.y2 + keep[r] * H, p.y_sel + r * H, H * 4);
      continue;
    }
    LinearFwd(x_in, T, w_.layers[LayerWeightIndex(c, l)].qkv, a.qkv);
    ps.aa.qkv = a.qkv;
    ps.aa.probs = a.probs;
    ps.aa.context = a.ctx;
    ps.aa.dropout_key = ps.Key(1 + 3 * l);
    { Phase ph("attention forward"); AttentionForward(ps.aa, isa_, &pool_); }
    PostAttentionForward(ps, l, T, nullptr, x_in, a.y2);
  }
  ps.last = NL > 0 ? p.L[NL - 1].y2 : p.x0;
}

}  // namespace bertkit::train::detail
