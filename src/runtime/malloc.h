// The malloc and free fast paths, and the process-wide heap they serve.
//
// This is the central file of gomem's runtime, in the sense of Go's
// malloc.go. The design in one place:
//
//   thread ──holds──▶ P (MCache) ──refill──▶ MCentral (per span class) ──▶ MHeap (pages)
//
// * Size classes (heap/sizeclasses.h): ~68 classes from 16 B to 32 KiB for
//   the manual heap, Go's exact table for the collected heap, generated at
//   compile time. Bigger objects are whole page runs from MHeap.
// * malloc (below): the size picks a span class through a constant table and
//   pops the span's free list. 19 instructions, one test; everything
//   else (a missing P, an empty list, large sizes, first use) is behind that
//   one test in malloc_slow.
// * free (below): the arena index maps the pointer to its span in two loads.
//   If the calling thread owns the span, the object is pushed on the span's
//   local list, after two checks that catch interior pointers and double
//   frees. 30 instructions (both counts are pinned in
//   tests/fastpath/instructions.txt). The hardened build (GOMEM_HARDENED,
//   docs/security.md) encodes the link word free writes and decodes and
//   checks the one malloc pops: malloc 30, free 32
//   (instructions_hardened.txt). Anything else - another thread's span,
//   an uncollectable span, a large object, a collected object, NULL,
//   garbage - is free_slow's business; a free that brings its span's
//   alloc_count to 0 (the span emptied, or a parked span has enough free
//   objects again: heap/mcache.h) ends in free_mark_reached.
// * Statistics: each P counts the manual objects it hands out and frees (one
//   add on each fast path: MCache::counts, and MSpan::nfree_slot),
//   so that gomem_read_stats sums the Ps instead of walking the spans.
// * A P's spans, ownership and remote frees: heap/mcache.h.
// * Spans no P owns: heap/mcentral.h. Pages, arenas, the page map:
//   heap/mheap.h, heap/arena.h.
// * The collector: gc/collector.h.
//
// Threads get a P on their first allocation (runtime/proc.cc) and give it
// back at exit; a size class a thread has used little is served in
// malloc_slow by a shared per-CPU P instead (runtime/shared_p.h). A thread
// with no P has t_mcache == &g_empty_mcache, whose every slot is the empty
// span, so its first malloc falls to the slow path.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/compiler.h"
#include "heap/heap.h"
#include "heap/mspan.h"
#include "platform/thread.h"

namespace gomem {

// Frees of small manual objects by threads that hold no P (an exiting
// thread, or no memory for a P), by manual_list_index; every other free is
// counted by a P (MCache::counts).
extern std::atomic<uint64_t> g_nfree_without_p[kManualLists];

// Slow paths (runtime/malloc.cc).
GOMEM_NOINLINE void* malloc_slow(size_t size);
GOMEM_NOINLINE void free_slow(void* p);
GOMEM_NOINLINE void free_mark_reached(MSpan* s);

// Manual heap allocation with an alignment (a power of two), and the large
// object path. Return nullptr and set errno = ENOMEM on failure.
void* malloc_aligned(size_t size, size_t align);
void* malloc_large(size_t size, size_t align, SpanKind kind);
// malloc_large without the heap profile's sampling (heap/profile.h).
void* malloc_large_unsampled(size_t size, size_t align, SpanKind kind);
void* malloc_uncollectable(size_t size);
void* calloc_impl(size_t n, size_t size);
void* realloc_impl(void* p, size_t size);
size_t usable_size(const void* p);

// Sets errno = ENOMEM and returns nullptr.
void* out_of_memory();

// malloc's fast path alone: pop the free list of the P's current span for
// the size class, or nullptr where malloc_slow must run (a miss, not an
// out-of-memory).
GOMEM_INLINE void* malloc_fast_only(size_t size) {
  if (GOMEM_LIKELY(size <= kDirectMax)) {
    MCache* c = t_mcache;
    uintptr_t i = (size + 15) >> 4;
    SpanClass spc = kDirectClass.spc[i];
    MSpan* s = c->alloc[spc];
    void** p = static_cast<void**>(s->freelist);
    void* next;
    if (GOMEM_LIKELY(p != nullptr && s->next_fast(p, &next))) {
      s->freelist = next;
      s->alloc_count++;
      c->counts[spc]++;
      p[1] = nullptr;  // clear the double-free key
      return p;
    }
  }
  return nullptr;
}

// malloc's fast path, then malloc_slow. Budget: 19 instructions, one
// predicted branch (hardened: 30, three; the last object of a list, whose
// link is null, and a corrupt link take the slow path, which pops the one
// and reports the other).
GOMEM_INLINE void* malloc_fast(size_t size) {
  void* p = malloc_fast_only(size);
  if (GOMEM_LIKELY(p != nullptr)) return p;
  return malloc_slow(size);
}

// free's fast path: the owner pushes the object on its span's local list.
// Budget: 30 instructions, three predicted branches (hardened: 32).
GOMEM_INLINE void free_fast(void* ptr) {
  uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
  MSpan* s = g_arena_index.span_or_empty(p);  // NULL, foreign pointers: the empty span
  if (GOMEM_LIKELY(s->owner_key_fast() == os::thread_key())) {
    uint64_t key = s->free_key;
    uint64_t* w = reinterpret_cast<uint64_t*>(p);
    // An object starts at base + k * elemsize (else it is an interior
    // pointer) and a free object holds the key in word 1 (else: double free?).
    if (GOMEM_LIKELY(s->is_slot_start(p) && w[1] != key)) {
      s->set_link(ptr, s->local_free);
      w[1] = key;
      s->local_free = ptr;
      (*s->nfree_slot)++;
      if (GOMEM_LIKELY(--s->alloc_count != 0)) return;
      return free_mark_reached(s);
    }
  }
  free_slow(ptr);
}

}  // namespace gomem
