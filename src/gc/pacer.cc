// Pacing (Go's mgcpacer.go, for a stop-the-world collector).
//
// GOGC: the next cycle starts when the collected heap reaches
//   goal = marked + marked * GOGC / 100,  at least 4 MiB * GOGC / 100
// (Go's heap minimum). After a minor cycle (generational.cc) "marked" is
// still the last full cycle's: the goal does not grow with promoted garbage;
// after a concurrent one (concurrent.cc) it is what the markers traced, not
// the objects allocated black during the cycle.
//
// heap_live counts bytes of collected objects allocated since the last
// mark, optimistically: a span's free bytes count as soon as a P takes the
// span (Go's refill accounting), and are given back when it returns them.
// With the world stopped for the whole mark, the trigger is the goal itself;
// concurrent marking (concurrent.cc) starts at 70 % of the runway from the
// marked heap to the goal, Go's minimum trigger, so that it can end before
// the goal.
// GOGC=off (or a negative percent) disables collection by the pacer;
// explicit collections still run.
//
// The assist ratio (Go's revise(), mgcpacer.go): while a concurrent cycle
// marks, a thread owes assist_work_per_byte bytes of scan work for each
// byte it allocates (concurrent.cc), the scan work still expected over the
// heap still allowed before the goal, so that marking ends as the heap
// reaches the goal if the program's allocation pays for all of it. It is
// revised at each assist, from the figures of the moment: expected is the
// last cycle's scan work; once the cycle did more, the heap is taken to be
// growing (expected becomes the whole heap at the first stop, the goal is
// extrapolated from the runway, up to the hard goal); past the goal, the
// hard goal is the runway's end. Past that the runway is one byte: an
// assist owes all the work there is.
//
// Trigger, goal and ratio are Go's; Go's trigger controller is not: the
// trigger moves by whether the program had to wait (concurrent.cc).
#include "gc/internal.h"
#include "platform/os.h"

