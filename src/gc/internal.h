// Internals shared by the collector's files: the marker and the work pool.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/bits.h"
#include "gc/collector.h"
#include "heap/heap.h"
#include "heap/mspan.h"
#include "platform/dirty.h"

namespace gomem {
namespace gc {

// Large objects are scanned in 128 KiB pieces ("oblets", Go's maxObletBytes)
// so that several markers can share one.
constexpr uintptr_t kObletBytes = 128 * 1024;

// Per-class counters of collected objects: mallocs are counted when a P
// gives a span back (and for large objects at once), frees when swept.
struct ClassCounters {
  std::atomic<uint64_t> mallocs[kNumSpanClasses];
  std::atomic<uint64_t> frees[kNumSpanClasses];
  std::atomic<uint64_t> large_alloc_bytes{0};
  std::atomic<uint64_t> large_free_bytes{0};
};
extern ClassCounters g_counters;

// A buffer of grey objects (Go's workbuf): 4 KiB.
struct WorkBuf {
  static constexpr uint32_t kCap = 509;
  WorkBuf* next;
  uint32_t n;
  uintptr_t obj[kCap];
};

// The address range that holds the heap's arenas: a cheap first filter for
// conservative candidates. Set at the start of each mark.
struct HeapRange {
  uintptr_t lo = 0;
  uintptr_t span = 0;  // hi - lo
};
extern HeapRange g_range;
// Sets r to the arenas' extent (gc.cc). With the world stopped. Arenas
// added later hold only objects allocated since (black in a concurrent
// cycle), which mark_candidate may then skip.
void heap_range(HeapRange* r);

// GOMEM_GC_TRACE_ROOT ("why is this object alive"): the object containing
// g_gcsettings.trace_root, [lo, hi), found at the start of each mark (both 0
// when the setting is off or no object holds the address, which costs the
// scans one not-taken branch per range). Written by the collector with the
// world stopped, read by the markers after.
struct TraceRoot {
  uintptr_t lo = 0;
  uintptr_t hi = 0;
};
extern TraceRoot g_trace_root;
void find_trace_root();  // world stopped, after heap_range

// What a marker is scanning, for the GOMEM_GC_TRACE_ROOT report.
enum class RootKind : uint8_t {
  kHeapObject,     // a: the object
  kStack,          // a: thread id, b: where it stopped (0: unknown)
  kRegisters,      // a: thread id; the word's index is the register's
  kTLS,            // a: thread id
  kData,           // name: the module's path ("" for the main program)
  kUser,           // a, b: the range (gomem_add_roots)
  kUncollectable,  // a: the span's base
  kFinalizer,      // a: the object with the finalizer (its referents, arg)
  kQueued,         // a: the object of a queued finalizer or cleanup (0)
  kCallback,       // a, b: the range a root callback named (gomem_gc_mark_range)
};

// One marking thread's state (Go's gcWork).
class Marker {
 public:
  void init();
  void release();

  // A word that may point into the heap: if it points inside an allocated
  // collected object, mark the object (and queue it for scanning if it is
  // a scan object).
  GOMEM_INLINE void mark_candidate(uintptr_t v) {
    if (v - g_range.lo >= g_range.span) return;
    MSpan* s = g_arena_index.span_or_empty(v);
    if (GOMEM_UNLIKELY(s == nullptr)) return;  // reserved, never committed (arena.h)
    // Everything below is on the span's first two cache lines: line 1 for
    // state, kind and the geometry, line 0 for magic and gcbits (heap/mspan.h
    // gives line 0 to malloc's and free's fast paths). A large span's magic
    // divides every offset in it down to 0. Acquire: the
    // fields read below were written before the span was published with a
    // release store of kInUse (perhaps by a thread the world-stop does not
    // stop, allocating manual memory); on Arm a relaxed load would let them
    // be read stale (x86's ordering hid this).
    if (s->state.load(std::memory_order_acquire) != SpanState::kInUse) return;
    SpanKind k = s->kind;
    if (!kind_is_gc(k)) return;
    uintptr_t idx = s->obj_index(v);
    if (idx >= s->nelems) return;
    uint64_t bit = uint64_t{1} << (idx & 63);
    uint64_t* marks = s->gcmark_bits();
    uint64_t* w = &marks[idx >> 6];
    if (__atomic_load_n(w, __ATOMIC_RELAXED) & bit) return;
    if (idx >= s->freeindex && !(s->alloc_bits()[idx >> 6] & bit)) return;  // a free slot
    if (__atomic_fetch_or(w, bit, __ATOMIC_RELAXED) & bit) return;
    marked_bytes += s->elemsize;
    if (k == SpanKind::kScan) push(s->base + idx * s->elemsize);
  }

