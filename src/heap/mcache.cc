#include "heap/mcache.h"

#include <cstring>

#include "heap/fault.h"
#include "heap/heap.h"
#include "heap/mheap.h"
#include "heap/preempt.h"
#include "heap/profile.h"
#include "platform/os.h"

namespace gomem {

using namespace xfree;

namespace {

void push_notify(MCache* owner, MSpan* s) {
  MSpan* top = owner->notify.load(std::memory_order_relaxed);
  do {
    s->notify_next = top;
  } while (!owner->notify.compare_exchange_weak(top, s, std::memory_order_release, std::memory_order_relaxed));
}

// s was just taken off c's notify stack: the stack's claim kept it
// kNotified and c's (see "One owner at a time" in mcache.h).
void check_popped(const MCache* c, MSpan* s) {
  if (state(s->xfree.load(std::memory_order_acquire)) != kNotified || s->get_owner() != c)
    fatal_fault(Fault::kCorrupt, reinterpret_cast<void*>(s->base), s,
                "a span on a P's notify stack that the P gave up");
}

// s leaves its P (for the empty cache or the heap): it must be kActive, not
// claimed by the notify stack (kNotified) nor parked.
void check_leaving(MSpan* s) {
  if (state(s->xfree.load(std::memory_order_acquire)) != kActive)
    fatal_fault(Fault::kCorrupt, reinterpret_cast<void*>(s->base), s, "a P gives up a span its notify stack holds");
}

}  // namespace

GOMEM_META constinit std::atomic<uint32_t> g_trim_epoch{0};
GOMEM_META constinit std::atomic<bool> g_ps_outnumber_cpus{false};
GOMEM_META void (*g_recut_test_hook)(MSpan*) = nullptr;
GOMEM_META void (*g_release_test_hook)(MSpan*) = nullptr;

OwnerField<uint64_t>* mcache_nfree_slot(MCache* c, SpanClass spc) { return &c->counts[spc + kFreeCountOffset]; }

void MCache::attach(uintptr_t thread_key) {
  tkey = thread_key;
  for (auto& a : alloc) a = &g_empty_span;
  for (auto& n : cold_allocs) n = 0;
  empty_bytes = 0;
  drop_batches();
}

// ---------------------------------------------------------------------------
// Heap-profile sampling (heap/profile.h).

namespace {
SpanClass list_class(int li) {
  return make_span_class(static_cast<uint32_t>(li / 2), li & 1 ? SpanKind::kUncollectable : SpanKind::kManual);
}
}  // namespace

// A fork() may cut these two short (the child's release_all puts the cuts
// back): each unlinks first and links second, with a release store between,
// so that the child finds at worst objects on no list (a leak, as when
// refill_manual is cut short), never objects on two.
void MCache::prof_restore_slow(int li) {
  void* rest = prof.rest[li];
  prof.rest[li] = nullptr;
  MSpan* s = alloc[list_class(li)];
  if (s == &g_empty_span) fatal_fault(Fault::kCorrupt, rest, nullptr, "a sampling cut without its span");
  // Appended to the list, through the link helpers (encoded links in the
  // hardened build).
  void* last = s->freelist;
  if (!last) {
    __atomic_store_n(&s->freelist, rest, __ATOMIC_RELEASE);
    return;
  }
  for (void* q; (q = s->next_checked(last)) != nullptr;) last = q;
  __atomic_store_n(static_cast<uintptr_t*>(last), reinterpret_cast<uintptr_t>(rest) ^ s->link_mask(last),
                   __ATOMIC_RELEASE);
}

void MCache::prof_undo_cuts() {
  for (int li = 0; li < kManualLists; li++) prof_restore(li);
  // Collected windows cut short: whole again (next_free_index would skip
  // the slots left out), in a non-preemptible section like every change of
  // a current collected span; their countdowns are drawn again.
  NoPreempt np;
  for (int spc = 0; spc < kNumSpanClasses; spc++) {
    MSpan* s = alloc[spc];
    if (kind_is_gc(span_class_kind(static_cast<SpanClass>(spc))) && s != &g_empty_span && s->freeindex < s->nelems)
      s->reload_alloc_cache();
    prof.gc_left[spc] = 0;
  }
}

void MCache::prof_reset() {
  prof_undo_cuts();
  for (int li = 0; li < kManualLists; li++) {
    prof.next[li] = 0;
    prof.horizon[li] = 0;
  }
  prof.large_left = 0;
  prof.rate = prof::rate();
}

void MCache::prof_cut(SpanClass spc) {
  int li = manual_list_index(spc);
  uint64_t due = prof.next[li];
  if (prof.guarded_next[li] && (!due || prof.guarded_next[li] < due)) due = prof.guarded_next[li];
  if (!due) return;
  uint64_t keep = due - 1 - counts[spc];  // mallocs before the sampled one
  MSpan* s = alloc[spc];
  if (keep >= s->nelems) return;  // the sample lies past every object the list may hold
  void* rest;
  if (keep == 0) {
    rest = s->freelist;
    s->freelist = nullptr;
  } else {
    void* obj = s->freelist;  // the keep-th object ends the list
    for (; keep > 1 && obj; keep--) obj = s->next_checked(obj);
    if (!obj) return;  // the list holds fewer: nothing to cut
    rest = s->next_checked(obj);
    s->set_link(obj, nullptr);
  }
  __atomic_store_n(&prof.rest[li], rest, __ATOMIC_RELEASE);
}

void MCache::drop_batches() {
  for (auto& b : batch) b = RemoteBatch{};
  batch_mask = 0;
  batch_objs = 0;
}

// The current span of a manual class carries one extra count in
// alloc_count, the P's own reference, so that free's fast path never sees it
// reach zero and never takes the "span emptied" slow path for it.
void MCache::set_current(SpanClass spc, MSpan* s) {
  MSpan* old = alloc[spc];
  alloc[spc] = s;
  if (!kind_is_gc(span_class_kind(spc))) {
    if (old != &g_empty_span) {
      old->current = false;
      old->alloc_count -= 1;
    }
    if (s != &g_empty_span) {
      s->current = true;
      s->alloc_count += 1;
    }
  }
}

// ---------------------------------------------------------------------------
// Span-local free lists.

bool MCache::collect_remote(MSpan* s) {
  uint64_t old = s->xfree.load(std::memory_order_acquire);
  for (;;) {
    if (count(old) == 0) return false;
    if (s->xfree.compare_exchange_weak(old, with(old, 0, 0, state(old)), std::memory_order_acq_rel,
                                       std::memory_order_acquire))
      break;
  }
  uint32_t n = count(old);
  s->splice_chain(s->xfree_obj(head(old)), n);
  s->alloc_count -= n;
  return true;
}

GOMEM_INLINE bool MCache::take_own_free(MSpan* s) {
  if (s->freelist) return true;
  if (s->unbuilt) return s->build_more();  // before frees: see mspan.h
  if (void* lf = s->local_free) {
    // Clear local_free first: a fork between the two stores loses these
    // objects in the child (a leak) instead of listing them twice.
    s->local_free = nullptr;
    compiler_barrier();
    s->freelist = lf;
    return true;
  }
  if (count(s->xfree.load(std::memory_order_acquire)) == 0) return false;
  return collect_remote(s);
}

GOMEM_INLINE bool MCache::park(MSpan* s, int li) {
  uint64_t old = s->xfree.load(std::memory_order_acquire);
  for (;;) {
    if (count(old) != 0) return false;   // remote frees arrived: not full after all
    if (state(old) == kNotified) break;  // the notify stack will bring it back
    if (s->xfree.compare_exchange_weak(old, with(old, 0, 0, kParked), std::memory_order_acq_rel,
                                       std::memory_order_acquire))
      break;
  }
  // Every object is allocated (the current span's +1 aside): the owner's
  // frees are plain pushes until unpark_threshold of them have come back.
  s->parked = true;
  s->alloc_bias = s->nelems - unpark_threshold(s->nelems);
  s->alloc_count -= s->alloc_bias;
  full[li].push_back(s);
  return true;
}

GOMEM_INLINE void MCache::unpark(MSpan* s, int li) {
  full[li].remove(s);
  partial[li].push_back(s);  // behind the others: those have had longer to collect frees
  s->parked = false;
  s->alloc_count += s->alloc_bias;
  s->alloc_bias = 0;
  uint64_t old = s->xfree.load(std::memory_order_acquire);
  while (state(old) == kParked) {
    if (s->xfree.compare_exchange_weak(old, with(old, head(old), count(old), kActive), std::memory_order_acq_rel,
                                       std::memory_order_acquire))
      break;
  }
  // kNotified: the owner's next drain turns it back to kActive.
}

uint32_t MCache::drain_notify(MHeap& h) {
  // A push racing with this load is drained next time, as one racing with
  // the exchange would be.
  if (notify.load(std::memory_order_relaxed) == nullptr) return 0;
  MSpan* s = notify.exchange(nullptr, std::memory_order_acq_rel);
  uint32_t n = 0;
  while (s) {
    MSpan* next = s->notify_next;
    check_popped(this, s);
    settle_notified(h, s);
    s = next;
    n++;
  }
  return n;
}

void MCache::settle_notified(MHeap& h, MSpan* s) {
  s->notify_next = nullptr;
  if (s->parked) unpark(s, manual_list_index(s->spanclass));
  uint64_t old = s->xfree.load(std::memory_order_acquire);
  while (state(old) == kNotified) {
    if (s->xfree.compare_exchange_weak(old, with(old, head(old), count(old), kActive), std::memory_order_acq_rel,
                                       std::memory_order_acquire))
      break;
  }
  release_if_free(h, s);
}

// A span on the partial list whose every allocated object came back as a
// remote free leaves the P (see "Spans emptied by other threads" in
// mcache.h). The current span never qualifies: its +1 is never freed.
void MCache::release_if_free(MHeap& h, MSpan* s) {
  if (s->current || count(s->xfree.load(std::memory_order_acquire)) != s->alloc_count) return;
  collect_remote(s);
  span_emptied(h, s);
}

namespace {
// For release_notified, on any thread: every allocated object of s is in
// xfree, s is not current, and alloc_count is not 0. At 0 the holder's own
// free has just brought it there and free's fast path is calling (or about
// to call) free_mark_reached, which unparks or gives s up itself: settling
// it here too would give it up twice. The holder's frees only lower
// alloc_count and a read may be stale (high), so when the count matches,
// no free of the holder is in flight.
bool entirely_remote_free(const MSpan* s) {
  uint32_t a = s->alloc_count.read_racy();
  return !s->current && a != 0 && count(s->xfree.load(std::memory_order_acquire)) == a + s->alloc_bias.read_racy();
}
}  // namespace

void MCache::release_notified(MHeap& h) {
  if (!lock.try_lock()) return;  // the holder is in a slow path: it drains itself
  MSpan* s = notify.exchange(nullptr, std::memory_order_acq_rel);
  MSpan* keep = nullptr;  // the others, pushed back below
  MSpan* keep_tail = nullptr;
  while (s) {
    MSpan* next = s->notify_next;
    check_popped(this, s);
    if (entirely_remote_free(s)) {
      // As the holder's drain would: to its empty cache or the heap. Not
      // current and no object allocated: the holder's fast paths cannot
      // touch it meanwhile.
      settle_notified(h, s);
    } else {
      s->notify_next = keep;
      keep = s;
      if (!keep_tail) keep_tail = s;
    }
    s = next;
  }
  if (keep) {
    MSpan* top = notify.load(std::memory_order_relaxed);
    do {
      keep_tail->notify_next = top;
    } while (!notify.compare_exchange_weak(top, keep, std::memory_order_release, std::memory_order_relaxed));
  }
  lock.unlock();
}

// ---------------------------------------------------------------------------
// Refill.

// Inlined into switch_span, with the rare new_span kept out of line: a
// span switch then costs one call frame fewer (see the essay in mcache.h).
GOMEM_INLINE MSpan* MCache::next_span(MHeap& h, SpanClass spc, int li) {
  if (notify.load(std::memory_order_relaxed) != nullptr) drain_notify(h);
  while (MSpan* s = partial[li].pop_front()) {
    if (take_own_free(s) || !park(s, li)) {
      take_own_free(s);
      // Entirely free (its remote frees just collected) while other spans
      // wait: let it go (see "Spans that drain before their turn").
      if (GOMEM_UNLIKELY(s->alloc_count == 0) && !partial[li].empty() &&
          state(s->xfree.load(std::memory_order_relaxed)) == kActive) {
        retire_empty(h, s);
        continue;
      }
      return s;
    }
  }
  return new_span(h, spc, li);
}

MSpan* MCache::new_span(MHeap& h, SpanClass spc, int li) {
  MSpan* s = h.central[spc].adopt(h, this, key_for_class(spc));
  if (!s) {
    uint32_t npages = span_class_info(spc).npages;
    bool same_class = false;
    s = reuse_empty(h, spc, npages, &same_class);
    if (same_class && !GOMEM_HARDENED) {
      // Its lists hold every object, with its free key: use them as they
      // are (no rebuild, no new key).
      s->set_owner_key(key_for(s));
      take_own_free(s);
      s->parked = false;
      s->alloc_bias = 0;
      return s;
    }
    if (!s && g_ps_outnumber_cpus.load(std::memory_order_relaxed) && h.would_grow(npages) &&
        (s = reclaim_parked(li)) != nullptr)
      return s;
    if (!s) {
      if ((heap_bytes += uintptr_t{npages} << kPageShift) >= kIdleScanBytes) give_back_idle(h, spc);
      s = h.alloc_span(npages, spc);
      if (!s) return nullptr;
      s->set_owner(this);
      s->xfree.store(pack(0, 0, kActive, 0), std::memory_order_release);
    }
    s->set_owner_key(key_for(s));
    // The shared counter behind cut_random only where its value is used.
    s->build_freelist(h.new_free_key(), GOMEM_HARDENED ? h.cut_random() : 0);
  }
  s->parked = false;
  s->alloc_bias = 0;
  return s;
}

// refill_locked's body, inlined into refill_manual too.
GOMEM_INLINE MSpan* MCache::switch_span(MHeap& h, SpanClass spc, bool own_tried) {
  if (batch_mask) flush_batch(h);
  if (GOMEM_UNLIKELY(trim_epoch != g_trim_epoch.load(std::memory_order_relaxed))) trim(h);
  int li = manual_list_index(spc);
  MSpan* s = alloc[spc];
  if (s != &g_empty_span && ((!own_tried && take_own_free(s)) || !park(s, li))) {
    take_own_free(s);
    return s;
  }
  // A parked current span stays alloc[spc] (with its +1) until its
  // successor is found, so that set_current runs once per switch.
  s = next_span(h, spc, li);
  set_current(spc, s ? s : &g_empty_span);
  return s;
}

MSpan* MCache::refill_locked(MHeap& h, SpanClass spc) { return switch_span(h, spc, false); }

MSpan* MCache::refill_manual(MHeap& h, SpanClass spc) {
  MSpan* s = alloc[spc];
  // The current span's own frees need no lock (see the essay in mcache.h);
  // the empty span's lists are always empty. Building more of its free list
  // takes the lock: a fork that cut a build would leave keys in slots the
  // child builds again, which the build reports as invalid frees (mspan.h).
  bool own_tried = GOMEM_LIKELY(trim_epoch == g_trim_epoch.load(std::memory_order_relaxed)) && !s->unbuilt;
  if (own_tried && take_own_free(s)) return s;
  MutexLock l(lock);
  return switch_span(h, spc, own_tried);
}

MSpan* MCache::reclaim_parked(int li) {
  MSpan* best = nullptr;
  uint32_t k = 0;
  for (MSpan* s = full[li].front(); s && k < kReclaimScan; s = SpanList::next(s), k++)
    if (s->local_free && (!best || s->alloc_count < best->alloc_count)) best = s;
  if (!best) return nullptr;
  unpark(best, li);
  partial[li].remove(best);
  take_own_free(best);
  return best;
}

MSpan* MCache::reuse_empty(MHeap& h, SpanClass spc, uint32_t npages, bool* same_class) {
  if (npages > kMaxSpanPages) return nullptr;
  if (MSpan* s = empty[npages].pop_front()) {
    empty_bytes -= s->bytes();
    s->in_empty_cache = false;
    *same_class = s->spanclass == spc;
    if (!*same_class) {
      // Re-cut for the new class. Its page-map entries already point to it.
      // The marker reads kind, elemsize and nelems of every uncollectable
      // span with the world stopped: change them where no stop can land.
      NoPreempt np;
      const SizeClass& info = span_class_info(spc);
      s->spanclass = spc;
      s->set_owner(this);  // nfree_slot follows the class
      s->kind = span_class_kind(spc);
      s->elemsize = info.size;
      if (GOMEM_UNLIKELY(g_recut_test_hook != nullptr)) g_recut_test_hook(s);
      s->nelems = info.nelems;
      s->magic = info.magic;
      s->base_magic = s->base * s->magic;
    }
    return s;
  }
  return nullptr;
}

void MCache::free_empty_cache(MHeap& h) {
  for (auto& list : empty) {
    while (MSpan* s = list.pop_front()) {
      s->in_empty_cache = false;
      free_owned_span(h, s);
    }
  }
  empty_bytes = 0;
}

// Frees a span this P owns and no list holds: every object is free.
void MCache::free_owned_span(MHeap& h, MSpan* s) {
  check_leaving(s);
  s->xfree.store(next_epoch(s->xfree.load(std::memory_order_relaxed), 0, 0, kFreeing), std::memory_order_release);
  s->set_owner(nullptr);
  s->set_owner_key(0);
  h.free_span(s);
}

void MCache::give_back_idle(MHeap& h, SpanClass keep) {
  heap_bytes = 0;
  for (int sc = 1; sc < kManualClasses.count; sc++) {
    for (SpanKind k : {SpanKind::kManual, SpanKind::kUncollectable}) {
      SpanClass spc = make_span_class(static_cast<uint32_t>(sc), k);
      MSpan* s = alloc[spc];
      // Only the P's own +1 left, nothing cut off for the profiler, and not
      // claimed by the notify stack (kNotified: remote frees emptied it
      // before it became current; see "One owner at a time" in mcache.h).
      if (spc == keep || s == &g_empty_span || s->allocated() != 1 || prof.rest[manual_list_index(spc)] ||
          state(s->xfree.load(std::memory_order_acquire)) != kActive)
        continue;
      set_current(spc, &g_empty_span);
      free_owned_span(h, s);
    }
  }
}

void MCache::trim(MHeap& h) {
  trim_epoch = g_trim_epoch.load(std::memory_order_relaxed);
  drain_notify(h);
  for (int li = 0; li < kManualLists; li++) {
    for (MSpan* s = partial[li].front(); s;) {
      MSpan* next = SpanList::next(s);
      collect_remote(s);
      if (s->alloc_count == 0 && state(s->xfree.load(std::memory_order_acquire)) == kActive) {
        partial[li].remove(s);
        free_owned_span(h, s);
      }
      s = next;
    }
  }
  free_empty_cache(h);
}

// ---------------------------------------------------------------------------
// Frees by the owner that the fast path could not finish.

// Looks for p in every P's pending remote-free batch for span s. The batches
// belong to other threads and change under us; this only runs when p holds
// the free key (a double free, or a rare coincidence), and every object
// linked from a batch is memory of span s, so a racy read cannot fault.
GOMEM_NO_TSAN static bool in_a_remote_batch(MSpan* s, void* p) {
  for (MCache* c = __atomic_load_n(&g_all_p, __ATOMIC_ACQUIRE); c; c = c->all_next) {
    RemoteBatch& b = c->batch[remote_batch_slot(s)];
    if (__atomic_load_n(&b.span, __ATOMIC_RELAXED) != s) continue;
    void* q = __atomic_load_n(&b.head, __ATOMIC_RELAXED);
    for (uint32_t k = 0; q && k <= s->nelems; k++) {
      if (q == p) return true;
      uintptr_t a = reinterpret_cast<uintptr_t>(q);
      if (a < s->base || a >= s->limit()) break;
      q = reinterpret_cast<void*>(s->link_next(q));
    }
  }
  return false;
}

void MCache::owner_free_slow(MHeap& h, MSpan* s, void* p) {
  MutexLock l(lock);
  uint64_t* w = static_cast<uint64_t*>(p);
  if (w[1] == s->free_key) {
    // Word 1 holds the free key: probably a double free. Look for p on every
    // list of the span (remote frees first brought home).
    collect_remote(s);
    if (s->lists_contain(p)) fatal_fault(Fault::kDoubleFree, p, s);
    // Or in another thread's remote-free batch, not sent home yet.
    if (in_a_remote_batch(s, p)) fatal_fault(Fault::kDoubleFree, p, s, "already freed by another thread");
  }
  if (s->kind == SpanKind::kUncollectable) memset(w + 2, 0, s->elemsize - 16);
  s->set_link(p, s->local_free);
  w[1] = s->free_key;
  s->local_free = p;
  if (--s->alloc_count == 0) free_mark_reached(h, s);
}

GOMEM_INLINE void MCache::free_mark_reached(MHeap& h, MSpan* s) {
  if (s->parked) {
    unpark(s, manual_list_index(s->spanclass));
    if (s->alloc_count != 0) return;
  }
  span_emptied(h, s);
}

void MCache::free_mark_reached_locking(MHeap& h, MSpan* s) {
  MutexLock l(lock);
  free_mark_reached(h, s);
}

void MCache::span_emptied(MHeap& h, MSpan* s) {
  if (alloc[s->spanclass] == s) return;  // the current span stays
  uint64_t x = s->xfree.load(std::memory_order_acquire);
  if (state(x) == kNotified) return;  // still on (or going to) the notify stack
  partial[manual_list_index(s->spanclass)].remove(s);
  retire_empty(h, s);
}

void MCache::retire_empty(MHeap& h, MSpan* s) {
  uintptr_t reserve = g_ps_outnumber_cpus.load(std::memory_order_relaxed) ? kEmptyReserveCrowded : kEmptyReserveBytes;
  if (s->npages <= kMaxSpanPages && empty_bytes + s->bytes() <= reserve) {
    check_leaving(s);
    // Keep it for the next span of this page count, whatever its class.
    // Every object of it is on its free list with the free key, so a free
    // into it meanwhile is caught as a double free by the slow path.
    s->set_owner_key(0);
    s->in_empty_cache = true;
    empty[s->npages].push_front(s);
    empty_bytes += s->bytes();
    return;
  }
  free_owned_span(h, s);
}

// ---------------------------------------------------------------------------
// Frees into spans owned by others.

void MCache::remote_free(MHeap& h, MSpan* s, void* p, uintptr_t idx) {
  uint64_t* w = static_cast<uint64_t*>(p);
  if (w[1] == s->free_key) fatal_fault(Fault::kDoubleFree, p, s);
  if (s->kind == SpanKind::kUncollectable) memset(w + 2, 0, s->elemsize - 16);
  w[1] = s->free_key;
  int slot = remote_batch_slot(s);
  RemoteBatch& b = batch[slot];
  if (b.span != s) {
    if (b.span) flush_one(h, b);
    batch_mask |= uint64_t{1} << slot;
    s->set_link(p, nullptr);
    b.tail = p;
  } else {
    s->set_link(p, b.head);
  }
  // Link first, count second: a fork between the two leaks one object
  // instead of counting one that is not on the list.
  compiler_barrier();
  b.head = p;
  b.head_idx = static_cast<uint32_t>(idx);
  b.span = s;
  b.n++;
  if (b.n >= kRemoteBatchMax) flush_one(h, b);
  if (++batch_objs >= kRemotePendingMax) flush_batch(h);
}

void MCache::flush_batch(MHeap& h) {
  for (uint64_t m = batch_mask; m; m &= m - 1) flush_one(h, batch[ctz64(m)]);
}

void MCache::flush_one(MHeap& h, RemoteBatch& b) {
  MSpan* s = b.span;
  void* head_obj = b.head;
  void* tail = b.tail;
  uint32_t n = b.n;
  uint32_t idx = b.head_idx;
  b = RemoteBatch{};
  batch_mask &= ~(uint64_t{1} << (&b - batch));
  batch_objs -= n;
  remote_frees += n;
  send_remote_frees(h, s, head_obj, tail, n, idx);
}

void send_remote_frees(MHeap& h, MSpan* s, void* head_obj, void* tail, uint32_t n, uint32_t head_idx) {
  uint64_t old = s->xfree.load(std::memory_order_acquire);
  for (;;) {
    uint32_t st = state(old);
    uint32_t nst = st;
    MCache* owner = s->get_owner();  // valid for this state: owners change only by CAS on xfree
    // These frees return the last allocated objects (read before the CAS:
    // until it lands they keep the span, and its MSpan, from being freed).
    bool empties = count(old) + n == s->allocated_racy();
    switch (st) {
      case kActive:
        // A span its owner is not allocating from: tell the owner (see
        // "Spans emptied by other threads" in mcache.h).
        if (empties) nst = kNotified;
        break;
      case kNotified:
      case kReleasing:
        break;
      case kParked:
        nst = kNotified;
        break;
      case kCentral:
        if (count(old) + n < s->alloc_count) break;
        [[fallthrough]];
      case kOrphan:
        // Changes list membership or empties the span: under the lock.
        h.central[s->spanclass].remote_free_locked(h, s, head_obj, tail, n, head_idx);
        return;
      default:
        fatal_fault(Fault::kDoubleFree, head_obj, s, "span is already entirely free");
    }
    s->set_link(tail, s->xfree_obj(head(old)));
    if (s->xfree.compare_exchange_weak(old, with(old, head_idx + 1, count(old) + n, nst), std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
      if (nst == kNotified) {
        if (st != kNotified) push_notify(owner, s);
        if (empties) owner->release_notified(h);  // the span can leave its owner now
      }
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// Giving everything back.

void MCache::release_manual_span(MHeap& h, MSpan* s) {
  // Merge local_free into freelist so mcentral sees one list.
  if (s->local_free) {
    if (s->unbuilt) s->check_built(s->local_free);
    void* t = s->local_free;
    while (void* next = s->next_checked(t)) t = next;
    s->set_link(t, s->freelist);
    s->freelist = s->local_free;
    s->local_free = nullptr;
  }
  h.central[s->spanclass].give_up(h, s);
}

void MCache::repair_after_fork(MHeap& h) {
  drain_notify(h);
  // Marked but never pushed: parked spans, and (remote frees that emptied
  // them) spans on the partial lists or current.
  // True if s was marked (now kActive again).
  auto repair = [](MSpan* s) {
    uint64_t old = s->xfree.load(std::memory_order_acquire);
    if (state(old) != kNotified) return false;
    s->xfree.store(with(old, head(old), count(old), kActive), std::memory_order_release);
    return true;
  };
  for (int li = 0; li < kManualLists; li++) {
    for (MSpan* s = full[li].front(); s;) {
      MSpan* next = SpanList::next(s);
      if (repair(s)) unpark(s, li);  // unpark leaves any state but kParked as it is
      s = next;
    }
    for (MSpan* s = partial[li].front(); s; s = SpanList::next(s)) repair(s);
  }
  for (MSpan* s : alloc)
    if (s != &g_empty_span && !kind_is_gc(s->kind)) repair(s);
}

void MCache::release_all(MHeap& h, bool in_child) {
  MutexLock l(lock);
  // The manual countdowns stay with the P (they count its counts[], which
  // it keeps): a P that passes from thread to thread, as in programs of
  // short-lived threads, would otherwise draw again for every class each
  // time (a logarithm each: 3 % of mstress's profiling cost).
  if (prof.rate == prof::rate())
    prof_undo_cuts();
  else
    prof_reset();
  flush_batch(h);
  // Gather every owned manual span; hand collected spans back (gc/).
  SpanList owned;
  for (int spc = 0; spc < kNumSpanClasses; spc++) {
    MSpan* s = alloc[spc];
    if (s == &g_empty_span) continue;
    set_current(static_cast<SpanClass>(spc), &g_empty_span);
    if (!kind_is_gc(span_class_kind(static_cast<SpanClass>(spc)))) owned.push_back(s);
  }
  for (int li = 0; li < kManualLists; li++) {
    while (MSpan* s = partial[li].pop_front()) owned.push_back(s);
    while (MSpan* s = full[li].pop_front()) owned.push_back(s);
  }
  // In a forked child this P belonged to a thread that may have been inside
  // malloc's or free's fast path when the fork hit: the lists are whole
  // (each is published by one store) but alloc_count may be one off. Count
  // again from the lists; an object caught between list and count is lost
  // to the child (a leak, never a double hand-out).
  if (in_child) {
    for (MSpan* s = owned.front(); s; s = SpanList::next(s)) {
      // Remote frees stay counted in alloc_count until collected (as give_up,
      // adopt and the heap check assume).
      uint32_t free_objs = s->count_local_free();
      s->alloc_count = s->nelems - free_objs;
      s->alloc_bias = 0;
    }
  }
  // Stop new notifications: a span is notified while parked or when remote
  // frees empty it (kActive), so take every span to kReleasing, where
  // remote frees only add. Those already kNotified are on the notify stack
  // or about to be: wait for them, so that no span is given up while a
  // remote freer may still write its notify link.
  uint32_t pending = 0;
  for (MSpan* s = owned.front(); s; s = SpanList::next(s)) {
    s->set_owner_key(key_for(s));
    s->parked = false;
    s->alloc_count += s->alloc_bias;
    s->alloc_bias = 0;
    uint64_t old = s->xfree.load(std::memory_order_acquire);
    for (;;) {
      if (state(old) == kNotified) {
        pending++;
        break;
      }
      if (s->xfree.compare_exchange_weak(old, with(old, head(old), count(old), kReleasing), std::memory_order_acq_rel,
                                         std::memory_order_acquire))
        break;
    }
  }
  while (pending) {
    MSpan* s = notify.exchange(nullptr, std::memory_order_acq_rel);
    if (!s) {
      if (in_child) break;  // the pushers died with the fork
      os::yield();
      continue;
    }
    while (s) {
      MSpan* next = s->notify_next;
      s->notify_next = nullptr;
      check_popped(this, s);
      uint64_t old = s->xfree.load(std::memory_order_acquire);
      while (state(old) == kNotified &&
             !s->xfree.compare_exchange_weak(old, with(old, head(old), count(old), kReleasing),
                                             std::memory_order_acq_rel, std::memory_order_acquire)) {
      }
      pending--;
      s = next;
    }
  }
  free_empty_cache(h);
  // Every span stays kReleasing until mcentral takes it (give_up): back in
  // kActive, a remote free that emptied it would notify this P after all,
  // and the span would sit on the notify stack of a P that gave it up (in
  // a forked child, those left kNotified join them).
  while (MSpan* s = owned.pop_front()) {
    uint64_t old = s->xfree.load(std::memory_order_acquire);
    while (state(old) == kNotified &&
           !s->xfree.compare_exchange_weak(old, with(old, head(old), count(old), kReleasing), std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
    }
    if (GOMEM_UNLIKELY(g_release_test_hook != nullptr)) g_release_test_hook(s);
    release_manual_span(h, s);
  }
  empty_bytes = 0;
}

}  // namespace gomem
