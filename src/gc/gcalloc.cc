// Collected allocation: Go's mallocgc for the small and large cases.
//
// The whole small path runs in a non-preemptible section: the collector
// never stops a thread between "the slot is taken" and "the span says so".
// Collected memory is always zero: a span whose free slots may be dirty
// (needzero, set when a sweep freed objects or the pages were reused) clears
// each object as it hands it out.
#include <cstring>

#include "gc/internal.h"
#include "heap/fault.h"
#include "heap/preempt.h"
#include "heap/profile.h"

namespace gomem {
namespace gc {

uintptr_t alloc_large_unsampled(size_t size, SpanKind kind);

namespace {

GOMEM_NOINLINE uintptr_t alloc_small_profiled(MCache* c, SpanClass spc);

// Go's mallocgc, small case. sample: the heap profile may take this
// allocation (false when the sampler itself calls).
GOMEM_INLINE uintptr_t alloc_small_impl(MCache* c, SpanClass spc, bool sample) {
  nopreempt_enter();
  MSpan* s = c->alloc[spc];
  uintptr_t v = s->next_free_fast();
  bool refilled = false;
  if (GOMEM_UNLIKELY(v == 0)) {
    if (sample && GOMEM_UNLIKELY((prof::rate() | c->prof.rate) != 0)) {
      nopreempt_exit();
      return alloc_small_profiled(c, spc);
    }
    if (s != &g_empty_span) {
      uint32_t idx = s->next_free_index();
      if (idx < s->nelems) {
        s->alloc_count++;
        v = s->base + uintptr_t{idx} * s->elemsize;
      } else {
        c->alloc[spc] = &g_empty_span;
        uncache_span(s, false);
      }
    }
    if (!v) {
      s = cache_span(spc);
      if (!s) {
        nopreempt_exit();
        return 0;
      }
      c->alloc[spc] = s;
      refilled = true;
      uint32_t idx = s->next_free_index();
      if (idx >= s->nelems)
        fatal_fault(Fault::kCorrupt, reinterpret_cast<void*>(s->base), s, "cached span has no free slot");
      s->alloc_count++;
      v = s->base + uintptr_t{idx} * s->elemsize;
    }
  }
  if (s->needzero) memset(reinterpret_cast<void*>(v), 0, s->elemsize);
  nopreempt_exit();
  if (refilled) maybe_trigger();
  return v;
}

// The window bits of s that next_free_fast would hand out: the free slots
// of the current bitmap word from freeindex on, below nelems, but for the
// word's last slot, which it leaves to the slow path (unless the span ends
// there). Bits past nelems are set too (the inverted bitmap's padding).
uint64_t fast_path_slots(const MSpan* s) {
  uint32_t fi = s->freeindex;
  uint32_t n = 64 - fi % 64;
  if (n >= s->nelems - fi)
    n = s->nelems - fi;
  else
    n--;  // the word's last slot: next_free_fast returns 0 there
  return s->alloc_cache & (n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1);
}

// Heap-profile sampling of collected objects (heap/profile.h): the fast path
// (next_free_fast) ran dry, perhaps at a cut of the alloc_cache window. The
// window is reloaded from the bitmap first (a cut window has free slots
// left out, which next_free_index would skip), then either the sample is
// due, or the object comes from the span as usual and the window is cut
// again after the objects before the next sample. Objects counted for a cut
// window that the P gives back unused (a collection takes the P's spans)
// only delay the next sample.
GOMEM_NOINLINE uintptr_t alloc_small_profiled(MCache* c, SpanClass spc) {
  {
    NoPreempt np;
    if (c->prof.rate != prof::rate()) c->prof_reset();
    MSpan* s = c->alloc[spc];
    if (s != &g_empty_span && s->freeindex < s->nelems) s->reload_alloc_cache();
  }
  uint64_t rate = c->prof.rate;
  if (rate == 0) return alloc_small_impl(c, spc, false);
  uintptr_t size = span_class_info(spc).size;
  uint64_t left = c->prof.gc_left[spc];
  if (left == 0) left = 1 + prof::objects_before_sample(rate, size);
  uintptr_t v;
  if (left == 1) {
    v = alloc_large_unsampled(size, span_class_kind(spc));
    if (v) prof::record(g_arena_index.span_of(v), size, prof::Heap::kGC);
    left = 1 + prof::objects_before_sample(rate, size);
  } else {
    v = alloc_small_impl(c, spc, false);
    left--;
  }
  if (v) {
    NoPreempt np;
    MSpan* s = c->alloc[spc];
    if (s != &g_empty_span && s->freeindex < s->nelems) {
      uint64_t kept = fast_path_slots(s);
      uint64_t w = kept;
      for (uint64_t keep = left - 1; keep > 0 && w; keep--) w &= w - 1;  // w: the slots past the kept ones
      kept ^= w;
      s->alloc_cache = kept;
      left -= popcount64(kept);
    }
  }
  c->prof.gc_left[spc] = left;
  return v;
}

}  // namespace

uintptr_t alloc_small(MCache* c, SpanClass spc) { return alloc_small_impl(c, spc, true); }

uintptr_t alloc_large(size_t size, SpanKind kind) {
  uintptr_t v = alloc_large_unsampled(size, kind);
  uint64_t rate = prof::rate();
  if (GOMEM_UNLIKELY(rate != 0) && v) {
    MSpan* s = g_arena_index.span_of(v);
    if (prof::sample_large(rate, s->bytes())) prof::record(s, s->bytes(), prof::Heap::kGC);
  }
  return v;
}

uintptr_t alloc_large_unsampled(size_t size, SpanKind kind) {
  if (size > kMaxAllocBytes) return 0;
  uintptr_t npages = div_round_up(size, kPageSize);
  nopreempt_enter();
  MSpan* s = g_heap.alloc_span(npages, make_span_class(0, kind));
  if (!s) {
    nopreempt_exit();
    return 0;
  }
  // One object, allocated: Go's freeindex = 1, allocCount = 1.
  s->freeindex = 1;
  s->alloc_count = 1;
  s->alloc_cache = 0;
  uintptr_t v = s->base;
  if (g_conc.black.load(std::memory_order_relaxed)) mark_large_black(s);  // concurrent.cc
  add_large_span(s);
  if (s->needzero) {
    // Clear in pieces, leaving the section between them so a world-stop is
    // not held up by a huge memset; the object is found through `keep`.
    void* volatile keep = reinterpret_cast<void*>(v);
    uintptr_t bytes = s->bytes();
    for (uintptr_t off = 0; off < bytes; off += 256 * 1024) {
      uintptr_t n = bytes - off < 256 * 1024 ? bytes - off : 256 * 1024;
      memset(reinterpret_cast<char*>(keep) + off, 0, n);
      nopreempt_exit();
      nopreempt_enter();
    }
  }
  nopreempt_exit();
  add_heap_live(static_cast<int64_t>(s->bytes()));
  conc_charge(s->bytes());  // the assist debt (concurrent.cc)
  maybe_trigger();
  return v;
}

namespace {

// A small object freed early: cleared now (so that it retains nothing) and
// noted in the span's freed_bits; the next sweep frees the slot whatever its
// mark says (nothing points to it, as the caller promised, but a stale word
// may still look like a pointer). Under the span's mcentral lock, which every
// sweep holds: the slot cannot change state while it is checked. Caught:
// a second free before that sweep (the freed bit), and a free of a slot that
// is free (swept already, or never handed out). Not caught: a second free
// after the slot was handed out again, which frees the new object - the
// pointer is the same, so no allocator can tell the two apart.
void free_small_early(void* p, MSpan* s) {
  uintptr_t idx = s->obj_index(reinterpret_cast<uintptr_t>(p));
  uint64_t bit = uint64_t{1} << (idx & 63);
  MutexLock l(g_heap.central[s->spanclass].lock);
  if (s->is_free_slot(idx)) fatal_fault(Fault::kDoubleFree, p, s, "the slot is free");
  uint64_t* freed = &s->freed_bits()[idx >> 6];
  if (*freed & bit) fatal_fault(Fault::kDoubleFree, p, s, "freed already, not yet swept");
  memset(p, 0, s->elemsize);
  *freed |= bit;
}

}  // namespace

// The caller is registered (runtime/gc_api.cc): the whole free runs in a
// non-preemptible section, like an allocation, so a world-stop never finds
// it half-way (its finalizer record gone but the object not yet cleared, a
// large span off mcentral's list but not yet back in the heap).
void gc_free(void* p, MSpan* s) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if (s->large ? a != s->base : !s->is_slot_start(a)) fatal_fault(Fault::kInteriorFree, p, s);
  NoPreempt np;
  remove_specials(a);
  // While a concurrent cycle marks, a marker may be scanning the object: its
  // span stays until the sweep (freed like a small object's slot).
  if (s->large && !g_conc.black.load(std::memory_order_relaxed)) {
    if (unlink_large_span(s)) {
      count_large_free(s);
      g_heap.free_span(s);
    }
    // Otherwise a sweeper holds the span, and since sweeps run under the
    // mcentral lock that unlink_large_span takes, it is one that found the
    // object unmarked and is giving the span back to the heap: the object is
    // free already (do not touch it).
    return;
  }
  free_small_early(p, s);
}

}  // namespace gc
}  // namespace gomem
