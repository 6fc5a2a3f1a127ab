// The process-wide heap: Go's mheap_ and allp, as globals that every layer
// above the heap reaches (the collector included).
#pragma once

#include <atomic>

#include "base/compiler.h"
#include "heap/arena.h"
#include "heap/mcache.h"
#include "heap/mheap.h"

namespace gomem {

extern ArenaIndex g_arena_index;  // in a NOBITS metadata section: 32 MiB of address space
extern MHeap g_heap;
// The P of a thread that has none: every slot is the empty span.
extern MCache g_empty_mcache;
extern GOMEM_TLS MCache* t_mcache;
// Every P ever made, linked through MCache::all_next (never shrinks; the
// runtime's pool lock serialises additions, readers load with acquire).
extern MCache* g_all_p;

// The in-use span holding the allocated object that contains p, with the
// object's start in *base; nullptr if p lies in no allocated object (a free
// slot, the tail past a span's last slot, a free page, memory gomem does not
// own). Collected spans say "allocated" as the allocator sees it: an object
// that died in the last cycle counts until its span is swept (so does one
// gomem_gc_free freed early: see gc/finalizer.cc). A free slot of
// a manual span is recognised by the free key in its word 1 (heap/mspan.h).
// Reads another thread's span without a lock (but for the rare lookup that
// a sweep of the span overlaps: heap.cc): exact for objects the caller may
// use, a snapshot for the others.
MSpan* find_object(uintptr_t p, uintptr_t* base);

// Tests only (tests/gc_lookup_test.cc): when set, find_object calls it once
// it has read a collected span's freeindex and allocation bitmap address and
// before it reads the bitmap, so a test can run a whole cycle in that
// window. Set and cleared by the test; nullptr otherwise.
extern std::atomic<void (*)()> g_find_object_hook;

// Hardened build: the guarded large span (heap/mheap.h), live or cached,
// one of whose guard pages holds p; else nullptr. Lock-free and allocates
// nothing: the fault handler asks it (runtime/guarded_report.cc).
MSpan* large_guard_at(uintptr_t p);

template <class F>
void for_each_p(F fn) {
  for (MCache* c = __atomic_load_n(&g_all_p, __ATOMIC_ACQUIRE); c; c = c->all_next) fn(c);
}

}  // namespace gomem
