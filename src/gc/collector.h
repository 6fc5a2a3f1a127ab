// The garbage collector: Go's mark-sweep, for C and C++ programs.
//
// A cycle (gc.cc, like Go's gcStart / gcMarkDone / gcMarkTermination):
//
//   1. Finish sweeping the previous cycle (sweep.cc: every span is swept
//      exactly once per cycle; this is Go's finishsweep_m).
//   2. Stop the world (stw.cc). Registered threads get a signal; a thread
//      inside a non-preemptible section (heap/preempt.h: a collected
//      allocation, a sweep, the heap lock) stops when it leaves it, so no
//      stopped thread is half-way through changing the heap.
//   3. Mark (mark.cc). Roots (roots.cc): the stacks and saved registers of
//      registered threads, the writable data of every loaded object minus
//      gomem's own metadata, ranges added with gomem_add_roots, uncollectable
//      blocks, the referents of objects with finalizers, the arguments of
//      finalizers and cleanups, weak handles (finalizer.cc). Scanning is
//      conservative: any aligned word that points anywhere inside an
//      allocated object of a collected span marks it, found in O(1) through
//      the arena index and the span's magic divisor. Noscan objects are
//      marked, never scanned. Marker threads share work through a pool of
//      work buffers and steal from each other.
//   4. Mark termination, still stopped (finalizer.cc): weak handles of
//      unreachable objects are cleared; unreachable objects with finalizers
//      are kept for one more cycle (a second marking round traces them) and
//      their finalizers queued; cleanups of objects still unmarked are queued;
//      mheap.sweepgen += 2, which makes every collected span "needs
//      sweeping" and swaps mcentral's swept / unswept sets; every P gives
//      back its cached collected spans; the pacer sets the next goal
//      (pacer.cc). Start the world.
//   5. Sweep, lazily (allocating threads sweep spans of the class they need
//      before taking a fresh one) and in the background (one sweeper
//      thread, registered like the finalizer runner, so that a world-stop
//      and its sweepgen bump wait for the span it is sweeping), span by
//      span: alloc_bits = gcmark_bits, empty spans back to the heap.
//
// GOMEM_GC=generational (generational.cc): sweeping keeps the mark bits, so
// objects that survived a cycle stay marked (old); most cycles are minor:
// step 3 also rescans the old objects on heap pages written since the last
// stop (the kernel's dirty-page bits) and traces only unmarked objects.
// Full cycles clear every mark bit between steps 2 and 3.
//
// fork() (gc.cc, runtime/proc.cc): the parent takes every lock in the order
// the code nests them, starting with the collection lock, so no cycle, sweep
// of a span or scavenge is half done in the child; the child gives back the
// collected spans held by the threads that did not survive the fork.
//
// Threads: collected allocation, early frees, finalizers, cleanups, weak
// pointers and collections register the calling thread first (gc_api.cc).
// A thread that is not
// registered is neither stopped nor scanned: it may use the malloc family and
// the root-range calls, but is no root.
//
// A program that only uses malloc never registers a thread, never starts a
// cycle, and pays nothing: the manual heap's paths do not look at any of it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/compiler.h"
#include "base/list.h"
#include "heap/mcache.h"
#include "heap/mspan.h"
#include "heap/sizeclasses.h"
#include "platform/env.h"
#include "platform/mutex.h"

struct gomem_stats;

