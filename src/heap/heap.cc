#include "heap/heap.h"

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
  uintptr_t obj = s->obj_addr(idx);
  bool free = kind_is_gc(s->kind)
                  ? s->is_free_slot(idx)
                  : idx < s->unbuilt.read_racy() || reinterpret_cast<const uint64_t*>(obj)[1] == s->free_key;
  if (free) return nullptr;
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
