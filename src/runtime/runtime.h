// Process-wide runtime state: initialisation, settings from the environment,
// and the hooks between the manual heap and the collector.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/compiler.h"
#include "heap/mspan.h"
#include "platform/env.h"

namespace gomem {

// Initialises the runtime on first use; cheap once done.
void ensure_init();
bool runtime_initialized();

struct Settings {
  bool madv_free = false;  // GOMEM_MADV=free
};
extern Settings g_settings;

// A collected object given to free() (runtime/gc_api.cc): an early free.
void gc_free_hook(void* p, MSpan* s);
// The calling thread gives its P's collected spans back.
void gc_release_thread(MCache* c);
// The calling thread runs gomem's last exit round: the collector drops its
// record once it can no longer run program code (gc/stw.cc).
void gc_thread_exiting();

// The collector's part of fork handling (threads, locks).
void fork_hook_prepare();
void fork_hook_parent();
void fork_hook_child();
// Called once at the end of initialisation (reads GOGC and the like).
void gc_init_hook(const os::EnvSettings& env);
// Right after the heap's initialisation, under the init lock, before any
// memory is committed (the generational mode's dirty-page tracker).
void gc_heap_init_hook(const os::EnvSettings& env);

// The heap profile (runtime/pprof.cc): settings from the environment (at
// initialisation); the dumps GOMEM_HEAP_PROFILE asks for, written at the end
// of a slow path while g_prof_dumps is set; the sampling rate (returns the
// previous one).
void prof_init(const os::EnvSettings& env);
extern std::atomic<bool> g_prof_dumps;
GOMEM_NOINLINE void prof_safe_point();
uint64_t set_profile_rate(uint64_t bytes);
// In a forked child: a profile being written by a thread that is gone is
// abandoned (its memory leaks in the child).
void prof_fork_child();

// Writes the statistics report to fd.
void print_stats_to(int fd);
// The report GOMEM_STATS asks for (runtime/stats.cc), written once per
// process: at exit (a destructor) or, with fast_exit, from _exit and _Exit
// (src/override), which skip destructors. Does nothing if GOMEM_STATS is
// unset or the runtime never started.
void report_stats_at_exit(bool fast_exit);

}  // namespace gomem