  // Conservative scans.
  void scan_range(uintptr_t lo, uintptr_t hi);
  void scan_words(const uintptr_t* w, size_t n);
  // Names what the following scans read, for the GOMEM_GC_TRACE_ROOT report
  // (roots; scan_object names heap objects itself, only when tracing).
  GOMEM_INLINE void note(RootKind k, uintptr_t a = 0, uintptr_t b = 0, const char* name = nullptr) {
    where_ = k;
    where_a_ = a;
    where_b_ = b;
    where_name_ = name;
  }
  // Reports each word of [w, w+n) that points into the traced object.
  void trace_words(const uintptr_t* w, size_t n);
  // Scans the object at b (or, inside a large object, the oblet at b).
  void scan_object(uintptr_t b);

  GOMEM_INLINE void push(uintptr_t obj) {
    if (GOMEM_UNLIKELY(buf_->n == WorkBuf::kCap)) flush_full();
    buf_->obj[buf_->n++] = obj;
  }

  // Marks until every marker runs out of work.
  void drain();
  // Scans up to about budget bytes (an allocation's mark assist), taking
  // work from the pool and waiting for it only briefly; returns the bytes
  // scanned (less than budget: the pool ran dry).
  uint64_t drain_n(uint64_t budget);
  // Puts this marker's work in the pool (a drain open to assists: the first
  // to join finds work there).
  void share();
  // Adds the figures of another marker that drained into the same mark
  // (already counted as this cycle's scan work: flush_credit).
  void absorb(const Marker& o);
  // Adds what this marker scanned since its last flush to the cycle's scan
  // work and, unless it is an assist, to the background credit (concurrent
  // marking only; concurrent.cc).
  void flush_credit();

  uint64_t marked_bytes = 0;
  uint64_t scanned_bytes = 0;
  uint64_t dirty_bytes = 0;  // bytes of old objects rescanned on written pages (a minor cycle)
  bool assist = false;       // an allocating thread's marker: earns no background credit

 private:
  // scan_range; obj: the heap object [lo, hi) belongs to (0: a root).
  void scan_block(uintptr_t lo, uintptr_t hi, uintptr_t obj);
  void flush_full();
  bool refill();
  void balance();

  bool wait_for_work();

