// Status codes: the engine reports every failure through a Status and never aborts the process.
// The names (StatusCodeName) cross into JavaScript as the `code` of the rejected Error and are
// mapped onto typed errors by src-ts/errors.ts (fromNativeError).
#pragma once

#include <string>
#include <utility>

namespace bertkit {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,  // malformed input: wrong shapes, bad offsets, unknown names
  kOutOfRange,       // a value outside what the model accepts: token id >= vocab, too long
  kOutOfMemory,
  kUnavailable,      // a backend or device that cannot be used here
  kDisposed,         // the model was released
  kBusy,             // a second forward on a model that is computing (callers must serialize)
  kInternal,         // a bug
};

inline const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case StatusCode::kOutOfRange: return "OUT_OF_RANGE";
    case StatusCode::kOutOfMemory: return "OUT_OF_MEMORY";
    case StatusCode::kUnavailable: return "UNAVAILABLE";
    case StatusCode::kDisposed: return "DISPOSED";
    case StatusCode::kBusy: return "BUSY";
    case StatusCode::kInternal: return "INTERNAL";
  }
  return "INTERNAL";
}

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return Status(StatusCode::kInvalidArgument, std::move(m)); }
inline Status OutOfRange(std::string m) { return Status(StatusCode::kOutOfRange, std::move(m)); }
inline Status Internal(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }

}  // namespace bertkit

#define BK_RETURN_IF_ERROR(expr)                 \
  do {                                           \
    ::bertkit::Status bk_status_ = (expr);       \
    if (!bk_status_.ok()) return bk_status_;     \
  } while (0)
