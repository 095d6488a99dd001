// The training backward of the encoder: the layers last to first (the last one on its kept rows
// when the forward pruned it), then dropout, LayerNorm and the lookups of the embeddings.
#include <cstring>

#include "train/trainable_model_impl.h"

namespace bertkit::train::detail {

// The backward of PostAttentionForward on M rows: d holds d loss / d out and becomes
// d loss / d h1 (the attention block's output, = d res); p.dctx gets d loss / d ctx.
void TrainableModelImpl::PostAttentionBackward(Pass& ps, int64_t l, int64_t M, const int64_t* rows, float* d) {
  const ModelConfig& c = config_;
  const int64_t H = c.hidden_size;
  Saved& p = ps.p;
  const Layer& W = w_.layers[LayerWeightIndex(c, l)];
  LayerActs& a = p.L[l];
  // output.LayerNorm: d becomes d(h2), h2 = drop(output.dense(act)) + y1
  { Phase ph("layernorm"); LayerNormBackward(d, a.xhat2, a.rstd2, P(W.output_ln.g), M, H, d, G(W.output_ln.g), G(W.output_ln.b), &pool_,
                    column_scratch_); }
  const float* d_out = d;
  if (ps.p_hidden > 0.f) {
    { Phase ph("dropout"); std::memcpy(p.dB, d, M * H * 4); }
    HiddenDropout(ps, p.dB, M, rows, ps.Key(3 + 3 * l));
    d_out = p.dB;
  }
  LinearBwd(d_out, M, W.output, a.act, p.dI, false, {c.hidden_act, nullptr, a.u});  // dI = d(act) * act'(u)
  // d(y1) = d(h2) (residual) + du . W_intermediate
  LinearBwd(p.dI, M, W.intermediate, a.y1, d, true);
  // attention.output.LayerNorm: d becomes d(h1), h1 = drop(attention.output.dense(ctx)) + res
  { Phase ph("layernorm"); LayerNormBackward(d, a.xhat1, a.rstd1, P(W.attention_ln.g), M, H, d, G(W.attention_ln.g), G(W.attention_ln.b), &pool_,
                    column_scratch_); }
  const float* d_ao = d;
  if (ps.p_hidden > 0.f) {
    { Phase ph("dropout"); std::memcpy(p.dB, d, M * H * 4); }
    HiddenDropout(ps, p.dB, M, rows, ps.Key(2 + 3 * l));
    d_ao = p.dB;
  }
  LinearBwd(d_ao, M, W.attention_output, a.ctx, p.dctx, false);
}

void TrainableModelImpl::EncoderBackward(Pass& ps) {
  const ModelConfig& c = config_;
  const BatchInput& in = *ps.in;
  const int64_t T = ps.T, H = c.hidden_size, NL = NumLayerApplications(c), K = ps.K;
  const int64_t E = c.embeddings.embedding_size > 0 ? c.embeddings.embedding_size : H;
  Saved& p = ps.p;
  const std::vector<int64_t>& keep = keep_rows_;

  // Layers, last to first. cur (= dA) holds d loss / d (layer output); dB is the other [T, H].
  float* cur = p.dA;
  for (int64_t l = NL - 1; l >= 0; --l) {
    LayerActs& a = p.L[l];
    const float* x_in = l == 0 ? p.x0 : p.L[l - 1].y2;
    if (ps.prune && l == NL - 1) {
      // The same steps on the kept rows (d_sel), then keys and values back to every row.
      float* d = p.d_sel;
      for (int64_t r = 0; r < K; ++r) std::memcpy(d + r * H, cur + keep[r] * H, H * 4);
      PostAttentionBackward(ps, l, K, keep.data(), d);
      ps.ra.kv = a.qkv;
      ps.ra.probs = a.probs;
      ps.ra.context = a.ctx;
      ps.ra.dropout_key = ps.Key(1 + 3 * l);
      { Phase ph("attention backward"); AttentionRowsBackward(ps.ra, isa_, &pool_); }
      // d(x_in) = dkv . W_kv (every row) + (d(h1) + dq . W_q) on the kept rows
      LinearBwd(p.dqkv, T, ps.kv_part, x_in, cur, false);
      LinearBwd(p.dq_sel, K, ps.q_part, p.x_sel, d, true);
      for (int64_t r = 0; r < K; ++r) {
        float* row = cur + keep[r] * H;
        const float* src = d + r * H;
        for (int64_t i = 0; i < H; ++i) row[i] += src[i];
      }
      continue;
    }
    PostAttentionBackward(ps, l, T, nullptr, cur);
    ps.aa.qkv = a.qkv;
    ps.aa.probs = a.probs;
    ps.aa.context = a.ctx;
    ps.aa.dropout_key = ps.Key(1 + 3 * l);
    ps.aa.dcontext = p.dctx;
    ps.aa.dqkv = p.dqkv;
    { Phase ph("attention backward"); AttentionBackward(ps.aa, isa_, &pool_); }
    // d(x_in) = d(h1) (residual) + dqkv . W_qkv
    LinearBwd(p.dqkv, T, w_.layers[LayerWeightIndex(c, l)].qkv, x_in, cur, true);
  }
  // Embeddings: embeddings_project (E != H), dropout, LayerNorm, then the lookups, at width E.
  if (E != H) {
    LinearBwd(cur, T, w_.embeddings_project, p.x0e, p.dx0e, false);
    cur = p.dx0e;
  }
  { Phase ph("dropout"); Dropout(cur, T * E, ps.p_hidden, ps.Key(0), 0, &pool_); }
  { Phase ph("layernorm"); LayerNormBackward(cur, p.xhat_e, p.rstd_e, P(w_.embeddings_ln.g), T, E, cur, G(w_.embeddings_ln.g), G(w_.embeddings_ln.b), &pool_,
                    column_scratch_); }
  float* dtypes = c.embeddings.token_type_embeddings ? G(w_.token_type_embeddings) : nullptr;
  { Phase ph("embeddings"); EmbeddingsBackward(cur, in.input_ids, in.token_type_ids, plan_.position_ids, T, E, options_.pad_token_id, G(w_.word_embeddings),
                     G(w_.position_embeddings), dtypes, &pool_); }
  // RoBERTa's position table is an nn.Embedding with padding_idx too: its padding row gets no gradient.
  if (c.embeddings.padding_idx >= 0) std::fill_n(G(w_.position_embeddings) + c.embeddings.padding_idx * E, E, 0.f);
}

}  // namespace bertkit::train::detail
