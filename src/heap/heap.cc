#include "heap/heap.h"

#include "heap/preempt.h"

namespace gomem {

// Zero-initialised, so that only the pages a program touches take memory
// (in the data section, all ~45 KiB of the heap and its 288 mcentrals would be
// read in from the file and most of them written).
GOMEM_META_BSS_BEGIN
GOMEM_META_BSS constinit ArenaIndex g_arena_index;
GOMEM_META_BSS constinit MHeap g_heap;
GOMEM_META_BSS_END
GOMEM_META constinit MCache g_empty_mcache;
GOMEM_TLS MCache* t_mcache = &g_empty_mcache;
GOMEM_META constinit MCache* g_all_p = nullptr;

GOMEM_META constinit std::atomic<void (*)()> g_find_object_hook{nullptr};

namespace {

// A collected span's allocation state (freeindex, and the allocation bitmap
// for slots at or above it) is rewritten by every sweep: freeindex = 0, the
// mark bitmap becomes the allocation bitmap and the old one is cleared as
// the next mark bitmap. A thread that no stop holds up (outside a
// non-preemptible section and descheduled, or unregistered) can read
// freeindex and the bitmap's address before a sweep and the bitmap word
// after the next cycle's sweep cleared it: a live object would look free
// (tests/gc_lookup_test.cc). So the span's sweepgen brackets the reads, as a
// sequence lock: a sweep takes it odd (h - 1) before it touches the state
// and even again after (gc/sweep.cc). If a sweep ran or was running, the
// slot is read again under the span's mcentral lock, which every sweep holds
// throughout; a P's current span is never swept, and its allocations only
// raise freeindex, so that read is consistent. (The record may describe
// another span by then, if the object died meanwhile: then the answer is
// "free", and the lock taken is still a collected class's, which no stopped
// thread holds; a manual class's could be.) Both slow paths are tail calls,
// so the fast path saves no register.
GOMEM_NOINLINE MSpan* find_collected_locked(MSpan* s, uintptr_t idx, uintptr_t* base) {
  SpanClass spc = s->spanclass;
  if (!kind_is_gc(span_class_kind(spc))) return nullptr;
  NoPreempt np;  // a registered thread holds no allocator lock while the world is stopped
  MutexLock l(g_heap.central[spc].lock);
  if (s->state.load(std::memory_order_acquire) != SpanState::kInUse || s->spanclass != spc || idx >= s->nelems ||
      s->is_free_slot(idx))
    return nullptr;
  *base = s->obj_addr(idx);
  return s;
}

// Slot idx of collected span s (kHook: calling g_find_object_hook between
// the reads).
template <bool kHook>
GOMEM_INLINE MSpan* find_collected(MSpan* s, uintptr_t idx, uintptr_t* base);

GOMEM_NOINLINE MSpan* find_collected_hooked(MSpan* s, uintptr_t idx, uintptr_t* base) {
  return find_collected<true>(s, idx, base);
}

template <bool kHook>
GOMEM_INLINE MSpan* find_collected(MSpan* s, uintptr_t idx, uintptr_t* base) {
  uint32_t g = s->sweepgen.load(std::memory_order_acquire);
  bool allocated = idx < s->freeindex;
  if (!allocated) {
    const uint64_t* bits = s->alloc_bits();
    if constexpr (kHook) {
      if (auto hook = g_find_object_hook.load(std::memory_order_relaxed)) hook();
    } else if (GOMEM_UNLIKELY(g_find_object_hook.load(std::memory_order_relaxed) != nullptr)) {
      return find_collected_hooked(s, idx, base);
    }
    allocated = bit_test(bits, idx);
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  if (GOMEM_UNLIKELY((g & 1) || s->sweepgen.load(std::memory_order_relaxed) != g))
    return find_collected_locked(s, idx, base);
  if (!allocated) return nullptr;
  *base = s->obj_addr(idx);
  return s;
}

}  // namespace

MSpan* find_object(uintptr_t p, uintptr_t* base) {
  if (p >= kArenaL1Entries << kArenaShift) return nullptr;  // beyond the index (it would alias)
  MSpan* s = g_arena_index.span_of(p);
  if (!s || s->state.load(std::memory_order_acquire) != SpanState::kInUse || p < s->base || p >= s->end())
    return nullptr;
  if (s->large) {
    // A guarded span's guards hold no object, nor does a cached one
    // (heap/mheap.h).
    uintptr_t obj = large_object(s);
    if (large_guarded(s) && (s->alloc_count.read_racy() == 0 || p < obj || p >= obj + large_object_bytes(s)))
      return nullptr;
    *base = obj;
    return s;
  }
  uintptr_t idx = s->obj_index(p);
  if (idx >= s->nelems) return nullptr;
  if (kind_is_gc(s->kind)) return find_collected<false>(s, idx, base);
  uintptr_t obj = s->obj_addr(idx);
  if (idx < s->unbuilt.read_racy() || reinterpret_cast<const uint64_t*>(obj)[1] == s->free_key) return nullptr;
  *base = obj;
  return s;
}

MSpan* large_guard_at(uintptr_t p) {
  if (!kLargeGuardPages || p >= kArenaL1Entries << kArenaShift) return nullptr;
  MSpan* s = g_arena_index.span_of(p);
  if (!s || s->state.load(std::memory_order_acquire) != SpanState::kInUse || !s->large || !large_guarded(s) ||
      p < s->base || p >= s->end())
    return nullptr;
  uintptr_t obj = large_object(s);
  return p < obj || p >= obj + large_object_bytes(s) ? s : nullptr;
}

}  // namespace gomem
