// Shared per-CPU Ps (see shared_p.h).
#include "runtime/shared_p.h"

#include "platform/os.h"
#include "platform/thread.h"
#include "runtime/proc.h"

namespace gomem {

GOMEM_META constinit SharedPs g_shared_ps;

void shared_ps_init(int percent) {
  int cpus = os::num_cpus();
  g_shared_ps.cpus = cpus;
  g_shared_ps.n = percent == 0 ? 0 : cpus < kMaxSharedPs ? cpus : kMaxSharedPs;
  for (int sc = 1; sc < kManualClasses.count; sc++) {
    uint64_t limit = uint64_t{kManualClasses.cls[sc].nelems} * static_cast<uint64_t>(percent) / 100;
    g_shared_ps.cold_limit[sc] = static_cast<uint16_t>(limit < UINT16_MAX ? limit : UINT16_MAX);
  }
}

namespace {

// The index of the calling thread's shared P: its CPU, or a hash of the
// thread when no CPU number can be had.
int shared_index() {
  int cpu = os::current_cpu();
  uint64_t k = cpu >= 0 ? static_cast<uint64_t>(cpu) : (os::thread_key() >> 6) * 0x9E3779B97F4A7C15ull >> 32;
  return static_cast<int>(k % static_cast<uint64_t>(g_shared_ps.n));
}

}  // namespace

MCache* shared_p_here() {
  if (g_shared_ps.n == 0) return nullptr;
  int i = shared_index();
  MCache* sp = g_shared_ps.p[i].load(std::memory_order_acquire);
  if (GOMEM_LIKELY(sp != nullptr)) return sp;
  MutexLock l(g_procs.lock);
  sp = g_shared_ps.p[i].load(std::memory_order_relaxed);
  if (!sp && (sp = new_p_locked(/*shared=*/true)) != nullptr) {
    sp->attach(reinterpret_cast<uintptr_t>(sp) | kSharedKeyBit);
    g_shared_ps.p[i].store(sp, std::memory_order_release);
  }
  return sp;
}

}  // namespace gomem
