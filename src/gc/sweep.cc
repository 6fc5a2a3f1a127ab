// Sweeping, Go's way (mgcsweep.go, mcentral.go).
//
// mheap.sweepgen grows by 2 each cycle, with the world stopped. A collected
// span's sweepgen says where it stands:
//
//   sweepgen == h - 2   needs sweeping
//   sweepgen == h - 1   being swept (the thread that won the CAS owns it)
//   sweepgen == h       swept, ready to use
//
// (Go also has h+1 / h+3 for spans cached by a P across the sweepgen bump;
// gomem makes every P give its collected spans back while the world is
// stopped, so a cached span is simply a swept one that no list holds.)
//
// Each mcentral keeps partial and full sets twice; index sweepgen/2 % 2 is
// the swept half and the other the unswept half, so bumping sweepgen turns
// every swept set into an unswept one at no cost.
//
// Sweeping a span: drop the objects freed early (gcalloc.cc) from the mark
// bits and popcount them; allocBits = gcmarkBits; fresh zeroed mark bits
// (in generational mode a copy of the alloc bits: survivors stay marked, see
// generational.cc); freeindex = 0. An empty span goes back to the heap. A
// sweeper pops, acquires and sweeps a span holding the lock of its mcentral
// (the work is a few bitmap words), so that fork(), which takes every
// mcentral lock, never leaves a span half swept in the child.
// Who sweeps:
//   - an allocating thread, in cache_span, before it takes a span of the
//     class it needs (spending at most 100 spans, then growing);
//   - the background sweeper thread, over every class;
//   - the collector, which finishes whatever is left when the next cycle
//     starts (finish_sweep), so every span is swept exactly once per cycle.
#include <cstring>

#include "gc/internal.h"
#include "heap/fault.h"
#include "heap/preempt.h"
#include "heap/profile.h"
#include "platform/os.h"
#include "platform/thread.h"

