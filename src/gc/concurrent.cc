// Mostly-concurrent marking (GOMEM_GC=concurrent): Boehm, Demers, Shenker,
// "Mostly Parallel Garbage Collection", PLDI 1991, with the kernel's
// dirty-page bits (platform/dirty.h) standing in for the write barrier that
// C and C++ code lacks.
//
// A cycle (collect in gc.cc calls conc_mark, then finishes as in stw):
//   1. First stop, short: every heap page is write-protected (protect_all
//      just before the stop, then, stopped, one scan re-protects the pages
//      written in between), every P gives its collected spans back (so that
//      the spans allocated from during marking are all taken through
//      cache_span, see below), the roots (stacks, registers, TLS, data
//      segments, added ranges, uncollectable blocks, finalizer roots) are
//      scanned into the mark work, and the world starts again.
//   2. The markers drain the work while the program runs.
//   3. Pre-cleaning, while the program runs, at most kMaxRounds rounds: one
//      PAGEMAP_SCAN lists the heap pages written since they were protected
//      and protects them again in the same walk; the marked objects on them
//      are rescanned (rescan_dirty_run, the generational minor cycle's
//      code) and the markers drain what that found. Rounds stop when a round
//      finds few pages (kConvergedPages) or no fewer than the last one: the
//      program dirties pages faster than they are rescanned (binary-trees
//      does: every page it allocates into is written), and more rounds would
//      not shorten the final stop.
//   4. Final stop: the pages written since the last round (scan without
//      re-protecting: the next cycle's first stop protects everything) and
//      every root again; the caller drains with the world stopped, clears
//      weak pointers, queues finalizers and sweeps as in stw.
//
// The invariant, at the final stop: every pointer the program stored into a
// heap object since the first stop lies on a page reported written (and its
// object, if marked, is rescanned from that page), or in a root (rescanned
// whole), or in an object allocated since the first stop (black, and its
// page written too: see below). Hence, after the final drain, no marked
// object holds a pointer to an unmarked allocated object, and every object
// reachable at the final stop is marked. The protection is complete while
// the world is stopped, before any marking, so a write after the world
// starts is either seen by a scan that marks through it or leaves its page
// written for the next one (the kernel resolves the fault and re-protects atomically per
// page; a scan reports a page only after the write is complete). The
// kernel's own writes (read() into the heap) count as writes.
//
// Objects allocated during the cycle are allocated black: every span a P
// takes while `black` is set has the mark bits of its free slots set first
// (premark_free_slots, in cache_span), so whatever the P hands out is
// marked from birth with no change to the allocation fast path; when the P
// gives the span back (uncache_span, also at the final stop), the marks of
// the slots still free are cleared again, so the sweep sees exactly the
// allocated, marked objects. A black object is never scanned by a marker:
// its contents are zero or were written after the first stop (the allocator
// clears a reused slot, a write; a fresh page is zero), so its page is
// reported written and it is rescanned there. Large objects allocated during
// the cycle are marked at allocation; an explicit free of a large object
// during the cycle (gc_free) is deferred to the sweep, so no span a marker
// may still be scanning leaves the heap. No span is swept while marking
// (the cycle starts with every span swept and bumps sweepgen in the final
// stop), so alloc bits stay put and freeindex only grows: a marker racing
// with an allocation at worst marks a new object a second time (it is
// marked already) or takes it for free (it is black anyway). Mark bits are
// set with atomic read-modify-writes throughout.
//
// Why the final stop is short: it rescans the roots (as a stop-the-world
// cycle's first step), the marked objects on the pages written since the
// last round (bounded by what the program wrote in one round's time), and
// drains what those reach, which the earlier rounds already marked for
// the most part. It does not trace the heap.
//
// Who runs it: the pacer's cycles run on a background collector thread
// (registered, started by the first concurrent cycle), so the thread whose
// allocation crossed the trigger goes on allocating; a forced collection
// (gomem_gc_collect) runs on its caller, which waits for it anyway.
//
// Pacing: the cycle starts at a trigger below the goal (pacer.cc: at most
// kConcTriggerPercent of the runway from the marked heap to the goal, less
// after cycles the program had to wait for: adapt_trigger), so marking can
// finish before the heap reaches the goal. The next goal is GOGC's over
// what the markers traced, not over the objects allocated black (gc.cc).
//
// Proportional mark assists (Go's gcAssistAlloc, mgcmark.go). Beside the
// program the markers take a quarter of the CPUs, at least one (mark.cc:
// conc_markers, Go's 25 % background utilisation); the program pays for the
// rest as it allocates, so that it slows a little all cycle long instead of
// standing still at its end:
//   - Debt. From the first stop to the final one (g_conc.marking), every
//     byte a thread takes for allocation on the slow path (a span's free
//     bytes when it refills, a large object: conc_charge, called where
//     heap_live grows; the fast path is untouched) adds to that thread's
//     debt, t_assist_debt (an epoch drops an older cycle's).
//   - Ratio. After the refill (maybe_trigger), conc_pay_assist converts the
//     debt to scan work at assist_work_per_byte (pacer.cc, Go's revise():
//     the scan work still expected over the heap still allowed before the
//     goal, computed afresh at each assist), at least kOverAssistWork (the
//     surplus is credit for the next refills) and at most kMaxAssistWork per
//     allocation (about a millisecond of scanning; the rest waits for the
//     next refill).
//   - Payment. First from the background credit (g_conc.bg_credit: what the
//     markers scanned, flushed every 64 KiB, that no assist took: Go's
//     bgScanCredit), then by scanning: mark_assist_n joins the drain open
//     to assists, scans that much from the pool with the thread's own
//     Marker and leaves, handing back what it did not scan. The markers
//     keep some work in the pool while the cycle marks (mark.cc: balance),
//     so an assist does not depend on a marker that is descheduled.
//   - No work. Below the hard goal (Go's: 1.1 x the goal) the thread goes
//     on with its debt and looks again after kRetryBytes more. Past it, it
//     parks (bounded by kParkNs, woken when a marker flushes credit or a
//     drain opens) and pays as soon as it can; only when marking is over
//     and it still owes does it wait for the cycle's end (the final stop,
//     bounded by the cycle; the markers never wait for the program): until
//     the cycle is published (gc.cc: wait_cycle_published), not on the
//     collection lock, which the collector thread may take again for the
//     next cycle before a woken waiter runs; and it never runs a cycle
//     itself while the collector thread exists. A thread past the hard goal before the cycle's first
//     stop waits for marking to start (wait_for_marking), not for the whole
//     cycle, and counts as a cycle that started late (adapt_trigger).
// Every such stall (an assist's scanning or parking, a wait) is recorded in
// gomem_stats.wait_ns beside the pauses (gc.cc: record_stall), since a cycle
// whose stops are short can still hold a thread up. An assist is a
// non-preemptible section (mark.cc): no drain is open across a stop, so a
// stop never finds one holding the pool's lock.
//
// Mark assists that wait (conc_assist, the path above when the thread must
// wait for the cycle's end): the waiting thread joins each drain open to
// assists (mark.cc: the first concurrent drain and each pre-cleaning
// round's, never the final stop's) and marks with its own Marker until the
// drain is done. Between drains it sleeps on g_conc.drains, which the
// collector bumps when a drain opens and after clearing g_conc.marking just
// before the final stop; from then on it waits only for the cycle's end
// (wait_cycle_end). A drain returns only once its assists left, so none
// marks while the world is stopped.
//
// Measured on binary-trees (docs/gc.md section 9): pre-cleaning does not
// converge there; before the proportional assists the single-threaded
// program outran the markers and waited for most cycles (stall max 73 ms on
// a quiet machine, 58 ms p99, for stops of 3.5 ms at most). With them, on a
// machine loaded 17-27 runnable threads deep (depth 21, three interleaved
// runs each, medians): stalls p50 / p99 / max 143 / 550 / 1874 ms before,
// 52 / 230 / 313 ms after, CPU 36.4 -> 34.0 s, wall time the same; quiet
// figures are still to be taken.
//
// Fallback: when the kernel refuses tracking (or a fork child cannot start
// its own), cycles stop the world for the whole mark, said once in gctrace;
// a scan refused half-way in a cycle treats every heap page as written at
// the final stop.
//
// Synchronisation: g_conc.black and .running are written with the world
// stopped and read by allocating threads inside non-preemptible sections,
// which a stop never splits; black_bytes, assists and the collector
// thread's kick, pending and started, the assists' marking and drains, and
// the proportional assists' figures (epoch, scan_work, bg_credit, ...) are
// atomics (internal.h says who writes them); a thread's debt is its own
// (thread-local); the rest is under the collection lock (or initialisation).
#include "gc/internal.h"
#include "platform/dirty.h"
#include "platform/os.h"
#include "platform/thread.h"

