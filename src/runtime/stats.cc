// Statistics: gomem_read_stats, the cheap getters and the report printed at
// exit.
//
// Nothing here walks the heap, takes a lock that a collection holds or makes
// a system call, so a program may poll its heap size as often as it likes.
// Manual objects are counted by the Ps that hand them out and free them
// (MCache::counts, laid out like the span classes: one add on each fast
// path, no atomics), and a reader sums the Ps: live = mallocs - frees. Collected
// objects are counted by the collector (mallocs when a P gives a span back,
// frees when swept, gc/sweep.cc) plus what the Ps' current spans handed out
// since they took them. Large objects are counted by the page heap. The
// collector's cycle figures are copied under its small statistics lock
// (gc::fill_stats). Counters of other threads are read while they run, so a
// figure can be a few objects stale.
//
// Costs, in instructions (callgrind, tests/fastpath/stats_count.sh, pinned
// in stats_instructions.txt), independent of the heap's size:
// gomem_read_stats ~4.3k with one P (~350 ns), ~8.9k with the collector in
// use, plus ~0.8k per further P (~1.5k with the collector);
// gomem_heap_alloc ~2k with one P, ~6.4k with the collector in use, plus
// ~0.9k per further P (~1.6k with the collector); gomem_heap_sys,
// gomem_gc_live and gomem_gc_count are one load each. What a read does
// (it once cost 10.4k and 15.6k instructions, ~1.2 and ~2 us):
//   - every field of the struct is written once: the scalars cleared with
//     two memsets around the pause ring, which gc::fill_stats copies; the
//     class arrays written entry by entry (no 7 KiB memset before them);
//   - each P's counters are read in one pass by size class, four adjacent
//     counters each (MCache::counts: mallocs and frees, manual and
//     uncollectable), with no table indirection: malloc's fast path counts
//     by the span class it already holds, which costs it no instruction
//     (and the array is 520 bytes smaller than the three it replaced);
//     the collector's counters are read the same way, noscan and scan;
//   - the classes are summed in one branch-free pass (add_classes);
//   - while the collector was never used its counters and the Ps' collected
//     spans are not read (nothing was allocated there), and gc_by_size is
//     copied from a constant template.
// What is left is the loads themselves: ~270 counters per P, ~270 of the
// collector's, 136 classes summed, and 7 KiB written.
//
// The report at exit (GOMEM_STATS=1, or GOMEM_STATS=FILE to append it to a
// file). Standard error at exit is not good enough: coreutils close it in an
// atexit handler, which runs before library destructors, and shells such as
// dash close it or leave with _exit, which runs no destructor. So the place
// is fixed at load time (a constructor): a copy of standard error, or the
// file opened for appending, kept on a close-on-exec descriptor numbered
// 100 or above (os::KeptFile); a report goes there only if that descriptor
// still names the same file (a program that closed every descriptor and
// opened one of its own under that number keeps its file clean). The report
// is written by the library's destructor, or by _exit and _Exit
// (src/override/exit_override.cc) in the process that loaded the library;
// a child forked and not exec'd reports at exit but not at _exit, as it
// cannot be told from a vfork child, which shares this memory and would
// mark its parent's report as written. Every exec'd program loads the
// library again, so each process of a tree reports, headed by its pid, one
// write(2) each (whole in an O_APPEND file). Killed by a signal, a process
// reports nothing.
#include <atomic>
#include <cstddef>
#include <cstring>

#include "base/fmt.h"
#include "gc/collector.h"
#include "gomem/gomem.h"
#include "platform/env.h"
#include "platform/os.h"
#include "runtime/malloc.h"
#include "runtime/proc.h"
#include "runtime/runtime.h"

