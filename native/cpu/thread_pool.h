// A fork-join pool owned by one model: `threads - 1` workers plus the calling thread. The
// engine's heavy calls already run off the JS thread (one libuv worker per forward); inside a
// forward this pool splits each kernel. No OpenMP: its global pool would ignore `threads` and
// oversubscribe when several models run in one process.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace bertkit::cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(task, thread) for every task in [0, n), tasks handed out dynamically; `thread` is
  // in [0, size()) and identifies per-thread scratch. Returns when all tasks are done. Not
  // reentrant: one ParallelFor at a time per pool (the model serializes its forwards). An
  // exception thrown by a task (std::bad_alloc, say) never leaves a worker, which would end the
  // process: the first one is rethrown here, on the caller's thread, once every task has run.
  template <class F>
  void ParallelFor(int64_t n, F&& fn) {
    if (n <= 0) return;
    if (n == 1 || workers_.empty()) {
      std::exception_ptr error;  // same contract as the threaded path: every task runs
      for (int64_t t = 0; t < n; ++t) {
        try {
          fn(t, 0);
        } catch (...) {
          if (!error) error = std::current_exception();
        }
      }
      if (error) std::rethrow_exception(error);
      return;
    }
    using Fn = std::remove_reference_t<F>;
    Run(n, const_cast<void*>(static_cast<const void*>(&fn)),
        [](void* ctx, int64_t task, int thread) { (*static_cast<Fn*>(ctx))(task, thread); });
  }

 private:
  using Trampoline = void (*)(void*, int64_t, int);
  void Run(int64_t n, void* ctx, Trampoline call);
  void WorkerLoop(int id);
  void Drain(int id);
  void Spread(int id);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> next_{0};       // next task to hand out
  std::atomic<int64_t> finished_{0};   // tasks completed
  // Workers inside the current job. A job ends when its tasks are finished and no worker is in
  // it; a worker that wakes after every task was handed out never joins, so the caller does not
  // wait for threads the OS has not scheduled yet (on a loaded machine that wait dominated small
  // forwards).
  std::atomic<int> participants_{0};
  // The CPU each thread of the current job last reported (-1: unknown or not in the job); see
  // Spread() in thread_pool.cc.
  std::vector<std::atomic<int>> cpu_of_;
  std::exception_ptr error_;  // the job's first exception, guarded by mu_
  int64_t n_ = 0;
  void* ctx_ = nullptr;
  Trampoline call_ = nullptr;
  bool stop_ = false;
};

}  // namespace bertkit::cpu
