// Boehm GC layer: toggle references and the start of each collection.
//
// Toggle references (bdwgc's GC_toggleref_add, for runtimes whose objects
// have a peer outside the collected heap, e.g. a reference-counted native
// object): the layer holds each registered object either strongly or
// weakly, and before every collection asks the program's callback
// (GC_set_toggleref_func) which it should be: STRONG (kept alive whether
// reachable or not), WEAK (kept only while otherwise reachable) or DROP
// (forgotten). bdwgc asks at the start of each collection, with the
// allocation lock held and the world running; so does the layer, from
// gomem's cycle-start callback (gomem_gc_set_cycle_start_fn), which every
// collection calls on the thread that starts it before stopping the world.
// That callback also runs the program's start callback
// (GC_set_start_callback).
//
// The table is an array of entries in an uncollectable block, which the
// collector scans: a strong entry holds the object's address as is (so it
// is marked like any pointer in a root), a weak entry holds only a gomem
// weak pointer (which the collector clears when it finds the object
// unreachable; the entry is then dropped at the next look, and the callback
// never sees a dead object). Entries are written under compat_alloc_lock
// only (the allocation lock, held around the callback as bdwgc holds
// it); the collector reads the block with the world stopped, and each entry
// switches between strong and weak with the weak pointer made first, so a
// collection between two stores finds the object held one way or the other.
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>

#include "compat.h"
#include "gc/gc_mark.h"

struct tref {
  void* strong;      // the object while strong, else NULL
  gomem_weak* weak;  // while weak: the object's weak pointer, else NULL
};

// All under compat_alloc_lock.
static GC_toggleref_func toggleref_func;
static struct tref* trefs;  // uncollectable: scanned
static size_t n_trefs, cap_trefs;
// The program's start callback (read by any thread starting a collection).
static _Atomic(GC_start_callback_proc) start_callback;

// Room for one more entry (lock held); 0 when out of memory.
static int trefs_reserve(void) {
  if (n_trefs < cap_trefs) return 1;
  size_t cap = cap_trefs ? 2 * cap_trefs : 64;
  struct tref* t = gomem_malloc_uncollectable(cap * sizeof *t);
  if (!t) return 0;
  if (trefs) memcpy(t, trefs, n_trefs * sizeof *t);
  struct tref* old = trefs;
  trefs = t;  // the collector sees the new block before the old one goes
  cap_trefs = cap;
  if (old) {
    memset(old, 0, n_trefs * sizeof *old);  // freed slots of uncollectable spans are scanned
    gomem_free(old);
  }
  return 1;
}

int GC_toggleref_add(void* obj, int is_strong) {
  compat_init();
  int result = GC_SUCCESS;
  // Made before taking the lock: a collected allocation may start a
  // collection, whose start takes the lock.
  gomem_weak* w = is_strong ? NULL : gomem_weak_make(obj);
  compat_lock_alloc();
  // As in bdwgc: without a callback nothing is recorded.
  if (toggleref_func) {
    if (!trefs_reserve()) {
      result = GC_NO_MEMORY;
    } else {
      // An object outside the collected heap cannot die: held as strong.
      trefs[n_trefs].weak = w;
      trefs[n_trefs].strong = w ? NULL : obj;
      n_trefs++;
    }
  }
  compat_unlock_alloc();
  return result;
}

void GC_set_toggleref_func(GC_toggleref_func fn) {
  compat_lock_alloc();
  toggleref_func = fn;
  compat_unlock_alloc();
}

GC_toggleref_func GC_get_toggleref_func(void) {
  compat_lock_alloc();
  GC_toggleref_func fn = toggleref_func;
  compat_unlock_alloc();
  return fn;
}

// Asks the callback about every entry whose object lives, drops the others
// and the dropped ones (lock held).
static void process_togglerefs(void) {
  size_t kept = 0;
  for (size_t i = 0; i < n_trefs; i++) {
    struct tref e = trefs[i];
    void* obj = e.strong ? e.strong : gomem_weak_get(e.weak);
    if (!obj) continue;  // died while weak
    switch (toggleref_func(obj)) {
      case GC_TOGGLE_REF_STRONG:
        e.strong = obj;
        e.weak = NULL;
        break;
      case GC_TOGGLE_REF_WEAK:
        if (!e.weak) e.weak = gomem_weak_make(obj);
        if (e.weak) e.strong = NULL;  // out of memory: stays strong
        break;
      default:  // GC_TOGGLE_REF_DROP
        continue;
    }
    // The weak pointer first: the object is held one way or the other at
    // every store.
    trefs[kept].weak = e.weak;
    trefs[kept].strong = e.strong;
    kept++;
  }
  memset(trefs + kept, 0, (n_trefs - kept) * sizeof *trefs);
  n_trefs = kept;
}

// gomem's cycle-start callback. A collection that an allocation inside the
// allocation lock starts (a finalizer of the layer's, or a program that
// allocates in GC_call_with_alloc_lock) runs it with the lock already held
// by this thread.
static void cycle_start(void) {
  GC_start_callback_proc fn = atomic_load(&start_callback);
  if (fn) fn();
  int take = !compat_alloc_lock_held();
  if (take) compat_lock_alloc();
  if (toggleref_func && n_trefs) process_togglerefs();
  if (take) compat_unlock_alloc();
}

void compat_cycle_start_init(void) { gomem_gc_set_cycle_start_fn(cycle_start); }

void GC_set_start_callback(GC_start_callback_proc fn) { atomic_store(&start_callback, fn); }
GC_start_callback_proc GC_get_start_callback(void) { return atomic_load(&start_callback); }
