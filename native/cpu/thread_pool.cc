#include "cpu/thread_pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define BK_PAUSE() _mm_pause()
#else
#define BK_PAUSE() std::this_thread::yield()
#endif

namespace bertkit::cpu {

namespace {
// Workers spin this long after a job before sleeping: a forward issues one ParallelFor per
// kernel, back to back, and a condition-variable wake-up costs tens of microseconds each. The
// clock is read once per 64 pauses: reading it on every turn cost ~2% of a forward.
constexpr auto kSpin = std::chrono::microseconds(200);

template <class Done>
bool SpinUntil(Done done) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      BK_PAUSE();
    }
    if (std::chrono::steady_clock::now() > until) return done();
  }
}
}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::Drain(int id) {
  for (;;) {
    int64_t t = next_.fetch_add(1, std::memory_order_relaxed);
    if (t >= n_) break;
    call_(ctx_, t, id);
  }
}

void ThreadPool::Run(int64_t n, void* ctx, Trampoline call) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    n_ = n;
    ctx_ = ctx;
    call_ = call;
    next_.store(0, std::memory_order_relaxed);
    active_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  Drain(0);
  // Wait for the workers to leave the job (they may still be finishing their last task).
  if (!SpinUntil([this] { return active_.load(std::memory_order_acquire) == 0; })) {
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return active_.load(std::memory_order_acquire) == 0; });
  }
}

void ThreadPool::WorkerLoop(int id) {
  uint64_t seen = 0;
  for (;;) {
    SpinUntil([&] { return generation_.load(std::memory_order_acquire) != seen; });
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      seen = generation_.load(std::memory_order_acquire);
      if (stop_) return;
    }
    Drain(id);
    if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      done_.notify_one();
    }
  }
}

}  // namespace bertkit::cpu
