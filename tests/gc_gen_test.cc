// Generational collection (GOMEM_GC=generational, src/gc/generational.cc):
// a minor cycle keeps old objects marked and must still find every young
// object that only an old one points to. The pointer gets there by a write
// to the old object's page: once, repeatedly, from many threads, by the
// kernel (read()), after the page stayed clean for several cycles, after a
// fork. Each test fails if a minor cycle skips the old objects on written
// pages (the remembered-set scan): the young object is then freed.
//
// Run with GOMEM_GC=generational (tests/CMakeLists.txt sets it). Without it,
// or when the kernel refuses dirty-page tracking, the tests skip.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "gc_test_util.h"

using namespace gomem_test;

namespace {

constexpr size_t kYoung = 48;  // young objects' size (a busy size class: slots are reused)

// The old object of a test: a plain pointer in a global, so a root.
uintptr_t* g_old = nullptr;

#define REQUIRE_GENERATIONAL() REQUIRE_GC_MODE("generational", 1)

// An old object of n bytes: allocated, made a root, survives a full cycle.
GOMEM_NOINLINE_TEST void make_old(size_t n) {
  g_old = static_cast<uintptr_t*>(gomem_gc_alloc(n));
  collect_clean();
}

// A young object (masked), filled with seed's pattern.
GOMEM_NOINLINE_TEST uintptr_t young(uint64_t seed) { return make_masked(kYoung, seed); }

GOMEM_NOINLINE_TEST void store(size_t word, uintptr_t masked) { g_old[word] = masked ^ kMask; }

GOMEM_NOINLINE_TEST bool alive(uintptr_t masked, uint64_t seed) {
  void* p = unmask(masked);
  return gomem_gc_base(p) == p && check(p, kYoung, seed);
}

// A minor cycle with a clean stack; churn afterwards so that a freed slot
// would be handed out again and overwritten.
__attribute__((always_inline)) inline void minor_clean() {
  uint32_t before = read_stats().num_minor_gc;
  clear_stack();
  gomem_gc_collect_minor();
  EXPECT_EQ(read_stats().num_minor_gc, before + 1) << "the cycle was not a minor one";
  churn(kYoung, 2000);
}

}  // namespace

// The old object's page is written once, between two cycles.
GC_TEST(GCGenerational, AnOldObjectKeepsTheYoungObjectStoredInIt) {
  REQUIRE_GENERATIONAL();
  NoAutoGC off;
  make_old(64);
  uintptr_t y = young(1);
  store(3, y);
  minor_clean();
  EXPECT_TRUE(alive(y, 1)) << "the young object only the old one points to was freed";
  g_old = nullptr;
}

// A large old object: only the written page of it is rescanned.
GC_TEST(GCGenerational, ALargeOldObjectKeepsTheYoungObjectStoredInItsMiddle) {
  REQUIRE_GENERATIONAL();
  NoAutoGC off;
  make_old(256 * 1024);
  uintptr_t y = young(2);
  store((100 * 1024 + 8) / sizeof(uintptr_t), y);
  minor_clean();
  EXPECT_TRUE(alive(y, 2));
  g_old = nullptr;
}

// Written over and over between cycles, for many cycles: each cycle's last
// young object must survive it.
GC_TEST(GCGenerational, APageWrittenRepeatedly) {
  REQUIRE_GENERATIONAL();
  NoAutoGC off;
  make_old(512);
  for (uint64_t round = 0; round < 20; round++) {
    uintptr_t y = 0;
    for (int i = 0; i < 50; i++) {
      y = young(100 + round * 64 + static_cast<uint64_t>(i));
      store(1 + i % 8, y);
      store(1 + i % 8 + 8, 0 ^ kMask);  // and plain words beside it
    }
    // The last one stored is the one at word 1 + 49 % 8.
    minor_clean();
    EXPECT_TRUE(alive(y, 100 + round * 64 + 49)) << "round " << round;
  }
  g_old = nullptr;
}

// The page stays clean (protected) for several minor cycles, then is
// written: the write after a long quiet spell is seen.
GC_TEST(GCGenerational, APageCleanForSeveralCyclesThenWritten) {
  REQUIRE_GENERATIONAL();
  NoAutoGC off;
  make_old(128);
  for (int i = 0; i < 5; i++) minor_clean();
  uintptr_t y = young(3);
  store(7, y);
  minor_clean();
  EXPECT_TRUE(alive(y, 3));
  g_old = nullptr;
}

// Writes the pointer (unmasked) into a pipe; its frame dies on return (and
// is cleared before the cycle).
GOMEM_NOINLINE_TEST bool send_pointer(int fd, uintptr_t masked) {
  uintptr_t v = masked ^ kMask;
  return write(fd, &v, sizeof v) == static_cast<ssize_t>(sizeof v);
}

