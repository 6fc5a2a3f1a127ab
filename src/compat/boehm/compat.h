// The Boehm GC layer's shared state (internal to src/compat/boehm).
//
// The layer is libgc.so.1: bdwgc 8.2's C API over gomem's public C API
// (<gomem/gomem.h>) and nothing else of gomem. Its files:
//   alloc.c     initialization, allocation, control, statistics, warnings,
//               typed allocation, custom kinds, gcj objects (groups 1, 2,
//               6, 7, 8, 9)
//   threads.c   thread registration, the pthread wrappers, stacks (group 3)
//   finalize.c  finalizers with bdwgc's invocation rules, disappearing
//               links, GC_finalize_all (groups 4, 5)
//   markprocs.c mark procedures of custom kinds and GC_push_other_roots,
//               run from a root callback (group 9)
//   toggleref.c toggle references and the program's start callback, run
//               at the start of each collection
// Where gomem's semantics differ from bdwgc's, the layer follows bdwgc's
// (docs/libgc.md lists the differences that remain).
#ifndef GOMEM_COMPAT_BOEHM_COMPAT_H
#define GOMEM_COMPAT_BOEHM_COMPAT_H

#define GC_BUILD 1
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1

#include <gomem/gomem.h>
#include <stdatomic.h>

#include "gc/gc.h"
#include "gc/gc_mark.h"

#define COMPAT_LIKELY(x) __builtin_expect(!!(x), 1)
#define COMPAT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define COMPAT_HIDDEN __attribute__((visibility("hidden")))

// Nonzero when an allocation must take the slow path after allocating: the
// layer is not initialized yet, or finalizers wait to be invoked (or their
// notifier to be called). Set by compat_init's absence and by finalize.c's
// collector callback (any thread), cleared by compat_after_alloc; relaxed:
// a late look only delays the next check by one allocation.
extern atomic_int compat_attention COMPAT_HIDDEN;

// The value of GC_dont_gc that the layer last applied to gomem (GOGC off
// while nonzero). Programs may write GC_dont_gc directly; allocations
// compare the two. Written under compat_ctl_lock.
extern int compat_dont_gc_applied COMPAT_HIDDEN;

// The allocation lock (alloc.c): bdwgc's, held by GC_call_with_alloc_lock
// around the program's function; the layer takes it where bdwgc's lock
// makes a promise programs rely on (links are cleared all at once,
// finalize.c; toggle-ref callbacks run under it, toggleref.c). The order is
// the allocation lock, then fin_lock.
void compat_lock_alloc(void) COMPAT_HIDDEN;
void compat_unlock_alloc(void) COMPAT_HIDDEN;
// Does the calling thread hold it?
int compat_alloc_lock_held(void) COMPAT_HIDDEN;

// Called after an allocation of n bytes that returned p (maybe NULL) when
// compat_attention is set, GC_dont_gc changed, or p is NULL. Returns what
// the allocation returns (GC_oom_fn's result when p is NULL).
void* compat_after_alloc(void* p, size_t n) COMPAT_HIDDEN;

// Initializes the layer once (GC_init): safe from any thread, any number of
// times.
void compat_init(void) COMPAT_HIDDEN;

// finalize.c: runs the finalizers the layer queued (bdwgc's
// GC_invoke_finalizers) or calls the notifier, as GC_finalize_on_demand
// says. Called by allocations (through compat_after_alloc) and GC_gcollect.
void compat_finalizers_due(void) COMPAT_HIDDEN;
// finalize.c: has the collector found objects whose layer work is pending?
int compat_finalizers_pending(void) COMPAT_HIDDEN;

// markprocs.c: calls obj's mark procedure (descr: GC_MAKE_PROC) in every
// collection while obj lives. obj is a collected scan object.
void compat_track_object(void* obj, GC_word descr) COMPAT_HIDDEN;
// markprocs.c: installs the root callback that runs the mark procedures.
void compat_markprocs_init(void) COMPAT_HIDDEN;

// toggleref.c: installs gomem's cycle-start callback (toggle references,
// GC_set_start_callback).
void compat_cycle_start_init(void) COMPAT_HIDDEN;

// threads.c: records that the calling thread is registered (GC_init does
// it for the thread that initializes).
void compat_mark_thread_registered(void) COMPAT_HIDDEN;

#endif
