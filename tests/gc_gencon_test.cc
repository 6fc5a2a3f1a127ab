// Concurrent generational collection (GOMEM_GC=gencon, src/gc/generational.cc
// has the design): a minor cycle keeps the old objects marked, rescans only
// the ones on pages written since the last cycle, and marks the young ones
// beside the program. The race of that combination: an old object on a page
// the minor cycle's first stop found clean (protected since the last cycle,
// so not rescanned) receives, while the markers run, the only pointer to a
// young object they have not reached. The old object is marked, so no marker
// scans it; only its page, written during marking and reported by a
// pre-cleaning round or the final stop, leads back to the young object.
//
// The stage (gc/internal.h's test hooks, on the thread that runs the cycle):
// O, an old large object (its own span, so its pages are protected at each
// cycle's end); Z, a young object only a root points to, and Y (with its
// pattern), only Z points to. The first stop marks Z (a root's referent) but
// scans nothing of it; right after it (started hook) the pointer to Y leaves
// Z for a hidden word (masked: it stands for a register the stop already
// scanned), then goes into O at once, after pre-cleaning round 0 (round
// hook), or into a new object (allocated black during marking) that goes
// into O. Each test fails (Y freed) if the minor cycle does not rescan the
// old objects on pages written during its marking; the store faults once,
// which shows that O's page was clean (protected) when it was written.
//
// Run with GOMEM_GC=gencon (tests/CMakeLists.txt sets it). Without it, or
// when the kernel refuses dirty-page tracking, the tests skip.
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gc/internal.h"
#include "gc_test_util.h"

using namespace gomem_test;