  WorkBuf* buf_ = nullptr;
  uint64_t flushed_ = 0;  // scanned_bytes already counted by flush_credit
  // What is being scanned (note()): written and read by this marker only.
  RootKind where_ = RootKind::kHeapObject;
  uintptr_t where_a_ = 0;
  uintptr_t where_b_ = 0;
  const char* where_name_ = nullptr;
};

// Runs drain() on the collector thread and the helper markers; returns when
// marking is complete. Roots must have been pushed on `m` already. assists:
// program threads may join the drain (mark_assist; a concurrent cycle's
// drains beside the program), and it returns once they all left.
void mark_parallel(Marker& m, bool assists);
// A program thread that would wait for the running cycle helps mark: if a
// drain open to assists runs, joins it and drains until it is done (adding
// what it scanned to g_conc.assist_scanned before the drain's owner may
// return). False if no drain was open. The caller is preemptible and holds
// no lock of gomem's.
bool mark_assist();
// An allocating thread pays its assist debt (concurrent.cc): if a drain open
// to assists runs, joins it, scans up to about budget bytes and leaves
// (handing back what it did not scan). Returns the bytes scanned: less than
// budget when the pool had no more work or no drain was open.
uint64_t mark_assist_n(uint64_t budget);
// drain() on the calling thread alone (a test hook's staged race).
void mark_serial(Marker& m);
int num_markers();
// Markers of the running drain that are idle, waiting for work or for the
// drain's end (tests: gc_conc_test).
int idle_markers();
// The markers of a drain beside the program (mark_parallel with assists): a
// quarter of num_markers, at least one.
int conc_markers();
// Starts the helper markers if they are not running yet (not while the world
// is stopped: pthread_create allocates and takes glibc's locks).
void start_markers();

// Roots (roots.cc).
void collect_data_segments();          // before the world stops (dl_iterate_phdr)
void snapshot_roots();                 // world stopped: registered ranges, segments still mapped
void scan_roots(Marker& m);            // world stopped; the caller cleared its dead stack
void scan_thread_roots(Marker& m);     // stw.cc
void scan_finalizer_roots(Marker& m);  // finalizer.cc
// A thread's stacks and static TLS (stacks.cc). stop_point turns the stack
// pointer t stopped at into what scan_thread_stacks takes (and notes an
// alternate signal stack in t); called by t itself.
uintptr_t stop_point(GCThread* t, uintptr_t sp);
void scan_thread_stacks(Marker& m, const GCThread* t, uintptr_t stop);

// Finalizers, cleanups, weak handles (finalizer.cc): after marking, clear
// the weak handles of dead objects and queue their finalizers and cleanups
// (may run a second marking round on m).
void queue_dead_specials(Marker& m);
void wake_finalizer_thread();

// Sweep (sweep.cc): world stopped, every P gives back its collected spans
// (stale: sweepgen is about to move, mark termination).
void release_p_spans_stw(bool stale);
bool unlink_large_span(MSpan* s);
void count_large_free(MSpan* s);

// Generational mode (generational.cc has the design).
enum class CycleKind : uint8_t {
  kStw,    // GOMEM_GC=stw (or generational refused): marks start clear, none kept
  kFull,   // generational, full: every mark cleared first, every page protected
  kMinor,  // generational, minor: old marks kept, written pages rescanned
};
struct GenState {
  // Set once by gen_init (before any collected span exists): sweeps keep the
  // mark bits (sweep.cc). Read by sweepers.
  std::atomic<bool> sticky{false};
  // The rest: under the collection lock (or initialisation).
  bool requested = false;    // GOMEM_GC=generational was asked for
  bool armed = false;        // the last stop protected every page: the next may be minor
  bool full_due = false;     // the pacer wants the next cycle full
  bool retried = false;      // a re-init of the tracker was tried since the last fork
  bool said_off = false;     // gctrace said why cycles are all full
  uint32_t minors = 0;       // minor cycles since the last full one
  uint64_t full_marked = 0;  // bytes the last full cycle marked
};
extern GenState g_gen;
// Before the world stops: the kind of this cycle.
CycleKind gen_choose(Trigger why);
// World stopped, before the roots: a minor cycle rescans the marked objects
// on written pages (pushing what they reach on m); a full one clears the
// marks and protects the heap. Returns the kind that runs (a minor one
// whose scan the kernel refused becomes full). *dirty_pages: pages rescanned.
CycleKind gen_start_mark(CycleKind kind, Marker& m, int64_t* dirty_pages);
// After marking (marked: the bytes this cycle marked): tells the pacer what
// is marked now (a minor cycle adds the old objects) and what to set the
// goal over; decides whether the next cycle is full.
void gen_end_mark(CycleKind kind, uint64_t marked);
void gen_fork_child();
// Dirty-page tracking for the heap (generational.cc): starts the tracker
// and registers heap pages as they are committed. Only before any arena
// exists; false if refused.
bool start_dirty_tracking();
// Says once (*said) in gctrace that GOMEM_GC=mode runs without tracking and
// what every cycle does then (consequence).
void say_tracking_off_once(bool* said, const char* mode, const char* consequence);
// DirtyRunFn (arg: a Marker): [lo, hi) was written; rescans the part of the
// marked scan objects that lies on it. The world is stopped, or the caller
// is the collector of a concurrent cycle (spans may be allocated meanwhile).
void rescan_dirty_run(void* marker, uintptr_t lo, uintptr_t hi);

// The heap's dirty-page tracker (generational.cc defines it).
extern DirtyTracker g_dirty;

// Mostly-concurrent marking (concurrent.cc has the design).
struct ConcState {
  // Set from a concurrent cycle's first stop until its final stop has taken
  // the Ps' spans back: spans taken meanwhile allocate black. Written with
  // the world stopped; read by allocating threads in non-preemptible
  // sections (which a stop never splits).
  std::atomic<bool> black{false};
  // Set while a concurrent cycle runs (the same span of time): a thread
  // below the goal does not wait for it (maybe_trigger). As black.
  std::atomic<bool> running{false};
  std::atomic<uint64_t> black_bytes{0};  // bytes allocated black this cycle (atomic adds)
  // The background collector thread (concurrent.cc: the pacer's cycles run
  // there, so the thread that crossed the trigger goes on allocating).
  // kick: bumped (then a futex wake) to ask for a cycle; pending: set by the
  // thread that kicks, cleared by the collector thread when the cycle is
  // over, so a cycle is asked for once; started: set once the thread is
  // being started (reset in a fork child, where it is gone).
  std::atomic<uint32_t> kick{0};
  std::atomic<bool> pending{false};
  std::atomic<bool> started{false};
  // Allocation assists that waited: threads that found the heap past the
  // hard goal and waited for the cycle's end (or for its marking to start),
  // and the time they waited (atomic adds; gctrace reads and resets them at
  // the end of the cycle).
  std::atomic<uint32_t> assists{0};
  std::atomic<uint64_t> assist_wait_ns{0};
  std::atomic<uint64_t> assist_scanned{0};  // bytes they and the proportional assists scanned (as above)
  // Mark assists (conc_assist): marking is set by the collector at the
  // first stop (world stopped) and cleared just before the final stop;
  // drains is bumped (then a futex wake) when a drain opens to assists and
  // after marking is cleared. A waiting thread sleeps on drains.
  std::atomic<bool> marking{false};
  std::atomic<uint32_t> drains{0};
  // Proportional assists (Go's gcAssistAlloc; concurrent.cc has the
  // design). epoch is bumped at each first stop: a thread's debt of an
  // older cycle is dropped. scan_work counts the bytes every marker and
  // assist scanned this cycle, bg_credit the part the background markers
  // scanned that no assist took yet (Go's bgScanCredit): atomic adds by
  // Marker::flush_credit, CAS by the assists that take it; reset at the
  // first stop. expected_work (the last cycle's scan work), max_work (the
  // whole heap at the first stop: the scan work at worst) and triggered
  // (heap_live then) are written at the first stop with the world stopped
  // and read by allocating threads (assist_work_per_byte). parked counts
  // threads past the hard goal waiting for work (the markers wake them
  // when they flush credit). paid, paid_ns: assists that paid by scanning
  // and their time (atomic adds; gctrace reads and resets them).
  std::atomic<uint32_t> epoch{0};
  std::atomic<uint64_t> scan_work{0};
  std::atomic<int64_t> bg_credit{0};
  std::atomic<uint64_t> expected_work{0};
  std::atomic<uint64_t> max_work{0};
  std::atomic<uint64_t> triggered{0};
  std::atomic<uint32_t> parked{0};
  std::atomic<uint32_t> paid{0};
  std::atomic<uint64_t> paid_ns{0};
  // Under the collection lock (or initialisation):
  bool requested = false;  // GOMEM_GC=concurrent was asked for
  bool retried = false;    // a re-init of the tracker was tried since the last fork
  bool said_stw = false;   // gctrace said why cycles stop the world
  uint64_t last_work = 0;  // bytes the last concurrent cycle scanned (its expected_work's successor)
};
extern ConcState g_conc;
// What gctrace and the statistics say of a concurrent cycle (collector only).
struct ConcNote {
  static constexpr int kMaxRounds = 4;
  int64_t start_stop0 = 0;  // when the first stop began
  int64_t start_pause = 0;  // ns the first stop took
  int64_t final_stop0 = 0;  // when the final stop began
  int rounds = 0;           // pre-cleaning rounds run
  int64_t round_pages[kMaxRounds] = {};
  int64_t final_pages = 0;      // pages written since the last round
  uint32_t assists = 0;         // threads that waited for the cycle (past the hard goal)
  int64_t assist_wait = 0;      // ns they waited, summed (as of the cycle's end: those still waiting not counted)
  uint64_t assist_scanned = 0;  // bytes they scanned helping the markers (and the proportional assists)
  uint32_t paid = 0;            // proportional assists that scanned (Go's gcAssistAlloc)
  int64_t paid_ns = 0;          // ns they took, summed
  bool refused = false;         // a scan was refused: every page counted as written
};
// Test hooks (tests/gc_conc_test.cc), called by the collector while the
// world runs: started(-1) after the first stop; scanned(obj) after it
// scanned obj in the first concurrent drain (which it then runs alone, so
// that the hook stops all marking); round(r) after pre-cleaning round r
// (-1: after the first drain); waiting(-1), called by a program thread
// about to wait for the running cycle (past the hard goal with no work to
// pay its assist debt with: it parks until there is some, or helps the
// drains open to it and then waits until the cycle is published);
// opened(-1), called by the collector when a
// drain opens to assists, before the helper markers are woken (mark.cc).
// Set while no cycle runs.
using ConcHook = void (*)(intptr_t);
struct ConcHooks {
  ConcHook started = nullptr;
  ConcHook scanned = nullptr;
  ConcHook round = nullptr;
  ConcHook waiting = nullptr;
  ConcHook opened = nullptr;
};
ConcHooks set_conc_test_hooks(const ConcHooks& h);
extern ConcHooks g_conc_hooks;
// scanned, while the first concurrent drain runs (read by markers; mark.cc).
extern std::atomic<ConcHook> g_conc_scan_hook;
// Before the first stop: whether this cycle can be concurrent (else it is a
// stop-the-world one, said once in gctrace).
bool conc_choose();
// Runs the cycle up to its final stop: returns with the world stopped, the
// roots and the written pages rescanned into m (the caller drains). False
// if the tracker refused at the first stop: the world is stopped, nothing
// is marked, the caller marks as stw does.
bool conc_mark(Marker& m, ConcNote* note);
// World stopped, after release_p_spans_stw: allocation is no longer black;
// returns the bytes allocated black (marked, not counted by the markers).
// scanned: the bytes the cycle scanned (the next one's expected work).
uint64_t conc_end_mark(ConcNote* note, uint64_t scanned);
// Whether a cycle the pacer asks of this thread stalls the program: true
// in GOMEM_GC=concurrent on any thread but the background collector.
bool conc_stalls_caller();
// The proportional mark assist (concurrent.cc), after a refill or a large
// allocation: a thread that owes the running cycle scan work for the bytes
// it allocated pays it (background credit, then scanning), before it goes
// on. True if it still owes work, found none to do and the heap is past the
// hard goal: it must wait for the cycle (conc_collect_here), and
// *stalled says since when it was held up, and on which cycle (else the
// assist recorded its own stall).
struct Stall {
  int64_t since = 0;   // os::nanotime() when the thread began to wait; 0: none
  uint32_t cycle = 0;  // cycle_running() then: the cycle it is charged to
};
bool conc_pay_assist(Stall* stalled);
// Bytes a thread took for allocation (a span's free bytes at a refill, a
// large object): its assist debt grows by them while a cycle marks.
void conc_charge(uint64_t bytes);
// Go's assist ratio (pacer.cc): scan work an assist owes per byte allocated,
// from the work left and the runway left to the goal.
double assist_work_per_byte();
// The number of the cycle that marks now, or the next one if none does (the
// last published + 1): a stall that begins now is charged to it.
uint32_t cycle_running();
// Returns once cycle n is published (gomem_stats.num_gc >= n): a futex wait
// on num_gc, which publish_cycle wakes; re-checked every 10 ms, and over at
// once when no cycle runs (the collection lock is free) and none is asked
// for, as nothing would publish n then. A program thread in concurrent mode
// waits for the running cycle's end here, not on the collection lock: a
// waiter woken there when the cycle ends may find the collector thread
// holding it again for the next cycle, and then runs the one after itself.
void wait_cycle_published(uint32_t n);
// A thread was held up ns by the collector (gc.cc; gomem_stats.wait_ns):
// charged to cycle n (taken from cycle_running() when the stall began).
void record_stall(int64_t ns, uint32_t n);
// A program thread must wait for the running cycle (an allocation assist
// past the hard goal): conc_assist helps each drain open to assists until
// the final stop is next (the caller then waits for the cycle's end,
// wait_cycle_published); conc_assist_waited: it waited ns in all.
// Preemptible, no lock of gomem's held.
void conc_assist();
void conc_assist_waited(int64_t ns);
// A drain opened to assists (mark.cc), or marking is over: wakes the
// threads waiting in conc_assist.
void conc_wake_assists();
// The pacer's trigger was crossed: true if the caller must collect (stw
// mode, no background thread, or the background thread itself past the
// hard goal); else false, the cycle left to the background collector thread
// (running, or just asked to run one). Past the hard goal, a caller that
// could not pay its way (starved, conc_pay_assist) or finds only the final
// stop left waits for the running cycle's end first (*stall: since when and
// on which cycle, for the caller to record), and one that finds no cycle
// marking waits for its first stop.
bool conc_collect_here(bool starved, Stall* stall);
void conc_fork_child();
// Black allocation (g_conc.black set): a span a P takes has its free slots
// marked; when it gives it back the slots still free are unmarked.
void premark_free_slots(MSpan* s);
void unmark_free_slots(MSpan* s);
void mark_large_black(MSpan* s);

// Fork (gc.cc has the order). prepare takes the file's locks, parent
// releases them, child resets them (only the forking thread survives).
void stw_fork_prepare();
void stw_fork_parent();
void stw_fork_child();
void roots_fork_prepare();
void roots_fork_parent();
void roots_fork_child();
void finalizer_fork_prepare();
void finalizer_fork_parent();
void finalizer_fork_child();
void sweep_fork_prepare();
void sweep_fork_parent();
// Also gives back the collected spans that threads which did not survive the
// fork held outside mcentral (self: the forking thread's P, kept).
void sweep_fork_child(MCache* self);
void scavenger_fork_prepare();
void scavenger_fork_parent();
void scavenger_fork_child();
void helpers_fork_child();

}  // namespace gc
}  // namespace gomem
