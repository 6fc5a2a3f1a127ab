// Initialisation and settings.
#include "runtime/runtime.h"

#include <atomic>

#include "platform/env.h"
#include "platform/os.h"
#include "platform/thread.h"
#include "runtime/guarded_report.h"
#include "runtime/malloc.h"
#include "runtime/proc.h"
#include "runtime/shared_p.h"

namespace gomem {

GOMEM_META constinit Settings g_settings;

namespace {
GOMEM_META constinit Mutex g_init_lock;
GOMEM_META constinit std::atomic<int> g_init_state{0};  // 0 = not started, 2 = done

GOMEM_NOINLINE void do_init() {
  os::EnvSettings env;  // every knob, read once and handed to the collector
  {
    MutexLock l(g_init_lock);
    if (g_init_state.load(std::memory_order_relaxed) == 2) return;
    os::read_env(&env);  // stops the process on a malformed knob
    g_settings.madv_free = env.madv_free;
    os::set_madv_free(g_settings.madv_free);
    shared_ps_init(env.shared_ps);
    g_heap.init(&linux_mem_os(), &g_arena_index);
    gc_heap_init_hook(env);
    guarded_init(static_cast<uint64_t>(env.guarded_sample_rate));
    g_init_state.store(2, std::memory_order_release);
  }
  // These may allocate, so they run after the heap is usable.
  os::register_atfork(fork_prepare, fork_parent, fork_child);
  gc_init_hook(env);
  prof_init(env);
}

__attribute__((destructor)) void report_at_exit() { report_stats_at_exit(/*fast_exit=*/false); }
}  // namespace

void ensure_init() {
  if (GOMEM_LIKELY(g_init_state.load(std::memory_order_acquire) == 2)) return;
  do_init();
}

bool runtime_initialized() { return g_init_state.load(std::memory_order_acquire) == 2; }

}  // namespace gomem
