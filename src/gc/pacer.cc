// Pacing (Go's mgcpacer.go, for a stop-the-world collector).
//
// GOGC: the next cycle starts when the collected heap reaches
//   goal = marked + marked * GOGC / 100,  at least 4 MiB * GOGC / 100
// (Go's heap minimum). heap_live counts bytes of collected objects
// allocated since the last mark, optimistically: a span's free bytes count
// as soon as a P takes the span (Go's refill accounting), and are given back
// when it returns them. With the world stopped for the whole mark, the
// trigger is the goal itself (Go triggers earlier so that its concurrent
// mark ends near the goal). GOGC=off (or a negative percent) disables
// collection by the pacer; explicit collections still run.
#include <cstdlib>
#include <cstring>

#include "gc/internal.h"
#include "platform/os.h"

namespace gomem {
namespace gc {

GOMEM_META constinit Pacer g_pacer;
constexpr uint64_t kHeapMinimum = 4 << 20;

namespace {

uint64_t compute_goal(uint64_t marked, int percent) {
  if (percent < 0) return ~uint64_t{0};
  uint64_t goal = marked + marked / 100 * static_cast<uint64_t>(percent) +
                  marked % 100 * static_cast<uint64_t>(percent) / 100;
  uint64_t min = kHeapMinimum * static_cast<uint64_t>(percent) / 100;
  return goal < min ? min : goal;
}

}  // namespace

void pacer_init_from_env() {
  if (const char* v = os::getenv("GOGC")) {
    if (strcmp(v, "off") == 0) {
      g_pacer.gc_percent.store(-1);
    } else {
      char* end = nullptr;
      long p = strtol(v, &end, 10);
      if (end != v && *end == 0) g_pacer.gc_percent.store(p < 0 ? -1 : static_cast<int>(p > 1000000 ? 1000000 : p));
    }
  }
  uint64_t goal = compute_goal(0, g_pacer.gc_percent.load());
  g_pacer.goal.store(goal);
  g_pacer.trigger.store(goal);
}

void pacer_commit(uint64_t marked) {
  g_pacer.heap_marked.store(marked, std::memory_order_relaxed);
  g_pacer.heap_live.store(marked, std::memory_order_relaxed);
  uint64_t goal = compute_goal(marked, g_pacer.gc_percent.load(std::memory_order_relaxed));
  g_pacer.goal.store(goal, std::memory_order_relaxed);
  g_pacer.trigger.store(goal, std::memory_order_release);
}

int set_gc_percent(int p) {
  int old = g_pacer.gc_percent.exchange(p < 0 ? -1 : p);
  uint64_t goal = compute_goal(g_pacer.heap_marked.load(), p < 0 ? -1 : p);
  g_pacer.goal.store(goal);
  g_pacer.trigger.store(goal);
  return old;
}

void add_heap_live(int64_t delta) {
  g_pacer.heap_live.fetch_add(static_cast<uint64_t>(delta), std::memory_order_relaxed);
}

void maybe_trigger() {
  if (g_pacer.heap_live.load(std::memory_order_relaxed) >= g_pacer.trigger.load(std::memory_order_relaxed) &&
      g_pacer.gc_percent.load(std::memory_order_relaxed) >= 0)
    collect(Trigger::kHeap);
}

bool should_collect(Trigger why) {
  if (why != Trigger::kHeap) return true;
  return g_pacer.gc_percent.load(std::memory_order_relaxed) >= 0 &&
         g_pacer.heap_live.load(std::memory_order_relaxed) >= g_pacer.trigger.load(std::memory_order_relaxed);
}

}  // namespace gc
}  // namespace gomem
