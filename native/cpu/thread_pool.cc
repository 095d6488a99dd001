#include "cpu/thread_pool.h"

#include <chrono>
#include <utility>

#if defined(__linux__)
#include <sched.h>
#endif

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

ThreadPool::ThreadPool(int threads) : cpu_of_(threads < 1 ? 1 : threads) {
  for (auto& c : cpu_of_) c.store(-1, std::memory_order_relaxed);
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

// A worker woken from sleep is often placed on the CPU of the thread that woke it (the caller,
// which keeps running): Linux's wake-affine choice, and on VMs an idle vCPU can look "preempted"
// and be skipped. Two threads then share one CPU for milliseconds until the load balancer moves
// one, and a GEMM runs at one core's speed (measured on a 2-vCPU VM: ~1 call in 2 after a sleep).
// So a worker that finds itself on a CPU another thread of the job reported moves itself to one
// nobody reported, then gives its affinity back: one nudge, no pinning (other models, cgroups and
// `taskset` keep their say). Only when a collision is seen: two syscalls, a few microseconds.
void ThreadPool::Spread(int id) {
#if defined(__linux__)
  const int cpu = sched_getcpu();
  if (cpu < 0) return;
  auto reported_by_another = [&](int c) {
    for (int t = 0; t < static_cast<int>(cpu_of_.size()); ++t)
      if (t != id && cpu_of_[t].load(std::memory_order_relaxed) == c) return true;
    return false;
  };
  if (!reported_by_another(cpu)) {
    cpu_of_[id].store(cpu, std::memory_order_relaxed);
    return;
  }
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &allowed) || reported_by_another(c)) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(c, &one);
    // Narrowing the mask migrates the thread before the call returns; restoring it leaves the
    // thread where it now is.
    if (sched_setaffinity(0, sizeof one, &one) == 0) {
      sched_setaffinity(0, sizeof allowed, &allowed);
      cpu_of_[id].store(c, std::memory_order_relaxed);
    }
    return;
  }
#else
  (void)id;
#endif
}

void ThreadPool::Drain(int id) {
  for (;;) {
    const int64_t t = next_.fetch_add(1, std::memory_order_relaxed);
    if (t >= n_) break;
    try {
      call_(ctx_, t, id);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
    finished_.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::Run(int64_t n, void* ctx, Trampoline call) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    n_ = n;
    ctx_ = ctx;
    call_ = call;
    next_.store(0, std::memory_order_relaxed);
    finished_.store(0, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
#if defined(__linux__)
  cpu_of_[0].store(sched_getcpu(), std::memory_order_relaxed);
#endif
  wake_.notify_all();
  Drain(0);
  // Done when every task has finished and no worker is still inside the job (one may have taken
  // no task yet be reading n_/ctx_: the next job must not overwrite them under it).
  auto complete = [this] {
    return finished_.load(std::memory_order_acquire) == n_ && participants_.load(std::memory_order_acquire) == 0;
  };
  // The spin is only a fast path; the verdict is taken under the lock that workers join under.
  SpinUntil(complete);
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, complete);
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
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
      // Joining is decided under the lock the caller's final check also takes: either this
      // worker is counted before the caller can see the job complete, or every task was already
      // handed out and the worker stays away.
      if (next_.load(std::memory_order_relaxed) >= n_) continue;
      participants_.fetch_add(1, std::memory_order_relaxed);
    }
    Spread(id);
    Drain(id);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (participants_.fetch_sub(1, std::memory_order_acq_rel) == 1) idle_.notify_one();
    }
  }
}

}  // namespace bertkit::cpu
