// The GPU benchmark (C++, no Node needed): BERT-base and BERT-large with random weights through
// the CUDA backend, at batch x sequence shapes and a variable-length batch, plus the parity of
// each model against the float32 CPU engine. Writes the inputs it used (so that
// bench/gpu/hf_bench.py times Hugging Face transformers on exactly the same tokens) and a JSON
// report. bench/gpu/run.sh runs it; see bench/gpu/README.md.
//
//   bench_gpu --out FILE.json --inputs DIR [--models base,large] [--batches 1,8,32,128]
//             [--seqs 128,384,512] [--precision float16] [--iters N] [--no-parity] [--device cpu]
//             [--output-cases 128x128,32x512]
//
// --output-cases: for these shapes also the time with last_hidden_state returned into a host
// array, and with only pooler_output returned (what the Node path is compared with).
//
// --device cpu (with --models tiny) runs the same harness on the CPU engine: a check of the
// script's plumbing on a machine without a GPU, not a benchmark.
// Timing: each case runs until 3 warm-up forwards are done (the second captures the CUDA graph),
// then `iters` timed forwards (host clock around Model::Forward, which ends with a stream
// synchronize; the token ids go up each time, the encoder's output stays on the GPU as in the
// Python contender). Reported: p50 latency, real tokens/s, and FLOP/s as a share of the card's
// dense fp16 tensor peak. FLOPs counted: the encoder's matrix products, 2*T*H*(3H + H + 2I) per
// layer, plus attention's 4*H*sum(n^2) per layer (no padding: bertkit computes none).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "bertkit/engine.h"
#include "cuda/backend.h"
#include "cuda/dev/model_files.h"
#include "cuda/testing.h"

using namespace bertkit;

namespace {

struct Args {
  std::string out = "bench-gpu.json";
  std::string inputs = "bench-gpu-inputs";
  std::vector<std::string> models = {"base", "large"};
  std::vector<int> batches = {1, 8, 32, 128};
  std::vector<int> seqs = {128, 384, 512};
  cuda::Precision precision = cuda::Precision::kFloat16;
  int iters = 20;
  bool parity = true;
  bool cpu = false;  // --device cpu: the same harness on the CPU engine (checks the script without a GPU)
  std::vector<std::string> output_cases = {"128x128", "32x512"};
};

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

double PeakTflops(const cuda::DeviceInfo& d, std::string* source) {
  if (const char* env = std::getenv("BERTKIT_PEAK_TFLOPS"); env != nullptr && *env) {
    *source = "BERTKIT_PEAK_TFLOPS";
    return std::atof(env);
  }
  // Dense fp16 tensor-core TFLOPS from NVIDIA's datasheets (fp32 accumulate).
  struct Known {
    const char* name;
    double tflops;
  };
  const Known known[] = {{"H100 PCIe", 756}, {"H100 NVL", 835}, {"H100", 989.4}, {"H200", 989.4}, {"H800", 989.4}, {"GH200", 989.4},
                         {"A100", 312},      {"A800", 312},     {"L40S", 362.1}, {"L40", 181},    {"L4", 121},      {"A10G", 70},
                         {"A10", 125},       {"A30", 165},      {"A40", 149.7}};
  for (const Known& k : known) {
    if (d.name.find(k.name) != std::string::npos) {
      *source = std::string("datasheet (") + k.name + ")";
      return k.tflops;
    }
  }
  // Otherwise: SMs x peak clock x dense fp16 FLOP per SM per clock for the architecture.
  const int cc = d.compute_capability;
  const double per_sm_clk = cc >= 90 ? 4096 : cc == 80 ? 2048 : 1024;
  *source = "SMs x clock x " + std::to_string(static_cast<int>(per_sm_clk)) + " FLOP/clk/SM";
  return d.multiprocessors * (d.clock_khz * 1e3) * per_sm_clk / 1e12;
}

struct Case {
  std::string id;
  int batch = 0, seq = 0;
  bool varlen = false;
  std::vector<int32_t> lengths, ids, cu;
  int64_t tokens = 0;
  double flops = 0;
};

// Sequences of the given lengths ([CLS] random ids [SEP]).
Case FromLengths(const ModelConfig& c, const std::vector<int>& lengths, uint64_t seed) {
  Case k;
  k.batch = static_cast<int>(lengths.size());
  std::mt19937_64 rng(seed);
  k.cu.push_back(0);
  double squares = 0;
  for (int n : lengths) {
    k.seq = std::max(k.seq, n);
    k.lengths.push_back(n);
    for (int t = 0; t < n; ++t) {
      const int32_t id = t == 0 ? 101 : t == n - 1 ? 102 : static_cast<int32_t>(1000 + rng() % 29000);
      k.ids.push_back(id);
    }
    k.cu.push_back(k.cu.back() + n);
    squares += static_cast<double>(n) * n;
  }
  k.tokens = k.cu.back();
  const double H = static_cast<double>(c.hidden_size), I = static_cast<double>(c.intermediate_size);
  k.flops = c.num_hidden_layers * (2.0 * k.tokens * H * (4 * H + 2 * I) + 4.0 * H * squares);
  return k;
}

Case MakeCase(const ModelConfig& c, int batch, int seq, bool varlen, uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0x5eed);
  std::vector<int> lengths(batch, seq);
  // Variable length as in ByteTransformer: uniform in [0.2, 1.0] x max, mean 0.6 x max.
  if (varlen)
    for (int& n : lengths) n = std::max(1, static_cast<int>(std::lround(seq * (0.2 + 0.8 * std::uniform_real_distribution<double>(0, 1)(rng)))));
  Case k = FromLengths(c, lengths, seed);
  k.seq = seq;
  k.varlen = varlen;
  k.id = std::to_string(batch) + "x" + std::to_string(seq) + (varlen ? "-varlen" : "");
  return k;
}

