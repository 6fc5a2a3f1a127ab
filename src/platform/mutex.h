// A futex mutex (Drepper's three-state lock). Small, constant-initialised,
// never allocates, and resettable in a child after fork.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/atomic.h"
#include "base/compiler.h"
#include "platform/os.h"

namespace gomem {

class Mutex {
 public:
  constexpr Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  GOMEM_INLINE void lock() {
    uint32_t c = 0;
    if (GOMEM_LIKELY(state_.compare_exchange_strong(c, 1, std::memory_order_acquire, std::memory_order_relaxed)))
      return;
    lock_slow();
  }

  GOMEM_INLINE bool try_lock() {
    uint32_t c = 0;
    return state_.compare_exchange_strong(c, 1, std::memory_order_acquire, std::memory_order_relaxed);
  }

  GOMEM_INLINE void unlock() {
    if (GOMEM_UNLIKELY(state_.exchange(0, std::memory_order_release) == 2)) wake();
  }

  bool is_locked() const { return state_.load(std::memory_order_relaxed) != 0; }

  // In the child after fork: the lock was held by the forking thread (which
  // is this one) in atfork-prepare; it is simply released.
  void reset() { state_.store(0, std::memory_order_relaxed); }

 private:
  GOMEM_NOINLINE void lock_slow() {
    for (int spin = 0; spin < 100; spin++) {
      uint32_t c = state_.load(std::memory_order_relaxed);
      if (c == 0 && state_.compare_exchange_weak(c, 1, std::memory_order_acquire, std::memory_order_relaxed)) return;
      cpu_relax();
    }
    // Mark contended, then sleep until it is released.
    while (state_.exchange(2, std::memory_order_acquire) != 0) {
      os::futex_wait(reinterpret_cast<volatile uint32_t*>(&state_), 2);
    }
  }

  GOMEM_NOINLINE void wake() { os::futex_wake(reinterpret_cast<volatile uint32_t*>(&state_), 1); }

  std::atomic<uint32_t> state_{0};  // 0 free, 1 held, 2 held with waiters
};

class MutexLock {
 public:
  explicit MutexLock(Mutex& m) : m_(m) { m_.lock(); }
  ~MutexLock() { m_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& m_;
};

}  // namespace gomem