namespace gomem {
namespace gc {

GOMEM_META constinit Pacer g_pacer;
constexpr uint64_t kHeapMinimum = 4 << 20;

namespace {

uint64_t compute_goal(uint64_t marked, int percent) {
  if (percent < 0) return ~uint64_t{0};
  uint64_t goal =
      marked + marked / 100 * static_cast<uint64_t>(percent) + marked % 100 * static_cast<uint64_t>(percent) / 100;
  uint64_t min = kHeapMinimum * static_cast<uint64_t>(percent) / 100;
  return goal < min ? min : goal;
}

// The trigger in the runway [marked, goal] (trigger_percent of it).
uint64_t trigger_for(uint64_t marked, uint64_t goal) {
  uint64_t pct = static_cast<uint64_t>(g_pacer.trigger_percent.load(std::memory_order_relaxed));
  if (pct >= 100 || goal <= marked) return goal;
  return marked + (goal - marked) / 100 * pct;
}

}  // namespace

uint64_t memory_limit_goal() {
  uint64_t limit = g_pacer.memory_limit.load(std::memory_order_relaxed);
  if (limit == kNoLimit) return kNoLimit;
  // Go's rule: the heap may use what the limit leaves after everything that
  // is not the collected heap, less an overage, less 3 % (at least 1 MiB).
  uint64_t mapped = g_heap.retained_bytes() + g_heap.mspan_sys() + g_heap.gcbits_sys();
  uint64_t inuse = g_heap.inuse_bytes();
  uint64_t free_retained = mapped > inuse ? g_heap.retained_bytes() - (inuse < g_heap.retained_bytes() ? inuse : 0) : 0;
  uint64_t gc_alloc = g_pacer.heap_live.load(std::memory_order_relaxed);
  uint64_t non_heap = mapped > free_retained + gc_alloc ? mapped - free_retained - gc_alloc : 0;
  uint64_t overage = mapped > limit ? mapped - limit : 0;
  uint64_t marked = g_pacer.heap_marked.load(std::memory_order_relaxed);
  if (non_heap + overage >= limit) return marked;
  uint64_t goal = limit - (non_heap + overage);
  uint64_t headroom = goal / 100 * 3;
  goal -= headroom > (1u << 20) ? headroom : (goal > (1u << 20) ? (1u << 20) : goal);
  return goal > marked ? goal : marked;
}

uint64_t set_memory_limit(uint64_t bytes) {
  uint64_t old = g_pacer.memory_limit.exchange(bytes);
  wake_scavenger();
  return old;
}

// GOMEMLIMIT and GOGC, checked by os::read_env. GOGC is capped at
// 1000000 % so that the goal's arithmetic cannot overflow.
void pacer_init(int64_t memory_limit, int gc_percent) {
  g_pacer.memory_limit.store(static_cast<uint64_t>(memory_limit));
  g_pacer.gc_percent.store(gc_percent > 1000000 ? 1000000 : gc_percent);
  uint64_t goal = compute_goal(0, g_pacer.gc_percent.load());
  g_pacer.goal.store(goal);
  g_pacer.trigger.store(goal);
}

void pacer_commit(uint64_t marked, uint64_t goal_base) {
  g_pacer.heap_marked.store(marked, std::memory_order_relaxed);
  g_pacer.heap_live.store(marked, std::memory_order_relaxed);
  uint64_t goal = compute_goal(goal_base, g_pacer.gc_percent.load(std::memory_order_relaxed));
  uint64_t lim = memory_limit_goal();
  if (lim < goal) goal = lim;
  g_pacer.goal.store(goal, std::memory_order_relaxed);
  g_pacer.trigger.store(trigger_for(marked, goal), std::memory_order_release);
}

int set_gc_percent(int p) {
  int old = g_pacer.gc_percent.exchange(p < 0 ? -1 : p);
  if (p < 0) wait_for_cycle();  // Go's setGCPercent: none runs once it returns (a background cycle may)
  uint64_t marked = g_pacer.heap_marked.load();
  uint64_t goal = compute_goal(marked, p < 0 ? -1 : p);
  g_pacer.goal.store(goal);
  g_pacer.trigger.store(trigger_for(marked, goal));
  return old;
}

void add_heap_live(int64_t delta) {
  g_pacer.heap_live.fetch_add(static_cast<uint64_t>(delta), std::memory_order_relaxed);
}

// The trigger: GOGC's goal, lowered by the memory limit when there is one
// (which also runs the collector when GOGC is off, as in Go).
static bool due() {
  uint64_t live = g_pacer.heap_live.load(std::memory_order_relaxed);
  if (g_pacer.gc_percent.load(std::memory_order_relaxed) >= 0 &&
      live >= g_pacer.trigger.load(std::memory_order_relaxed))
    return true;
  if (g_pacer.memory_limit.load(std::memory_order_relaxed) != kNoLimit) {
    uint64_t lim = memory_limit_goal();
    // Keep a cycle's worth of progress: never collect again before a few
    // MiB were allocated since the last mark.
    uint64_t floor = g_pacer.heap_marked.load(std::memory_order_relaxed) + (4u << 20);
    return live >= (lim > floor ? lim : floor);
  }
  return false;
}

double assist_work_per_byte() {
  double work = static_cast<double>(g_conc.scan_work.load(std::memory_order_relaxed));
  double expected = static_cast<double>(g_conc.expected_work.load(std::memory_order_relaxed));
  double max_work = static_cast<double>(g_conc.max_work.load(std::memory_order_relaxed));
  double triggered = static_cast<double>(g_conc.triggered.load(std::memory_order_relaxed));
  double goal = static_cast<double>(g_pacer.goal.load(std::memory_order_relaxed));
  double live = static_cast<double>(g_pacer.heap_live.load(std::memory_order_relaxed));
  double hard = goal * 1.1;
  if (work > expected && expected > 0) {
    double ext = triggered + (goal - triggered) / expected * max_work;
    goal = ext < hard ? ext : hard;
    expected = max_work;
  }
  if (live > goal) {
    goal = hard;
    expected = max_work;
  }
  double left = expected - work < 1000 ? 1000 : expected - work;
  double runway = goal - live < 1 ? 1 : goal - live;
  return left / runway;
}

// In concurrent mode the background collector thread runs the cycle; a
// thread that allocated while it marks pays its assist debt first, and goes
// on unless it is past the hard goal with no work to do (concurrent.cc).
void maybe_trigger() {
  Stall stall;
  bool starved = conc_pay_assist(&stall);
  if (due() && conc_collect_here(starved, &stall))
    collect(Trigger::kHeap, stall.since);
  else if (stall.since != 0)
    record_stall(os::nanotime() - stall.since, stall.cycle);
}

bool should_collect(Trigger why) { return why != Trigger::kHeap || due(); }

}  // namespace gc
}  // namespace gomem
