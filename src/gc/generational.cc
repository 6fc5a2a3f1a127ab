// Generational collection with sticky mark bits (GOMEM_GC=generational):
// Demers, Weiser, Hayes, Boehm, Bobrow, Shenker, "Combining Generational and
// Conservative Garbage Collection", POPL 1990, with the kernel's dirty-page
// bits (platform/dirty.h) standing in for the write barrier C and C++ lack.
//
// Old objects are the ones marked: sweeping keeps the mark bits (sweep.cc
// copies the new alloc bits into the mark bits instead of clearing them), so
// every object that survived a cycle stays marked, and objects allocated
// since are unmarked (young). A minor cycle marks from
//   - the roots, all of them, as a full cycle does (stacks, registers, TLS,
//     data segments, added ranges, uncollectable spans, finalizer records);
//   - the marked objects on the heap pages written since the last cycle's
//     stop (PAGEMAP_SCAN, which re-protects them in the same walk): only the
//     part of each such object that lies on a written page;
// and since mark_candidate skips marked objects, it traces young objects
// only. Its sweep frees young garbage; an old object that died stays until a
// full cycle, and so do its finalizer, cleanups and weak pointers: a minor
// cycle cannot see it dead (it is marked).
//
// The invariant (at the end of every cycle's mark, world stopped): no marked
// object holds a word that points to an allocated unmarked object. A full
// mark establishes it; a minor mark keeps it, because a marked object
// changed since the last stop lies on a written page and is rescanned
// there, and one not changed held, by induction, only words to marked
// objects or to slots that were free (a word to a free slot that is handed
// out later is not a pointer the program stored to the new object). The
// kernel's own writes (read() into the heap) count as writes
// (tests/gc_gen_test.cc).
//
// Which pages are protected. A page is in one of two states: protected (not
// written since), or written (reported by every scan until protected again).
// Both keep the invariant, so no cycle protects the whole heap and scans
// only report (kReportOnly). At the end of each cycle's mark, world stopped,
// a second scan protects the written pages of the spans that stay old
// (stays_old: scan spans with at most 1/8 of their slots free). The others
// are about to be allocated into: protected, every page the allocator fills
// would fault once per cycle (~1 us each). Left written, their marked
// objects are rescanned by each minor cycle instead. binary-trees depth 18
// (GOMEM_GC=generational, /usr/bin/time; a loaded machine for the times):
// re-protecting every written page cost 408,000 page faults and 0.55 s of
// system time; protecting only old spans, 58,000 faults and 0.13 s, for
// ~18 % more pages reported per minor cycle (3,000 -> 3,500) and 100 ->
// 150 KB of old objects rescanned. Manual and noscan spans are never
// protected (the first are roots or unscanned, the second hold no pointers):
// a program that mixes malloc with the collector no longer faults on its
// malloc pages after every cycle.
//
// Which cycle runs: a full one when asked (gomem_gc_collect, out of memory,
// the memory limit), when the tracker is not tracking or a scan failed (a
// fork child, a refused scan), and when the old objects have grown by a
// quarter of GOGC's headroom since the last full cycle or kMaxMinors minors
// ran; a minor one otherwise. A full cycle clears every mark bit first
// (world stopped).
//
// Heap pages are registered as they are committed (MHeap::commit_hook,
// under the heap lock, before any object can live there): the fresh mapping
// of a commit drops any registration, and a registered page counts as
// written until first protected. The tracker starts before the heap is
// used (gen_init, from the runtime's initialisation); if it is refused, the
// collector runs full cycles only, said once in gctrace. A fork child's
// tracker is Off (fork_child); its next cycle re-initialises it (which
// registers every range again) and is full.
//
// Synchronisation: every field of g_gen is written under the collection
// lock (gc.cc) or during initialisation, and read there; sticky is read by
// sweepers, set once before any collected span exists.
#include "base/fmt.h"
#include "gc/internal.h"
#include "platform/dirty.h"
#include "platform/os.h"

