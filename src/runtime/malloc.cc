// The manual heap's slow paths: everything malloc_fast and free_fast leave.
#include "runtime/malloc.h"

#include <errno.h>

#include <cstring>

#include "gc/collector.h"
#include "heap/fault.h"
#include "heap/guarded.h"
#include "heap/profile.h"
#include "platform/os.h"
#include "runtime/guarded_report.h"
#include "runtime/proc.h"
#include "runtime/runtime.h"
#include "runtime/shared_p.h"

namespace gomem {

GOMEM_META_BSS_BEGIN
GOMEM_META_BSS constinit std::atomic<uint64_t> g_nfree_without_p[kManualLists];
GOMEM_META_BSS_END

void* out_of_memory() {
  errno = ENOMEM;
  return nullptr;
}

namespace {

// Pops an object of span class spc from span s (s->freelist is not empty),
// counted as a malloc of P c.
GOMEM_INLINE void* pop_object(MCache* c, MSpan* s, SpanClass spc) {
  void** p = static_cast<void**>(s->freelist);
  s->freelist = s->next_checked(p);
  s->alloc_count++;
  c->counts[spc]++;
  p[1] = nullptr;
  return p;
}

// An object of span class spc, cold for c's holder, from the shared P of
// the calling thread's CPU (runtime/shared_p.h); nullptr if there is no
// shared P or no memory.
GOMEM_NOINLINE void* alloc_cold(MCache* c, SpanClass spc) {
  MCache* sp = shared_p_here();
  if (!sp) return nullptr;
  if (c->batch_mask) {
    // The holder's frees of cold objects wait in its batches, where nobody
    // can reuse them: send them home first (see shared_p.h).
    MutexLock l(c->lock);
    c->flush_batch(g_heap);
  }
  MutexLock l(sp->lock);
  MSpan* s = sp->alloc[spc];
  if (!s->freelist && !(s = sp->refill_locked(g_heap, spc))) return nullptr;
  c->cold_allocs[span_class_size_class(spc)]++;
  // Counted as the holder's malloc: a heap profile samples by its count.
  return pop_object(c, s, spc);
}

// Pops an object of span class spc from the P's current span, refilling it
// if it is empty, or from a shared P while the class is cold for the
// thread. spc is a manual or uncollectable class.
GOMEM_INLINE void* alloc_small_unsampled(MCache* c, SpanClass spc) {
  MSpan* s = c->alloc[spc];
  if (GOMEM_UNLIKELY(!s->freelist)) {
    if (s == &g_empty_span && class_is_cold(c, spc))
      if (void* p = alloc_cold(c, spc)) return p;
    s = c->refill_manual(g_heap, spc);
    if (!s) return out_of_memory();
  }
  return pop_object(c, s, spc);
}

// A sampled small object: a one-object large span of the class's kind
// (heap/profile.h), recorded with the class's size.
void* alloc_sampled(SpanClass spc) {
  uintptr_t size = kManualClasses.cls[span_class_size_class(spc)].size;
  void* p = malloc_large_unsampled(size, kPageSize, span_class_kind(spc));
  if (p) prof::record(g_arena_index.span_of(reinterpret_cast<uintptr_t>(p)), size, prof::Heap::kManual);
  return p;
}

// Whether class spc is sampled for the guarded pool (heap/guarded.h):
// manual objects that fit a slot, while the pool is on.
GOMEM_INLINE bool guarded_class(SpanClass spc) {
  return guarded::rate() != 0 && span_class_kind(spc) == SpanKind::kManual &&
         kManualClasses.cls[span_class_size_class(spc)].size <= guarded::kSlotSize;
}

// The sample due at this allocation of class spc (the P's counts[spc] is
// n), if any: a profiled object (heap/profile.h) or a guarded one of `size`
// bytes aligned to `align` (heap/guarded.h), nullptr if neither is due (or
// the pool is full); the next draw is made for the one taken.
void* take_sample(MCache* c, SpanClass spc, uint64_t n, size_t size, size_t align) {
  int li = manual_list_index(spc);
  uint64_t rate = c->prof.rate;
  uintptr_t csize = kManualClasses.cls[span_class_size_class(spc)].size;
  if (rate && c->prof.next[li] == 0) c->prof.next[li] = n + 1 + prof::objects_before_sample(rate, csize);
  bool guard = guarded_class(spc);
  if (guard && c->prof.guarded_next[li] == 0) c->prof.guarded_next[li] = n + 1 + guarded::objects_before_sample();
  if (rate && n + 1 >= c->prof.next[li]) {  // (>: a check undid the cut)
    c->prof.next[li] = n + 1 + prof::objects_before_sample(rate, csize);
    return alloc_sampled(spc);
  }
  if (guard && n + 1 >= c->prof.guarded_next[li]) {
    c->prof.guarded_next[li] = n + 1 + guarded::objects_before_sample();
    return guarded::alloc(size, align);
  }
  return nullptr;
}

// The counts[] value of class spc below which a slow path needs no
// sampler (MCache::prof.horizon): its nearer sample (the profile's, the
// guarded pool's) minus a span's objects; no limit when neither samples it.
uint64_t sample_horizon(const MCache* c, SpanClass spc) {
  int li = manual_list_index(spc);
  uint64_t due = UINT64_MAX;
  if (c->prof.rate) due = c->prof.next[li];
  if (guarded_class(spc) && c->prof.guarded_next[li] < due) due = c->prof.guarded_next[li];
  if (due == UINT64_MAX) return due;
  uint64_t ahead = 1 + kManualClasses.cls[span_class_size_class(spc)].nelems;
  return due > ahead ? due - ahead : 0;
}

// alloc_small while sampling is on, or was on for this P, and the class's
// horizon is reached: malloc's fast path ran dry at a cut (or the list is
// simply empty). Either a sample is due, or the object comes from the span
// as usual; the span is cut again before the next sample.
GOMEM_NOINLINE void* alloc_small_profiled(MCache* c, SpanClass spc, size_t size, size_t align) {
  int li = manual_list_index(spc);
  uint64_t n = c->counts[spc];
  if (c->prof.rate != prof::rate()) c->prof_reset();
  c->prof_restore(li);
  void* p = take_sample(c, spc, n, size, align);
  if (!p) p = alloc_small_unsampled(c, spc);
  c->prof.horizon[li] = sample_horizon(c, spc);
  if (p && c->alloc[spc] != &g_empty_span) c->prof_cut(spc);
  return p;
}

// Pops an object of span class spc from the P's current span (see
// alloc_small_unsampled), through the samplers when heap profiling or the
// guarded pool is on and the class's horizon is reached (a few loads
// otherwise: no sample can fall in the span's objects, and no cut is in
// place, since a cut is made only inside the horizon); size and align are
// what the program asked for.
GOMEM_INLINE void* alloc_small(MCache* c, SpanClass spc, size_t size, size_t align) {
  if (GOMEM_UNLIKELY((prof::active() | c->prof.rate) != 0) &&
      (c->prof.rate != prof::rate() || c->counts[spc] >= c->prof.horizon[manual_list_index(spc)]))
    return alloc_small_profiled(c, spc, size, align);
  return alloc_small_unsampled(c, spc);
}

// A P for the calling thread, or nullptr if none can be had (out of memory).
GOMEM_INLINE MCache* current_p() {
  MCache* c = t_mcache;
  if (GOMEM_UNLIKELY(c == &g_empty_mcache)) c = acquire_p();
  return c;
}

// Validates a pointer handed to free/realloc and returns its span, or
// nullptr for a pointer into the guarded pool, which the caller hands to
// guarded_free (never returns on a bad pointer). Sets *idx for small
// objects.
MSpan* checked_span(void* ptr, uintptr_t* idx) {
  uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
  MSpan* s = g_arena_index.span_of(p);
  if (!s) {
    if (guarded::contains(p)) return nullptr;  // (no arena maps the pool)
    fatal_fault(Fault::kInvalidFree, ptr, nullptr);
  }
  SpanState st = s->state.load(std::memory_order_acquire);
  if (st == SpanState::kFree) fatal_fault(Fault::kDoubleFree, ptr, nullptr, "the page is free");
  if (st != SpanState::kInUse || p < s->base || p >= s->end()) fatal_fault(Fault::kInvalidFree, ptr, nullptr);
  if (s->large) {
    // (A cached guarded span: see heap/mheap.h.)
    if (large_guarded(s) && s->alloc_count.read_racy() == 0)
      fatal_fault(Fault::kDoubleFree, ptr, s, "the large object is free");
    if (p != large_object(s)) fatal_fault(Fault::kInteriorFree, ptr, s);
    *idx = 0;
    return s;
  }
  if (!s->is_slot_start(p)) fatal_fault(Fault::kInteriorFree, ptr, s);
  *idx = s->obj_index(p);
  if (*idx >= s->nelems) fatal_fault(Fault::kInvalidFree, ptr, s, "past the last object of the span");
  return s;
}

}  // namespace

// Work the slow paths do once they hold no lock.
GOMEM_INLINE void after_slow_path() {
  if (GOMEM_UNLIKELY(gc::g_scavenger_requested.load(std::memory_order_relaxed))) gc::start_scavenger_requested();
  if (GOMEM_UNLIKELY(t_exiting)) release_p_after_exit();
  if (GOMEM_UNLIKELY(g_prof_dumps.load(std::memory_order_relaxed))) prof_safe_point();
}

void* malloc_slow(size_t size) {
  MCache* c = current_p();
  if (GOMEM_UNLIKELY(!c)) return out_of_memory();
  void* p;
  if (size <= kMaxSmallSize)
    p = alloc_small(c, make_span_class(kManualClasses.class_of(size ? size : 1), SpanKind::kManual), size, 16);
  else
    p = malloc_large(size, kPageSize, SpanKind::kManual);
  after_slow_path();
  return p;
}

namespace {

// Whether a large manual object of `bytes` is sampled: the calling thread's
// P counts bytes down to its next sample (Go's nextSample; memoryless, so
// the same probability as a fresh draw, 1 - e^(-bytes/rate), without a
// logarithm per allocation); a thread without a P, or whose P's draws are
// for another rate, draws afresh.
bool sample_large_manual(uint64_t rate, uintptr_t bytes) {
  MCache* c = t_mcache;
  if (c == &g_empty_mcache || c->prof.rate != rate) return prof::sample_large(rate, bytes);
  uint64_t left = c->prof.large_left ? c->prof.large_left : prof::draw_bytes(rate);
  c->prof.large_left = bytes < left ? left - bytes : 0;
  return bytes >= left;
}

}  // namespace

void* malloc_large(size_t size, size_t align, SpanKind kind) {
  void* p = malloc_large_unsampled(size, align, kind);
  uint64_t rate = prof::rate();
  if (GOMEM_UNLIKELY(rate != 0) && p) {
    MSpan* s = g_arena_index.span_of(reinterpret_cast<uintptr_t>(p));
    if (sample_large_manual(rate, s->bytes())) prof::record(s, s->bytes(), prof::Heap::kManual);
  }
  return p;
}

void* malloc_large_unsampled(size_t size, size_t align, SpanKind kind) {
  if (size > kMaxAllocBytes || align > kMaxAllocBytes) return out_of_memory();
  uintptr_t npages = div_round_up(size ? size : 1, kPageSize);
  uintptr_t align_pages = align > kPageSize ? align / kPageSize : 1;
  ensure_init();
  // The hardened build puts a manual or uncollectable large object between
  // two no-access pages, in a span of its own that never grows or shrinks
  // in place (heap/mheap.h).
  MSpan* s = kLargeGuardPages ? g_heap.alloc_guarded_large(npages, align_pages, kind)
                              : g_heap.alloc_span(npages, make_span_class(0, kind), align_pages);
  if (!s) return out_of_memory();
  s->alloc_count = 1;
  if (kind == SpanKind::kUncollectable && s->needzero)
    memset(reinterpret_cast<void*>(large_object(s)), 0, large_object_bytes(s));
  return reinterpret_cast<void*>(large_object(s));
}

void* malloc_aligned(size_t size, size_t align) {
  // glibc 2.36's rule (_mid_memalign), for memalign and aligned_alloc alike:
  // an alignment malloc gives anyway is malloc; one that is no power of two
  // is rounded up to the next, unless no power of two fits in a size_t.
  if (align <= 16) return malloc_fast(size);
  if (!is_pow2(align)) {
    if (align > SIZE_MAX / 2 + 1) {
      errno = EINVAL;
      return nullptr;
    }
    align = uintptr_t{1} << (64 - __builtin_clzll(align));
  }
  if (align <= kPageSize && size <= kMaxSmallSize) {
    // The smallest class whose objects are all aligned: its size is a
    // multiple of align (spans start on a page, a multiple of align).
    size_t want = size < align ? align : size;
    for (uint32_t cl = kManualClasses.class_of(want); cl < static_cast<uint32_t>(kManualClasses.count); cl++) {
      if (kManualClasses.cls[cl].size % align == 0) {
        MCache* c = current_p();
        if (!c) return out_of_memory();
        void* p = alloc_small(c, make_span_class(cl, SpanKind::kManual), size, align);
        after_slow_path();
        return p;
      }
    }
  }
  return malloc_large(size, align, SpanKind::kManual);
}

void* malloc_uncollectable(size_t size) {
  void* p;
  if (size <= kMaxSmallSize) {
    MCache* c = current_p();
    if (!c) return out_of_memory();
    SpanClass spc = make_span_class(kManualClasses.class_of(size ? size : 1), SpanKind::kUncollectable);
    p = alloc_small(c, spc, size, 16);
    if (p) memset(p, 0, kManualClasses.cls[span_class_size_class(spc)].size);
  } else {
    p = malloc_large(size, kPageSize, SpanKind::kUncollectable);
  }
  after_slow_path();
  return p;
}

void* calloc_impl(size_t n, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) return out_of_memory();
  if (bytes <= kMaxSmallSize) {
    void* p = malloc_fast(bytes);
    if (p) memset(p, 0, bytes);
    return p;
  }
  void* p = malloc_large(bytes, kPageSize, SpanKind::kManual);
  if (p) {
    MSpan* s = g_arena_index.span_of(reinterpret_cast<uintptr_t>(p));
    if (s->needzero) memset(p, 0, bytes);
  }
  return p;
}

