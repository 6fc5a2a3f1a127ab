#include "runtime/proc.h"

#include "heap/guarded.h"
#include "heap/profile.h"

#include <new>

#include "heap/fixalloc.h"
#include "platform/thread.h"
#include "runtime/malloc.h"
#include "runtime/runtime.h"
#include "runtime/shared_p.h"

namespace gomem {

// Fork hooks of the collector (runtime/gc_api.cc).
void fork_hook_prepare_scavenge();
void fork_hook_parent_scavenge();
void fork_hook_child_scavenge();
void fork_hook_release_p(MCache* c);

GOMEM_TLS bool t_exiting = false;
GOMEM_META constinit ProcPool g_procs;

namespace {

GOMEM_META constinit FixAlloc g_mcache_alloc;
bool g_mcache_alloc_ready = false;

// A thread's exit. Key destructors run in rounds; gomem's re-arms itself in
// each round but the last, so it runs in every round and gives the P back
// each time (and after each allocation once exiting: t_exiting). In the
// last round it only marks the thread exiting: the thread stays registered
// (its stack and TLS roots) while the program's destructors that run after
// gomem's hold collected objects, whether they allocate or not, and the
// collector drops the record once the thread is gone (gc/stw.cc), never
// while it can still run program code.
void thread_exit_destructor(void* round) {
  t_exiting = true;
  release_p();
  auto r = reinterpret_cast<uintptr_t>(round);
  if (r < os::kThreadExitRounds)
    os::set_thread_exit_value(thread_exit_destructor, reinterpret_cast<void*>(r + 1));
  else
    gc_thread_exiting();
}

// After g_procs.in_use changed (g_procs.lock held).
void count_changed_locked() { g_ps_outnumber_cpus.store(g_procs.in_use > g_shared_ps.cpus, std::memory_order_relaxed); }

}  // namespace

MCache* new_p_locked(bool shared) {
  if (!g_mcache_alloc_ready) {
    g_mcache_alloc.init(&g_heap.os(), sizeof(MCache), 256 * 1024);
    g_mcache_alloc_ready = true;
  }
  void* mem = g_mcache_alloc.alloc();
  if (!mem) return nullptr;
  MCache* c = new (mem) MCache();
  c->id = g_procs.count++;
  c->shared = shared;
  c->all_next = g_all_p;
  __atomic_store_n(&g_all_p, c, __ATOMIC_RELEASE);
  return c;
}

MCache* acquire_p() {
  ensure_init();
  MCache* c;
  {
    MutexLock l(g_procs.lock);
    c = g_procs.idle;
    if (c) {
      g_procs.idle = c->pool_next;
    } else {
      c = new_p_locked(/*shared=*/false);
      if (!c) return nullptr;
    }
    c->pool_next = nullptr;
    c->in_use = true;
    g_procs.in_use++;
    count_changed_locked();
  }
  c->attach(os::thread_key());
  t_mcache = c;
  // May allocate (pthread_setspecific): t_mcache is already usable.
  install_thread_exit_hook();
  return c;
}

void install_thread_exit_hook() {
  if (!t_exiting) os::set_thread_exit_value(thread_exit_destructor, reinterpret_cast<void*>(1));
}

void release_p() {
  MCache* c = t_mcache;
  gc_release_thread(c);  // collected spans
  if (c == &g_empty_mcache) return;
  c->release_all(g_heap);
  t_mcache = &g_empty_mcache;
  MutexLock l(g_procs.lock);
  g_procs.released_remote_frees += c->remote_frees;
  c->remote_frees = 0;
  c->tkey = 0;
  c->in_use = false;
  g_procs.in_use--;
  count_changed_locked();
  c->pool_next = g_procs.idle;
  g_procs.idle = c;
}

void release_p_after_exit() { release_p(); }

uint64_t mcache_inuse_bytes() { return g_mcache_alloc.inuse_bytes(); }
uint64_t mcache_sys_bytes() { return g_mcache_alloc.sys_bytes(); }

// ---------------------------------------------------------------------------
// fork(): the parent takes every lock, in the order the code nests them
// (the full list is in gc/gc.cc): the collector's (collection, registry,
// roots, finalizers, thread start), then the
// allocator's (pool, P, mcentral, the scavenge lock, heap), so the child
// starts from a consistent heap (the P locks include the shared Ps',
// runtime/shared_p.h). In the child only the forking thread
// exists: every other thread's P gives its spans back, collected ones first
// (its remote-free batch, possibly half-written when the fork hit, is
// dropped: at worst a few objects leak).

void fork_prepare() {
  if (!runtime_initialized()) return;
  fork_hook_prepare();
  prof::fork_prepare();
  guarded::fork_prepare();
  g_procs.lock.lock();
  for_each_p([](MCache* c) { c->lock.lock(); });
  for (auto& mc : g_heap.central) mc.lock.lock();
  fork_hook_prepare_scavenge();
  g_heap.lock.lock();
}

void fork_parent() {
  if (!runtime_initialized()) return;
  g_heap.lock.unlock();
  fork_hook_parent_scavenge();
  for (auto& mc : g_heap.central) mc.lock.unlock();
  for_each_p([](MCache* c) { c->lock.unlock(); });
  g_procs.lock.unlock();
  guarded::fork_parent();
  prof::fork_parent();
  fork_hook_parent();
}

void fork_child() {
  if (!runtime_initialized()) return;
  prof::fork_child();
  guarded::fork_child();
  prof_fork_child();
  g_heap.lock.reset();
  fork_hook_child_scavenge();
  for (auto& mc : g_heap.central) mc.lock.reset();
  for_each_p([](MCache* c) { c->lock.reset(); });
  g_procs.lock.reset();
  MCache* self = t_mcache;
  if (self != &g_empty_mcache) {
    self->tkey = os::thread_key();
    self->repair_after_fork(g_heap);
  }
  for_each_p([&](MCache* c) {
    // A shared P is whole (its users hold its lock, taken before the
    // fork); it stays shared. A remote freer may have vanished between
    // marking one of its parked spans and pushing it, as for self.
    if (c->shared) c->repair_after_fork(g_heap);
    if (!c->in_use || c == self) return;
    c->drop_batches();
    fork_hook_release_p(c);  // its collected spans (release_all drops them)
    c->release_all(g_heap, /*in_child=*/true);
    c->tkey = 0;
    c->in_use = false;
    g_procs.in_use--;
    c->pool_next = g_procs.idle;
    g_procs.idle = c;
  });
  count_changed_locked();
  fork_hook_child();
}

}  // namespace gomem