// The kernel writes the pointer: read() from a pipe into the old object.
GC_TEST(GCGenerational, APointerTheKernelWritesIntoAnOldObject) {
  REQUIRE_GENERATIONAL();
  NoAutoGC off;
  make_old(64);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  uintptr_t y = young(4);
  ASSERT_TRUE(send_pointer(fds[1], y));
  ASSERT_EQ(read(fds[0], &g_old[5], sizeof(uintptr_t)), static_cast<ssize_t>(sizeof(uintptr_t)));
  close(fds[0]);
  close(fds[1]);
  minor_clean();
  EXPECT_TRUE(alive(y, 4)) << "a pointer read() put in an old object was not seen";
  g_old = nullptr;
}

namespace {

// Many writers: each round, the collecting thread allocates one young object
// per writer (handoff, masked), each writer stores its own into its slot of
// the old object - over and over, from its own thread - and drops it; then
// a minor cycle runs while they wait, and every slot's object must be whole.
constexpr int kMaxWriters = 64;
uintptr_t g_handoff[kMaxWriters];  // masked: not pointers
std::atomic<int> g_round{0};
std::atomic<int> g_acks{0};

GOMEM_NOINLINE_TEST void store_slot(int slot, int i) {
  for (int k = 0; k < 100; k++) {
    uintptr_t v = __atomic_load_n(&g_handoff[i], __ATOMIC_RELAXED);
    __atomic_store_n(&g_old[slot], v ^ kMask, __ATOMIC_RELAXED);
  }
}

// Bounded wait for round r (or for the end, -1): at most 10 s.
bool wait_round(int r) {
  for (int spins = 0; spins < 10 * 1000 * 1000; spins++) {
    int v = g_round.load(std::memory_order_acquire);
    if (v == r || v < 0) return v == r;
    if (spins > 1000) usleep(1);
  }
  return false;
}

void writer(int i, int slot) {
  gomem_register_thread();
  for (int r = 1; wait_round(r); r++) {
    store_slot(slot, i);
    clear_stack();  // no copy of the pointer left in this thread
    g_acks.fetch_add(1, std::memory_order_acq_rel);
  }
}

// Bounded wait for n acknowledgements.
bool wait_acks(int n) {
  for (int spins = 0; spins < 10 * 1000 * 1000; spins++) {
    if (g_acks.load(std::memory_order_acquire) >= n) return true;
    if (spins > 1000) usleep(1);
  }
  return false;
}

// More writers than cores (at least 4), each with its slot of a fresh old
// object: slots 64 words apart, eight writers to a page, several pages.
GOMEM_NOINLINE_TEST int make_old_for_writers() {
  int n = 2 * ncpu();
  if (n < 4) n = 4;
  if (n > kMaxWriters) n = kMaxWriters;
  make_old(static_cast<size_t>(n) * 64 * sizeof(uintptr_t));
  return n;
}

uint64_t round_seed(int r, int i) { return 1000 + static_cast<uint64_t>(r) * kMaxWriters + static_cast<uint64_t>(i); }

}  // namespace

// More threads than cores store pointers to young objects into an old one,
// on one page and on several, round after round of minor cycles.
GC_TEST(GCGenerational, ManyThreadsStoreIntoAnOldObjectBetweenMinorCycles) {
  REQUIRE_GENERATIONAL();
  NoAutoGC off;
  int n = make_old_for_writers();
  g_round = 0;
  g_acks = 0;
  std::vector<std::thread> ts;
  for (int i = 0; i < n; i++) ts.emplace_back(writer, i, i * 64);
  int lost = 0, rounds = 40;
  for (int r = 1; r <= rounds; r++) {
    for (int i = 0; i < n; i++) g_handoff[i] = young(round_seed(r, i));
    g_round.store(r, std::memory_order_release);
    ASSERT_TRUE(wait_acks(r * n)) << "writers stuck in round " << r;
    minor_clean();
    for (int i = 0; i < n; i++) lost += !alive(g_old[i * 64] ^ kMask, round_seed(r, i));
  }
  g_round.store(-1, std::memory_order_release);
  for (auto& t : ts) t.join();
  EXPECT_EQ(lost, 0) << "young objects only the old one pointed to were freed (of " << rounds * n << ")";
  g_old = nullptr;
}