size_t usable_size(const void* ptr) {
  if (!ptr) return 0;
  MSpan* s = g_arena_index.span_of(reinterpret_cast<uintptr_t>(ptr));
  if (!s) {
    size_t n = 0;  // the guarded pool, or no object of gomem's
    return guarded::live_size(reinterpret_cast<uintptr_t>(ptr), &n) ? n : 0;
  }
  if (s->state.load(std::memory_order_acquire) != SpanState::kInUse) return 0;
  if (s->large) {
    uintptr_t p = reinterpret_cast<uintptr_t>(ptr), obj = large_object(s);
    bool live = !large_guarded(s) || s->alloc_count.read_racy() != 0;
    return live && p >= obj && p < obj + large_object_bytes(s) ? obj + large_object_bytes(s) - p : 0;
  }
  return s->elemsize;
}

void* realloc_impl(void* ptr, size_t size) {
  if (!ptr) return malloc_fast(size);
  if (size == 0) {  // glibc: free and return NULL
    free_fast(ptr);
    return nullptr;
  }
  uintptr_t idx;
  MSpan* s = checked_span(ptr, &idx);
  if (GOMEM_UNLIKELY(!s)) return guarded_realloc(ptr, size);
  if (kind_is_gc(s->kind)) fatal_fault(Fault::kInvalidFree, ptr, s, "realloc of a collected object");
  size_t old = s->large ? large_object_bytes(s) : s->elemsize;
  if (s->kind == SpanKind::kUncollectable) {
    // Stays uncollectable (a root), so whatever it points to stays alive.
    if (size <= old && (s->large || size > old / 2)) return ptr;
    void* q = malloc_uncollectable(size);
    if (!q) return nullptr;
    memcpy(q, ptr, size < old ? size : old);
    free_fast(ptr);
    return q;
  }
  if (!s->large && static_cast<uint64_t*>(ptr)[1] == s->free_key && s->get_owner() == t_mcache && s->lists_contain(ptr))
    fatal_fault(Fault::kDoubleFree, ptr, s, "realloc of a free object");
  // A sampled object keeps its size in its record: it moves (and its free
  // charges the record back) instead of changing size in place; so does a
  // large object with guard pages.
  if (s->large && !large_guarded(s) && size > kMaxSmallSize && size <= kMaxAllocBytes && !s->prof_bucket) {
    uintptr_t want = div_round_up(size, kPageSize);
    if (want == s->npages) return ptr;
    if (want < s->npages) {
      // Shrink in place; give the tail back when it is a quarter or more.
      if ((s->npages - want) * 4 >= s->npages) g_heap.shrink_large(s, want);
      return ptr;
    }
    // Grow: extend into the free run that follows, with some headroom so a
    // loop of small appends does not come back here every time.
    uintptr_t target = want + want / 8;
    if (g_heap.grow_large_in_place(s, target) || g_heap.grow_large_in_place(s, want)) return ptr;
  } else if ((!s->large || large_guarded(s)) && size <= old && size > old / 2) {
    return ptr;
  } else if (s->prof_bucket && size <= s->prof_bytes() && size > s->prof_bytes() / 2) {
    return ptr;
  }
  void* q = malloc_fast(size);
  if (!q) return nullptr;
  memcpy(q, ptr, size < old ? size : old);
  free_fast(ptr);
  return q;
}