namespace gomem {
namespace gc {

GOMEM_META_BSS_BEGIN
GOMEM_META_BSS constinit ClassCounters g_counters;
GOMEM_META_BSS_END

namespace {

GOMEM_META constinit std::atomic<int> g_active_sweepers{0};
GOMEM_META constinit std::atomic<uint32_t> g_sweep_cursor{0};
GOMEM_META constinit std::atomic<uint32_t> g_sweeper_kick{0};
GOMEM_META constinit std::atomic<bool> g_sweeper_started{false};
GOMEM_META constinit Mutex g_sweeper_start_lock;

constexpr int kGCClassesCount = kMaxClasses * 2;  // noscan and scan for each size class

SpanClass gc_class_at(uint32_t i) {
  uint32_t sc = i / 2;
  return make_span_class(sc, (i & 1) ? SpanKind::kScan : SpanKind::kNoscan);
}

enum : uint8_t { kNoList = 0 };
uint8_t list_code(bool full, int set) { return static_cast<uint8_t>(1 + (full ? 2 : 0) + set); }
SpanList& list_for(MCentral& c, uint8_t code) {
  int set = (code - 1) & 1;
  return (code - 1) & 2 ? c.gc_full[set] : c.gc_partial[set];
}

void push_locked(MCentral& c, MSpan* s, bool full, int set) {
  uint8_t code = list_code(full, set);
  list_for(c, code).push_back(s);
  s->gc_list = code;
}

MSpan* pop_locked(MCentral& c, bool full, int set) {
  SpanList& l = full ? c.gc_full[set] : c.gc_partial[set];
  MSpan* s = l.pop_front();
  if (s) s->gc_list = kNoList;
  return s;
}

// Sweeps s, which the caller owns (it won try_acquire: sweepgen == sg - 1)
// and popped from an unswept set, holding that mcentral's lock throughout:
// fork() takes every mcentral lock, so a forked child never finds a span half
// swept (bitmaps flipped, sweepgen not yet set), which no one could finish or
// redo. Returns the objects still allocated.
uint32_t sweep_locked(MSpan* s, uint32_t sg) {
  uint32_t words = s->bitmap_words();
  uint32_t nalloc = 0;
  uint64_t* marks = s->gcmark_bits();
  uint64_t* freed = s->freed_bits();
  for (uint32_t w = 0; w < words; w++) {
    marks[w] &= ~freed[w];  // freed early: a stale pointer may have marked it
    freed[w] = 0;
    nalloc += popcount64(marks[w]);
  }
  uint32_t old = s->alloc_count;
  if (nalloc > old)
    fatal_fault(Fault::kCorrupt, reinterpret_cast<void*>(s->base), s, "more marked objects than allocated");
  uint32_t nfreed = old - nalloc;
  s->alloc_count = nalloc;
  s->flip_bits();  // allocBits = gcmarkBits
  // Generational mode: every survivor stays marked (old); a full cycle
  // clears the marks when it starts (generational.cc).
  if (g_gen.sticky.load(std::memory_order_relaxed))
    memcpy(s->gcmark_bits(), s->alloc_bits(), words * sizeof(uint64_t));
  else
    memset(s->gcmark_bits(), 0, words * sizeof(uint64_t));
  s->freeindex = 0;
  s->refill_alloc_cache(0);
  if (nfreed) {
    s->needzero = true;
    g_counters.frees[s->spanclass].fetch_add(nfreed, std::memory_order_relaxed);
    if (s->large) {
      g_counters.large_free_bytes.fetch_add(s->elemsize, std::memory_order_relaxed);
      prof::charge_free(s);  // a sampled object died (heap/profile.h)
    }
  }
  s->sweepgen.store(sg, std::memory_order_release);
  return nalloc;
}

// Takes s for sweeping (sweepgen h - 2 -> h - 1). The release fence keeps
// the sweep's writes after that store for find_object, which reads the
// span's allocation state bracketed by sweepgen (heap/heap.cc).
bool try_acquire(MSpan* s, uint32_t sg) {
  uint32_t want = sg - 2;
  if (!s->sweepgen.compare_exchange_strong(want, sg - 1, std::memory_order_acq_rel)) return false;
  std::atomic_thread_fence(std::memory_order_release);
  return true;
}

// A span popped from an unswept set that does not need sweeping (the caller
// holds c's lock). Every span enters those sets with sweepgen h - 2 and only
// a sweeper holding the lock changes that, so this is a broken invariant:
// dropping the span would lose it for good (it would never be swept or
// allocated from again), so say so.
GOMEM_NOINLINE void unexpected_in_unswept_set(MCentral& c, MSpan* s, uint32_t sg) {
  (void)c;
  uint32_t g = s->sweepgen.load(std::memory_order_relaxed);
  fatal_fault(Fault::kCorrupt, reinterpret_cast<void*>(s->base), s,
              g == sg ? "a swept span in an unswept set" : "a span in an unswept set with a stale sweepgen");
}

void* sweeper_main(void*) {
  // Registered, like any thread that sweeps: a world-stop waits for the
  // sweep_one in progress (a non-preemptible section), so the sweepgen it
  // read cannot move under it. Unregistered, it could still be popping spans
  // with the previous cycle's sweepgen after the collector bumped it, and
  // would take swept spans for unswept ones.
  register_current_thread();
  uint32_t seen = 0;
  for (;;) {
    uint32_t k;
    os::clear_dead_stack();        // slots the last sweep freed may be reused
    os::clear_vector_registers();  // scanned while it sleeps (platform/thread.h)
    while ((k = g_sweeper_kick.load(std::memory_order_acquire)) == seen)
      os::futex_wait(reinterpret_cast<volatile uint32_t*>(&g_sweeper_kick), k);
    seen = k;
    int n = 0;
    while (sweep_one()) {
      if (++n % 16 == 0) os::yield();  // share the CPU with the program
    }
  }
  return nullptr;
}

}  // namespace

bool sweep_one() {
  NoPreempt np;
  uint32_t sg = g_heap.sweepgen.load(std::memory_order_acquire);
  int unswept = 1 - static_cast<int>((sg / 2) % 2);
  g_active_sweepers.fetch_add(1, std::memory_order_acq_rel);
  uint32_t start = g_sweep_cursor.load(std::memory_order_relaxed);
  bool done = false;
  for (uint32_t k = 0; k < kGCClassesCount && !done; k++) {
    uint32_t i = (start + k) % kGCClassesCount;
    MCentral& c = g_heap.central[gc_class_at(i)];
    for (;;) {
      MSpan* s;
      uint32_t nalloc = 0;
      {
        MutexLock l(c.lock);
        s = pop_locked(c, true, unswept);
        if (!s) s = pop_locked(c, false, unswept);
        if (!s) break;
        if (!try_acquire(s, sg)) {
          unexpected_in_unswept_set(c, s, sg);
          continue;
        }
        nalloc = sweep_locked(s, sg);
        if (nalloc) push_locked(c, s, nalloc == s->nelems, 1 - unswept);
      }
      // Nothing survived: the span goes back to the heap (outside the
      // mcentral lock; a fork() in between leaves it to sweep_fork_child).
      if (!nalloc) g_heap.free_span(s);
      g_sweep_cursor.store(i, std::memory_order_relaxed);
      done = true;
      break;
    }
  }
  g_active_sweepers.fetch_sub(1, std::memory_order_acq_rel);
  return done;
}

void finish_sweep() {
  while (sweep_one()) {
  }
  while (g_active_sweepers.load(std::memory_order_acquire) != 0) os::yield();
}

void wake_sweeper() {
  if (!g_sweeper_started.load(std::memory_order_acquire)) {
    // try_lock: pthread_create allocates and may come back here (see
    // start_scavenger); whoever holds the lock is starting the sweeper.
    if (!g_sweeper_start_lock.try_lock()) return;
    bool ok = g_sweeper_started.load(std::memory_order_relaxed) || os::start_thread(sweeper_main, nullptr);
    if (ok) g_sweeper_started.store(true, std::memory_order_release);
    g_sweeper_start_lock.unlock();
    if (!ok) return;  // allocation sweeps anyway
  }
  g_sweeper_kick.fetch_add(1, std::memory_order_acq_rel);
  os::futex_wake(reinterpret_cast<volatile uint32_t*>(&g_sweeper_kick), 1);
}

MSpan* cache_span(SpanClass spc) {
  uint32_t sg = g_heap.sweepgen.load(std::memory_order_acquire);
  int swept = static_cast<int>((sg / 2) % 2);
  int unswept = 1 - swept;
  MCentral& c = g_heap.central[spc];
  MSpan* s;
  {
    MutexLock l(c.lock);
    s = pop_locked(c, false, swept);
  }
  if (!s) {
    // Sweep this class's spans until one has room (at most 100: beyond that a
    // fresh span costs less, and limits the overhead to ~1 %).
    g_active_sweepers.fetch_add(1, std::memory_order_acq_rel);
    for (int budget = 100; budget > 0 && !s; budget--) {
      MutexLock l(c.lock);
      MSpan* t = pop_locked(c, false, unswept);
      if (!t) t = pop_locked(c, true, unswept);
      if (!t) break;
      if (!try_acquire(t, sg)) {
        unexpected_in_unswept_set(c, t, sg);
        continue;
      }
      if (sweep_locked(t, sg) < t->nelems)
        s = t;  // kept (even if empty): it has room
      else
        push_locked(c, t, true, swept);
    }
    g_active_sweepers.fetch_sub(1, std::memory_order_acq_rel);
  }
  if (!s) {
    s = g_heap.alloc_span(span_class_info(spc).npages, spc);
    if (!s) return nullptr;
  }
  // Point the allocation cache at freeindex.
  s->refill_alloc_cache(s->freeindex / 64);
  s->alloc_cache >>= (s->freeindex % 64);
  s->nmalloc = s->alloc_count;  // mallocs while cached = alloc_count - this
  s->current = true;
  if (g_conc.black.load(std::memory_order_relaxed)) premark_free_slots(s);  // concurrent.cc
  uint64_t bytes = (s->nelems - s->alloc_count) * s->elemsize;
  add_heap_live(static_cast<int64_t>(bytes));
  conc_charge(bytes);  // the assist debt (concurrent.cc)
  return s;
}

void uncache_span(MSpan* s, bool stale) {
  s->current = false;
  uint64_t n = s->alloc_count - s->nmalloc;
  if (n) g_counters.mallocs[s->spanclass].fetch_add(n, std::memory_order_relaxed);
  if (g_conc.black.load(std::memory_order_relaxed)) {  // the objects it handed out were black (concurrent.cc)
    unmark_free_slots(s);
    g_conc.black_bytes.fetch_add(n * s->elemsize, std::memory_order_relaxed);
  }
  s->nmalloc = s->alloc_count;
  if (!stale) add_heap_live(-static_cast<int64_t>((s->nelems - s->alloc_count) * s->elemsize));
  uint32_t sg = g_heap.sweepgen.load(std::memory_order_acquire);
  int set = static_cast<int>((sg / 2) % 2);
  if (stale) set = 1 - set;
  MCentral& c = g_heap.central[s->spanclass];
  MutexLock l(c.lock);
  push_locked(c, s, s->alloc_count == s->nelems, set);
}

void add_large_span(MSpan* s) {
  uint32_t sg = g_heap.sweepgen.load(std::memory_order_acquire);
  g_counters.mallocs[s->spanclass].fetch_add(1, std::memory_order_relaxed);
  g_counters.large_alloc_bytes.fetch_add(s->elemsize, std::memory_order_relaxed);
  MCentral& c = g_heap.central[s->spanclass];
  MutexLock l(c.lock);
  push_locked(c, s, true, static_cast<int>((sg / 2) % 2));
}

void count_large_free(MSpan* s) {
  prof::charge_free(s);
  g_counters.frees[s->spanclass].fetch_add(1, std::memory_order_relaxed);
  g_counters.large_free_bytes.fetch_add(s->elemsize, std::memory_order_relaxed);
}

bool unlink_large_span(MSpan* s) {
  MCentral& c = g_heap.central[s->spanclass];
  MutexLock l(c.lock);
  if (s->gc_list == kNoList) return false;  // a sweeper holds it
  list_for(c, s->gc_list).remove(s);
  s->gc_list = kNoList;
  return true;
}

void release_p_spans(MCache* c) {
  NoPreempt np;
  for (uint32_t i = 0; i < kGCClassesCount; i++) {
    SpanClass spc = gc_class_at(i);
    MSpan* s = c->alloc[spc];
    if (s == &g_empty_span) continue;
    c->alloc[spc] = &g_empty_span;
    uncache_span(s, s->sweepgen.load(std::memory_order_relaxed) != g_heap.sweepgen.load(std::memory_order_relaxed));
  }
}

void release_p_spans_stw(bool stale) {
  for_each_p([stale](MCache* c) {
    for (uint32_t i = 0; i < kGCClassesCount; i++) {
      SpanClass spc = gc_class_at(i);
      MSpan* s = c->alloc[spc];
      if (s == &g_empty_span) continue;
      c->alloc[spc] = &g_empty_span;
      uncache_span(s, stale);
    }
  });
}

// ---------------------------------------------------------------------------
// fork(). The parent holds every mcentral lock across the fork, so in the
// child each mcentral set is whole and no span is half swept. What the child
// must repair is what the vanished threads held outside mcentral: their Ps'
// current spans, and spans in transit (popped and swept by cache_span but not
// yet installed in a P, on their way back from a P, a large span between
// alloc_span and add_large_span or between unlink_large_span and free_span,
// an emptied span on its way to the heap).

namespace {

// A thread cut off by the fork between taking a slot and counting it may
// have left alloc_count one short: count again from the bitmap (a slot below
// freeindex, or one whose alloc bit is set, is allocated). The slot it took
// is garbage in the child (the thread is gone) and the next sweep frees it;
// a slot it had not recorded at all is simply free.
void recount_after_fork(MSpan* s) {
  uint32_t fi = s->freeindex < s->nelems ? s->freeindex : s->nelems;
  uint32_t n = fi;
  for (uint32_t i = fi; i < s->nelems; i++)
    if (bit_test(s->alloc_bits(), i)) n++;
  s->alloc_count = n;
}

}  // namespace

void release_p_spans_after_fork(MCache* c) {
  uint32_t sg = g_heap.sweepgen.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < kGCClassesCount; i++) {
    SpanClass spc = gc_class_at(i);
    MSpan* s = c->alloc[spc];
    if (s == &g_empty_span) continue;
    c->alloc[spc] = &g_empty_span;
    recount_after_fork(s);
    uncache_span(s, s->sweepgen.load(std::memory_order_relaxed) != sg);
  }
}

void sweep_fork_child(MCache* self) {
  g_sweeper_started.store(false, std::memory_order_relaxed);
  g_sweeper_start_lock.reset();
  g_active_sweepers.store(0, std::memory_order_relaxed);
  if (!g_gc_used.load(std::memory_order_relaxed)) return;
  // Every in-use collected span that no mcentral set holds and that is not
  // one of this thread's current spans was held by a thread that is gone.
  uint32_t sg = g_heap.sweepgen.load(std::memory_order_relaxed);
  g_heap.for_each_span_record([&](MSpan* s) {
    if (s->state.load(std::memory_order_acquire) != SpanState::kInUse || !kind_is_gc(s->kind)) return;
    if (s->gc_list != kNoList || (!s->large && self->alloc[s->spanclass] == s)) return;
    recount_after_fork(s);
    // Not swept this cycle (or, were a sweep ever cut off half-way - the
    // mcentral lock rules that out - left at "being swept", h - 1, by a
    // thread that will never finish it): needs sweeping, by whoever gets to
    // it first.
    bool swept = s->sweepgen.load(std::memory_order_relaxed) == sg;
    if (!swept) s->sweepgen.store(sg - 2, std::memory_order_relaxed);
    if (s->current) {
      uncache_span(s, !swept);
      return;
    }
    int set = static_cast<int>((sg / 2) % 2);
    MCentral& c = g_heap.central[s->spanclass];
    MutexLock l(c.lock);
    push_locked(c, s, s->large || s->alloc_count == s->nelems, swept ? set : 1 - set);
  });
}

void sweep_fork_prepare() { g_sweeper_start_lock.lock(); }
void sweep_fork_parent() { g_sweeper_start_lock.unlock(); }

}  // namespace gc
}  // namespace gomem
