// One collection cycle, its statistics and its gctrace line.
#include <cstring>

#include "base/fmt.h"
#include "gc/internal.h"
#include "gomem/gomem.h"
#include "heap/fault.h"
#include "heap/preempt.h"
#include "platform/env.h"
#include "platform/os.h"
#include "platform/thread.h"

namespace gomem {
namespace gc {

GOMEM_META constinit Settings g_gcsettings;
GOMEM_META constinit std::atomic<bool> g_gc_used{false};

bool should_collect(Trigger why);

namespace {

// Statistics readers (gomem_read_stats) never take the collection lock,
// which a cycle holds throughout: the figures they read are published at the
// end of each cycle under stats_lock, a leaf lock held for a few hundred
// bytes of copying, never while the world is stopped (a reader stopped
// inside it would hold the collector up).
struct CycleStats {
  Mutex lock;  // the collection lock: one cycle at a time
  // Under the collection lock:
  uint64_t gc_cpu_ns = 0;  // wall time of pauses x markers, plus the sweep the collector did
  int64_t start_ns = 0;
  int ncpu = 1;  // os::num_cpus() as of the last cycle (a system call: not on the readers' path)
  // Written by the collector under both locks; read under stats_lock:
  Mutex stats_lock;
  std::atomic<uint32_t> num_gc{0};  // also read alone, without the lock (gomem_gc_count)
  uint32_t num_forced = 0;
  uint32_t num_minor = 0;  // of num_gc, minor cycles (generational mode)
  uint64_t pause_total = 0;
  uint64_t pause_ns[GOMEM_NUM_PAUSES] = {};
  uint64_t pause_start_ns[GOMEM_NUM_PAUSES] = {};  // of pause_ns: a concurrent cycle's first stop
  uint64_t pause_final_ns[GOMEM_NUM_PAUSES] = {};  // of pause_ns: the stop that ends marking
  uint64_t pause_end[GOMEM_NUM_PAUSES] = {};
  // Stalls (gomem.h): the longest one charged to each cycle, and their sum.
  // Written by the stalled thread itself, under stats_lock (record_stall),
  // and cleared for the next cycle by publish_cycle.
  uint64_t wait_ns[GOMEM_NUM_PAUSES] = {};
  uint64_t wait_total = 0;
  uint64_t last_gc = 0;
  double gc_cpu_fraction = 0;  // gc_cpu_ns / (time since start x ncpu), at the last publish
};
GOMEM_META constinit CycleStats g_cycles;

}  // namespace

void heap_range(HeapRange* r) {
  uintptr_t lo = ~uintptr_t{0}, hi = 0;
  for (HeapArena* a = g_heap.arenas(); a; a = a->next) {
    if (a->base < lo) lo = a->base;
    if (a->base + kArenaBytes > hi) hi = a->base + kArenaBytes;
  }
  if (hi == 0) lo = 0;
  r->lo = lo;
  r->span = hi - lo;
}

namespace {

// What gctrace says of a cycle beyond Go's figures.
struct CycleNote {
  CycleKind kind;
  int64_t dirty_pages;   // minor: pages written since the last stop
  uint64_t dirty_bytes;  // minor: bytes of old objects rescanned on them (concurrent: on written pages)
  uint64_t traced;       // bytes this cycle marked (a minor one: young survivors)
  const ConcNote* conc;  // a concurrent cycle's figures, else nullptr
  uint64_t final_pause;  // ns (concurrent: its final stop)
};

void trace_conc(StackBuf<512>& b, const CycleNote& note) {
  const ConcNote& c = *note.conc;
  auto ms = [](int64_t ns) { return static_cast<double>(ns) / 1e6; };
  b.s(" (concurrent: stops ").f(ms(c.start_pause), 3).c('+').f(ms(static_cast<int64_t>(note.final_pause)), 3);
  b.s(" ms, ").i(c.rounds).s(" rounds:");
  for (int i = 0; i < c.rounds; i++) b.c(' ').i(c.round_pages[i]);
  b.s(" pages, final ").i(c.final_pages).s(" pages, ").u(note.dirty_bytes >> 10).s(" KB rescanned");
  if (c.assists) b.s(", ").u(c.assists).s(" assists waited ").f(ms(c.assist_wait), 3).s(" ms");
  if (c.assist_scanned) b.s(", assists scanned ").u(c.assist_scanned >> 10).s(" KB");
  if (c.paid) b.s(", ").u(c.paid).s(" allocations assisted ").f(ms(c.paid_ns), 3).s(" ms");
  if (c.refused) b.s(", tracking refused: all pages rescanned");
  b.c(')');
}

void trace_line(uint32_t n, int64_t start, int64_t t_stop, int64_t t_mark, int64_t t_end, uint64_t before,
                uint64_t marked, uint64_t goal, int markers, bool forced, const CycleNote& note) {
  StackBuf<512> b;
  double since = static_cast<double>(start - g_cycles.start_ns) / 1e9;
  double elapsed = static_cast<double>(os::nanotime() - g_cycles.start_ns) * g_cycles.ncpu;
  int pct = elapsed > 0 ? static_cast<int>(100.0 * static_cast<double>(g_cycles.gc_cpu_ns) / elapsed + 0.5) : 0;
  auto ms = [](int64_t ns) { return static_cast<double>(ns) / 1e6; };
  double stw = ms(t_stop - start), mark = ms(t_mark - t_stop), term = ms(t_end - t_mark);
  auto mb = [](uint64_t v) { return v >> 20; };
  b.s("gc ").u(n).s(" @").f(since, 3).s("s ").i(pct).s("%: ");
  b.f(stw, 3).c('+').f(mark, 3).c('+').f(term, 3).s(" ms clock, ");
  b.f(stw, 3).c('+').f(0, 3).c('/').f(mark * markers, 3).c('/').f(0, 3).c('+').f(term, 3).s(" ms cpu, ");
  b.u(mb(before)).s("->").u(mb(before)).s("->").u(mb(marked)).s(" MB, ").u(mb(goal)).s(" MB goal, ");
  b.s("0 MB stacks, 0 MB globals, ").i(markers).s(" P");
  if (forced) b.s(" (forced)");
  if (note.kind == CycleKind::kMinor) {
    b.s(" (minor: ").u(note.traced >> 10).s(" KB young marked, ").i(note.dirty_pages).s(" pages written, ");
    b.u(note.dirty_bytes >> 10).s(" KB old rescanned)");
  } else if (note.kind == CycleKind::kFull) {
    b.s(" (full)");
  } else if (note.conc) {
    trace_conc(b, note);
  }
  b.c('\n');
  os::write_stderr(b.str(), b.len());
}

// The collector's share of the CPU time since the program started (Go's
// GCCPUFraction). Under the collection lock.
double cpu_fraction() {
  double elapsed = static_cast<double>(os::nanotime() - g_cycles.start_ns) * g_cycles.ncpu;
  return elapsed > 0 ? static_cast<double>(g_cycles.gc_cpu_ns) / elapsed : 0;
}

// Publishes a finished cycle's figures for the readers (under the collection
// lock, the world started again). Returns the cycle's number.
// start_pause: a concurrent cycle's first stop (else 0); final_pause: the
// stop that ends marking.
uint32_t publish_cycle(bool forced, bool minor, uint64_t start_pause, uint64_t final_pause, uint64_t end_wall) {
  g_cycles.ncpu = os::num_cpus();
  MutexLock sl(g_cycles.stats_lock);
  uint32_t n = g_cycles.num_gc.load(std::memory_order_relaxed) + 1;
  if (forced) g_cycles.num_forced++;
  if (minor) g_cycles.num_minor++;
  uint64_t pause = start_pause + final_pause;
  g_cycles.pause_total += pause;
  g_cycles.pause_ns[(n - 1) % GOMEM_NUM_PAUSES] = pause;
  g_cycles.pause_start_ns[(n - 1) % GOMEM_NUM_PAUSES] = start_pause;
  g_cycles.pause_final_ns[(n - 1) % GOMEM_NUM_PAUSES] = final_pause;
  g_cycles.pause_end[(n - 1) % GOMEM_NUM_PAUSES] = end_wall;
  g_cycles.wait_ns[n % GOMEM_NUM_PAUSES] = 0;  // the next cycle's: its assists start charging it
  g_cycles.last_gc = end_wall;
  g_cycles.gc_cpu_fraction = cpu_fraction();
  g_cycles.num_gc.store(n, std::memory_order_release);
  os::futex_wake(reinterpret_cast<volatile uint32_t*>(&g_cycles.num_gc), 1 << 30);  // wait_cycle_published
  return n;
}

}  // namespace

uint32_t cycle_running() { return g_cycles.num_gc.load(std::memory_order_acquire) + 1; }

void wait_cycle_published(uint32_t n) {
  constexpr int64_t kRecheckNs = 10 * 1000 * 1000;
  for (;;) {
    uint32_t g = g_cycles.num_gc.load(std::memory_order_acquire);
    if (static_cast<int32_t>(g - n) >= 0) return;
    // No cycle runs or is asked for: none will publish n.
    if (!g_cycles.lock.is_locked() && !g_conc.pending.load(std::memory_order_acquire)) return;
    os::futex_wait(reinterpret_cast<volatile uint32_t*>(&g_cycles.num_gc), g, kRecheckNs);
  }
}

// A program thread was held up ns by the pacer (a stall, gomem.h), charged
// to the cycle n it began waiting on (cycle_running() then), even if that
// cycle was published before the thread came here: charged to the next
// one's slot, cleared by publish_cycle, it would be lost. Dropped when the
// slot has been reused since (GOMEM_NUM_PAUSES cycles later).
void record_stall(int64_t ns, uint32_t n) {
  MutexLock sl(g_cycles.stats_lock);
  if (n == 0 || n + GOMEM_NUM_PAUSES <= g_cycles.num_gc.load(std::memory_order_relaxed) + 1) return;
  uint64_t w = static_cast<uint64_t>(ns);
  uint64_t& slot = g_cycles.wait_ns[(n - 1) % GOMEM_NUM_PAUSES];
  if (w > slot) slot = w;
  g_cycles.wait_total += w;
}

namespace {

// gomem_gc_set_cycle_start_fn's callback: set by any thread, read by every
// collection (relaxed: a collection that starts as it is set may miss it).
constinit std::atomic<gomem_cycle_start_fn> g_cycle_start_fn{nullptr};
// Set while this thread runs the callback: a collection that the callback's
// own allocations start does not call it again.
GOMEM_TLS bool t_in_cycle_start_fn;

void run_cycle_start_fn() {
  gomem_cycle_start_fn fn = g_cycle_start_fn.load(std::memory_order_relaxed);
  if (!fn || t_in_cycle_start_fn) return;
  t_in_cycle_start_fn = true;
  fn();
  t_in_cycle_start_fn = false;
}

}  // namespace

gomem_cycle_start_fn set_cycle_start_fn(gomem_cycle_start_fn fn) {
  return g_cycle_start_fn.exchange(fn, std::memory_order_relaxed);
}

namespace {

// One cycle, under the collection lock.
void run_cycle(Trigger why) {
  g_gc_used.store(true, std::memory_order_relaxed);
  bool forced = why == Trigger::kForced || why == Trigger::kMinor;
  int64_t start = os::nanotime();
  // 1. Sweep termination: every span swept once before marking again.
  finish_sweep();
  uint64_t live_before = g_pacer.heap_live.load(std::memory_order_relaxed);
  // Before the world stops: anything that may allocate or take a lock a
  // stopped thread could hold (the loader's lock, pthread_create).
  start_markers();
  collect_data_segments();
  CycleKind kind = gen_choose(why);
  bool conc = kind == CycleKind::kStw && conc_choose();
  Marker m;
  m.init();
  int64_t dirty_pages = 0;
  ConcNote cn;
  // 2. Stop the world (a concurrent cycle: stop, mark beside the program,
  // stop again; concurrent.cc).
  int64_t t_stop0 = os::nanotime();
  // conc_mark scans the roots from its own frame, deeper than this one:
  // what finish_sweep and the rest left there is not a root either.
  if (conc) os::clear_dead_stack();
  if (conc && conc_mark(m, &cn)) {
    t_stop0 = cn.final_stop0;
  } else {
    if (!conc) stop_the_world();  // else conc_mark left it stopped, nothing marked
    conc = false;
    // Only now is the heap's extent final (a thread could still grow it into
    // a new arena right up to the stop) and are the registered roots fixed.
    heap_range(&g_range);
    find_trace_root();
    snapshot_roots();
    // 3. Mark.
    kind = gen_start_mark(kind, m, &dirty_pages);
    os::clear_dead_stack();  // what the steps above left there is not a root (scan_self)
    scan_roots(m);
  }
  int64_t t_stop = os::nanotime();
  mark_parallel(m, false);
  queue_dead_specials(m);
  int64_t t_mark = os::nanotime();
  // 4. Mark termination: flip sweepgen, take the Ps' spans back, pace.
  g_heap.sweepgen.fetch_add(2, std::memory_order_acq_rel);
  release_p_spans_stw(true);
  // Concurrent: the goal grows with what the markers traced, not with what
  // the program allocated during the cycle (black: kept this cycle, live
  // or not), or the heap would ratchet up cycle after cycle.
  if (conc)
    pacer_commit(m.marked_bytes + conc_end_mark(&cn, m.scanned_bytes), m.marked_bytes);
  else
    gen_end_mark(kind, m.marked_bytes);
  int64_t t_end = os::nanotime();
  uint64_t wall = static_cast<uint64_t>(os::walltime());
  start_the_world();
  int markers = num_markers();
  // A concurrent cycle: its time beside the program counted as all of its
  // markers busy (rough: they idle at the end of each drain), plus the
  // time the program's threads spent in proportional assists.
  int64_t conc_ns = conc ? cn.final_stop0 - cn.start_stop0 - cn.start_pause : 0;
  uint64_t beside = conc ? static_cast<uint64_t>(conc_ns * conc_markers() + cn.paid_ns) : 0;
  g_cycles.gc_cpu_ns += static_cast<uint64_t>(t_mark - t_stop) * static_cast<uint64_t>(markers) + beside +
                        static_cast<uint64_t>(t_stop - start - conc_ns) + static_cast<uint64_t>(t_end - t_mark);
  uint64_t start_pause = conc ? static_cast<uint64_t>(cn.start_pause) : 0;
  uint64_t final_pause = static_cast<uint64_t>(t_end - t_stop0);
  uint32_t n = publish_cycle(forced, kind == CycleKind::kMinor, start_pause, final_pause, wall);
  m.release();
  // 5. Sweep: in the background, and by allocation.
  wake_sweeper();
  wake_finalizer_thread();
  if (g_gcsettings.gctrace) {
    // Go's three figures: a concurrent cycle's middle one is its marking
    // beside the program and in the final stop.
    if (conc) t_stop = cn.start_stop0 + cn.start_pause;
    trace_line(n, start, t_stop, t_mark, t_end, live_before, g_pacer.heap_marked.load(), g_pacer.goal.load(), markers,
               forced, CycleNote{kind, dirty_pages, m.dirty_bytes, m.marked_bytes, conc ? &cn : nullptr, final_pause});
    trace_scavenger();
  }
  wake_scavenger();
  if (forced) {
    // Like runtime.GC: return with the heap swept.
    int64_t s0 = os::nanotime();
    finish_sweep();
    g_cycles.gc_cpu_ns += static_cast<uint64_t>(os::nanotime() - s0);
    MutexLock sl(g_cycles.stats_lock);
    g_cycles.gc_cpu_fraction = cpu_fraction();
  }
}

}  // namespace

void collect(Trigger why, int64_t stalled_since) {
  if (!register_current_thread()) return;
  // The world runs and no lock of gomem's is held: the callback may
  // allocate and take the program's locks.
  run_cycle_start_fn();
  // Concurrent mode: a program thread the pacer sends here (no collector
  // thread runs) stalls; the collector thread's cycles and forced ones are
  // no stall.
  bool stall = why == Trigger::kHeap && conc_stalls_caller();
  int64_t t_wait = stall ? (stalled_since ? stalled_since : os::nanotime()) : 0;
  MutexLock gl(g_cycles.lock);
  if (should_collect(why)) run_cycle(why);  // else another thread just collected
  // Under the collection lock: the cycle it waited for or ran is published.
  if (stall) record_stall(os::nanotime() - t_wait, g_cycles.num_gc.load(std::memory_order_relaxed));
}

void wait_for_cycle() { MutexLock gl(g_cycles.lock); }

uint32_t num_gc() { return g_cycles.num_gc.load(std::memory_order_acquire); }

void gc_init(const os::EnvSettings& env) {
  g_cycles.start_ns = os::nanotime();
  g_cycles.ncpu = os::num_cpus();
  g_gcsettings.markers = env.markers;
  g_gcsettings.sig_suspend = env.sig_suspend;
  g_gcsettings.stw_timeout_ms = env.stw_timeout_ms;
  g_gcsettings.gctrace = env.gctrace;
  g_gcsettings.scavenger = env.scavenger;
  g_gcsettings.trace_root = env.trace_root;
  pacer_init(env.memory_limit, env.gc_percent);
  g_heap.grow_hook = heap_grew;
}

void read_counters(GCClassCounts* out) {
  for (int c = 0; c < kMaxClasses; c++) {  // indexes 2c, 2c + 1: span classes spc, spc + 1
    SpanClass spc = gc_count_class(2 * c);
    out->mallocs[2 * c] = g_counters.mallocs[spc].load(std::memory_order_relaxed);
    out->mallocs[2 * c + 1] = g_counters.mallocs[spc + 1].load(std::memory_order_relaxed);
    out->frees[2 * c] = g_counters.frees[spc].load(std::memory_order_relaxed);
    out->frees[2 * c + 1] = g_counters.frees[spc + 1].load(std::memory_order_relaxed);
  }
  out->large_alloc_bytes = g_counters.large_alloc_bytes.load(std::memory_order_relaxed);
  out->large_free_bytes = g_counters.large_free_bytes.load(std::memory_order_relaxed);
}

void fill_stats(gomem_stats* st) {
  {
    MutexLock l(g_cycles.stats_lock);
    st->num_gc = g_cycles.num_gc.load(std::memory_order_relaxed);
    st->num_forced_gc = g_cycles.num_forced;
    st->num_minor_gc = g_cycles.num_minor;
    st->pause_total_ns = g_cycles.pause_total;
    memcpy(st->pause_ns, g_cycles.pause_ns, sizeof st->pause_ns);
    memcpy(st->pause_start_ns, g_cycles.pause_start_ns, sizeof st->pause_start_ns);
    memcpy(st->pause_final_ns, g_cycles.pause_final_ns, sizeof st->pause_final_ns);
    memcpy(st->pause_end, g_cycles.pause_end, sizeof st->pause_end);
    memcpy(st->wait_ns, g_cycles.wait_ns, sizeof st->wait_ns);
    st->wait_total_ns = g_cycles.wait_total;
    st->last_gc = g_cycles.last_gc;
    st->gc_cpu_fraction = g_cycles.gc_cpu_fraction;
  }
  st->next_gc = g_pacer.goal.load();
  st->gc_heap_live = g_pacer.heap_marked.load();
  int p = g_pacer.gc_percent.load();
  st->gc_percent = p;
  st->enable_gc = p >= 0;
  st->memory_limit = g_pacer.memory_limit.load();
  st->num_finalizers_run = finalizers_run();
  st->gc_mode = gc_mode();
}

// fork(). The parent takes every lock of the process in one order, the one
// the code nests them in, so that no other thread holds any of them when the
// fork happens and the child starts from whole data structures:
//
//   g_cycles.lock (the collection lock: no cycle runs across a fork; a
//     thread waiting for it can still be stopped)
//   -> g_cycles.stats_lock (a leaf: a statistics reader may hold it)
//   -> non-preemptible section (for the allocator locks below)
//   -> g_reg.lock (stw.cc: thread registry)
//   -> g_roots.lock (roots.cc) -> g_fin.lock (finalizer.cc)
//   -> sweeper and scavenger start locks (held around pthread_create, which
//      allocates: before the pool lock)
//   -> g_procs.lock -> every P's lock
//   -> every mcentral lock (runtime/proc.cc)
//   -> the scavenge lock (scavenger.cc, standing in for MHeap::scav_lock_)
//   -> g_heap.lock.
//
// No path takes two of these in the other order: the collector takes the
// registry, mcentral and heap locks under g_cycles and the start locks and
// g_fin (pthread_create) after it; g_roots and g_fin are leaves but for the
// OS; g_cycles.stats_lock nests nothing; the start locks only nest the allocator's (pthread_create);
// allocation-time scavenging only try_locks the scavenge lock. The mark
// pool's lock (mark.cc) needs no hold: it is only taken during a cycle,
// which g_cycles excludes.
void fork_prepare() {
  g_cycles.lock.lock();
  g_cycles.stats_lock.lock();
  nopreempt_enter();
  stw_fork_prepare();
  roots_fork_prepare();
  finalizer_fork_prepare();
  sweep_fork_prepare();
  scavenger_fork_prepare();
}

void fork_parent() {
  scavenger_fork_parent();
  sweep_fork_parent();
  finalizer_fork_parent();
  roots_fork_parent();
  stw_fork_parent();
  nopreempt_exit();
  g_cycles.stats_lock.unlock();
  g_cycles.lock.unlock();
}

// Called after the runtime reset its locks and released the Ps of the
// threads that did not survive (their collected spans first, with
// release_p_spans_after_fork).
void fork_child(MCache* self) {
  stw_fork_child();
  g_cycles.lock.reset();
  g_cycles.stats_lock.reset();
  roots_fork_child();
  helpers_fork_child();
  gen_fork_child();
  conc_fork_child();
  sweep_fork_child(self);
  finalizer_fork_child();
  scavenger_fork_child();
  t_nopreempt--;
  t_preempt_pending = 0;
}

}  // namespace gc
}  // namespace gomem
