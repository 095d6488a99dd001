#include "core/weight_reader.h"

#include <cerrno>
#include <cstring>
#include <new>
#if !defined(_WIN32)
#include <unistd.h>
#endif

#include "core/convert.h"

namespace bertkit {

WeightReader::~WeightReader() {
  for (auto& [_, f] : files_) std::fclose(f);
}

Status WeightReader::Validate(const ModelConfig& config) {
  for (const auto& t : tensors_) {
    if (!by_name_.emplace(t.name, &t).second) return InvalidArgument("tensor " + t.name + " given twice");
  }
  const auto expected = ExpectedTensors(config);
  std::string problems;
  for (const auto& [name, dims] : expected) {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) {
      problems += " missing " + name + ";";
      continue;
    }
    const TensorView& t = *it->second;
    int64_t numel = 1;
    for (int64_t d : dims) numel *= d;
    if (t.dims != dims) {
      problems += " " + name + " has the wrong shape;";
    } else if (t.nbytes != static_cast<size_t>(numel) * DTypeSize(t.dtype)) {
      problems += " " + name + " has " + std::to_string(t.nbytes) + " bytes for its shape;";
    } else if (t.data == nullptr && t.file.empty() && t.nbytes != 0) {
      problems += " " + name + " has no data;";
    }
  }
  if (by_name_.size() != expected.size()) {
    std::map<std::string, bool> want;
    for (const auto& e : expected) want[e.first] = true;
    for (const auto& [name, _] : by_name_)
      if (!want.count(name)) problems += " unexpected " + name + ";";
  }
  if (!problems.empty()) return InvalidArgument("weights do not match the config:" + problems);
  return Status::Ok();
}

Status WeightReader::File(const std::string& path, std::FILE** out) {
  std::lock_guard<std::mutex> lock(files_mu_);
  std::FILE*& f = files_[path];
  if (f == nullptr) {
    f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return InvalidArgument("cannot open " + path + ": " + std::strerror(errno));
  }
  *out = f;
  return Status::Ok();
}

namespace {

void ToF32(DType dtype, const uint8_t* bytes, size_t n, float* out) {
  switch (dtype) {
    case DType::kF32: std::memcpy(out, bytes, n * 4); break;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes + 2 * i, 2);
        out[i] = F16ToF32(h);
      }
      break;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes + 2 * i, 2);
        out[i] = Bf16ToF32(h);
      }
      break;
  }
}

}  // namespace

Status WeightReader::ReadRowsF32(const std::string& name, int64_t row0, int64_t count, float* out) {
  const TensorView& t = *by_name_.at(name);
  const size_t elem = DTypeSize(t.dtype);
  const int64_t rows = t.dims.empty() ? 1 : t.dims[0];
  if (row0 < 0 || count < 0 || row0 + count > rows) return Internal("rows out of range reading " + name);
  if (count == 0) return Status::Ok();
  const size_t row_bytes = t.nbytes / static_cast<size_t>(rows);
  const size_t begin = static_cast<size_t>(row0) * row_bytes, nbytes = static_cast<size_t>(count) * row_bytes;
  const size_t n = nbytes / elem;
  if (t.data != nullptr) {
    ToF32(t.dtype, static_cast<const uint8_t*>(t.data) + begin, n, out);
    return Status::Ok();
  }
  std::FILE* f = nullptr;
  BK_RETURN_IF_ERROR(File(t.file, &f));
  // Float32 lands in `out` directly; 16-bit floats go through a buffer of this call's own.
  std::vector<uint8_t> raw;
  uint8_t* dst = reinterpret_cast<uint8_t*>(out);
  if (t.dtype != DType::kF32) {
    try {  // called on pool threads: no exception may leave
      raw.resize(nbytes);
    } catch (const std::bad_alloc&) {
      return Status(StatusCode::kOutOfMemory, "out of memory reading " + t.name);
    }
    dst = raw.data();
  }
  auto fail = [&] {
    return InvalidArgument(t.file + ": cannot read " + std::to_string(nbytes) + " bytes of " + t.name + " at offset " +
                           std::to_string(t.offset + begin) + " (was the file changed or truncated while loading?)");
  };
  constexpr uint64_t kMax = static_cast<uint64_t>(INT64_MAX);
  if (t.offset > kMax - begin - nbytes) return fail();
#if defined(_WIN32)
  {
    std::lock_guard<std::mutex> lock(files_mu_);
    if (_fseeki64(f, static_cast<int64_t>(t.offset + begin), SEEK_SET) != 0 || std::fread(dst, 1, nbytes, f) != nbytes) return fail();
  }
#else
  const int fd = fileno(f);
  for (size_t done = 0; done < nbytes;) {
    const ssize_t got = pread(fd, dst + done, nbytes - done, static_cast<off_t>(t.offset + begin + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return fail();
    done += static_cast<size_t>(got);
  }
#endif
  if (t.dtype != DType::kF32) ToF32(t.dtype, dst, n, out);
  return Status::Ok();
}

Status WeightReader::ReadF32(const std::string& name, float* out) {
  const TensorView& t = *by_name_.at(name);
  return ReadRowsF32(name, 0, t.dims.empty() ? 1 : t.dims[0], out);
}

Status WeightReader::ReadF32(const std::string& name, std::vector<float>* out) {
  const TensorView& t = *by_name_.at(name);
  out->resize(t.nbytes / DTypeSize(t.dtype));
  return ReadF32(name, out->data());
}

}  // namespace bertkit
