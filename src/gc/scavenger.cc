// The scavenger: gives free pages back to the OS so that RSS follows the
// live heap (Go's mgcscavenge.go).
//
// Free page runs in mheap are retained (still backed, counted in RSS) or
// released (madvise'd). A background thread wakes every 50 ms and compares
// the retained bytes (mapped heap minus released) with a goal:
//
//   - manual heap: recent peak use. The in-use bytes' maximum over the last
//     half second, plus 10 %: while a program works, what it just used stays
//     (a first touch of a released page costs ~15 us here); when it goes
//     quiet, the goal decays to what is live;
//   - collected heap: the heap goal (next_gc) plus 10 % (Go's
//     retainExtraPercent);
//   - the memory limit, if one is set: 95 % of it (Go's reduceExtraPercent).
//
// Above the goal it releases runs that have been free for at least 250 ms,
// oldest first and highest addresses first, leaving alone runs that were
// just freed (about to be reused) and huge-page regions that are almost all
// in use. Pacing: about 1 % of a CPU in steady state (work time / elapsed);
// when the excess is large (over 16 MiB, e.g. a program that dropped most of
// its heap) it catches up within about a second, at up to 25 % of a CPU (50 %
// beyond 256 MiB): releasing 1 GiB costs ~300 ms of CPU here, which at 1 %
// would take 30 s.
//
// gomem_free_os_memory() collects (if the collected heap is in use) and
// releases every free page at once, like debug.FreeOSMemory.
#include <cstring>

#include "base/fmt.h"
#include "gc/internal.h"
#include "gomem/gomem.h"
#include "heap/fault.h"
#include "platform/os.h"
#include "platform/thread.h"

