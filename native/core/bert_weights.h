// Every parameter of a model, named and shaped from its description (ModelConfig), written once:
// ExpectedTensors (what a checkpoint must hold), the CPU engine, the CUDA backend and the trainer
// all enumerate the weights through VisitWeights, each with its own types for a table, a linear
// layer and a LayerNorm (packed matrices, device pointers, offsets into an arena).
//
// Names are the canonical ones of engine.h (BertModel's without the "bert." prefix, heads as
// transformers names them); a family whose checkpoint says otherwise is renamed before the engine
// sees it. Query, key and value come as one linear layer of three stacked parts, which every
// backend fuses into one [3H, H] projection.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bertkit/engine.h"

namespace bertkit {

// A lookup table [rows, cols].
struct TableSpec {
  std::string name;
  int64_t rows = 0, cols = 0;
  bool decoder_tied = false;  // the word embeddings when the MLM decoder uses them as its weight
};

// y = x . W^T + b, W [out, in] stacked row-wise from `weights` (each [out / parts, in]), b from `biases`.
struct LinearSpec {
  std::string name;  // the module, for messages ("encoder.layer.0.attention.self" for the fused projection)
  std::vector<std::string> weights;
  std::vector<std::string> biases;
  int64_t out = 0, in = 0;
  bool tied = false;    // W is the word embeddings table (the tied MLM decoder): `weights` is empty
  bool layer = false;   // one of the encoder layers' (the ones reduced precision applies to)
  bool bias_first = false;  // listed bias before weight (the MLM decoder: parameter order is API)
};

struct NormSpec {
  std::string weight, bias;
  int64_t n = 0;
};

// The model's parameters in a backend's types, in transformers' module tree.
template <class Table, class Lin, class Norm>
struct BertWeights {
  struct Layer {
    Lin qkv;  // attention.self.{query,key,value}, fused
    Lin attention_output;
    Norm attention_ln;
    Lin intermediate;
    Lin output;
    Norm output_ln;
  };
  // BertEmbeddings
  Table word_embeddings, position_embeddings, token_type_embeddings;
  Norm embeddings_ln;
  Lin embeddings_project;  // embedding_size -> hidden_size, when the description has one
  std::vector<Layer> layers;  // one per weight set (layers sharing weights share one)
  Lin pooler;
  // BertLMPredictionHead
  Lin transform;
  Norm transform_ln;
  Lin decoder;  // bias = cls.predictions.bias; weight = the word embeddings when tied
  // HeadConfig::own_dense: the head's dense layer before its linear ("classifier.dense": RoBERTa's
  // and ELECTRA's classifier.dense, DistilBERT's pre_classifier, ELECTRA's discriminator dense).
  Lin head_dense;
  // The task head's own linear layer (HeadSpec::linear): classifier, qa_outputs or cls.seq_relationship.
  Lin head;
};

// Weight sets of the encoder's layers: one per layer, or one per shared group.
inline int64_t NumLayerWeights(const ModelConfig& c) {
  return c.sharing.num_hidden_groups > 0 ? c.sharing.num_hidden_groups * c.sharing.inner_group_num : c.num_hidden_layers;
}

// Calls table(spec, Table*), linear(spec, Lin*) and norm(spec, Norm*) for every parameter the
// description has, in checkpoint order (embeddings, layers, pooler, MLM head, task head), and
// returns the first error. `w->layers` is resized first.
template <class W, class TableFn, class LinearFn, class NormFn>
Status VisitWeights(const ModelConfig& c, W* w, TableFn&& table, LinearFn&& linear, NormFn&& norm) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const int64_t E = c.embeddings.embedding_size > 0 ? c.embeddings.embedding_size : H;
  const HeadSpec& head = SpecOf(c);
  const bool mlm = UsesMlmHead(c);
  auto lin = [](const std::string& name, int64_t out, int64_t in, bool layer = false) {
    LinearSpec s;
    s.name = name;
    s.weights = {name + ".weight"};
    s.biases = {name + ".bias"};
    s.out = out;
    s.in = in;
    s.layer = layer;
    return s;
  };
  auto ln = [](const std::string& name, int64_t n) { return NormSpec{name + ".weight", name + ".bias", n}; };

  BK_RETURN_IF_ERROR(table(TableSpec{"embeddings.word_embeddings.weight", c.vocab_size, E, mlm && c.tie_word_embeddings},
                           &w->word_embeddings));
  BK_RETURN_IF_ERROR(table(TableSpec{"embeddings.position_embeddings.weight", c.max_position_embeddings, E, false},
                           &w->position_embeddings));
  if (c.embeddings.token_type_embeddings) {
    BK_RETURN_IF_ERROR(table(TableSpec{"embeddings.token_type_embeddings.weight", c.type_vocab_size, E, false},
                             &w->token_type_embeddings));
  }
  BK_RETURN_IF_ERROR(norm(ln("embeddings.LayerNorm", E), &w->embeddings_ln));
  if (E != H) BK_RETURN_IF_ERROR(linear(lin("embeddings_project", H, E), &w->embeddings_project));

  w->layers.resize(NumLayerWeights(c));
  for (size_t i = 0; i < w->layers.size(); ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    auto& L = w->layers[i];
    LinearSpec qkv;
    qkv.name = p + "attention.self";
    for (const char* part : {"query", "key", "value"}) {
      qkv.weights.push_back(qkv.name + "." + part + ".weight");
      qkv.biases.push_back(qkv.name + "." + part + ".bias");
    }
    qkv.out = 3 * H;
    qkv.in = H;
    qkv.layer = true;
    BK_RETURN_IF_ERROR(linear(qkv, &L.qkv));
    BK_RETURN_IF_ERROR(linear(lin(p + "attention.output.dense", H, H, true), &L.attention_output));
    BK_RETURN_IF_ERROR(norm(ln(p + "attention.output.LayerNorm", H), &L.attention_ln));
    BK_RETURN_IF_ERROR(linear(lin(p + "intermediate.dense", I, H, true), &L.intermediate));
    BK_RETURN_IF_ERROR(linear(lin(p + "output.dense", H, I, true), &L.output));
    BK_RETURN_IF_ERROR(norm(ln(p + "output.LayerNorm", H), &L.output_ln));
  }
  if (UsesPooler(c)) BK_RETURN_IF_ERROR(linear(lin("pooler.dense", H, H), &w->pooler));
  if (mlm) {
    BK_RETURN_IF_ERROR(linear(lin("cls.predictions.transform.dense", E, H), &w->transform));
    BK_RETURN_IF_ERROR(norm(ln("cls.predictions.transform.LayerNorm", E), &w->transform_ln));
    LinearSpec decoder;
    decoder.name = "cls.predictions.decoder";
    decoder.tied = c.tie_word_embeddings;
    if (!decoder.tied) decoder.weights = {"cls.predictions.decoder.weight"};
    decoder.biases = {"cls.predictions.bias"};
    decoder.bias_first = true;
    decoder.out = c.vocab_size;
    decoder.in = E;
    BK_RETURN_IF_ERROR(linear(decoder, &w->decoder));
  }
  if (c.own_dense) BK_RETURN_IF_ERROR(linear(lin("classifier.dense", H, H), &w->head_dense));
  if (head.linear != nullptr) BK_RETURN_IF_ERROR(linear(lin(head.linear, HeadLinearWidth(c), H), &w->head));
  return Status::Ok();
}

}  // namespace bertkit