void WriteCase(const std::string& dir, const std::string& model, const Case& k) {
  const std::string path = dir + "/" + model + "-" + k.id + ".bin";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return;
  const int32_t b = k.batch;
  std::fwrite(&b, 4, 1, f);
  std::fwrite(k.lengths.data(), 4, k.lengths.size(), f);
  std::fwrite(k.ids.data(), 4, k.ids.size(), f);
  std::fclose(f);
}

BatchInput View(const Case& k) {
  BatchInput in;
  in.input_ids = k.ids.data();
  in.num_tokens = k.tokens;
  in.cu_seqlens = k.cu.data();
  in.num_sequences = k.batch;
  return in;
}

struct ParityResult {
  double cosine = 0, max_abs = 0;
  double token_cosine = 0;  // the worst token's cosine (the measure)
  bool ran = false;
};

// GPU (precision) vs float32 CPU on last_hidden_state of a ragged batch.
ParityResult Parity(const ModelConfig& c, const std::vector<TensorView>& tensors, Model* gpu) {
  ParityResult r;
  std::unique_ptr<Model> cpu;
  if (!CreateCpuModel(c, tensors, EngineOptions(), &cpu).ok()) return r;
  const Case k = FromLengths(c, {128, 77, 33}, 99);  // ragged
  const BatchInput in = View(k);
  std::vector<float> a(k.tokens * c.hidden_size), b(k.tokens * c.hidden_size);
  ForwardOutputs oa, ob;
  oa.last_hidden_state = {a.data(), static_cast<int64_t>(a.size())};
  ob.last_hidden_state = {b.data(), static_cast<int64_t>(b.size())};
  if (!gpu->Forward(in, oa).ok() || !cpu->Forward(in, ob).ok()) return r;
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    r.max_abs = std::max(r.max_abs, std::fabs(static_cast<double>(a[i]) - b[i]));
    if (!std::isfinite(a[i])) r.max_abs = INFINITY;
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  r.cosine = dot / std::sqrt(na * nb);
  r.token_cosine = 1;
  const int64_t H = c.hidden_size;
  for (int64_t t = 0; t < k.tokens; ++t) {
    double d = 0, x = 0, y = 0;
    for (int64_t j = 0; j < H; ++j) {
      d += static_cast<double>(a[t * H + j]) * b[t * H + j];
      x += static_cast<double>(a[t * H + j]) * a[t * H + j];
      y += static_cast<double>(b[t * H + j]) * b[t * H + j];
    }
    const double cs = x > 0 && y > 0 ? d / std::sqrt(x * y) : 0;
    r.token_cosine = std::min(r.token_cosine, std::isfinite(cs) ? cs : 0.0);
  }
  r.ran = true;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--out") args.out = next();
    else if (a == "--inputs") args.inputs = next();
    else if (a == "--models") args.models = Split(next());
    else if (a == "--batches") {
      args.batches.clear();
      for (const auto& s : Split(next())) args.batches.push_back(std::atoi(s.c_str()));
    } else if (a == "--seqs") {
      args.seqs.clear();
      for (const auto& s : Split(next())) args.seqs.push_back(std::atoi(s.c_str()));
    } else if (a == "--precision") {
      if (!cuda::ParsePrecision(next(), &args.precision)) {
        std::fprintf(stderr, "--precision: float16, bfloat16 or float32\n");
        return 2;
      }
    } else if (a == "--iters") args.iters = std::max(1, std::atoi(next().c_str()));
    else if (a == "--no-parity") args.parity = false;
    else if (a == "--device") args.cpu = next() == "cpu";
    else if (a == "--output-cases") args.output_cases = Split(next());
    else {
      std::fprintf(stderr, "usage: bench_gpu --out FILE.json --inputs DIR [--models base,large] [--batches 1,8,32,128] [--seqs 128,384,512] [--precision float16] [--iters N] [--no-parity] [--output-cases 128x128,32x512]\n");
      return 2;
    }
  }
  const cuda::ProbeResult probe = cuda::Probe();
  if (!probe.available && !args.cpu) {
    std::fprintf(stderr, "bench_gpu: no usable CUDA device:");
    for (const auto& r : probe.reasons) std::fprintf(stderr, " %s;", r.c_str());
    std::fprintf(stderr, "\n");
    return 1;
  }
  cuda::DeviceInfo dev;
  if (args.cpu) {
    dev.name = "CPU (harness check)";
    args.parity = false;
  } else {
    dev = probe.devices[probe.device];
  }
  std::string peak_source = "none (CPU)";
  const double peak = args.cpu ? 0 : PeakTflops(dev, &peak_source);
  std::printf("bench_gpu: %s (sm_%d, %d SMs), dense fp16 peak %.1f TFLOPS [%s], %s\n", dev.name.c_str(), dev.compute_capability,
              dev.multiprocessors, peak, peak_source.c_str(), cuda::PrecisionName(args.precision));
  mkdir(args.inputs.c_str(), 0755);

  std::FILE* json = std::fopen(args.out.c_str(), "w");
  if (json == nullptr) {
    std::fprintf(stderr, "cannot write %s\n", args.out.c_str());
    return 1;
  }
  std::fprintf(json, "{\n  \"device\": \"%s\", \"compute_capability\": %d, \"multiprocessors\": %d, \"peak_tflops\": %.1f, \"peak_source\": \"%s\",\n",
               dev.name.c_str(), dev.compute_capability, dev.multiprocessors, peak, peak_source.c_str());
  std::fprintf(json, "  \"precision\": \"%s\", \"iters\": %d,\n  \"models\": [\n", cuda::PrecisionName(args.precision), args.iters);
  bool first_model = true;
  for (const std::string& name : args.models) {
    ModelConfig c;
    if (name == "base") c = dev::BertShape(Architecture::kBertModel, 12, 768, 12, 3072);
    else if (name == "large") c = dev::BertShape(Architecture::kBertModel, 24, 1024, 16, 4096);
    else if (name == "tiny") c = dev::BertShape(Architecture::kBertModel, 2, 128, 2, 256);
    else {
      std::fprintf(stderr, "unknown model %s (base, large, tiny)\n", name.c_str());
      return 2;
    }
    std::vector<TensorView> tensors;
    std::vector<std::vector<float>> storage;
    const auto t0 = std::chrono::steady_clock::now();
    dev::RandomWeights(c, 12345, &tensors, &storage);
    cuda::CudaOptions o;
    o.precision = args.precision;
    std::unique_ptr<Model> model;
    Status s = args.cpu ? CreateCpuModel(c, tensors, EngineOptions(), &model) : cuda::CreateModel(c, tensors, EngineOptions(), o, &model);
    if (!s.ok()) {
      std::fprintf(stderr, "bert-%s: %s\n", name.c_str(), s.message().c_str());
      return 1;
    }
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // What the Linear layers run on: cuBLASLt where it loaded, else the own kernels (the Hopper
    // wgmma path only where BERTKIT_CUDA_WGMMA=1 selected it and its self-check passed).
    const ModelInfo info = model->Info();
    const std::string gemm_path = args.cpu ? "cpu" : info.gemm;
    std::printf("bert-%s: GEMM %s%s%s\n", name.c_str(), gemm_path.c_str(), info.gemm_reason.empty() ? "" : ": ",
                info.gemm_reason.c_str());
    ParityResult parity;
    if (args.parity) parity = Parity(c, tensors, model.get());
    if (parity.ran) {
      std::printf("bert-%s: loaded in %.1f s; %s vs float32 CPU on hidden states: cosine %.7f, worst token cosine %.7f, max abs %.3g\n",
                  name.c_str(), load_s, cuda::PrecisionName(args.precision), parity.cosine, parity.token_cosine, parity.max_abs);
    }
    storage.clear();
    tensors.clear();
    std::fprintf(json, "%s    {\"model\": \"bert-%s\", \"layers\": %ld, \"hidden\": %ld, \"heads\": %ld, \"intermediate\": %ld,\n",
                 first_model ? "" : ",\n", name.c_str(), (long)c.num_hidden_layers, (long)c.hidden_size, (long)c.num_attention_heads,
                 (long)c.intermediate_size);
    first_model = false;
    std::fprintf(json, "     \"gemm_path\": \"%s\", \"parity\": {\"ran\": %s, \"cosine\": %.8f, \"token_cosine\": %.8f, \"max_abs\": %.6g},\n     \"cases\": [\n",
                 gemm_path.c_str(), parity.ran ? "true" : "false", parity.cosine, parity.token_cosine, parity.max_abs);
    std::vector<Case> cases;
    for (int seq : args.seqs)
      for (int b : args.batches) cases.push_back(MakeCase(c, b, seq, false, 1000 + b * 7 + seq));
    // The variable-length batches: the largest sequence length, at the two largest batches.
    const int maxseq = *std::max_element(args.seqs.begin(), args.seqs.end());
    std::vector<int> vb = args.batches;
    std::sort(vb.begin(), vb.end());
    for (size_t i = vb.size() >= 2 ? vb.size() - 2 : 0; i < vb.size(); ++i) cases.push_back(MakeCase(c, vb[i], maxseq, true, 77 + vb[i]));
    bool first_case = true;
    for (const Case& k : cases) {
      WriteCase(args.inputs, "bert-" + name, k);
      const BatchInput in = View(k);
      ForwardOutputs none;  // the encoder runs in full; its output stays on the GPU
      bool ok = true;
      auto timed = [&](const ForwardOutputs& outs, std::vector<double>* times) {
        for (int it = 0; it < 3 + args.iters && ok; ++it) {
          const auto a = std::chrono::steady_clock::now();
          s = model->Forward(in, outs);
          const auto b = std::chrono::steady_clock::now();
          if (!s.ok()) {
            std::fprintf(stderr, "bert-%s %s: %s\n", name.c_str(), k.id.c_str(), s.message().c_str());
            ok = false;
          }
          if (it >= 3) times->push_back(std::chrono::duration<double>(b - a).count());
        }
        std::sort(times->begin(), times->end());
      };
      std::vector<double> times;
      timed(none, &times);
      if (!ok) continue;
      const double p50 = times[times.size() / 2];
      // The engine's own time with outputs returned (into host arrays allocated once).
      double p50_last = 0, p50_pooled = 0;
      if (!k.varlen && std::find(args.output_cases.begin(), args.output_cases.end(), k.id) != args.output_cases.end()) {
        std::vector<float> last(k.tokens * c.hidden_size), pooled(static_cast<size_t>(k.batch) * c.hidden_size);
        ForwardOutputs o_last, o_pooled;
        o_last.last_hidden_state = {last.data(), static_cast<int64_t>(last.size())};
        o_pooled.pooler_output = {pooled.data(), static_cast<int64_t>(pooled.size())};
        std::vector<double> tl, tp;
        timed(o_last, &tl);
        timed(o_pooled, &tp);
        if (!ok) continue;
        p50_last = tl[tl.size() / 2];
        p50_pooled = tp[tp.size() / 2];
        std::printf("  bert-%-5s %-14s with outputs: last_hidden_state p50 %8.3f ms, pooler_output only p50 %8.3f ms\n", name.c_str(),
                    k.id.c_str(), p50_last * 1e3, p50_pooled * 1e3);
      }
      const double tps = k.tokens / p50;
      const double pct = peak > 0 ? 100.0 * k.flops / p50 / (peak * 1e12) : 0;
      std::printf("  bert-%-5s %-14s %7ld tokens  p50 %8.3f ms  %10.0f tokens/s  %6.1f TFLOPS  %5.1f%% of peak\n", name.c_str(), k.id.c_str(),
                  (long)k.tokens, p50 * 1e3, tps, k.flops / p50 / 1e12, pct);
      std::fprintf(json, "%s       {\"id\": \"%s\", \"batch\": %d, \"seq\": %d, \"varlen\": %s, \"tokens\": %ld, \"flops\": %.6g, \"p50_ms\": %.5f, "
                   "\"min_ms\": %.5f, \"tokens_per_s\": %.1f, \"tflops\": %.3f, \"pct_peak\": %.2f, \"p50_last_ms\": %.5f, \"p50_pooled_ms\": %.5f}",
                   first_case ? "" : ",\n", k.id.c_str(), k.batch, k.seq, k.varlen ? "true" : "false", (long)k.tokens, k.flops, p50 * 1e3,
                   times.front() * 1e3, tps, k.flops / p50 / 1e12, pct, p50_last * 1e3, p50_pooled * 1e3);
      first_case = false;
      std::fflush(stdout);
    }
    std::fprintf(json, "\n     ]}");
  }
  std::fprintf(json, "\n  ]\n}\n");
  std::fclose(json);
  return 0;
}
