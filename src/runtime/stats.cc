// Statistics: gomem_read_stats and the report printed at exit.
//
// Objects are counted where they live: each span keeps its cumulative
// mallocs (nmalloc) and its live objects (alloc_count, minus frees still
// waiting on its remote list); spans that went back to the heap left their
// mallocs in MHeap::retired_mallocs; large objects are counted by the heap.
// frees = mallocs - live. Figures for spans other threads are using are read
// without stopping them, so they can be a few objects stale.
#include <cstring>

#include "base/fmt.h"
#include "gomem/gomem.h"
#include "platform/os.h"
#include "gc/collector.h"
#include "runtime/malloc.h"
#include "runtime/proc.h"
#include "runtime/runtime.h"

namespace gomem {

void gc_fill_stats(gomem_stats* st);

namespace {

// Serialises readers (the scratch arrays below). Lock order: after the
// collector's locks (gc_fill_stats takes the collection lock, so it is called
// with this one released), before the pool, P, mcentral and heap locks
// (page_stats takes the heap lock inside it). Taken by fork_prepare.
GOMEM_META constinit Mutex g_stats_lock;

// The heap's figures, under g_stats_lock.
void read_heap_stats(gomem_stats* st) {
  static uint64_t mallocs[kNumSpanClasses];  // (under g_stats_lock)
  static uint64_t live[kNumSpanClasses];
  static gc::GCClassCounts gcc;
  MutexLock sl(g_stats_lock);
  memset(mallocs, 0, sizeof mallocs);
  memset(live, 0, sizeof live);
  gc::read_counters(&gcc);
  // Manual spans count their own objects; collected ones are counted by the
  // collector (mallocs when a P gives a span back, frees when swept), plus
  // what the Ps' current spans handed out since they took them.
  g_heap.for_each_span_record([&](MSpan* s) {
    if (s->state.load(std::memory_order_acquire) != SpanState::kInUse || s->large) return;
    SpanClass spc = s->spanclass;
    if (kind_is_gc(s->kind)) {
      if (__atomic_load_n(&s->current, __ATOMIC_RELAXED)) {
        int64_t d = static_cast<int64_t>(s->alloc_count.read_racy()) - static_cast<int64_t>(s->nmalloc.read_racy());
        if (d > 0) gcc.mallocs[spc] += static_cast<uint64_t>(d);
      }
      return;
    }
    uint64_t nm = s->nmalloc.read_racy();
    int64_t lv = s->alloc_count.read_racy() + s->alloc_bias.read_racy();
    lv -= xfree::count(s->xfree.load(std::memory_order_relaxed));
    if (__atomic_load_n(&s->current, __ATOMIC_RELAXED)) lv -= 1;
    if (lv < 0) lv = 0;
    mallocs[spc] += nm;
    live[spc] += static_cast<uint64_t>(lv);
  });
  HeapPageStats ps = g_heap.page_stats();
  for (int spc = 0; spc < kNumSpanClasses; spc++) {
    uint32_t sc = span_class_size_class(static_cast<SpanClass>(spc));
    if (sc == 0) continue;
    SpanKind kind = span_class_kind(static_cast<SpanClass>(spc));
    const SizeClassTable& t = table_for(kind);
    if (static_cast<int>(sc) >= t.count) continue;
    uint64_t m, l;
    if (kind_is_gc(kind)) {
      m = gcc.mallocs[spc];
      l = m - (gcc.frees[spc] < m ? gcc.frees[spc] : m);
    } else {
      m = mallocs[spc] + g_heap.retired_mallocs(static_cast<SpanClass>(spc));
      l = live[spc];
    }
    uint64_t size = t.cls[sc].size;
    gomem_size_class_stats* b = kind_is_gc(kind) ? &st->gc_by_size[sc] : &st->by_size[sc];
    b->size = static_cast<uint32_t>(size);
    b->mallocs += m;
    b->frees += m - l;
    st->mallocs += m;
    st->frees += m - l;
    st->total_alloc += m * size;
    st->heap_alloc += l * size;
    st->heap_objects += l;
    if (kind_is_gc(kind)) st->gc_heap_alloc += l * size;
  }
  // Large objects: the heap counts them all; the collector counts its own.
  uint64_t gc_large_m = 0, gc_large_f = 0;
  for (SpanKind k : {SpanKind::kNoscan, SpanKind::kScan}) {
    gc_large_m += gcc.mallocs[make_span_class(0, k)];
    gc_large_f += gcc.frees[make_span_class(0, k)];
  }
  uint64_t gc_large_live = gcc.large_alloc_bytes - gcc.large_free_bytes;
  st->gc_by_size[0].mallocs = gc_large_m;
  st->gc_by_size[0].frees = gc_large_f;
  st->gc_heap_alloc += gc_large_live;
  st->by_size[0].mallocs = ps.large_allocs - gc_large_m;
  st->by_size[0].frees = ps.large_frees - (gc_large_f < ps.large_frees ? gc_large_f : ps.large_frees);
  st->mallocs += ps.large_allocs;
  st->frees += ps.large_frees;
  st->total_alloc += ps.large_alloc_bytes;
  st->heap_alloc += ps.large_live_bytes;
  st->heap_objects += ps.large_allocs - ps.large_frees;
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
  st->num_p = static_cast<uint32_t>(g_procs.count);
  st->num_p_in_use = static_cast<uint32_t>(g_procs.in_use);
}

void read_stats(gomem_stats* st) {
  memset(st, 0, sizeof *st);
  ensure_init();
  // The caller's own pending remote frees count as done.
  if (t_mcache != &g_empty_mcache) {
    MutexLock l(t_mcache->lock);
    t_mcache->flush_batch(g_heap);
  }
  read_heap_stats(st);
  gc_fill_stats(st);  // the collection lock: never under g_stats_lock
  st->sys = st->heap_sys + st->mspan_sys + st->mcache_sys + st->gc_sys + st->other_sys;
}

}  // namespace

void stats_fork_prepare() { g_stats_lock.lock(); }
void stats_fork_parent() { g_stats_lock.unlock(); }
void stats_fork_child() { g_stats_lock.reset(); }

void print_stats_to(int fd) {
  gomem_stats st;
  read_stats(&st);
  StackBuf<4096> b;
  auto line = [&](const char* name, uint64_t bytes, const char* note = nullptr) {
    b.s("  ").s(name).pad(18).bytes(bytes).pad(34);
    if (note) b.s(note);
    b.c('\n');
  };
  b.s("gomem statistics (pid ").u(static_cast<uint64_t>(os::gettid())).s(")\n");
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
    b.s("  num_gc").pad(18).u(st.num_gc).pad(34).s("collections\n");
    b.s("  pause_total").pad(18).f(static_cast<double>(st.pause_total_ns) / 1e6, 3).s(" ms\n");
    line("gc_heap_alloc", st.gc_heap_alloc, "bytes in collected objects");
    line("next_gc", st.next_gc, "heap goal");
  }
  os::write_fd(fd, b.str(), b.len());
}

}  // namespace gomem

extern "C" {

GOMEM_EXPORT void gomem_read_stats(gomem_stats* stats) { gomem::read_stats(stats); }

GOMEM_EXPORT void gomem_print_stats(int fd) { gomem::print_stats_to(fd); }

}  // extern "C"