void free_mark_reached(MSpan* s) { t_mcache->free_mark_reached_locking(g_heap, s); }

void free_slow(void* ptr) {
  if (!ptr) return;
  uintptr_t idx;
  MSpan* s = checked_span(ptr, &idx);
  if (GOMEM_UNLIKELY(!s)) return guarded_free(ptr);
  if (s->large) {
    if (kind_is_gc(s->kind)) return gc_free_hook(ptr, s);
    prof::charge_free(s);
    if (large_guarded(s)) return g_heap.free_guarded_large(s);
    g_heap.free_span(s);
    return;
  }
  if (kind_is_gc(s->kind)) return gc_free_hook(ptr, s);
  MCache* c = t_mcache;
  // A thread that only frees (a consumer of objects other threads made)
  // takes a P too, for its remote-free batches: without one every free is an
  // atomic operation on the object's span's line (xmalloc's consumers: one
  // per free before, one per ~4.5 frees with the batches).
  if (GOMEM_UNLIKELY(c == &g_empty_mcache) && !t_exiting) {
    c = acquire_p();
    if (!c) c = &g_empty_mcache;
  }
  SpanClass spc = s->spanclass;  // (s may go back to the heap below)
  if (s->get_owner() == c) {
    c->owner_free_slow(g_heap, s, ptr);
    c->counts[spc + kFreeCountOffset]++;
  } else if (c != &g_empty_mcache) {
    c->remote_free(g_heap, s, ptr, idx);
    c->counts[spc + kFreeCountOffset]++;
  } else {
    // No P (an exiting thread, or no memory for a P): send it home at once.
    uint64_t* w = static_cast<uint64_t*>(ptr);
    if (w[1] == s->free_key) fatal_fault(Fault::kDoubleFree, ptr, s);
    if (s->kind == SpanKind::kUncollectable) memset(w + 2, 0, s->elemsize - 16);
    s->set_link(ptr, nullptr);
    w[1] = s->free_key;
    g_nfree_without_p[manual_list_index(spc)].fetch_add(1, std::memory_order_relaxed);
    send_remote_frees(g_heap, s, ptr, ptr, 1, static_cast<uint32_t>(idx));
  }
}

}  // namespace gomem
