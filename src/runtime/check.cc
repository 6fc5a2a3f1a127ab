// gomem_check_heap: walks the whole heap and checks the heap's invariants.
//
//   - every page of every in-use span maps to it; free runs are maximal and
//     mapped at their ends only (MHeap::check_pages);
//   - every free object of a manual span lies in it, at base + k * elemsize,
//     holds the span's free key, and appears once on its lists;
//   - per span: allocated + free (own lists + remote list) == objects;
//   - ownership: the xfree state agrees with the owner and the lists;
//   - every P's lists hold spans it owns, parked ones marked as such;
//   - collected spans: the allocation count agrees with the bitmaps.
//
// The caller must keep other threads from allocating or freeing meanwhile.
#include <cstring>

#include "base/fmt.h"
#include "gomem/gomem.h"
#include "heap/fault.h"
#include "heap/guarded.h"
#include "heap/preempt.h"
#include "runtime/malloc.h"
#include "runtime/proc.h"
#include "runtime/runtime.h"

namespace gomem {

const char* gc_check_span(MSpan* s);

namespace {

GOMEM_NORETURN void check_failed(const char* what, const void* p, const MSpan* s) {
  fatal_fault(Fault::kCheckFailed, p, s, what);
}

// Walks a free chain of a manual span, marking each object in `seen`.
// Returns the number of objects, or fails the check.
uint32_t walk_chain(const MSpan* s, void* head, uint32_t limit, uint64_t* seen, const char* list) {
  uint32_t n = 0;
  for (void* q = head; q; q = reinterpret_cast<void*>(s->link_next(q))) {
    uintptr_t a = reinterpret_cast<uintptr_t>(q);
    if (a < s->base || a >= s->limit() || !s->is_slot_start(a)) check_failed(list, q, s);
    uintptr_t idx = s->obj_index(a);
    if (idx < s->unbuilt) check_failed("free object in the part of the span never built", q, s);
    if (bit_test(seen, idx)) check_failed("object on a free list twice", q, s);
    bit_set(seen, idx);
    if (static_cast<uint64_t*>(q)[1] != s->free_key) check_failed("free object without the free key", q, s);
    if (++n > limit) check_failed("free chain longer than the span", q, s);
  }
  return n;
}

void check_manual_span(MSpan* s) {
  uint64_t seen[16] = {};  // nelems <= 1024 for small spans
  if (s->nelems > 1024) check_failed("too many objects for a small span", reinterpret_cast<void*>(s->base), s);
  uint32_t nfree = s->unbuilt;
  nfree += walk_chain(s, s->freelist, s->nelems, seen, "freelist object outside the span's slots");
  nfree += walk_chain(s, s->local_free, s->nelems, seen, "local_free object outside the span's slots");
  uint64_t x = s->xfree.load(std::memory_order_acquire);
  uint32_t nremote =
      walk_chain(s, s->xfree_obj(xfree::head(x)), s->nelems, seen, "remote-free object outside the span's slots");
  if (nremote != xfree::count(x))
    check_failed("remote-free count disagrees with the remote list", reinterpret_cast<void*>(s->base), s);
  if (s->allocated() - (s->current ? 1 : 0) + nfree != s->nelems)
    check_failed("allocated + free != objects in span", reinterpret_cast<void*>(s->base), s);
  MCache* owner = s->get_owner();
  uintptr_t key = s->get_owner_key();
  if (s->in_empty_cache) {
    if (!owner || key != 0 || s->alloc_count != 0)
      check_failed("span in a P's empty cache that is not empty", reinterpret_cast<void*>(s->base), s);
    return;
  }
  switch (xfree::state(x)) {
    case xfree::kActive:
    case xfree::kParked:
    case xfree::kNotified:
    case xfree::kReleasing:
      if (!owner || (key & ~kKeyUncollectable) != owner->tkey ||
          ((key & kKeyUncollectable) != 0) != (s->kind == SpanKind::kUncollectable))
        check_failed("owned span with a wrong owner", reinterpret_cast<void*>(s->base), s);
      break;
    case xfree::kCentral:
      if (owner || key || !s->in_central)
        check_failed("mcentral span with an owner or off the list", reinterpret_cast<void*>(s->base), s);
      break;
    case xfree::kOrphan:
      if (owner || key || s->in_central || s->freelist)
        check_failed("orphan span that is not full or unowned", reinterpret_cast<void*>(s->base), s);
      break;
    default:
      check_failed("in-use span in an impossible ownership state", reinterpret_cast<void*>(s->base), s);
  }
}

// Every P, pooled ones too: a span on a P's notify stack is claimed by it
// (heap/mcache.h, "One owner at a time").
void check_notify_stack(MCache* c) {
  uint32_t n = 0;
  for (MSpan* s = c->notify.load(std::memory_order_acquire); s; s = s->notify_next) {
    if (s->state.load(std::memory_order_acquire) != SpanState::kInUse || s->get_owner() != c ||
        xfree::state(s->xfree.load(std::memory_order_acquire)) != xfree::kNotified)
      check_failed("span on a P's notify stack not notified to it", reinterpret_cast<void*>(s->base), s);
    if (++n > (1u << 30)) check_failed("a P's notify stack is circular", nullptr, s);
  }
}

void check_p(MCache* c) {
  for (int li = 0; li < kManualLists; li++) {
    for (MSpan* s = c->partial[li].front(); s; s = SpanList::next(s)) {
      if (s->get_owner() != c || (s->get_owner_key() & ~kKeyUncollectable) != c->tkey || s->parked ||
          s->alloc_bias != 0)
        check_failed("span on a P's partial list not owned by it", reinterpret_cast<void*>(s->base), s);
      if (manual_list_index(s->spanclass) != li)
        check_failed("span on the wrong list", reinterpret_cast<void*>(s->base), s);
    }
    for (MSpan* s = c->full[li].front(); s; s = SpanList::next(s)) {
      if (s->get_owner() != c || (s->get_owner_key() & ~kKeyUncollectable) != c->tkey || !s->parked ||
          s->alloc_count == 0 || s->alloc_bias != s->nelems - unpark_threshold(s->nelems))
        check_failed("span on a P's full list not parked by it", reinterpret_cast<void*>(s->base), s);
    }
  }
  for (int spc = 0; spc < kNumSpanClasses; spc++) {
    MSpan* s = c->alloc[spc];
    if (s == &g_empty_span) continue;
    if (s->spanclass != spc) check_failed("current span of the wrong class", reinterpret_cast<void*>(s->base), s);
    if (!kind_is_gc(s->kind) && (s->get_owner() != c || (s->get_owner_key() & ~kKeyUncollectable) != c->tkey ||
                                 !s->current || s->parked || s->alloc_bias != 0))
      check_failed("current span not owned by its P", reinterpret_cast<void*>(s->base), s);
  }
}

}  // namespace

long check_heap() {
  // The lists as they are: the heap profile's cuts go back on their spans
  // (heap/profile.h; nobody allocates while the heap is checked).
  for_each_p([](MCache* c) {
    for (int li = 0; li < kManualLists; li++) c->prof_restore(li);
  });
  ensure_init();
  if (t_mcache != &g_empty_mcache) {
    MutexLock l(t_mcache->lock);
    t_mcache->flush_batch(g_heap);
  }
  uintptr_t bad = 0;
  if (const char* err = g_heap.check_pages(&bad)) check_failed(err, reinterpret_cast<void*>(bad), nullptr);
  if (const char* err = guarded::check()) check_failed(err, reinterpret_cast<void*>(guarded::g_base), nullptr);
  long n = 0;
  // The heap lock keeps the scavenger (which carves and frees span records
  // as it releases free runs) out of the walk.
  NoPreemptLock heap_locked(g_heap.lock);
  g_heap.for_each_span_record([&](MSpan* s) {
    if (s->state.load(std::memory_order_acquire) != SpanState::kInUse) return;
    n++;
    if (s->base & (kPageSize - 1)) check_failed("span not page aligned", reinterpret_cast<void*>(s->base), s);
    if (s->large) {
      if (s->nelems != 1 || s->elemsize != s->bytes())
        check_failed("large span geometry", reinterpret_cast<void*>(s->base), s);
      return;
    }
    const SizeClass& info = span_class_info(s->spanclass);
    if (s->elemsize != info.size || s->nelems != info.nelems || s->npages != info.npages)
      check_failed("span geometry disagrees with its size class", reinterpret_cast<void*>(s->base), s);
    if (kind_is_gc(s->kind)) {
      if (const char* err = gc_check_span(s)) check_failed(err, reinterpret_cast<void*>(s->base), s);
    } else {
      check_manual_span(s);
    }
  });
  for_each_p([](MCache* c) {
    check_notify_stack(c);
    if (c->in_use || c->shared) check_p(c);
  });
  return n;
}

}  // namespace gomem

extern "C" GOMEM_EXPORT long gomem_check_heap(void) { return gomem::check_heap(); }