namespace gomem {
namespace gc {

GOMEM_META constinit DirtyTracker g_dirty;
GOMEM_META constinit GenState g_gen;

namespace {

// Minor cycles in a row before a full one, whatever the old objects' growth:
// bounds how long a dead old object's finalizer or weak pointer waits.
constexpr uint32_t kMaxMinors = 64;

// A scan span whose free (unmarked) slots are at most 1/kFreeToTrack of its
// slots after a cycle's mark has its written pages protected (stays_old).
constexpr uint32_t kFreeToTrack = 8;

void commit_hook(uintptr_t lo, uintptr_t n) { g_dirty.register_range(lo, n); }

// The part of marked scan objects of span s that lies in [lo, hi).
void scan_marked_in(Marker& m, MSpan* s, uintptr_t lo, uintptr_t hi) {
  uintptr_t end = s->base + (s->large ? s->elemsize : uintptr_t{s->nelems} * s->elemsize);
  if (hi > end) hi = end;
  if (lo >= hi) return;
  uint64_t* marks = s->gcmark_bits();
  uintptr_t last = s->obj_index(hi - 1);
  for (uintptr_t i = s->obj_index(lo); i <= last; i++) {
    if (!(__atomic_load_n(&marks[i >> 6], __ATOMIC_RELAXED) >> (i & 63) & 1)) continue;
    uintptr_t obj = s->base + i * s->elemsize;
    uintptr_t a = obj > lo ? obj : lo;
    uintptr_t b = obj + s->elemsize < hi ? obj + s->elemsize : hi;
    m.note(RootKind::kHeapObject, obj);
    m.scan_range(a, b);
    m.dirty_bytes += b - a;
  }
}

// Full cycle, world stopped, every span swept: no object is old any more.
void clear_marks() {
  g_heap.for_each_span_record([](MSpan* s) {
    if (s->state.load(std::memory_order_acquire) != SpanState::kInUse || !kind_is_gc(s->kind)) return;
    uint64_t* marks = s->gcmark_bits();
    for (uint32_t w = 0; w < s->bitmap_words(); w++) marks[w] = 0;
  });
}

// Whether the written pages of span s are protected again at the end of a
// cycle: a scan span whose slots are nearly all marked (old). A span with
// more free slots than that is about to be allocated into, and each page the
// allocator fills would cost a fault when protected; left written, it is
// rescanned by each minor cycle instead (its marked objects only). Manual
// spans are roots (uncollectable) or unscanned (malloc), noscan objects hold
// no pointers: their pages never need tracking.
bool stays_old(MSpan* s) {
  if (s->kind != SpanKind::kScan) return false;
  uint64_t* marks = s->gcmark_bits();
  uint32_t marked = 0;
  for (uint32_t w = 0; w < s->bitmap_words(); w++) marked += popcount64(marks[w]);
  return marked >= s->nelems - s->nelems / kFreeToTrack;
}

// For each in-use span overlapping [lo, hi) (page aligned, in the heap's
// arenas), fn(s, a, b) with [a, b) its part of the range. In a concurrent
// cycle spans are allocated meanwhile: a span record read here may be
// changing (an in-use manual span freed and its record reused); the walk
// still moves forward by at least a page.
template <class F>
void for_each_span_in(uintptr_t lo, uintptr_t hi, F fn) {
  for (uintptr_t p = lo; p < hi;) {
    uintptr_t next = align_down(p, kPageSize) + kPageSize;
    MSpan* s = g_arena_index.span_or_empty(p);
    if (s && s->state.load(std::memory_order_acquire) == SpanState::kInUse) {
      if (s->end() > next) next = s->end();
      fn(s, p, next < hi ? next : hi);
    }
    p = next;
  }
}

// Protects the pages of [lo, hi) (written, page aligned) whose span stays
// old, one call per stretch of such spans.
void protect_old_run(void*, uintptr_t lo, uintptr_t hi) {
  uintptr_t from = 0, to = 0;  // the stretch to protect; from == 0: none
  for_each_span_in(lo, hi, [&](MSpan* s, uintptr_t a, uintptr_t b) {
    if (!stays_old(s)) return;
    if (from && a != to) {
      g_dirty.protect(from, to);
      from = 0;
    }
    if (!from) from = a;
    to = b;
  });
  if (from) g_dirty.protect(from, to);
}

void say_off_once() { say_tracking_off_once(&g_gen.said_off, "generational", "is a full stop-the-world one"); }

}  // namespace

// [lo, hi) lies in the heap's arenas (the tracker only knows committed
// heap pages), perhaps in one added since g_range was set.
void rescan_dirty_run(void* arg, uintptr_t lo, uintptr_t hi) {
  Marker& m = *static_cast<Marker*>(arg);
  for_each_span_in(lo, hi, [&m](MSpan* s, uintptr_t a, uintptr_t b) {
    if (s->kind == SpanKind::kScan) scan_marked_in(m, s, a, b);
  });
}

void say_tracking_off_once(bool* said, const char* mode, const char* consequence) {
  if (*said) return;
  *said = true;
  if (!g_gcsettings.gctrace) return;
  StackBuf<256> b;
  b.s("gomem: GOMEM_GC=").s(mode).s(": dirty-page tracking unavailable (").s(g_dirty.reason());
  b.s("): every cycle ").s(consequence).c('\n');
  os::write_stderr(b.str(), b.len());
}

bool start_dirty_tracking() {
  // Pages committed before the hook would never be registered: only a heap
  // with no arena yet can be tracked (the runtime calls this right after
  // initialising it).
  if (g_heap.arenas() != nullptr || !g_dirty.init()) return false;
  g_heap.commit_hook = commit_hook;
  return true;
}

void gen_init(const os::EnvSettings& env) {
  if (!env.generational) return;
  g_gen.requested = true;
  if (!start_dirty_tracking()) return;
  g_gen.sticky.store(true, std::memory_order_release);
}

CycleKind gen_choose(Trigger why) {
  if (!g_gen.sticky.load(std::memory_order_relaxed)) {
    if (g_gen.requested) say_off_once();
    return CycleKind::kStw;
  }
  if (!g_dirty.tracking()) {
    // A fork child (or a refused scan): start tracking again if the kernel
    // lets us; the registrations are fresh, so this cycle is full anyway.
    g_gen.armed = false;
    if (!g_gen.retried && !g_dirty.init()) {
      g_gen.retried = true;
      say_off_once();
    }
  }
  if (why == Trigger::kHeap || why == Trigger::kMinor)
    if (g_gen.armed && (!g_gen.full_due || why == Trigger::kMinor)) return CycleKind::kMinor;
  return CycleKind::kFull;
}

CycleKind gen_start_mark(CycleKind kind, Marker& m, int64_t* dirty_pages) {
  *dirty_pages = 0;
  if (kind == CycleKind::kStw) return kind;
  if (kind == CycleKind::kMinor) {
    int64_t n = g_dirty.scan_all(rescan_dirty_run, &m, DirtyTracker::kReportOnly);
    if (n >= 0) {
      *dirty_pages = n;
      return kind;
    }
    // Refused part-way: what was reported is lost. Mark everything; what
    // the partial scan pushed is only retained one cycle longer.
    kind = CycleKind::kFull;
  }
  clear_marks();
  g_gen.armed = g_dirty.tracking();  // every page is protected or reports written: both safe
  return kind;
}

void gen_end_mark(CycleKind kind, uint64_t marked) {
  if (kind != CycleKind::kStw && g_gen.armed &&
      g_dirty.scan_all(protect_old_run, nullptr, DirtyTracker::kReportOnly) < 0)
    g_gen.armed = false;
  if (kind != CycleKind::kMinor) {
    if (kind == CycleKind::kFull) {
      g_gen.full_marked = marked;
      g_gen.minors = 0;
      g_gen.full_due = false;
    }
    pacer_commit(marked, marked);
    return;
  }
  uint64_t total = g_pacer.heap_marked.load(std::memory_order_relaxed) + marked;
  // Objects promoted since the last full cycle may be dead: they may fill
  // a quarter of GOGC's headroom over that cycle's live heap (more let the
  // peak RSS of tests/gc_stress_test.cc's 50 MB random-replacement heap pass
  // three times the live heap); past that, or after kMaxMinors, the next
  // cycle is full.
  int pct = g_pacer.gc_percent.load(std::memory_order_relaxed);
  uint64_t headroom = pct < 0 ? total : g_gen.full_marked / 400 * static_cast<uint64_t>(pct);
  g_gen.full_due = ++g_gen.minors >= kMaxMinors || total > g_gen.full_marked + headroom;
  // Under a memory limit that is near, old garbage is what can be given back.
  if (g_pacer.memory_limit.load(std::memory_order_relaxed) != kNoLimit && total > memory_limit_goal() / 2)
    g_gen.full_due = true;
  // The goal stays the last full cycle's (GOGC's over the live heap it
  // found), not GOGC's over everything marked, which counts the promoted
  // garbage: the heap stays within what stop-the-world cycles allow. Once
  // the old objects reach it, the next cycle is full anyway (above).
  pacer_commit(total, g_gen.full_marked);
}

uint32_t gc_mode() {
  if (!g_dirty.tracking()) return 0;
  if (g_gen.sticky.load(std::memory_order_relaxed)) return 1;
  return g_heap.commit_hook != nullptr ? 2 : 0;  // concurrent.cc started tracking
}

void gen_fork_child() {
  g_dirty.fork_child();
  g_gen.armed = false;
  g_gen.retried = false;
}

}  // namespace gc
}  // namespace gomem