namespace gomem {

void gc_fill_stats(gomem_stats* st);

namespace {

// The span class of manual list j (its mallocs' index in MCache::counts), branch-free:
// the uncollectable class of a size class follows its manual class.
constexpr int list_span_class(int j) { return make_span_class(j / 2, SpanKind::kManual) + (j & 1); }
static_assert([] {
  for (int j = 0; j < kManualLists; j++)
    if (manual_list_index(static_cast<SpanClass>(list_span_class(j))) != j ||
        list_span_class(j | 1) != list_span_class(j & ~1) + 1)
      return false;
  return true;
}());

struct Tables {
  uint32_t list_size[kManualLists];       // manual_list_index -> object bytes (0: none)
  uint32_t gc_size[gc::kGCCountIndexes];  // gc count index -> object bytes (0: large or none)
};

constexpr Tables make_tables() {
  Tables t{};
  for (int j = 2; j < kManualLists; j++)
    if (j / 2 < kManualClasses.count) t.list_size[j] = kManualClasses.cls[j / 2].size;
  for (int g = 2; g < gc::kGCCountIndexes; g++)
    if (g / 2 < kGCClasses.count) t.gc_size[g] = kGCClasses.cls[g / 2].size;
  return t;
}
constexpr Tables kTables = make_tables();

// Objects counted so far, on the reader's stack.
struct Counts {
  // Manual heap (manual and uncollectable) by manual_list_index, small
  // classes only (lists 2 .. 2 * kManualClasses.count - 1 are filled).
  uint64_t mallocs[kManualLists];
  uint64_t frees[kManualLists];
  gc::GCClassCounts gc;  // collected heap, by gc count index
};

// What the current span s (not the empty span) of a collected class handed
// out since a P took it (the collector counts it when the P gives the span
// back).
GOMEM_NOINLINE uint64_t current_span_mallocs(MSpan* s) {
  if (!__atomic_load_n(&s->current, __ATOMIC_RELAXED)) return 0;
  int64_t d = static_cast<int64_t>(s->alloc_count.read_racy()) - static_cast<int64_t>(s->nmalloc.read_racy());
  return d > 0 ? static_cast<uint64_t>(d) : 0;
}

// Calls fn(gc count index, span) for each small collected class for which
// P c holds a span.
template <class F>
GOMEM_INLINE void for_each_current_gc_span(MCache* c, F fn) {
  for (int sc = 1; sc < kGCClasses.count; sc++) {  // gc count indexes 2sc, 2sc + 1: span classes a[0], a[1]
    MSpan* const* a = &c->alloc[gc::gc_count_class(2 * sc)];
    MSpan* s0 = __atomic_load_n(&a[0], __ATOMIC_RELAXED);
    MSpan* s1 = __atomic_load_n(&a[1], __ATOMIC_RELAXED);
    if (s0 != &g_empty_span) fn(2 * sc, s0);
    if (s1 != &g_empty_span) fn(2 * sc + 1, s1);
  }
}

// Fills *k; returns whether the collector was ever used (if not, nothing
// was allocated in the collected heap and k->gc holds only zero large-object
// figures).
bool read_counts(Counts* k) {
  bool gc_used = gc::g_gc_used.load(std::memory_order_relaxed);
  if (gc_used)
    gc::read_counters(&k->gc);
  else  // only the large-object figures are read then
    k->gc.mallocs[0] = k->gc.mallocs[1] = k->gc.frees[0] = k->gc.frees[1] = k->gc.large_alloc_bytes =
        k->gc.large_free_bytes = 0;
  for (int sc = 1; sc < kManualClasses.count; sc++) {
    k->mallocs[2 * sc] = k->mallocs[2 * sc + 1] = 0;
    k->frees[2 * sc] = g_nfree_without_p[2 * sc].load(std::memory_order_relaxed);
    k->frees[2 * sc + 1] = g_nfree_without_p[2 * sc + 1].load(std::memory_order_relaxed);
  }
  for_each_p([&](MCache* c) {
    for (int sc = 1; sc < kManualClasses.count; sc++) {  // lists 2sc, 2sc + 1: manual, uncollectable
      const OwnerField<uint64_t>* q = &c->counts[list_span_class(2 * sc)];
      k->mallocs[2 * sc] += q[0].read_racy();
      k->mallocs[2 * sc + 1] += q[1].read_racy();
      k->frees[2 * sc] += q[kFreeCountOffset].read_racy();
      k->frees[2 * sc + 1] += q[kFreeCountOffset + 1].read_racy();
    }
    if (gc_used) for_each_current_gc_span(c, [&](int g, MSpan* s) { k->gc.mallocs[g] += current_span_mallocs(s); });
  });
  return gc_used;
}

// Figures summed over the size classes of one heap.
struct ClassTotals {
  uint64_t mallocs = 0, frees = 0, total_alloc = 0, live_bytes = 0;
};

// Writes out[c] = {size, mallocs, frees} for the classes 1 .. count-1 from
// the counts by list (lists 2c and 2c+1 are class c: frees beyond mallocs
// count as none) and returns their totals. Branch-free: one pass, each entry
// written once.
GOMEM_INLINE ClassTotals add_classes(gomem_size_class_stats* out, const uint64_t* mallocs, const uint64_t* frees,
                                     const uint32_t* size, int count) {
  ClassTotals t;
  for (int c = 1; c < count; c++) {
    uint64_t m0 = mallocs[2 * c], m1 = mallocs[2 * c + 1];
    uint64_t f0 = frees[2 * c] < m0 ? frees[2 * c] : m0, f1 = frees[2 * c + 1] < m1 ? frees[2 * c + 1] : m1;
    uint64_t m = m0 + m1, f = f0 + f1, sz = size[2 * c];
    out[c].size = static_cast<uint32_t>(sz);
    out[c].mallocs = m;
    out[c].frees = f;
    t.mallocs += m;
    t.frees += f;
    t.total_alloc += m * sz;
    t.live_bytes += (m - f) * sz;
  }
  return t;
}

// gc_by_size while the collector was never used: sizes only.
struct GCClassTemplate {
  gomem_size_class_stats b[GOMEM_NUM_SIZE_CLASSES];
};
constexpr GCClassTemplate make_gc_class_template() {
  GCClassTemplate t{};
  for (int c = 1; c < kGCClasses.count; c++) t.b[c].size = kGCClasses.cls[c].size;
  return t;
}
constexpr GCClassTemplate kGCClassTemplate = make_gc_class_template();

// The heap's figures, into a *st whose fields before by_size are zero.
void read_heap_stats(gomem_stats* st) {
  Counts k;
  bool gc_used = read_counts(&k);
  ClassTotals man = add_classes(st->by_size, k.mallocs, k.frees, kTables.list_size, kManualClasses.count);
  ClassTotals gcs;
  if (gc_used) {
    gcs = add_classes(st->gc_by_size, k.gc.mallocs, k.gc.frees, kTables.gc_size, kGCClasses.count);
  } else {
    memcpy(st->gc_by_size, kGCClassTemplate.b, sizeof st->gc_by_size);
  }
  // Large objects: the heap counts them all; the collector counts its own.
  HeapPageStats ps = g_heap.page_stats();
  uint64_t gc_large_m = k.gc.mallocs[0] + k.gc.mallocs[1], gc_large_f = k.gc.frees[0] + k.gc.frees[1];
  st->gc_by_size[0] = {0, gc_large_m, gc_large_f};
  st->gc_heap_alloc = gcs.live_bytes + k.gc.large_alloc_bytes - k.gc.large_free_bytes;
  st->by_size[0] = {0, ps.large_allocs - gc_large_m,
                    ps.large_frees - (gc_large_f < ps.large_frees ? gc_large_f : ps.large_frees)};
  for (int c = kManualClasses.count; c < GOMEM_NUM_SIZE_CLASSES; c++) st->by_size[c] = {};
  for (int c = gc_used ? kGCClasses.count : GOMEM_NUM_SIZE_CLASSES; c < GOMEM_NUM_SIZE_CLASSES; c++)
    st->gc_by_size[c] = {};
  st->mallocs = man.mallocs + gcs.mallocs + ps.large_allocs;
  st->frees = man.frees + gcs.frees + ps.large_frees;
  st->total_alloc = man.total_alloc + gcs.total_alloc + ps.large_alloc_bytes;
  st->heap_alloc = man.live_bytes + gcs.live_bytes + ps.large_live_bytes;
  st->heap_objects = st->mallocs - st->frees;
  st->alloc = st->heap_alloc;

  st->heap_sys = ps.sys;
  st->heap_inuse = ps.inuse;
  st->heap_idle = ps.sys - ps.inuse;
  st->heap_released = ps.released;
  st->mspan_inuse = g_heap.mspan_inuse();
  st->mspan_sys = g_heap.mspan_sys();
  st->mcache_inuse = mcache_inuse_bytes();
  st->mcache_sys = mcache_sys_bytes();
  st->gc_sys = g_heap.gcbits_sys();
  st->other_sys = ps.meta_sys;
  st->num_p = static_cast<uint32_t>(__atomic_load_n(&g_procs.count, __ATOMIC_RELAXED));
  st->num_p_in_use = static_cast<uint32_t>(__atomic_load_n(&g_procs.in_use, __ATOMIC_RELAXED));
}

// Every field is written once: the scalars are cleared and set, the pause
// ring copied (gc_fill_stats), the class arrays written entry by entry.
void read_stats(gomem_stats* st) {
  ensure_init();
  memset(st, 0, offsetof(gomem_stats, pause_ns));
  memset(&st->num_gc, 0, offsetof(gomem_stats, by_size) - offsetof(gomem_stats, num_gc));
  read_heap_stats(st);
  gc_fill_stats(st);
  st->sys = st->heap_sys + st->mspan_sys + st->mcache_sys + st->gc_sys + st->other_sys;
}

// Live bytes = sum of (mallocs - frees) x size, summed as it is read (the
// counters of one P may go negative: other Ps free its objects).
uint64_t heap_alloc() {
  ensure_init();
  int64_t bytes = static_cast<int64_t>(g_heap.large_live_bytes());
  for (int j = 2; j < 2 * kManualClasses.count; j++)
    bytes -= static_cast<int64_t>(g_nfree_without_p[j].load(std::memory_order_relaxed) * kTables.list_size[j]);
  bool gc_used = gc::g_gc_used.load(std::memory_order_relaxed);
  if (gc_used) {
    gc::GCClassCounts gcc;
    gc::read_counters(&gcc);
    for (int g = 2; g < 2 * kGCClasses.count; g++)
      bytes += static_cast<int64_t>((gcc.mallocs[g] - gcc.frees[g]) * kTables.gc_size[g]);
  }
  for_each_p([&](MCache* c) {
    for (int sc = 1; sc < kManualClasses.count; sc++) {  // lists 2sc, 2sc + 1: manual, uncollectable
      const OwnerField<uint64_t>* q = &c->counts[list_span_class(2 * sc)];
      uint64_t live =
          q[0].read_racy() + q[1].read_racy() - q[kFreeCountOffset].read_racy() - q[kFreeCountOffset + 1].read_racy();
      bytes += static_cast<int64_t>(live * kTables.list_size[2 * sc]);
    }
    if (gc_used)
      for_each_current_gc_span(
          c, [&](int g, MSpan* s) { bytes += static_cast<int64_t>(current_span_mallocs(s) * kTables.gc_size[g]); });
  });
  return bytes > 0 ? static_cast<uint64_t>(bytes) : 0;
}

}  // namespace

void print_stats_to(int fd) {
  gomem_stats st;
  read_stats(&st);
  StackBuf<4096> b;
  auto line = [&](const char* name, uint64_t bytes, const char* note = nullptr) {
    b.s("  ").s(name).pad(18).bytes(bytes).pad(34);
    if (note) b.s(note);
    b.c('\n');
  };
  b.s("gomem statistics (pid ").u(static_cast<uint64_t>(os::getpid())).s(")\n");
  line("heap_alloc", st.heap_alloc, "bytes in live objects");
  line("heap_inuse", st.heap_inuse, "bytes in spans holding objects");
  line("heap_idle", st.heap_idle, "bytes in free page runs");
  line("heap_released", st.heap_released, "of which returned to the OS");
  line("heap_sys", st.heap_sys, "heap memory mapped");
  line("sys", st.sys, "heap + metadata");
  line("total_alloc", st.total_alloc, "bytes allocated, cumulative");
  b.s("  mallocs").pad(18).u(st.mallocs).pad(34).s("objects allocated, cumulative\n");
  b.s("  frees").pad(18).u(st.frees).pad(34).s("objects freed, cumulative\n");
  b.s("  heap_objects").pad(18).u(st.heap_objects).pad(34).s("live objects\n");
  b.s("  Ps").pad(18).u(st.num_p).s(" made, ").u(st.num_p_in_use).s(" in use\n");
  if (st.num_gc) {
    b.s("  num_gc").pad(18).u(st.num_gc).pad(34).s("collections");
    if (st.gc_mode == 1) b.s(", ").u(st.num_minor_gc).s(" of them minor (GOMEM_GC=generational)");
    if (st.gc_mode == 2) b.s(", marked concurrently (GOMEM_GC=concurrent)");
    b.c('\n');
    b.s("  pause_total").pad(18).f(static_cast<double>(st.pause_total_ns) / 1e6, 3).s(" ms\n");
    if (st.wait_total_ns)
      b.s("  wait_total")
          .pad(18)
          .f(static_cast<double>(st.wait_total_ns) / 1e6, 3)
          .s(" ms")
          .pad(34)
          .s("threads stalled past the goal\n");
    line("gc_heap_alloc", st.gc_heap_alloc, "bytes in collected objects");
    line("next_gc", st.next_gc, "heap goal");
  }
  os::write_fd(fd, b.str(), b.len());
}

namespace {

// Where GOMEM_STATS sends the report. Written once by the constructor, before
// any thread of the program exists; read-only afterwards, but for `written`.
struct ReportSink {
  os::KeptFile file;                 // fd -1: no report
  int pid = 0;                       // the process that opened it
  std::atomic<bool> written{false};  // set by the first report in that process
};
GOMEM_META constinit ReportSink g_report;

__attribute__((constructor)) void open_report() {
  const char* v = os::getenv("GOMEM_STATS");
  os::EnvSettings env;
  // A malformed value is left to initialisation, which stops on it.
  if (!v || os::parse_env("GOMEM_STATS", v, &env) || !env.print_stats) return;
  g_report.file = env.stats_file ? os::keep_appending(env.stats_file) : os::keep_copy(2);
  g_report.pid = os::getpid();
}

}  // namespace

void report_stats_at_exit(bool fast_exit) {
  if (g_report.file.fd < 0 || !runtime_initialized()) return;
  bool loader = os::getpid() == g_report.pid;
  if (fast_exit && !loader) return;  // perhaps a vfork child: see the header
  if (loader && g_report.written.exchange(true, std::memory_order_relaxed)) return;
  if (os::still_open(g_report.file)) print_stats_to(g_report.file.fd);
}

}  // namespace gomem

extern "C" {

GOMEM_EXPORT void gomem_read_stats(gomem_stats* stats) { gomem::read_stats(stats); }

GOMEM_EXPORT uint64_t gomem_heap_alloc(void) { return gomem::heap_alloc(); }

GOMEM_EXPORT uint64_t gomem_heap_sys(void) { return gomem::g_heap.sys_bytes(); }

GOMEM_EXPORT uint64_t gomem_gc_live(void) { return gomem::gc::g_pacer.heap_marked.load(std::memory_order_relaxed); }

GOMEM_EXPORT uint32_t gomem_gc_count(void) { return gomem::gc::num_gc(); }

GOMEM_EXPORT void gomem_print_stats(int fd) { gomem::print_stats_to(fd); }

}  // extern "C"
