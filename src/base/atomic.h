// Atomics. std::atomic for shared state; OwnerField for state that one thread
// writes and other threads only read for statistics or checks.
#pragma once

#include <atomic>

#include "base/compiler.h"

namespace gomem {

// A field written only by its owner thread (an mcache's span counters, say)
// and read by others only approximately. On the owner's fast path it is a
// plain variable, so `x++` is one instruction; under ThreadSanitizer it is a
// relaxed atomic so that the benign races are not reported.
template <class T>
class OwnerField {
 public:
  constexpr OwnerField() : v_{} {}
  constexpr OwnerField(T v) : v_{v} {}  // NOLINT: implicit by design
#if GOMEM_TSAN
  GOMEM_INLINE T get() const { return v_.load(std::memory_order_relaxed); }
  GOMEM_INLINE void set(T v) { v_.store(v, std::memory_order_relaxed); }
  GOMEM_INLINE T read_racy() const { return v_.load(std::memory_order_relaxed); }
#else
  GOMEM_INLINE T get() const { return v_; }
  GOMEM_INLINE void set(T v) { v_ = v; }
  // A read from another thread: may be stale; never torn for word-size T.
  GOMEM_INLINE T read_racy() const { return __atomic_load_n(&v_, __ATOMIC_RELAXED); }
#endif
  GOMEM_INLINE operator T() const { return get(); }  // NOLINT
  GOMEM_INLINE OwnerField& operator=(T v) {
    set(v);
    return *this;
  }
  GOMEM_INLINE T operator++(int) {
    T old = get();
    set(old + 1);
    return old;
  }
  GOMEM_INLINE T operator--() {
    T n = get() - 1;
    set(n);
    return n;
  }
  GOMEM_INLINE OwnerField& operator+=(T d) {
    set(get() + d);
    return *this;
  }
  GOMEM_INLINE OwnerField& operator-=(T d) {
    set(get() - d);
    return *this;
  }

 private:
#if GOMEM_TSAN
  std::atomic<T> v_;
#else
  T v_;
#endif
};

// Relaxed atomic add for statistics counters shared between threads.
template <class T>
GOMEM_INLINE void stat_add(std::atomic<T>& c, T d) {
  c.fetch_add(d, std::memory_order_relaxed);
}

// A spin-loop hint.
GOMEM_INLINE void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

}  // namespace gomem