namespace {

constexpr size_t kOld = 64 * 1024;  // O: large, a span of its own (stays old: protected)
constexpr size_t kOldWord = 3000;   // the word of O that receives Y (on O's middle page)
constexpr size_t kYoung = 48;       // Y and Z (a busy size class: freed slots are reused)
constexpr size_t kNew = 64;         // the object allocated during marking (kViaNew)
constexpr uint64_t kSeed = 4242;

enum class When {
  kAtStart,     // into O right after the first stop (found by pre-cleaning)
  kAfterRound,  // into O after pre-cleaning round 0 (found by the final stop)
  kViaNew,      // into a new (black) object, that one into O, after the first stop
};

// The stage, written by the test thread before the cycle and by the hooks
// on the same thread during it (the cycle runs on the thread that asks).
struct Stage {
  When when = When::kAtStart;
  uintptr_t* old = nullptr;  // O, held by this root
  uintptr_t* z = nullptr;    // Z, held by this root
  uintptr_t y_masked = 0;    // Y, masked (for the checks)
  uintptr_t hidden = 0;      // Y, masked, between the two hooks
  uintptr_t fresh = 0;       // kViaNew: the new object, masked
  long faults = -1;          // page faults of the store into O
  bool started = false, stored = false;
};
Stage g_stage;

long thread_faults() {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_minflt;
}

GOMEM_NOINLINE_TEST void store_into_old(uintptr_t v) {
  long before = thread_faults();
  g_stage.old[kOldWord] = v;
  g_stage.faults = thread_faults() - before;
  g_stage.stored = true;
}

GOMEM_NOINLINE_TEST void store_hidden() {
  uintptr_t y = g_stage.hidden ^ kMask;
  g_stage.hidden = 0;
  if (g_stage.when != When::kViaNew) {
    store_into_old(y);
    return;
  }
  auto* n = static_cast<uintptr_t*>(gomem_gc_alloc(kNew));
  fill(n, kNew - sizeof(uintptr_t), kSeed + 1);
  n[kNew / sizeof(uintptr_t) - 1] = y;
  g_stage.fresh = reinterpret_cast<uintptr_t>(n) ^ kMask;
  store_into_old(reinterpret_cast<uintptr_t>(n));
}

// After the first stop, before any marker runs: Y leaves Z.
void on_started(intptr_t) {
  if (g_stage.started) return;
  g_stage.started = true;
  g_stage.hidden = g_stage.z[0] ^ kMask;
  g_stage.z[0] = 0;
  if (g_stage.when != When::kAfterRound) store_hidden();
}

void on_round(intptr_t r) {
  if (r == 0 && g_stage.when == When::kAfterRound && !g_stage.stored) store_hidden();
}

GOMEM_NOINLINE_TEST void build() {
  g_stage.z = static_cast<uintptr_t*>(gomem_gc_alloc(kYoung));
  g_stage.y_masked = make_masked(kYoung, kSeed);
  g_stage.z[0] = g_stage.y_masked ^ kMask;
}

GOMEM_NOINLINE_TEST bool alive(uintptr_t masked, size_t n, uint64_t seed) {
  void* p = unmask(masked);
  return gomem_gc_base(p) == p && check(p, n, seed);
}

// A minor cycle with a clean stack and the hooks set; true if it was minor.
GOMEM_NOINLINE_TEST bool staged_minor() {
  gomem::gc::ConcHooks hooks;
  hooks.started = on_started;
  hooks.round = on_round;
  gomem::gc::ConcHooks old = gomem::gc::set_conc_test_hooks(hooks);
  uint32_t before = read_stats().num_minor_gc;
  clear_stack();
  gomem_gc_collect_minor();
  gomem::gc::set_conc_test_hooks(old);
  return read_stats().num_minor_gc == before + 1;
}

void run_stage(When when) {
  NoAutoGC off;
  g_stage = Stage();
  g_stage.when = when;
  g_stage.old = static_cast<uintptr_t*>(gomem_gc_alloc(kOld));
  collect_clean();  // O is old; its written pages are protected at the cycle's end
  clear_stack();
  gomem_gc_collect_minor();  // and stay clean through a minor cycle
  build();                   // Z and Y: young
  ASSERT_TRUE(staged_minor()) << "the cycle was not a minor one";
  EXPECT_TRUE(g_stage.started) << "no concurrent marking started";
  ASSERT_TRUE(g_stage.stored) << "the hook never stored Y into O (no pre-cleaning round?)";
  EXPECT_GE(g_stage.faults, 1) << "O's page was not protected when written during marking";
  churn(kYoung, 4000);  // a freed Y's slot is handed out and overwritten
  EXPECT_TRUE(alive(g_stage.y_masked, kYoung, kSeed))
      << "the young object stored into an old one on a clean page during marking was freed";
  if (when == When::kViaNew) {
    churn(kNew, 4000);
    EXPECT_TRUE(alive(g_stage.fresh, kNew - sizeof(uintptr_t), kSeed + 1))
        << "the object allocated during marking was freed";
  }
  // The next minor cycle, nothing staged: Y is old now, and still reached.
  clear_stack();
  gomem_gc_collect_minor();
  churn(kYoung, 4000);
  EXPECT_TRUE(alive(g_stage.y_masked, kYoung, kSeed));
  g_stage = Stage();
  collect_clean();
}

#define REQUIRE_GENCON() REQUIRE_GC_MODE("gencon", 3)

}  // namespace

GC_TEST(GCGencon, AYoungPointerStoredIntoACleanOldPageDuringMarking) {
  REQUIRE_GENCON();
  run_stage(When::kAtStart);
}

GC_TEST(GCGencon, AYoungPointerStoredIntoACleanOldPageAfterAPrecleaningRound) {
  REQUIRE_GENCON();
  run_stage(When::kAfterRound);
}

GC_TEST(GCGencon, AYoungPointerInAnObjectAllocatedDuringMarkingStoredIntoACleanOldPage) {
  REQUIRE_GENCON();
  run_stage(When::kViaNew);
}

// Both notes in gctrace's line and gc_mode 3: checked by the stats.
GC_TEST(GCGencon, MinorAndFullCyclesBothRecordTwoStops) {
  REQUIRE_GENCON();
  NoAutoGC off;
  collect_clean();
  gomem_gc_collect_minor();
  gomem_stats st = read_stats();
  uint32_t last = (st.num_gc + GOMEM_NUM_PAUSES - 1) % GOMEM_NUM_PAUSES;
  EXPECT_GT(st.num_minor_gc, 0u);
  EXPECT_GT(st.pause_start_ns[last], 0u) << "the minor cycle had no first stop: it did not mark concurrently";
  EXPECT_GT(st.pause_final_ns[last], 0u);
}

