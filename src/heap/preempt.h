// Non-preemptible sections: code the collector's stop-the-world must not
// interrupt (Go's m.mallocing / acquirem).
//
// The collector stops registered threads with a signal. A thread that is
// inside a non-preemptible section when the signal lands does not stop at
// once: the handler notes the request and returns, and the thread stops
// itself when it leaves its outermost section. So a stopped thread is never
// in the middle of a collected allocation, a sweep, or holding the heap lock
// - which is why the collector can take those locks and read spans while
// the world is stopped.
//
// Both counters are thread-local and touched only by their thread (and its
// signal handler), so a section costs two plain increments and a test.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/compiler.h"
#include "platform/mutex.h"

namespace gomem {

extern GOMEM_TLS uint32_t t_nopreempt;        // > 0: inside a non-preemptible section
extern GOMEM_TLS uint32_t t_preempt_pending;  // a stop was requested meanwhile
// Installed by the collector: stops the calling thread for the world-stop in
// progress. Called with t_nopreempt == 0.
extern void (*g_preempt_park)();

GOMEM_INLINE void nopreempt_enter() {
  t_nopreempt++;
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

GOMEM_INLINE void nopreempt_exit() {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (--t_nopreempt == 0 && GOMEM_UNLIKELY(t_preempt_pending)) g_preempt_park();
}

struct NoPreempt {
  NoPreempt() { nopreempt_enter(); }
  ~NoPreempt() { nopreempt_exit(); }
  NoPreempt(const NoPreempt&) = delete;
  NoPreempt& operator=(const NoPreempt&) = delete;
};

// A lock that collected allocation also takes (the heap lock): held only
// inside a non-preemptible section, so no stopped thread ever holds it.
class NoPreemptLock {
 public:
  explicit NoPreemptLock(Mutex& m) : m_(m) {
    nopreempt_enter();
    m_.lock();
  }
  ~NoPreemptLock() {
    m_.unlock();
    nopreempt_exit();
  }
  NoPreemptLock(const NoPreemptLock&) = delete;
  NoPreemptLock& operator=(const NoPreemptLock&) = delete;

 private:
  Mutex& m_;
};

}  // namespace gomem