namespace gomem {
namespace gc {

GOMEM_META constinit ConcState g_conc;
GOMEM_META constinit ConcHooks g_conc_hooks;

namespace {

// Pre-cleaning rounds at most (dirty.h: at binary-trees' allocation rate
// rounds do not converge, so more do not help).
constexpr int kMaxRounds = ConcNote::kMaxRounds;
// A round that finds fewer written pages ends pre-cleaning: the final stop
// rescans at most about that many pages' worth more.
constexpr int64_t kConvergedPages = 64;
// A thread waiting to assist re-checks at least this often (ns).
constexpr int64_t kAssistRecheckNs = 10 * 1000 * 1000;
// A proportional assist scans at least this much (Go's gcOverAssistWork:
// the surplus is credit for the next allocations, so that assists are not
// one per refill) and at most this much per allocation (about a
// millisecond: the rest of the debt waits for the next refill).
constexpr uint64_t kOverAssistWork = 64 * 1024;
constexpr uint64_t kMaxAssistWork = 1024 * 1024;
// A thread past the hard goal with debt and no work re-checks this often
// (it is woken sooner when a drain opens or a marker flushes credit).
constexpr int64_t kParkNs = 1000 * 1000;
constexpr int64_t kRetryBytes = 256 * 1024;

void say_stw_once() { say_tracking_off_once(&g_conc.said_stw, "concurrent", "stops the world for its whole mark"); }

// Bits of word w of a span's bitmap that are slots in [from, nelems).
uint64_t slot_mask(const MSpan* s, uint32_t w, uint32_t from) {
  uint64_t m = ~uint64_t{0};
  if (w == from / 64) m &= ~uint64_t{0} << (from % 64);
  if (w == (s->nelems - 1) / 64 && s->nelems % 64) m &= (uint64_t{1} << (s->nelems % 64)) - 1;
  return m;
}

// DirtyRunFn of the first stop's reset: nothing is marked yet, so a page
// written before the stop needs only its protection back.
void ignore_run(void*, uintptr_t, uintptr_t) {}

// Every slot of the whole heap counts as written (a refused scan).
void rescan_all_marked(Marker& m) {
  for (HeapArena* a = g_heap.arenas(); a; a = a->next) rescan_dirty_run(&m, a->base, a->base + kArenaBytes);
}

// Pre-cleaning, world running: rounds of scan-reprotect-rescan-drain.
void preclean(Marker& m, ConcNote* note) {
  int64_t last = -1;
  for (int r = 0; r < kMaxRounds; r++) {
    int64_t n = g_dirty.scan_all(rescan_dirty_run, &m, DirtyTracker::kReprotect);
    if (n < 0) {
      note->refused = true;
      return;
    }
    note->round_pages[note->rounds++] = n;
    mark_parallel(m, true);
    if (ConcHook h = g_conc_hooks.round) h(r);
    if (n < kConvergedPages || (last >= 0 && n >= last)) return;
    last = n;
  }
}

// The background collector: registered (a world-stop and its roots include
// it, like the sweeper), it runs the pacer's cycles.
GOMEM_TLS bool t_collector;  // set on the background collector thread
// Set on the thread that runs a concurrent cycle, from its first stop to
// its final one: it assists no one, its own cycle least of all.
GOMEM_TLS bool t_marking_here;
// This thread's assist debt (Go's gcAssistBytes, negated): bytes it
// allocated during cycle t_assist_epoch not yet paid for by scan work
// (negative: credit from an assist that scanned more). Its own thread only.
GOMEM_TLS int64_t t_assist_debt;
GOMEM_TLS uint32_t t_assist_epoch;
// Below the hard goal, an assist that found no work is not tried again
// before the debt reaches this (kRetryBytes more): the markers hold their
// work a while, and looking for it costs. Its own thread only.
GOMEM_TLS int64_t t_assist_retry;

void* collector_main(void*) {
  t_collector = true;
  register_current_thread();
  uint32_t seen = 0;
  for (;;) {
    uint32_t k;
    os::clear_dead_stack();  // what the last cycle left there is no root
    os::clear_vector_registers();
    while ((k = g_conc.kick.load(std::memory_order_acquire)) == seen)
      os::futex_wait(reinterpret_cast<volatile uint32_t*>(&g_conc.kick), k);
    seen = k;
    collect(Trigger::kHeap);
    g_conc.pending.store(false, std::memory_order_release);
  }
  return nullptr;
}

// Under the collection lock, before the world stops (pthread_create
// allocates and takes glibc's locks).
void start_collector_thread() {
  if (g_conc.started.load(std::memory_order_relaxed)) return;
  g_conc.started.store(true, std::memory_order_relaxed);
  if (!os::start_thread(collector_main, nullptr)) g_conc.started.store(false, std::memory_order_relaxed);
}

// First stop, world stopped: the assists' figures for the new cycle.
void start_assists() {
  t_marking_here = true;
  uint64_t live = g_pacer.heap_live.load(std::memory_order_relaxed);
  g_conc.epoch.fetch_add(1, std::memory_order_relaxed);
  g_conc.scan_work.store(0, std::memory_order_relaxed);
  g_conc.bg_credit.store(0, std::memory_order_relaxed);
  g_conc.triggered.store(live, std::memory_order_relaxed);
  g_conc.max_work.store(live, std::memory_order_relaxed);
  g_conc.expected_work.store(g_conc.last_work ? g_conc.last_work : live, std::memory_order_relaxed);
}

// Go's pacer moves its trigger by what the last cycle saw; this one by
// whether the program had to wait for it: a cycle that threads waited for
// started too late (the next starts kTriggerStep points earlier, down to
// kMinTrigger), one they did not could have started later (one point later,
// up to kConcTriggerPercent).
constexpr int kTriggerStep = 10;
constexpr int kMinTrigger = 30;
void adapt_trigger(bool waited) {
  int t = g_pacer.trigger_percent.load(std::memory_order_relaxed);
  t = waited ? t - kTriggerStep : t + 1;
  if (t < kMinTrigger) t = kMinTrigger;
  if (t > kConcTriggerPercent) t = kConcTriggerPercent;
  g_pacer.trigger_percent.store(t, std::memory_order_relaxed);
}

bool past_hard_goal() {
  uint64_t goal = g_pacer.goal.load(std::memory_order_relaxed);
  return g_pacer.heap_live.load(std::memory_order_relaxed) >= goal + goal / 10;  // Go's hard goal: 1.1x
}

// Takes up to work bytes of the background markers' credit.
uint64_t steal_credit(uint64_t work) {
  int64_t c = g_conc.bg_credit.load(std::memory_order_relaxed);
  while (c > 0) {
    int64_t take = c < static_cast<int64_t>(work) ? c : static_cast<int64_t>(work);
    if (g_conc.bg_credit.compare_exchange_weak(c, c - take, std::memory_order_relaxed))
      return static_cast<uint64_t>(take);
  }
  return 0;
}

// One payment of this thread's debt at the current ratio, in credit first,
// then in scan work (*scanned: some was scanned). True if some stays owed
// because there was no work to do.
bool pay_once(bool* scanned) {
  double per_byte = assist_work_per_byte();
  double owed = static_cast<double>(t_assist_debt) * per_byte;
  uint64_t work = owed < static_cast<double>(kOverAssistWork)  ? kOverAssistWork
                  : owed > static_cast<double>(kMaxAssistWork) ? kMaxAssistWork
                                                               : static_cast<uint64_t>(owed);
  uint64_t got = steal_credit(work);
  if (got < work) {
    uint64_t n = mark_assist_n(work - got);
    *scanned |= n != 0;
    got += n;
  }
  double paid = static_cast<double>(got) / per_byte;
  t_assist_debt -= paid > 1e18 ? static_cast<int64_t>(1e18) : static_cast<int64_t>(paid);
  return got < work && t_assist_debt > 0;
}

// Past the hard goal with debt and nothing to do: until a drain opens or a
// marker flushes credit (both bump drains), bounded by kParkNs.
void park() {
  g_conc.parked.fetch_add(1, std::memory_order_acq_rel);
  uint32_t d = g_conc.drains.load(std::memory_order_acquire);
  if (g_conc.marking.load(std::memory_order_acquire))
    os::futex_wait(reinterpret_cast<volatile uint32_t*>(&g_conc.drains), d, kParkNs);
  g_conc.parked.fetch_sub(1, std::memory_order_acq_rel);
}

// Past the hard goal before the cycle's first stop (the collector thread
// sweeps what is left and protects the heap first): waits until it marks,
// from when this thread pays its way as any other, rather than for the
// whole cycle. Bounded by the collector's start (or the cycle's end, when
// another thread ran it); the drain that opens after the first stop wakes
// it, the bound only re-checks.
void wait_for_marking() {
  int64_t t0 = os::nanotime();
  for (;;) {
    uint32_t d = g_conc.drains.load(std::memory_order_acquire);
    if (g_conc.running.load(std::memory_order_acquire) || !g_conc.pending.load(std::memory_order_acquire)) break;
    os::futex_wait(reinterpret_cast<volatile uint32_t*>(&g_conc.drains), d, kParkNs);
  }
  uint32_t cycle = cycle_running();  // the one that marks now
  int64_t ns = os::nanotime() - t0;
  conc_assist_waited(ns);  // the cycle started too late: adapt_trigger
  record_stall(ns, cycle);
}

// Past the hard goal, owing work that there is none left to do: helps the
// drains still open to assists, then waits for the end of the cycle it is
// charged to (wait_cycle_published: never on the collection lock, and never
// running a cycle itself). The caller records the stall.
void wait_cycle_end(const Stall& stall) {
  conc_assist();
  wait_cycle_published(stall.cycle);
  conc_assist_waited(os::nanotime() - stall.since);  // the program outran the markers: adapt_trigger
}

}  // namespace

void conc_charge(uint64_t bytes) {
  if (!g_conc.marking.load(std::memory_order_relaxed)) return;
  uint32_t e = g_conc.epoch.load(std::memory_order_relaxed);
  if (t_assist_epoch != e) {
    t_assist_epoch = e;
    t_assist_debt = 0;
    t_assist_retry = 0;
  }
  t_assist_debt += static_cast<int64_t>(bytes);
}

bool conc_pay_assist(Stall* stalled) {
  if (t_assist_debt <= 0 || t_marking_here || !g_conc.marking.load(std::memory_order_acquire)) return false;
  if (t_assist_epoch != g_conc.epoch.load(std::memory_order_relaxed)) {
    t_assist_debt = 0;  // an older cycle's
    return false;
  }
  if (t_assist_debt < t_assist_retry && !past_hard_goal()) return false;
  int64_t t0 = os::nanotime();
  uint32_t cycle = cycle_running();  // marking: the cycle this thread pays
  bool scanned = false, parked = false, starved;
  while ((starved = pay_once(&scanned)) && past_hard_goal() && g_conc.marking.load(std::memory_order_acquire)) {
    if (!parked)
      if (ConcHook h = g_conc_hooks.waiting) h(-1);
    park();
    parked = true;
  }
  t_assist_retry = starved ? t_assist_debt + kRetryBytes : 0;
  starved = starved && past_hard_goal();
  if (scanned || parked) {
    int64_t ns = os::nanotime() - t0;
    g_conc.paid.fetch_add(1, std::memory_order_relaxed);
    g_conc.paid_ns.fetch_add(static_cast<uint64_t>(ns), std::memory_order_relaxed);
    if (starved)
      *stalled = {t0, cycle};  // the caller waits on, and records it all
    else
      record_stall(ns, cycle);
    // The scans' frames and the work buffers' copies are no roots.
    os::clear_dead_stack();
  }
  return starved;
}

void Marker::flush_credit() {
  uint64_t d = scanned_bytes - flushed_;
  flushed_ = scanned_bytes;
  if (d == 0 || !g_conc.marking.load(std::memory_order_relaxed)) return;
  g_conc.scan_work.fetch_add(d, std::memory_order_relaxed);
  if (assist) return;
  g_conc.bg_credit.fetch_add(static_cast<int64_t>(d), std::memory_order_relaxed);
  if (g_conc.parked.load(std::memory_order_relaxed) != 0) conc_wake_assists();
}

bool conc_collect_here(bool starved, Stall* stall) {
  if (!g_conc.started.load(std::memory_order_relaxed) || g_heap.commit_hook == nullptr) return true;
  bool past = past_hard_goal();
  if (past && t_collector) return true;
  uint32_t cycle = cycle_running();  // before running: if running, this cycle or an earlier one runs
  bool running = g_conc.running.load(std::memory_order_acquire);
  // Past the hard goal, the caller waits for the cycle's end when it owes
  // work and marking is over (starved), or when only the final stop is left.
  if (past && (starved || (running && !g_conc.marking.load(std::memory_order_acquire)))) {
    if (stall->since == 0) *stall = {os::nanotime(), cycle};
    wait_cycle_end(*stall);
    return false;
  }
  if (!g_conc.pending.exchange(true, std::memory_order_acq_rel)) {
    g_conc.kick.fetch_add(1, std::memory_order_acq_rel);
    os::futex_wake(reinterpret_cast<volatile uint32_t*>(&g_conc.kick), 1);
  }
  if (past && !running) wait_for_marking();
  return false;
}

void premark_free_slots(MSpan* s) {
  uint64_t* marks = s->gcmark_bits();
  const uint64_t* alloc = s->alloc_bits();
  for (uint32_t w = s->freeindex / 64; w < s->bitmap_words(); w++)
    __atomic_fetch_or(&marks[w], ~alloc[w] & slot_mask(s, w, s->freeindex), __ATOMIC_RELAXED);
}

void unmark_free_slots(MSpan* s) {
  uint64_t* marks = s->gcmark_bits();
  const uint64_t* alloc = s->alloc_bits();
  for (uint32_t w = s->freeindex / 64; w < s->bitmap_words(); w++)
    __atomic_fetch_and(&marks[w], ~(~alloc[w] & slot_mask(s, w, s->freeindex)), __ATOMIC_RELAXED);
}

void mark_large_black(MSpan* s) {
  __atomic_fetch_or(&s->gcmark_bits()[0], uint64_t{1}, __ATOMIC_RELAXED);
  g_conc.black_bytes.fetch_add(s->elemsize, std::memory_order_relaxed);
}

void conc_init(const os::EnvSettings& env) {
  if (!env.concurrent) return;
  g_conc.requested = true;
  if (start_dirty_tracking()) g_pacer.trigger_percent.store(kConcTriggerPercent, std::memory_order_relaxed);
}

bool conc_choose() {
  if (!g_conc.requested) return false;
  if (!g_dirty.tracking() && !g_conc.retried) {
    // A fork child (or a tracker that went Off): one try to track again.
    // A fresh init registers every known range; protect_all below covers
    // them all, so this very cycle can be concurrent.
    g_conc.retried = true;
    if (g_heap.commit_hook != nullptr) g_dirty.init();
  }
  bool ok = g_heap.commit_hook != nullptr && g_dirty.tracking();
  if (!ok) {
    g_pacer.trigger_percent.store(100, std::memory_order_relaxed);
    say_stw_once();
  } else if (g_pacer.trigger_percent.load(std::memory_order_relaxed) == 100) {
    g_pacer.trigger_percent.store(kConcTriggerPercent, std::memory_order_relaxed);
  }
  if (ok) start_collector_thread();
  return ok;
}

bool conc_mark(Marker& m, ConcNote* note) {
  // 1. First stop. Protecting the whole heap costs a page-table walk that
  // writes every present page's entry (ms per 100 MB): done before the
  // stop, so that the stop only re-protects the pages written meanwhile
  // (one scan, reprotecting as it reports, which costs per written page).
  bool ok = g_dirty.protect_all();
  int64_t t0 = os::nanotime();
  stop_the_world();
  heap_range(&g_range);
  find_trace_root();
  snapshot_roots();
  if (!ok || g_dirty.scan_all(ignore_run, nullptr, DirtyTracker::kReprotect) < 0) {
    say_stw_once();
    note->start_stop0 = t0;
    return false;  // the world stays stopped: the caller marks it all now
  }
  release_p_spans_stw(false);
  start_assists();
  g_conc.black_bytes.store(0, std::memory_order_relaxed);
  g_conc.black.store(true, std::memory_order_relaxed);
  g_conc.running.store(true, std::memory_order_relaxed);
  g_conc.marking.store(true, std::memory_order_release);
  os::clear_dead_stack();
  scan_roots(m);
  int64_t t1 = os::nanotime();
  start_the_world();
  note->start_stop0 = t0;
  note->start_pause = t1 - t0;
  // 2. Concurrent mark; 3. pre-cleaning.
  if (ConcHook h = g_conc_hooks.started) h(-1);
  if (ConcHook h = g_conc_hooks.scanned) {
    g_conc_scan_hook.store(h, std::memory_order_relaxed);
    mark_serial(m);
    g_conc_scan_hook.store(nullptr, std::memory_order_relaxed);
  } else {
    mark_parallel(m, true);
  }
  if (ConcHook h = g_conc_hooks.round) h(-1);
  preclean(m, note);
  // The threads waiting to assist wait for the final stop from here on.
  g_conc.marking.store(false, std::memory_order_release);
  conc_wake_assists();
  // 4. Final stop. The data segments first: dl_iterate_phdr takes the
  // loader's lock, which a stopped thread may hold.
  collect_data_segments();
  note->final_stop0 = os::nanotime();
  stop_the_world();
  heap_range(&g_range);
  snapshot_roots();
  if (!note->refused) {
    note->final_pages = g_dirty.scan_all(rescan_dirty_run, &m, DirtyTracker::kReportOnly);
    note->refused = note->final_pages < 0;
  }
  if (note->refused) rescan_all_marked(m);
  os::clear_dead_stack();
  scan_roots(m);
  return true;
}

uint64_t conc_end_mark(ConcNote* note, uint64_t scanned) {
  t_marking_here = false;
  g_conc.last_work = scanned;
  note->paid = g_conc.paid.exchange(0, std::memory_order_relaxed);
  note->paid_ns = static_cast<int64_t>(g_conc.paid_ns.exchange(0, std::memory_order_relaxed));
  g_conc.black.store(false, std::memory_order_relaxed);
  g_conc.running.store(false, std::memory_order_relaxed);
  note->assists = g_conc.assists.exchange(0, std::memory_order_relaxed);
  note->assist_wait = static_cast<int64_t>(g_conc.assist_wait_ns.exchange(0, std::memory_order_relaxed));
  note->assist_scanned = g_conc.assist_scanned.exchange(0, std::memory_order_relaxed);
  adapt_trigger(note->assists != 0);
  return g_conc.black_bytes.load(std::memory_order_relaxed);
}

bool conc_stalls_caller() { return g_conc.requested && !t_collector; }

void conc_assist() {
  if (ConcHook h = g_conc_hooks.waiting) h(-1);
  while (g_conc.marking.load(std::memory_order_acquire)) {
    uint32_t d = g_conc.drains.load(std::memory_order_acquire);
    if (mark_assist()) continue;
    if (!g_conc.marking.load(std::memory_order_acquire)) break;
    // Until the next drain opens or marking ends (both bump drains); the
    // bound only re-checks, in case a wake was lost.
    os::futex_wait(reinterpret_cast<volatile uint32_t*>(&g_conc.drains), d, kAssistRecheckNs);
  }
  // The work buffers' copies and the scans' frames are no roots.
  os::clear_dead_stack();
  os::clear_vector_registers();
}

void conc_wake_assists() {
  g_conc.drains.fetch_add(1, std::memory_order_acq_rel);
  os::futex_wake(reinterpret_cast<volatile uint32_t*>(&g_conc.drains), 1 << 30);
}

void conc_assist_waited(int64_t ns) {
  g_conc.assists.fetch_add(1, std::memory_order_relaxed);
  g_conc.assist_wait_ns.fetch_add(static_cast<uint64_t>(ns), std::memory_order_relaxed);
}

void conc_fork_child() {
  g_conc.retried = false;
  g_conc.started.store(false, std::memory_order_relaxed);  // the collector thread is gone
  g_conc.pending.store(false, std::memory_order_relaxed);
}

ConcHooks set_conc_test_hooks(const ConcHooks& h) {
  ConcHooks old = g_conc_hooks;
  g_conc_hooks = h;
  return old;
}

}  // namespace gc
}  // namespace gomem