// The same race from kThreads registered threads at once (more than the
// machine's cores): right after the first stop each moves its own young
// object from Z into its own word of O (all on one protected page).
namespace {

constexpr int kThreads = 6;
constexpr auto kBound = std::chrono::seconds(60);  // every wait of these movers

struct Movers {
  uintptr_t y_masked[kThreads] = {};
  uintptr_t hidden[kThreads] = {};  // masked, from the hook to the mover
  std::atomic<int> phase{0};        // 1: move; 2: the cycle is over
  std::atomic<int> acked{0};
  std::atomic<bool> timed_out{false};
};
Movers g_movers;

bool wait_phase(int p) {
  auto deadline = std::chrono::steady_clock::now() + kBound;
  while (g_movers.phase.load() < p) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

GOMEM_NOINLINE_TEST void move_one(int t) {
  g_stage.old[kOldWord + 8 * static_cast<size_t>(t)] = g_movers.hidden[t] ^ kMask;
  g_movers.hidden[t] = 0;
}

void mover(int t) {
  gomem_register_thread();
  if (wait_phase(1)) {
    move_one(t);
    clear_stack();
    g_movers.acked.fetch_add(1);
  }
  wait_phase(2);
  gomem_unregister_thread();
}

// After the first stop: the young objects leave Z; the movers store them
// into O, and the hook waits for all of them (bounded).
void on_started_threads(intptr_t) {
  if (g_stage.started) return;
  g_stage.started = true;
  for (int t = 0; t < kThreads; t++) {
    g_movers.hidden[t] = g_stage.z[t] ^ kMask;
    g_stage.z[t] = 0;
  }
  g_movers.phase.store(1);
  auto deadline = std::chrono::steady_clock::now() + kBound;
  while (g_movers.acked.load() < kThreads) {
    if (std::chrono::steady_clock::now() > deadline) {
      g_movers.timed_out.store(true);
      return;
    }
    std::this_thread::yield();
  }
  g_stage.stored = true;
}

GOMEM_NOINLINE_TEST void build_for_threads() {
  g_stage.z = static_cast<uintptr_t*>(gomem_gc_alloc(kThreads * sizeof(uintptr_t)));
  for (int t = 0; t < kThreads; t++) {
    g_movers.y_masked[t] = make_masked(kYoung, kSeed + 10 + static_cast<uint64_t>(t));
    g_stage.z[t] = g_movers.y_masked[t] ^ kMask;
  }
}

}  // namespace

GC_TEST(GCGencon, ManyThreadsStoreYoungPointersIntoACleanOldPageDuringMarking) {
  REQUIRE_GENCON();
  NoAutoGC off;
  g_stage = Stage();
  g_movers.~Movers();
  new (&g_movers) Movers();
  g_stage.old = static_cast<uintptr_t*>(gomem_gc_alloc(kOld));
  collect_clean();
  clear_stack();
  gomem_gc_collect_minor();
  build_for_threads();
  std::vector<std::thread> movers;
  for (int t = 0; t < kThreads; t++) movers.emplace_back(mover, t);
  gomem::gc::ConcHooks hooks;
  hooks.started = on_started_threads;
  gomem::gc::ConcHooks old = gomem::gc::set_conc_test_hooks(hooks);
  uint32_t before = read_stats().num_minor_gc;
  clear_stack();
  gomem_gc_collect_minor();
  gomem::gc::set_conc_test_hooks(old);
  g_movers.phase.store(2);
  for (auto& t : movers) t.join();
  EXPECT_EQ(read_stats().num_minor_gc, before + 1) << "the cycle was not a minor one";
  EXPECT_FALSE(g_movers.timed_out.load()) << "the movers did not answer within the bound";
  EXPECT_TRUE(g_stage.stored);
  churn(kYoung, 4000);
  int lost = 0;
  for (int t = 0; t < kThreads; t++)
    lost += !alive(g_movers.y_masked[t], kYoung, kSeed + 10 + static_cast<uint64_t>(t));
  EXPECT_EQ(lost, 0) << "young objects stored into an old one on a clean page during marking were freed";
  g_stage = Stage();
  collect_clean();
}

// The heap grows while a minor cycle rescans the remembered set before its
// first stop: that scan filters candidates with the arenas' extent from
// before, so it skips the pointer into the new arena that it finds in a
// written old object, and protects the page again. The collector must
// notice in the stop (it runs the cycle full). Staged with the remembered
// hook: a block too big for the arenas there (new arenas) goes into O (a
// pointer near its end), whose page the scan then reads.
namespace {

constexpr size_t kHuge = 80u << 20;  // more than an arena (64 MiB)
uintptr_t g_huge_masked = 0;

GOMEM_NOINLINE_TEST void alloc_huge_into_old() {
  auto* b = static_cast<uintptr_t*>(gomem_gc_alloc_noscan(kHuge));
  fill(b, 4096, kSeed + 2);
  g_huge_masked = reinterpret_cast<uintptr_t>(b) ^ kMask;
  // A pointer near its end: the block starts where the heap's last arena
  // had room, and ends in the arenas added for it.
  g_stage.old[kOldWord] = reinterpret_cast<uintptr_t>(b) + kHuge - 4096;
}

// On a thread of its own that is gone before the cycle's stops, so that no
// copy of the pointer lingers in a root (the collecting thread's registers
// or dead frames).
void grow_into_old(intptr_t) {
  if (g_huge_masked) return;
  std::thread t([] {
    alloc_huge_into_old();
    gomem_unregister_thread();
  });
  t.join();
}

}  // namespace

GC_TEST(GCGencon, TheHeapGrowsWhileAMinorCycleRescansTheRememberedSet) {
  REQUIRE_GENCON();
  NoAutoGC off;
  g_stage = Stage();
  g_huge_masked = 0;
  g_stage.old = static_cast<uintptr_t*>(gomem_gc_alloc(kOld));
  collect_clean();
  gomem::gc::ConcHooks hooks;
  hooks.remembered = grow_into_old;
  gomem::gc::ConcHooks old = gomem::gc::set_conc_test_hooks(hooks);
  clear_stack();
  gomem_gc_collect_minor();
  gomem::gc::set_conc_test_hooks(old);
  ASSERT_NE(g_huge_masked, 0u) << "the hook did not run: no minor cycle?";
  churn(kYoung, 4000);
  EXPECT_TRUE(alive(g_huge_masked, 4096, kSeed + 2))
      << "the block in a new arena that only an old object points to was freed";
  clear_stack();
  gomem_gc_collect_minor();
  EXPECT_TRUE(alive(g_huge_masked, 4096, kSeed + 2));
  g_stage = Stage();
  g_huge_masked = 0;
  collect_clean();
}

// GOMEM_GC=gencon with the tracker refused (GOMEM_DIRTY=off stands in for
// an old kernel or a seccomp policy): every cycle is a full stop-the-world
// one, and gctrace says why once, naming this mode (not the two it
// combines). Run by its own ctest entry with that environment.
GC_TEST(GCGenconRefused, EveryCycleIsAFullStopTheWorldOneAndGctraceSaysWhyOnce) {
  const char* mode = getenv("GOMEM_GC");
  const char* dirty = getenv("GOMEM_DIRTY");
  if (!mode || strcmp(mode, "gencon") != 0 || !dirty || strcmp(dirty, "off") != 0)
    GTEST_SKIP() << "needs GOMEM_GC=gencon GOMEM_DIRTY=off GODEBUG=gctrace=1";
  testing::internal::CaptureStderr();
  gomem_gc_collect_minor();
  gomem_gc_collect();
  gomem_gc_collect_minor();
  std::string err = testing::internal::GetCapturedStderr();
  const std::string said = "GOMEM_GC=gencon: dirty-page tracking unavailable (disabled by GOMEM_DIRTY=off)";
  size_t at = err.find(said);
  EXPECT_NE(at, std::string::npos) << err;
  if (at != std::string::npos) EXPECT_EQ(err.find(said, at + 1), std::string::npos) << "said more than once";
  EXPECT_EQ(err.find("GOMEM_GC=generational"), std::string::npos) << err;
  EXPECT_EQ(err.find("GOMEM_GC=concurrent"), std::string::npos) << err;
  gomem_stats st = read_stats();
  EXPECT_EQ(st.gc_mode, 0u);
  EXPECT_EQ(st.num_minor_gc, 0u);
  EXPECT_EQ(st.pause_start_ns[(st.num_gc + GOMEM_NUM_PAUSES - 1) % GOMEM_NUM_PAUSES], 0u);
}