namespace {

// One writer that allocates: stores young objects into its slot of the old
// object, and checks that the one it stored before is still whole. It holds
// each new object as a plain pointer until it is stored (a masked copy would
// hide it from a cycle in between: the object would rightly die).
struct Writer {
  int slot;
  std::atomic<bool>* stop;
  std::atomic<long>* failures;
  uint64_t* last;  // the seed of the object it stored last
};

GOMEM_NOINLINE_TEST void write_loop(Writer w) {
  gomem_register_thread();
  uint64_t prev = 0;
  for (uint64_t k = 1; !w.stop->load(); k++) {
    uint64_t seed = static_cast<uint64_t>(w.slot) << 32 | k;
    void* y = gomem_gc_alloc(kYoung);
    fill(y, kYoung, seed);
    if (prev && !check(reinterpret_cast<void*>(g_old[w.slot]), kYoung, prev)) w.failures->fetch_add(1);
    g_old[w.slot] = reinterpret_cast<uintptr_t>(y);
    prev = seed;
  }
  // One more, after the last cycle: young, held by the old object alone
  // once this thread is gone.
  uint64_t seed = static_cast<uint64_t>(w.slot) << 32;
  void* y = gomem_gc_alloc(kYoung);
  fill(y, kYoung, seed);
  g_old[w.slot] = reinterpret_cast<uintptr_t>(y);
  *w.last = seed;
}

}  // namespace

// The same, with the writers allocating while minor cycles run back to back:
// writes race with the stops.
GC_TEST(GCGenerational, ManyAllocatingThreadsStoreIntoAnOldObjectDuringMinorCycles) {
  REQUIRE_GENERATIONAL();
  NoAutoGC off;
  int n = make_old_for_writers();
  std::atomic<bool> stop{false};
  std::atomic<long> failures{0};
  std::vector<uint64_t> last(static_cast<size_t>(n));
  std::vector<std::thread> ts;
  for (int i = 0; i < n; i++) ts.emplace_back(write_loop, Writer{i * 64, &stop, &failures, &last[i]});
  for (int c = 0; c < 300; c++) {  // bounded: then the writers stop at their next store
    clear_stack();
    gomem_gc_collect_minor();
  }
  stop = true;
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures.load(), 0) << "young objects only the old one pointed to were freed";
  // The writers are gone: their last objects are held by the old one alone.
  minor_clean();
  for (int i = 0; i < n; i++) EXPECT_TRUE(alive(g_old[i * 64] ^ kMask, last[i])) << "writer " << i;
  g_old = nullptr;
}

// fork(): the child's tracker starts over (its first cycle is full), then
// minor cycles work there; the parent's go on.
GC_TEST(GCGenerational, AfterForkBothSidesKeepYoungObjectsOfOldOnes) {
  REQUIRE_GENERATIONAL();
  NoAutoGC off;
  make_old(64);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(60);  // a watchdog against a hang
    uintptr_t y = young(5);
    store(2, y);
    clear_stack();
    gomem_gc_collect_minor();  // full: the registration did not survive the fork
    churn(kYoung, 2000);
    if (!alive(y, 5)) _exit(2);
    uintptr_t z = young(6);
    store(3, z);
    uint32_t before = read_stats().num_minor_gc;
    clear_stack();
    gomem_gc_collect_minor();
    churn(kYoung, 2000);
    if (read_stats().num_minor_gc != before + 1) _exit(3);
    _exit(alive(z, 6) ? 0 : 4);
  }
  uintptr_t y = young(7);
  store(4, y);
  minor_clean();
  EXPECT_TRUE(alive(y, 7));
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << (WIFEXITED(status) ? "the child exited with " + std::to_string(WEXITSTATUS(status))
                            : "the child died with signal " + std::to_string(WTERMSIG(status)));
  g_old = nullptr;
}

// Which pages a cycle protects (generational.cc: stays_old). A span whose
// slots are nearly all old has its pages protected, and the test sees it: the
// next write to them faults (counted in this thread's minor faults). A span
// with mostly free slots is left unprotected, so filling it costs no fault.
namespace {

constexpr size_t kSpanObj = 128;   // 64 objects per 8 KiB span
constexpr int kSpanObjs = 64 * 8;  // eight spans' worth
uintptr_t** volatile g_objs_root;  // a collected array: the objects' only root

long thread_faults() {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_minflt;
}

// Objects of kSpanObj bytes, kSpanObjs of them, every `keep`-th held by
// g_objs_root (the others dropped), all of them written. One cycle later
// the kept ones are old.
GOMEM_NOINLINE_TEST void make_span_objects(int keep) {
  g_objs_root = static_cast<uintptr_t**>(gomem_gc_alloc(kSpanObjs * sizeof(void*)));
  for (int i = 0; i < kSpanObjs; i++) {
    auto* o = static_cast<uintptr_t*>(gomem_gc_alloc(kSpanObj));
    memset(o, 0, kSpanObj);
    if (i % keep == 0) g_objs_root[i] = o;
  }
}

}  // namespace

