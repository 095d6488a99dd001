// The contract every inference backend's Forward keeps: one forward at a time per model (a
// concurrent call gets kBusy; the TypeScript layer queues calls), and no exception leaves the
// engine (allocation failure is kOutOfMemory, anything else kInternal).
#pragma once

#include <atomic>
#include <exception>
#include <new>

#include "bertkit/status.h"

namespace bertkit {

template <class Run>
Status GuardedForward(std::atomic<bool>& busy, const char* out_of_memory, Run&& run) {
  bool expected = false;
  if (!busy.compare_exchange_strong(expected, true)) {
    return Status(StatusCode::kBusy, "a forward is already running on this model; calls must be serialized");
  }
  Status s;
  try {
    s = run();
  } catch (const std::bad_alloc&) {
    s = Status(StatusCode::kOutOfMemory, out_of_memory);
  } catch (const std::exception& e) {
    s = Internal(e.what());
  }
  busy.store(false);
  return s;
}

}  // namespace bertkit