namespace gomem {
namespace gc {

namespace {

constexpr int64_t kTickNs = 50 * 1000 * 1000;
constexpr int64_t kMinAgeNs = 250 * 1000 * 1000;
constexpr int64_t kPeakWindowNs = 500 * 1000 * 1000;
constexpr double kSteadyFraction = 0.01;
constexpr double kCatchUpFraction = 0.25;
constexpr uint64_t kCatchUpExcess = 16u << 20;

struct Scavenger {
  Mutex start_lock;
  // Held around every MHeap::scavenge call (all of them are in this file),
  // so that fork() can wait for the one in progress: MHeap's own scav_lock_
  // is private, and a scavenge cut off by the fork would leave it held in the
  // child, with a piece of a free run out of the index (kScavenging). Lock
  // order: after the P and mcentral locks (allocation-time scavenging runs
  // from the heap's grow hook, under them), before the heap lock.
  Mutex scavenge_lock;
  std::atomic<bool> started{false};
  std::atomic<uint32_t> kick{0};
  // Recent in-use peaks: the maximum of each 50 ms tick over the window.
  uint64_t ring[kPeakWindowNs / kTickNs] = {};
  int ring_pos = 0;
  std::atomic<uint64_t> goal{0};
  std::atomic<uint64_t> released_bg{0};
  std::atomic<uint64_t> released_forced{0};
  int64_t work_ns = 0;  // time spent releasing, this accounting period
  int64_t period_start = 0;
  int64_t last_trim = 0;
};
GOMEM_META constinit Scavenger g_scav;

uint64_t mapped_bytes() { return g_heap.retained_bytes(); }

uint64_t compute_goal(uint64_t inuse) {
  // Manual heap: the recent peak of in-use bytes.
  uint64_t peak = inuse;
  for (uint64_t v : g_scav.ring) peak = v > peak ? v : peak;
  uint64_t goal = peak + peak / 10;
  // Collected heap: the heap goal plus 10 %.
  if (g_gc_used.load(std::memory_order_relaxed) && g_pacer.gc_percent.load(std::memory_order_relaxed) >= 0) {
    uint64_t next = g_pacer.goal.load(std::memory_order_relaxed);
    uint64_t gc_goal = next + next / 10;
    // The collected heap's goal covers its own spans; manual spans come on top.
    uint64_t gc_inuse = g_pacer.heap_live.load(std::memory_order_relaxed);
    uint64_t manual = inuse > gc_inuse ? inuse - gc_inuse : 0;
    if (gc_goal + manual > goal) goal = gc_goal + manual;
  }
  // The memory limit.
  uint64_t limit = g_pacer.memory_limit.load(std::memory_order_relaxed);
  if (limit != kNoLimit) {
    uint64_t cap = limit / 100 * 95;
    if (goal > cap) goal = cap;
  }
  return goal + (1 << 20);
}

void tick() {
  int64_t now = os::nanotime();
  uint64_t inuse = g_heap.inuse_bytes();
  g_scav.ring[g_scav.ring_pos] = inuse;
  g_scav.ring_pos = (g_scav.ring_pos + 1) % static_cast<int>(sizeof g_scav.ring / sizeof g_scav.ring[0]);
  uint64_t goal = compute_goal(inuse);
  g_scav.goal.store(goal, std::memory_order_relaxed);
  uint64_t retained = mapped_bytes();
  if (retained <= goal) return;
  uint64_t excess = retained - goal;
  // Ask the Ps to give back what they hold without need (spans that other
  // threads' frees emptied), at most every half second.
  if (now - g_scav.last_trim > kPeakWindowNs) {
    g_scav.last_trim = now;
    g_trim_epoch.fetch_add(1, std::memory_order_relaxed);
  }
  bool over_limit = g_pacer.memory_limit.load(std::memory_order_relaxed) != kNoLimit &&
                    retained > g_pacer.memory_limit.load(std::memory_order_relaxed) / 100 * 95;
  bool catch_up = over_limit || excess > kCatchUpExcess;
  double fraction = catch_up ? (excess > (256u << 20) ? 2 * kCatchUpFraction : kCatchUpFraction) : kSteadyFraction;
  // Pace by time: work / elapsed stays under the fraction (a 1 s window).
  if (now - g_scav.period_start > 1000 * 1000 * 1000) {
    g_scav.period_start = now;
    g_scav.work_ns = 0;
  }
  double allowed = fraction * static_cast<double>(now - g_scav.period_start + kTickNs);
  if (static_cast<double>(g_scav.work_ns) >= allowed) return;
  // Release in steps, re-checking the time budget between them.
  uint64_t step = catch_up ? (excess / 2 > kScavengeQuantum ? excess / 2 : kScavengeQuantum) : kScavengeQuantum;
  int64_t t0 = os::nanotime();
  uint64_t got;
  {
    MutexLock l(g_scav.scavenge_lock);
    got = g_heap.scavenge(step < excess ? step : excess, over_limit ? 0 : kMinAgeNs, over_limit);
  }
  g_scav.work_ns += os::nanotime() - t0;
  g_scav.released_bg.fetch_add(got, std::memory_order_relaxed);
}

void* scavenger_main(void*) {
  g_scav.period_start = os::nanotime();
  for (;;) {
    uint32_t k = g_scav.kick.load(std::memory_order_acquire);
    tick();
    os::futex_wait(reinterpret_cast<volatile uint32_t*>(&g_scav.kick), k, kTickNs);
  }
  return nullptr;
}

}  // namespace

void heap_grew() {
  // Started once the heap is big enough for RSS to matter; small programs
  // never get the thread. Not from here: the caller may hold allocator
  // locks, and pthread_create allocates. The slow paths start it when they
  // are done (start_scavenger_requested).
  if (!g_scav.started.load(std::memory_order_acquire) && g_heap.retained_bytes() >= (32u << 20))
    g_scavenger_requested.store(true, std::memory_order_relaxed);
  uint64_t limit = g_pacer.memory_limit.load(std::memory_order_relaxed);
  if (limit != kNoLimit) {
    // Allocation-time scavenging (Go's): growing past the limit releases
    // free pages at once.
    uint64_t mapped = mapped_bytes();
    uint64_t cap = limit / 100 * 95;
    if (mapped > cap) scavenge_for_limit(mapped - cap);
  }
}

GOMEM_META constinit std::atomic<bool> g_scavenger_requested{false};

void start_scavenger_requested() {
  g_scavenger_requested.store(false, std::memory_order_relaxed);
  start_scavenger();
}

void start_scavenger() {
  if (!g_gcsettings.scavenger || g_scav.started.load(std::memory_order_acquire)) return;
  // try_lock, not lock: pthread_create allocates, and that allocation may
  // come back here on this very thread (it would deadlock on itself); a
  // thread that finds the lock taken leaves the start to its holder.
  if (!g_scav.start_lock.try_lock()) return;
  if (!g_scav.started.load(std::memory_order_relaxed) && os::start_thread(scavenger_main, nullptr))
    g_scav.started.store(true, std::memory_order_release);
  g_scav.start_lock.unlock();
}

void wake_scavenger() {
  if (!g_scav.started.load(std::memory_order_acquire)) {
    start_scavenger();
    return;
  }
  g_scav.kick.fetch_add(1, std::memory_order_acq_rel);
  os::futex_wake(reinterpret_cast<volatile uint32_t*>(&g_scav.kick), 1);
}

uint64_t scavenger_goal() { return g_scav.goal.load(std::memory_order_relaxed); }
uint64_t scavenger_released_bg() { return g_scav.released_bg.load(std::memory_order_relaxed); }
uint64_t scavenger_released_forced() { return g_scav.released_forced.load(std::memory_order_relaxed); }

void free_os_memory() {
  if (g_gc_used.load(std::memory_order_relaxed)) collect(Trigger::kForced);
  uint64_t got;
  {
    MutexLock l(g_scav.scavenge_lock);
    got = g_heap.scavenge(0, 0, /*force=*/true);
  }
  g_scav.released_forced.fetch_add(got, std::memory_order_relaxed);
}

void scavenge_for_limit(uint64_t need) {
  // From the heap's grow hook: the caller may be inside a non-preemptible
  // section (a collected allocation), while the thread scavenging now may be
  // stopped for a collection that waits for this one. Never wait: if a
  // scavenge is running, it is releasing memory already.
  if (!g_scav.scavenge_lock.try_lock()) return;
  uint64_t got = g_heap.scavenge(need, 0, /*force=*/true);
  g_scav.scavenge_lock.unlock();
  g_scav.released_forced.fetch_add(got, std::memory_order_relaxed);
}

void scavenger_fork_prepare() { g_scav.start_lock.lock(); }
void scavenger_fork_parent() { g_scav.start_lock.unlock(); }
void fork_prepare_scavenge() { g_scav.scavenge_lock.lock(); }
void fork_parent_scavenge() { g_scav.scavenge_lock.unlock(); }
void fork_child_scavenge() { g_scav.scavenge_lock.reset(); }

void scavenger_fork_child() {
  g_scav.start_lock.reset();
  g_scav.started.store(false, std::memory_order_relaxed);
}

void trace_scavenger() {
  StackBuf<256> b;
  uint64_t retained = mapped_bytes();
  uint64_t inuse = g_heap.inuse_bytes();
  b.s("scav ").u(scavenger_released_bg() >> 10).s(" KiB work (bg), ").u(scavenger_released_forced() >> 10);
  b.s(" KiB work (forced), ").u(retained >> 10).s(" KiB now, ");
  b.u(retained ? inuse * 100 / retained : 100).s("% util, goal ").u(scavenger_goal() >> 20).s(" MB\n");
  os::write_stderr(b.str(), b.len());
}

}  // namespace gc
}  // namespace gomem