GC_TEST(GCGenerational, AMostlyFreeSpanIsNotProtectedSoFillingItCostsNoFault) {
  REQUIRE_GENERATIONAL();
  NoAutoGC off;
  make_span_objects(16);  // 1 in 16 kept: 15/16 of each span free after the cycle
  collect_clean();
  // Fill the freed slots (the P refills from the swept partial spans first).
  long before = thread_faults();
  churn(kSpanObj, kSpanObjs - kSpanObjs / 16);
  long faults = thread_faults() - before;
  EXPECT_LT(faults, 8) << "filling the free slots of spans that hold old objects faulted on " << faults
                       << " times (16 pages): the cycle protected pages about to be allocated into";
  g_objs_root = nullptr;
}

GC_TEST(GCGenerational, AFullOldSpanIsProtectedAndKeepsTheYoungObjectStoredInIt) {
  REQUIRE_GENERATIONAL();
  NoAutoGC off;
  make_span_objects(1);  // every object kept: full spans of old objects
  collect_clean();
  minor_clean();
  uintptr_t* old = g_objs_root[kSpanObjs / 2];  // in a full span
  uintptr_t y = young(11);
  long before = thread_faults();
  old[5] = y ^ kMask;
  EXPECT_GE(thread_faults() - before, 1) << "the page of a full span of old objects was not protected";
  old = nullptr;
  minor_clean();
  EXPECT_TRUE(alive(y, 11)) << "the young object only an old object in a protected page points to was freed";
  g_objs_root = nullptr;
}

// Young garbage goes in a minor cycle; an old object that died stays until a
// full one, and so do its weak pointer and finalizer (said in docs/gc.md).
namespace {
void* volatile g_hold = nullptr;  // a root while an object is made old (volatile: never read)

GOMEM_NOINLINE_TEST bool weak_is(gomem_weak* w, uintptr_t masked) {
  return reinterpret_cast<uintptr_t>(gomem_weak_get(w)) == (masked ^ kMask);
}
GOMEM_NOINLINE_TEST gomem_weak* weak_of(uintptr_t masked) { return gomem_weak_make(unmask(masked)); }
GOMEM_NOINLINE_TEST void hold(uintptr_t masked) { g_hold = masked ? unmask(masked) : nullptr; }
}  // namespace

GC_TEST(GCGenerational, MinorCyclesFreeYoungGarbageOnlyAndFullOnesTheRest) {
  REQUIRE_GENERATIONAL();
  NoAutoGC off;
  uintptr_t old_dead = make_masked(kYoung, 8);
  gomem_weak* w = weak_of(old_dead);
  hold(old_dead);
  collect_clean();  // held by a root: now old
  ASSERT_TRUE(weak_is(w, old_dead)) << "held by a root, it survives";
  hold(0);  // dead from here on
  uintptr_t young_dead = young(9);
  gomem_weak* wy = weak_of(young_dead);
  uint32_t before = read_stats().num_minor_gc;
  clear_stack();
  gomem_gc_collect_minor();
  EXPECT_EQ(read_stats().num_minor_gc, before + 1);
  EXPECT_TRUE(weak_is(wy, 0 ^ kMask)) << "young garbage is found dead by a minor cycle";
  EXPECT_TRUE(weak_is(w, old_dead)) << "an old object is not found dead by a minor cycle";
  collect_clean();
  EXPECT_TRUE(weak_is(w, 0 ^ kMask)) << "a full cycle finds it dead";
}

// GOMEM_GC=generational with the tracker refused (GOMEM_DIRTY=off stands in
// for an old kernel or a seccomp policy): every cycle is full, and gctrace
// says why once. Run by its own ctest entry with that environment.
GC_TEST(GCGenerationalRefused, EveryCycleIsFullAndGctraceSaysWhyOnce) {
  const char* mode = getenv("GOMEM_GC");
  const char* dirty = getenv("GOMEM_DIRTY");
  if (!mode || strcmp(mode, "generational") != 0 || !dirty || strcmp(dirty, "off") != 0)
    GTEST_SKIP() << "needs GOMEM_GC=generational GOMEM_DIRTY=off GODEBUG=gctrace=1";
  char path[] = "/tmp/gomem_gen_trace_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  int saved = dup(2);
  ASSERT_EQ(dup2(fd, 2), 2);
  for (int i = 0; i < 3; i++) gomem_gc_collect_minor();
  dup2(saved, 2);
  close(saved);
  char buf[8192] = {};
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  close(fd);
  unlink(path);
  ASSERT_GT(n, 0) << "no gctrace output";
  std::string out(buf, static_cast<size_t>(n));
  const std::string said = "dirty-page tracking unavailable (disabled by GOMEM_DIRTY=off)";
  size_t at = out.find(said);
  EXPECT_NE(at, std::string::npos) << out;
  EXPECT_EQ(out.find(said, at + 1), std::string::npos) << "said more than once:\n" << out;
  EXPECT_EQ(out.find("minor"), std::string::npos) << out;
  gomem_stats st = read_stats();
  EXPECT_EQ(st.gc_mode, 0u);
  EXPECT_EQ(st.num_minor_gc, 0u);
}