namespace gomem {
namespace gc {

// ---------------------------------------------------------------------------
// Threads (stw.cc).

// A thread the collector knows about: its stacks and static TLS are roots,
// and it is stopped for marking. The stack and TLS fields are written only
// by the thread itself (registration, the fiber calls; signal fences order
// them for its own stop handler) and read by the collector while the thread
// is parked, or by the thread itself when it collects (stacks.cc has the
// rules).
struct StackRange {
  uintptr_t lo = 0;  // [lo, hi)
  uintptr_t hi = 0;
  bool holds(uintptr_t p) const { return p >= lo && p < hi; }
};

struct GCThread {
  uintptr_t handle = 0;  // pthread_t
  // stacks[cur]: the stack it runs on (its own, or a fiber's); while
  // `switching` (between gomem_fiber_start_switch and _finish_switch) also
  // stacks[cur ^ 1], the one it is switching to. finish_switch flips cur in
  // one store, so the stop handler never sees a half-written range.
  StackRange stacks[2];
  uint32_t cur = 0;
  bool switching = false;
  StackRange own;        // its own stack (from registration)
  uintptr_t own_sp = 0;  // while away from its own stack: the stack pointer it left it at; else 0
  StackRange tls;        // its static TLS (empty if unknown)
  // Where it stopped (stop_point): the stack pointer less the red zone, or
  // 0 when it was on none of its stacks (then the whole mapped part of
  // each is scanned).
  std::atomic<uintptr_t> stop_sp{0};
  // Set when the thread was stopped on an alternate signal stack: then
  // [alt_sp, alt_hi) is scanned too.
  uintptr_t alt_sp = 0;
  uintptr_t alt_hi = 0;
  std::atomic<uint32_t> parked_gen{0};  // the stop generation it last parked for
  int tid = 0;
  // Kernel start time of the thread (os::thread_start_time): tells it from
  // a later thread that got the same tid. Set when it registers (and in a
  // fork child), under the registry lock; read by the collector holding it.
  int64_t start_time = 0;
  // Set by the thread itself in its last round of key destructors
  // (mark_current_thread_exiting); read by the collector under the registry
  // lock. Such a record is never unregistered by its thread: the collector
  // drops it once the thread is gone.
  std::atomic<bool> exiting{false};
  ListLinks<GCThread> links;
};

extern GOMEM_TLS GCThread* t_gcthread;

// Registers the calling thread (idempotent). False if out of memory.
bool register_current_thread();
void unregister_current_thread();
// The calling thread has run gomem's last key destructor: it stays a root
// while it runs the program's destructors after it, and the collector drops
// the record once the thread can no longer run program code (stw.cc).
void mark_current_thread_exiting();
// Stack switches of the calling thread (stacks.cc; gomem_fiber_*): it is
// about to switch to [lo, hi) (0, 0: back to its own stack) / it has.
void fiber_start_switch(uintptr_t lo, uintptr_t hi);
void fiber_finish_switch();
// Stops every registered thread but the caller; returns when all are parked.
void stop_the_world();
void start_the_world();

// ---------------------------------------------------------------------------
// Collected allocation (gcalloc.cc). The caller holds a P and is registered.

// Small object of collected span class spc from P c; 0 if out of memory.
uintptr_t alloc_small(MCache* c, SpanClass spc);
// Object over 32 KiB; 0 if out of memory.
uintptr_t alloc_large(size_t size, SpanKind kind);
// An explicit early free (gomem_gc_free, or free() of a collected object).
void gc_free(void* p, MSpan* s);
// The P gives back its collected spans (thread exit, unregister).
void release_p_spans(MCache* c);

// ---------------------------------------------------------------------------
// Sweeping (sweep.cc).

// The span an MCache needs for collected span class spc: swept, with a free
// slot. Inside a non-preemptible section. nullptr if out of memory.
MSpan* cache_span(SpanClass spc);
// The P gives back its current span of a collected class.
void uncache_span(MSpan* s, bool stale);
// Sweeps one span from any unswept set; false when none is left.
bool sweep_one();
// Sweeps everything left and waits for concurrent sweepers (cycle start).
void finish_sweep();
// Makes sure the background sweeper runs.
void wake_sweeper();
// A large collected span was just allocated: put it where the sweeper looks.
void add_large_span(MSpan* s);

// ---------------------------------------------------------------------------
// Pacing (pacer.cc).

constexpr uint64_t kNoLimit = ~uint64_t{0} >> 1;  // INT64_MAX, Go's "no memory limit"

struct Pacer {
  std::atomic<int> gc_percent{100};
  std::atomic<uint64_t> heap_live{0};    // bytes allocated (optimistically: whole cached spans) since mark + marked
  std::atomic<uint64_t> heap_marked{0};  // bytes marked live by the last cycle
  std::atomic<uint64_t> trigger{4 << 20};
  std::atomic<uint64_t> goal{4 << 20};
  std::atomic<uint64_t> memory_limit{kNoLimit};
  // Where the trigger sits in the runway from marked to goal, in percent:
  // 100 when the whole mark stops the world, kConcTriggerPercent when it
  // runs beside the program (set by concurrent.cc under the collection lock
  // or at initialisation).
  std::atomic<int> trigger_percent{100};
};
// Go's minimum trigger (mgcpacer.go: triggerRatioDen 0.7 of the runway).
constexpr int kConcTriggerPercent = 70;
extern Pacer g_pacer;

void pacer_init(int64_t memory_limit, int gc_percent);
// After mark termination: marked = what is marked now; the goal is GOGC's
// over goal_base (the same, but after a minor cycle: generational.cc).
void pacer_commit(uint64_t marked, uint64_t goal_base);
// Called after a refill or a large allocation: starts a cycle if due.
void maybe_trigger();
void add_heap_live(int64_t delta);

// ---------------------------------------------------------------------------
// Cycles and statistics (gc.cc).

// kMinor: gomem_gc_collect_minor (a minor cycle in generational mode when
// one is possible, else a full one).
enum class Trigger { kHeap, kForced, kMemoryLimit, kMinor };
// Runs one cycle (unless kHeap and another thread already ran it): full,
// or minor in generational mode (generational.cc says when).
// stalled_since: when the calling thread's stall began, if it was held up
// already (a starved assist, concurrent.cc), else 0.
void collect(Trigger why, int64_t stalled_since = 0);
// Returns once no cycle runs (one that starts later may).
void wait_for_cycle();
void gc_init(const os::EnvSettings& env);
void fill_stats(gomem_stats* st);
// Cycles completed so far (one atomic load).
uint32_t num_gc();
// Collected objects by size class and kind: index sc * 2 + (scan ? 1 : 0)
// (gc_count_index); sc == 0 counts large objects.
constexpr int kGCCountIndexes = kMaxClasses * 2;
// Branch-free: the scan class of a size class follows its noscan class, so
// indexes 2c and 2c + 1 are span classes s and s + 1.
static_assert(static_cast<int>(SpanKind::kScan) == static_cast<int>(SpanKind::kNoscan) + 1);
constexpr SpanClass gc_count_class(int i) {
  return static_cast<SpanClass>(make_span_class(static_cast<uint32_t>(i / 2), SpanKind::kNoscan) + (i & 1));
}
struct GCClassCounts {
  uint64_t mallocs[kGCCountIndexes];
  uint64_t frees[kGCCountIndexes];
  uint64_t large_alloc_bytes, large_free_bytes;
};
void read_counters(GCClassCounts* out);
int set_gc_percent(int percent);
// fork() (gc.cc): the collector's locks, taken before the runtime's pool,
// P and mcentral locks ...
void fork_prepare();
void fork_parent();
// ... and the scavenger's, taken after the mcentral locks, before the heap
// lock (it stands in for MHeap's private scav_lock_).
void fork_prepare_scavenge();
void fork_parent_scavenge();
void fork_child_scavenge();
// The child: locks reset, threads and collected spans of the threads that
// did not survive given back. release_p_spans_after_fork for each such P
// first (before MCache::release_all), then fork_child.
void release_p_spans_after_fork(MCache* c);
void fork_child(MCache* self);
bool gc_in_use();  // has anything ever been allocated in the collected heap?
extern std::atomic<bool> g_gc_used;

// Sets the soft memory limit (GOMEMLIMIT); returns the previous one.
uint64_t set_memory_limit(uint64_t bytes);
// The heap goal the memory limit allows right now (Go's memoryLimitHeapGoal).
uint64_t memory_limit_goal();

// ---------------------------------------------------------------------------
// The scavenger (scavenger.cc).

void start_scavenger();
// Set when the heap grew big enough for the scavenger; the allocator's slow
// paths start it once they hold no lock.
extern std::atomic<bool> g_scavenger_requested;
void start_scavenger_requested();
void wake_scavenger();
void free_os_memory();
void scavenge_for_limit(uint64_t bytes);
uint64_t scavenger_goal();
uint64_t scavenger_released_bg();
uint64_t scavenger_released_forced();
void trace_scavenger();
// Called by the heap after it grew (outside its lock).
void heap_grew();

// ---------------------------------------------------------------------------
// Roots (roots.cc).

void add_roots(uintptr_t lo, uintptr_t hi);
void remove_roots(uintptr_t lo, uintptr_t hi);
// gomem_gc_set_cycle_start_fn (gc.cc): returns the previous callback.
using CycleStartFn = void (*)();
CycleStartFn set_cycle_start_fn(CycleStartFn fn);
// Root callbacks (gomem_gc_add_root_fn): false when the table is full.
bool add_root_fn(void (*fn)(void*), void* arg);
// gomem_gc_mark_range: scans [lo, hi) for the root callback running now.
void mark_range_from_root_fn(uintptr_t lo, uintptr_t hi);

// ---------------------------------------------------------------------------
// Finalizers, cleanups and weak pointers (finalizer.cc). The callers are
// registered threads.

using FinalizerFn = void (*)(void* obj, void* arg);
using CleanupFn = void (*)(void* arg);

// What a finalizable object's own contents keep alive (Boehm GC's three
// registration kinds).
enum class FinalizerOrder : uint8_t {
  kGo,          // everything it points to, itself included (runtime.SetFinalizer)
  kIgnoreSelf,  // everything it points to except itself (GC_register_finalizer_ignore_self)
  kNoOrder,     // nothing until it is finalized (GC_register_finalizer_no_order)
};

// p must be the start of an allocated collected object; fn == nullptr
// removes its finalizer. False if p is not such an object.
bool set_finalizer(void* p, FinalizerFn fn, void* arg, FinalizerOrder order);
// Adds a cleanup to the collected object containing p. False if there is
// none, or if arg points into it.
bool add_cleanup(void* p, CleanupFn fn, void* arg);
// The weak handle of p (a word holding p until p's object dies, then 0):
// the existing one, or `fresh` (a collected noscan word the caller just
// allocated), now registered. nullptr if p is in no allocated collected object.
std::atomic<uintptr_t>* weak_handle(void* p, std::atomic<uintptr_t>* fresh);
// The object at base is freed early: its finalizer and cleanups are dropped,
// its weak handles cleared.
void remove_specials(uintptr_t base);
// Runs queued finalizers and cleanups on the calling thread; returns how
// many it ran.
size_t run_finalizers();
uint64_t finalizers_run();

// Internal settings.
// Generational mode (generational.cc): GOMEM_GC=generational. gen_init runs
// during the runtime's initialisation, right after the heap's, before any
// arena exists.
void gen_init(const os::EnvSettings& env);
// Concurrent mode (concurrent.cc): GOMEM_GC=concurrent; runs where gen_init
// does.
void conc_init(const os::EnvSettings& env);
// For gomem_stats: 1 when cycles may be minor (generational), 2 when they
// mark concurrently, 0 when every cycle is a full stop-the-world one.
uint32_t gc_mode();

struct Settings {
  int markers = 0;            // GOMEM_GC_MARKERS (0 = one per CPU, at most 8)
  int sig_suspend = 0;        // GOMEM_SIG_SUSPEND (0 = SIGPWR)
  int stw_timeout_ms = 1000;  // GOMEM_STW_TIMEOUT_MS: a world-stop's wait before it names late threads
  bool gctrace = false;       // GODEBUG=gctrace=1
  bool scavenger = true;      // GOMEM_SCAVENGER=0 turns the background scavenger off
  uintptr_t trace_root = 0;   // GOMEM_GC_TRACE_ROOT=<hex address>: report what points to its object
};
extern Settings g_gcsettings;

}  // namespace gc
}  // namespace gomem
