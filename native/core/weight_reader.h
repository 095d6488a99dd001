// Reads checkpoint tensors for a backend: checks names, shapes and byte sizes against what the
// architecture expects, then hands out each tensor (or a range of a matrix's rows) converted to
// float32, reading tensors that are still in their file with positioned reads.
#pragma once

#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bertkit/engine.h"

namespace bertkit {

class WeightReader {
 public:
  explicit WeightReader(const std::vector<TensorView>& tensors) : tensors_(tensors) {}
  ~WeightReader();
  WeightReader(const WeightReader&) = delete;
  WeightReader& operator=(const WeightReader&) = delete;

  // Every expected tensor present once with its shape and byte size, files long enough; nothing else.
  Status Validate(const ModelConfig& config);
  bool Has(const std::string& name) const { return by_name_.count(name) != 0; }
  const TensorView& View(const std::string& name) const { return *by_name_.at(name); }

  // The tensor as float32 into `out` (numel floats).
  Status ReadF32(const std::string& name, float* out);
  Status ReadF32(const std::string& name, std::vector<float>* out);
  // Rows [row0, row0 + count) of a tensor whose first dimension is rows, as float32 into `out`
  // (count x row-length floats). Both are safe to call from several threads at once (positioned
  // reads, no shared scratch).
  Status ReadRowsF32(const std::string& name, int64_t row0, int64_t count, float* out);

 private:
  const std::vector<TensorView>& tensors_;
  std::map<std::string, const TensorView*> by_name_;
  // The open file for a path, opened on first use.
  Status File(const std::string& path, std::FILE** f);

  std::map<std::string, std::FILE*> files_;
  std::mutex files_mu_;  // guards files_ (and, on Windows, each FILE*'s position)
};

}  // namespace bertkit
