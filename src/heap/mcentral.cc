#include "heap/mcentral.h"

#include "heap/fault.h"
#include "heap/mcache.h"
#include "heap/mheap.h"

namespace gomem {

using namespace xfree;

void MCentral::add_partial(MSpan* s) {
  partial.push_back(s);
  s->in_central = true;
  npartial.store(npartial.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void MCentral::remove_partial(MSpan* s) {
  partial.remove(s);
  s->in_central = false;
  npartial.store(npartial.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

MSpan* MCentral::adopt(MHeap& h, MCache* owner, uintptr_t tkey) {
  (void)h;
  if (npartial.load(std::memory_order_relaxed) == 0) return nullptr;
  MutexLock l(lock);
  while (MSpan* s = partial.front()) {
    remove_partial(s);
    s->set_owner(owner);
    s->set_owner_key(tkey);
    uint64_t old = s->xfree.load(std::memory_order_acquire);
    // Every transition out of kCentral happens under this lock, except
    // remote frees that only add objects, so the state stays kCentral.
    while (!s->xfree.compare_exchange_weak(old, next_epoch(old, 0, 0, kActive), std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
    }
    if (state(old) != kCentral)
      fatal_fault(Fault::kCorrupt, reinterpret_cast<void*>(s->base), s, "adopting a span not in mcentral");
    uint32_t n = count(old);
    if (n) {
      s->splice_chain(s->xfree_obj(head(old)), n);
      s->alloc_count -= n;
    }
    if (!s->freelist) s->build_more();  // it was here for its unbuilt slots
    return s;
  }
  return nullptr;
}

void MCentral::give_up(MHeap& h, MSpan* s) {
  MutexLock l(lock);
  uint64_t old = s->xfree.load(std::memory_order_acquire);
  // Its owner stopped notifications first (MCache::release_all): a remote
  // free may still add objects, but no longer push it on a notify stack.
  if (state(old) != kReleasing)
    fatal_fault(Fault::kCorrupt, reinterpret_cast<void*>(s->base), s,
                "giving up a span its owner may still be notified of");
  s->set_owner(nullptr);
  s->set_owner_key(0);
  for (;;) {
    uint32_t n = count(old);
    uint32_t alloc = s->alloc_count;
    if (n > alloc) fatal_fault(Fault::kDoubleFree, s->xfree_obj(head(old)), s, "more remote frees than objects");
    if (n == alloc) {
      // Entirely free: nobody may free into it any more.
      if (!s->xfree.compare_exchange_weak(old, next_epoch(old, 0, 0, kFreeing), std::memory_order_acq_rel,
                                          std::memory_order_acquire))
        continue;
      if (s->in_central) remove_partial(s);
      h.free_span(s);
      return;
    }
    if (s->freelist || s->unbuilt || n) {
      if (!s->in_central) add_partial(s);
      if (!s->xfree.compare_exchange_weak(old, next_epoch(old, head(old), n, kCentral), std::memory_order_acq_rel,
                                          std::memory_order_acquire))
        continue;
      return;
    }
    if (!s->xfree.compare_exchange_weak(old, next_epoch(old, 0, 0, kOrphan), std::memory_order_acq_rel,
                                        std::memory_order_acquire))
      continue;
    return;
  }
}

void MCentral::remote_free_locked(MHeap& h, MSpan* s, void* head_obj, void* tail, uint32_t n, uint32_t head_idx) {
  MCache* notify_owner = nullptr;
  {
    MutexLock l(lock);
    uint64_t old = s->xfree.load(std::memory_order_acquire);
    for (;;) {
      uint32_t st = state(old);
      uint32_t newcount = count(old) + n;
      uint32_t nst = st;
      bool free_it = false;
      MCache* owner = s->get_owner();
      switch (st) {
        case kActive:
        case kNotified:
        case kReleasing:
          break;
        case kParked:
          nst = kNotified;
          break;
        case kCentral:
        case kOrphan: {
          uint32_t alloc = s->alloc_count;
          if (newcount > alloc)
            fatal_fault(Fault::kDoubleFree, head_obj, s, "freed into a span with no such object allocated");
          if (newcount == alloc) {
            nst = kFreeing;
            free_it = true;
          } else {
            nst = kCentral;
          }
          break;
        }
        default:
          fatal_fault(Fault::kDoubleFree, head_obj, s, "span is already entirely free");
      }
      s->set_link(tail, s->xfree_obj(head(old)));
      if (!s->xfree.compare_exchange_weak(old, with(old, head_idx + 1, newcount, nst), std::memory_order_acq_rel,
                                          std::memory_order_acquire))
        continue;
      if (free_it) {
        if (s->in_central) remove_partial(s);
        // Lock order: mcentral, then heap.
        h.free_span(s);
      } else if (st == kOrphan) {
        add_partial(s);
      } else if (st == kParked) {
        notify_owner = owner;
      }
      break;
    }
  }
  if (notify_owner) {
    MSpan* top = notify_owner->notify.load(std::memory_order_relaxed);
    do {
      s->notify_next = top;
    } while (!notify_owner->notify.compare_exchange_weak(top, s, std::memory_order_release, std::memory_order_relaxed));
  }
}

}  // namespace gomem
