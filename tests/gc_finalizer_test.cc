// Finalizers, cleanups, weak pointers and object introspection: C++ objects
// that point into themselves are destroyed and freed (gc_new's ignore-self
// finalizers); Go's ordering rule, and cycles of finalizable objects (never
// finalized, unless no-order); gomem_gc_run_finalizers runs each queued
// finalizer exactly once and waits for those other threads started; weak
// pointers are cleared when their object dies, before a finalizer can
// resurrect it, and never hand out a freed object; cleanups run for objects
// in cycles, which are freed in the same cycle; gomem_gc_base and
// gomem_kind for every kind of memory.
//
// As in gc_test.cc: every body runs on a fresh thread, collected pointers
// are kept XOR-masked, and the stack is cleared before collecting.
#include <gtest/gtest.h>

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gc_test_util.h"
#include "gomem/gomem.h"
#include "gomem/gomem.hpp"
#include "test_util.h"

using namespace gomem_test;

namespace {

// Runs recorded by tag (a finalizer's or cleanup's arg), and their order.
constexpr int kTags = 4096;
std::atomic<int> g_runs[kTags];
// (Not a std::vector: its end-of-storage pointer in .bss could point at the
// collected object that starts where its buffer ends, and keep it alive.)
std::atomic<int> g_order_n{0};
int g_order[64];
thread_local int t_ran_here = 0;  // finalizers and cleanups run on this thread

void reset_runs() {
  gomem_gc_run_finalizers();  // leftovers of earlier tests
  for (auto& r : g_runs) r.store(0);
  g_order_n = 0;
}

void record(void* arg) {
  int tag = static_cast<int>(reinterpret_cast<uintptr_t>(arg));
  g_runs[tag].fetch_add(1);
  t_ran_here++;
  int i = g_order_n.fetch_add(1);
  if (i < 64) g_order[i] = tag;
}

void count_finalizer(void*, void* arg) { record(arg); }
void count_cleanup(void* arg) { record(arg); }

void* tag(int t) { return reinterpret_cast<void*>(static_cast<uintptr_t>(t)); }

int runs(int t) { return g_runs[t].load(); }

// A collection, then every finalizer and cleanup it queued, run.
__attribute__((always_inline)) inline void collect_and_finalize() {
  collect_clean();
  gomem_gc_run_finalizers();
}

uint64_t heap_alloc() {
  gomem_stats st;
  gomem_read_stats(&st);
  return st.heap_alloc;
}

using SetFinalizer = int (*)(void*, gomem_finalizer_fn, void*);
constexpr SetFinalizer kGoRule = gomem_gc_set_finalizer;
constexpr SetFinalizer kIgnoreSelf = gomem_gc_set_finalizer_ignore_self;
constexpr SetFinalizer kNoOrder = gomem_gc_set_finalizer_no_order;

}  // namespace

// ---------------------------------------------------------------------------
// Objects that point into themselves (their own pointers must not keep them from being finalized).

namespace {
std::atomic<int> g_self_dtors{0};

struct SelfPointing {
  std::string name{"short"};  // fits the small-string buffer: points into the object
  SelfPointing* self = this;
  uint64_t payload[3] = {1, 2, 3};
  ~SelfPointing() { g_self_dtors.fetch_add(1); }
};

struct BigSelfPointing {  // a large object (over 32 KiB)
  char data[40000] = {};
  BigSelfPointing* self = this;
  ~BigSelfPointing() { g_self_dtors.fetch_add(1); }
};

GOMEM_NOINLINE_TEST void make_self_pointing(int n, int big) {
  for (int i = 0; i < n; i++) gomem::gc_new<SelfPointing>();
  for (int i = 0; i < big; i++) gomem::gc_new<BigSelfPointing>();
}
}  // namespace

GC_TEST(Finalizer, GcNewDestroysAndFreesObjectsThatPointIntoThemselves) {
  constexpr int kSmall = 20000, kBig = 20;
  collect_and_finalize();
  g_self_dtors = 0;
  uint64_t before = heap_alloc();
  make_self_pointing(kSmall, kBig);
  const uint64_t bytes = kSmall * sizeof(SelfPointing) + kBig * sizeof(BigSelfPointing);
  for (int i = 0; i < 3 && g_self_dtors.load() < kSmall + kBig; i++) collect_and_finalize();
  EXPECT_EQ(g_self_dtors.load(), kSmall + kBig) << "objects that point into themselves were never destroyed";
  uint64_t peak = heap_alloc();  // finalized, not yet freed
  EXPECT_GE(peak, before + bytes);
  collect_and_finalize();
  uint64_t after = heap_alloc();
  EXPECT_LT(after, peak - bytes * 9 / 10)
      << "destroyed objects were not freed: " << before << " -> " << peak << " -> " << after;
  EXPECT_EQ(g_self_dtors.load(), kSmall + kBig) << "a destructor ran twice";
}

// The collector scans its own stack too: scanning the finalizers' objects
// left their addresses in dead frames there, which it then took for roots,
// so one of them survived its first cycle (now and then: which one the
// sweep and the table's order decide).
GC_TEST(Finalizer, TheCollectorsOwnStackDoesNotKeepAFinalizableObject) {
  constexpr int kN = 20000;
  collect_and_finalize();
  g_self_dtors = 0;
  make_self_pointing(kN, 0);
  collect_and_finalize();
  EXPECT_EQ(g_self_dtors.load(), kN) << "an object was kept by a stale word";
}

namespace {
// A 64-byte object whose word 3 points at its word 1 and word 7 just past
// its end, with a finalizer; then a spacer, the object the end pointer keeps
// alive (objects of a class are handed out in address order).
GOMEM_NOINLINE_TEST uintptr_t make_self_finalizable(SetFinalizer set, int t) {
  void** p = static_cast<void**>(gomem_gc_alloc(64));
  gomem_gc_alloc(64);
  p[3] = p + 1;
  p[7] = p + 8;
  EXPECT_EQ(set(p, count_finalizer, tag(t)), 0);
  return reinterpret_cast<uintptr_t>(p) ^ kMask;
}
}  // namespace

GC_TEST(Finalizer, OnlyIgnoreSelfAndNoOrderFinalizeAnObjectThatPointsIntoItself) {
  reset_runs();
  make_self_finalizable(kGoRule, 1);
  make_self_finalizable(kIgnoreSelf, 2);
  make_self_finalizable(kNoOrder, 3);
  for (int i = 0; i < 3; i++) collect_and_finalize();
  EXPECT_EQ(runs(1), 0) << "Go's rule: the object keeps itself alive";
  EXPECT_EQ(runs(2), 1);
  EXPECT_EQ(runs(3), 1);
}

// ---------------------------------------------------------------------------
// Ordering and cycles.

namespace {
// Two 3000-byte objects (a size class no other test uses), each pointing to
// the other, each with a finalizer tagged t and t + 1. Returns A, masked;
// *b gets B.
GOMEM_NOINLINE_TEST uintptr_t make_finalizable_pair(SetFinalizer set, int t, bool cycle, uintptr_t* b) {
  void** a = static_cast<void**>(gomem_gc_alloc(3000));
  void** bb = static_cast<void**>(gomem_gc_alloc(3000));
  a[0] = bb;
  if (cycle) bb[0] = a;
  EXPECT_EQ(set(a, count_finalizer, tag(t)), 0);
  EXPECT_EQ(set(bb, count_finalizer, tag(t + 1)), 0);
  *b = reinterpret_cast<uintptr_t>(bb) ^ kMask;
  return reinterpret_cast<uintptr_t>(a) ^ kMask;
}
}  // namespace

GC_TEST(Finalizer, GoRuleFinalizesAPointerBeforeItsTargetOneCycleApart) {
  reset_runs();
  uintptr_t b;
  make_finalizable_pair(kGoRule, 10, /*cycle=*/false, &b);
  collect_and_finalize();
  EXPECT_EQ(runs(10), 1);
  EXPECT_EQ(runs(11), 0) << "B is reachable from A until A's finalizer ran";
  collect_and_finalize();
  EXPECT_EQ(runs(10), 1);
  EXPECT_EQ(runs(11), 1);
  collect_clean();
  EXPECT_EQ(gomem_kind(unmask(b)), GOMEM_KIND_NONE) << "B was not freed after its finalizer";
}

// The finalizer thread sleeps after the last finalizer it ran, and is
// scanned then: it must not keep that finalizer's object (nor what it points
// to) alive. Before, the copy it made of the object stayed in a frame of its
// own.
GC_TEST(Finalizer, TheFinalizerThreadDoesNotKeepTheObjectItFinalized) {
  reset_runs();
  uintptr_t b;
  make_finalizable_pair(kGoRule, 40, /*cycle=*/false, &b);
  collect_clean();  // queues A's finalizer; only the finalizer thread runs it
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (runs(40) == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_EQ(runs(40), 1) << "the finalizer thread did not run A's finalizer within 30 s";
  gomem_gc_run_finalizers();  // returns once the finalizer thread's finalizer has
  collect_and_finalize();
  EXPECT_EQ(runs(41), 1) << "B is still reachable: something holds A";
}

GC_TEST(Finalizer, CyclesAreFinalizedOnlyWithNoOrderFinalizers) {
  reset_runs();
  uintptr_t b_go, b_self, b_none;
  uintptr_t a_go = make_finalizable_pair(kGoRule, 20, /*cycle=*/true, &b_go);
  uintptr_t a_self = make_finalizable_pair(kIgnoreSelf, 22, /*cycle=*/true, &b_self);
  uintptr_t a_none = make_finalizable_pair(kNoOrder, 24, /*cycle=*/true, &b_none);
  collect_and_finalize();
  EXPECT_EQ(runs(24), 1) << "no-order: both ends of the cycle in the same cycle";
  EXPECT_EQ(runs(25), 1);
  for (int i = 0; i < 3; i++) collect_and_finalize();
  for (int t = 20; t < 24; t++) EXPECT_EQ(runs(t), 0) << "a cycle of finalizable objects was finalized, tag " << t;
  EXPECT_EQ(gomem_kind(unmask(a_go)), GOMEM_KIND_GC_SCAN) << "the Go-rule cycle leaks (documented)";
  EXPECT_EQ(gomem_kind(unmask(b_self)), GOMEM_KIND_GC_SCAN);
  EXPECT_EQ(gomem_kind(unmask(a_none)), GOMEM_KIND_NONE) << "the no-order cycle was not freed";
  EXPECT_EQ(gomem_kind(unmask(b_none)), GOMEM_KIND_NONE);
  EXPECT_EQ(runs(24) + runs(25), 2);
  (void)a_self;
  (void)b_go;
}

namespace {
// Two no-order objects that point to each other, each one's finalizer
// freeing the other with gomem_gc_free (as an owner's destructor would). Both
// are queued in one cycle; whichever runs first frees the other.
std::atomic<int> g_pair_runs{0};
std::atomic<bool> g_pair_freed[2];
std::atomic<int> g_finalized_after_free{0};
std::atomic<int> g_pair_done{0};  // finalizers of the pair that returned

void free_partner(void* obj, void* arg) {
  int me = static_cast<int>(reinterpret_cast<uintptr_t>(arg));
  g_pair_runs.fetch_add(1);
  if (g_pair_freed[me].load()) {
    g_finalized_after_free.fetch_add(1);  // obj was freed: do not touch it
    return;
  }
  g_pair_freed[1 - me].store(true);
  gomem_gc_free(static_cast<void**>(obj)[0]);
  g_pair_done.fetch_add(1);
}

GOMEM_NOINLINE_TEST void make_freeing_pair() {
  void** a = static_cast<void**>(gomem_gc_alloc(32));
  void** b = static_cast<void**>(gomem_gc_alloc(32));
  a[0] = b;
  b[0] = a;
  EXPECT_EQ(gomem_gc_set_finalizer_no_order(a, free_partner, tag(0)), 0);
  EXPECT_EQ(gomem_gc_set_finalizer_no_order(b, free_partner, tag(1)), 0);
}
}  // namespace

// Before: gomem_gc_free dropped only the finalizers still in the table, so
// the second finalizer ran on the object the first had freed. Only the
// finalizer thread runs the pair: were this thread to run finalizers too, it
// could take the second record while the first finalizer runs, and a
// finalizer already started cannot be dropped.
GC_TEST(Finalizer, GcFreeDropsAFinalizerAlreadyQueued) {
  reset_runs();
  g_pair_freed[0] = g_pair_freed[1] = false;
  g_pair_done = 0;
  make_freeing_pair();
  collect_clean();  // queues both and wakes the finalizer thread
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (g_pair_done.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_EQ(g_pair_done.load(), 1) << "the finalizer thread did not run the pair's finalizers within 30 s";
  collect_and_finalize();
  EXPECT_EQ(g_pair_runs.load(), 1) << "gomem_gc_free did not drop the freed object's queued finalizer";
  EXPECT_EQ(g_finalized_after_free.load(), 0) << "a finalizer ran on an object gomem_gc_free had freed";
}

// ---------------------------------------------------------------------------
// gomem_gc_run_finalizers.

namespace {
GOMEM_NOINLINE_TEST void make_finalizables(int n, int first_tag) {
  for (int i = 0; i < n; i++) {
    void* p = gomem_gc_alloc(48);
    EXPECT_EQ(gomem_gc_set_finalizer(p, count_finalizer, tag(first_tag + i)), 0);
  }
}
}  // namespace

GC_TEST(Finalizer, RunFinalizersRunsEachExactlyOnceAndCountsWhatItRan) {
  reset_runs();
  EXPECT_EQ(gomem_gc_run_finalizers(), 0u);
  constexpr int kN = 3000, kCallers = 4;
  gomem_stats st0;
  gomem_read_stats(&st0);
  make_finalizables(kN, 1);
  collect_clean();  // queues them all and wakes the finalizer thread
  // The finalizer thread and four callers race for the queue.
  size_t returned[kCallers] = {};
  int ran_here[kCallers] = {};
  std::vector<std::thread> ts;
  for (int i = 0; i < kCallers; i++)
    ts.emplace_back([&, i] {
      t_ran_here = 0;
      returned[i] = gomem_gc_run_finalizers();
      ran_here[i] = t_ran_here;
    });
  for (auto& t : ts) t.join();
  // Every caller waited for the finalizers the others were running.
  for (int i = 1; i <= kN; i++) ASSERT_EQ(runs(i), 1) << "finalizer " << i;
  for (int i = 0; i < kCallers; i++) EXPECT_EQ(returned[i], static_cast<size_t>(ran_here[i])) << "caller " << i;
  gomem_stats st1;
  gomem_read_stats(&st1);
  EXPECT_EQ(st1.num_finalizers_run - st0.num_finalizers_run, static_cast<uint64_t>(kN));
  EXPECT_EQ(gomem_gc_run_finalizers(), 0u);
}

// ---------------------------------------------------------------------------
// A thread starts with its creator's registers.
//
// The collector starts the finalizer runner and the background sweeper
// (registered threads) at the end of a collection, when its vector
// registers still hold objects it has just marked; the runner then idles in
// futex_wait, touching no vector register, and its stopped registers kept
// those objects alive in every later cycle (a no-order cycle of finalizable
// objects, finalized, was never freed). Registration drops them. Here a
// thread is created with an object's address in its creator's vector
// registers (xmm8-15 / v16-v23: caller-saved, so nothing in pthread_create
// is bound to keep or clear them), registers and waits.

namespace {

struct Inheritor {
  uintptr_t masked;         // the object, as the creator held it
  uintptr_t seen_masked;    // the child's xmm15 / v23 at entry, masked
  std::atomic<int>* ready;  // counts children that registered
  std::atomic<int>* go;     // set by the test once it collected
};

void* inheritor_main(void* a) {
  auto* h = static_cast<Inheritor*>(a);
#if defined(__x86_64__)
  __asm__ __volatile__("movq %%xmm15, %%rax\n\t xor %1, %%rax\n\t mov %%rax, %0\n\t xor %%eax, %%eax"
                       : "=m"(h->seen_masked)
                       : "r"(kMask)
                       : "rax");
#elif defined(__aarch64__)
  __asm__ __volatile__("fmov x9, d23\n\t eor x9, x9, %1\n\t str x9, %0\n\t mov x9, xzr"
                       : "=m"(h->seen_masked)
                       : "r"(kMask)
                       : "x9");
#endif
  EXPECT_EQ(gomem_register_thread(), 0);
  h->ready->fetch_add(1);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!h->go->load() && std::chrono::steady_clock::now() < deadline) sched_yield();
  return nullptr;
}

// pthread_create with the object in the caller's vector registers, which
// are cleared again afterwards (the creator must not hold it itself).
GOMEM_NOINLINE_TEST int create_inheriting(pthread_t* t, const pthread_attr_t* attr, Inheritor* h) {
#if defined(__x86_64__)
  __asm__ __volatile__(
      "mov %0, %%rax\n\t xor %1, %%rax\n\t movq %%rax, %%xmm8\n\t punpcklqdq %%xmm8, %%xmm8\n\t xor %%eax, %%eax\n\t"
      "movdqa %%xmm8, %%xmm9\n\t movdqa %%xmm8, %%xmm10\n\t movdqa %%xmm8, %%xmm11\n\t movdqa %%xmm8, %%xmm12\n\t"
      "movdqa %%xmm8, %%xmm13\n\t movdqa %%xmm8, %%xmm14\n\t movdqa %%xmm8, %%xmm15"
      :
      : "r"(h->masked), "r"(kMask)
      : "rax", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
#elif defined(__aarch64__)
  __asm__ __volatile__(
      "eor x9, %0, %1\n\t dup v16.2d, x9\n\t mov x9, xzr\n\t"
      "mov v17.16b, v16.16b\n\t mov v18.16b, v16.16b\n\t mov v19.16b, v16.16b\n\t mov v20.16b, v16.16b\n\t"
      "mov v21.16b, v16.16b\n\t mov v22.16b, v16.16b\n\t mov v23.16b, v16.16b"
      :
      : "r"(h->masked), "r"(kMask)
      : "x9", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23");
#endif
  int r = pthread_create(t, attr, inheritor_main, h);
#if defined(__x86_64__)
  __asm__ __volatile__(
      "xorps %%xmm8, %%xmm8\n\t xorps %%xmm9, %%xmm9\n\t xorps %%xmm10, %%xmm10\n\t xorps %%xmm11, %%xmm11\n\t"
      "xorps %%xmm12, %%xmm12\n\t xorps %%xmm13, %%xmm13\n\t xorps %%xmm14, %%xmm14\n\t xorps %%xmm15, %%xmm15" ::
          : "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
#elif defined(__aarch64__)
  __asm__ __volatile__(
      "movi v16.16b, #0\n\t movi v17.16b, #0\n\t movi v18.16b, #0\n\t movi v19.16b, #0\n\t"
      "movi v20.16b, #0\n\t movi v21.16b, #0\n\t movi v22.16b, #0\n\t movi v23.16b, #0" ::
          : "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23");
#endif
  return r;
}

}  // namespace

GC_TEST(Registration, ARegisteredThreadDoesNotKeepWhatItsCreatorHeldInVectorRegisters) {
  constexpr int kThreads = 4;
  constexpr size_t kStack = 1 << 20;
  std::atomic<int> ready{0}, go{0};
  Inheritor h[kThreads];
  pthread_t t[kThreads];
  void* stacks[kThreads];
  for (void*& s : stacks) s = MAP_FAILED;
  int started = 0;
  for (int i = 0; i < kThreads; i++) {
    h[i] = {make_masked(4000, 700 + static_cast<uint64_t>(i)), 0, &ready, &go};
    // A freshly mapped stack: no stale word of an earlier thread on it.
    stacks[i] = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ASSERT_NE(stacks[i], MAP_FAILED);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, stacks[i], kStack);
    if (create_inheriting(&t[i], &attr, &h[i]) == 0) started++;
    pthread_attr_destroy(&attr);
    if (started == i) break;
  }
  // Bounded: a child only registers before it gets ready.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (ready.load() < started && std::chrono::steady_clock::now() < deadline) sched_yield();
  bool all_ready = ready.load() == kThreads;
  collect_clean();
  collect_clean();
  int kept = 0;
  for (int i = 0; i < started; i++) kept += gomem_kind(unmask(h[i].masked)) != GOMEM_KIND_NONE;
  go.store(1);  // before any assertion: a child returns only when it sees it (or after 60 s)
  for (int i = 0; i < started; i++) pthread_join(t[i], nullptr);
  for (int i = 0; i < kThreads; i++)
    if (stacks[i] != MAP_FAILED) munmap(stacks[i], kStack);
  ASSERT_EQ(started, kThreads) << "cannot start a thread";
  ASSERT_TRUE(all_ready) << ready.load() << " of " << kThreads << " children registered in 60 s";
  for (int i = 0; i < kThreads; i++)
    EXPECT_EQ(h[i].seen_masked, h[i].masked) << "child " << i << " did not start with its creator's registers";
  EXPECT_EQ(kept, 0) << "objects only a registered thread's inherited vector registers held were kept";
}

// ---------------------------------------------------------------------------
// Weak pointers.

namespace {
void* volatile g_root;
void* volatile g_resurrected;

GOMEM_NOINLINE_TEST void set_root(uintptr_t masked) { g_root = unmask(masked); }
GOMEM_NOINLINE_TEST gomem_weak* weak_of(uintptr_t masked, size_t offset = 0) {
  return gomem_weak_make(static_cast<char*>(unmask(masked)) + offset);
}
// gomem_weak_get, masked (so the caller never holds the object).
GOMEM_NOINLINE_TEST uintptr_t weak_get_masked(gomem_weak* w) {
  return reinterpret_cast<uintptr_t>(gomem_weak_get(w)) ^ kMask;
}
void resurrect(void* obj, void*) { g_resurrected = obj; }

GOMEM_NOINLINE_TEST uintptr_t make_resurrecting(size_t n, uint64_t seed) {
  uintptr_t m = make_masked(n, seed);
  EXPECT_EQ(gomem_gc_set_finalizer(unmask(m), resurrect, nullptr), 0);
  return m;
}

// Calls that would leave an object's address in the test's own frame (which
// clear_stack does not clear), kept in frames of their own.
GOMEM_NOINLINE_TEST bool check_masked(uintptr_t m, size_t n, uint64_t seed) { return check(unmask(m), n, seed); }
GOMEM_NOINLINE_TEST int kind_masked(uintptr_t m, size_t offset = 0) {
  return gomem_kind(static_cast<char*>(unmask(m)) + offset);
}
GOMEM_NOINLINE_TEST uintptr_t masked_plus(uintptr_t m, size_t offset) {
  return (reinterpret_cast<uintptr_t>(unmask(m)) + offset) ^ kMask;
}
}  // namespace

GC_TEST(Weak, GetReturnsTheObjectWhileReachableAndNullOnceItDied) {
  uintptr_t m = make_masked(128, 5);
  set_root(m);
  gomem_weak* volatile w = weak_of(m);
  ASSERT_NE(w, nullptr);
  for (int i = 0; i < 2; i++) {
    collect_clean();
    EXPECT_EQ(weak_get_masked(w), m);
  }
  EXPECT_TRUE(check_masked(weak_get_masked(w), 128, 5));
  g_root = nullptr;
  collect_clean();
  EXPECT_EQ(gomem_weak_get(w), nullptr);
  EXPECT_EQ(gomem_kind(unmask(m)), GOMEM_KIND_NONE) << "a weak pointer kept its object";
  collect_clean();
  EXPECT_EQ(gomem_weak_get(w), nullptr) << "the handle did not survive its object";
}

GC_TEST(Weak, ClearedBeforeAFinalizerResurrectsTheObject) {
  reset_runs();
  uintptr_t m = make_resurrecting(128, 6);
  gomem_weak* volatile w = weak_of(m);
  collect_clean();
  EXPECT_EQ(gomem_weak_get(w), nullptr) << "not cleared when the object was found unreachable";
  gomem_gc_run_finalizers();
  ASSERT_EQ(reinterpret_cast<uintptr_t>(g_resurrected) ^ kMask, m);
  collect_clean();
  EXPECT_EQ(gomem_weak_get(w), nullptr) << "resurrection brought the weak pointer back";
  EXPECT_TRUE(check(g_resurrected, 128, 6)) << "the resurrected object was freed";
  // A weak pointer made after the resurrection is a new one, and works.
  gomem_weak* volatile w2 = gomem_weak_make(g_resurrected);
  EXPECT_NE(w2, w);
  EXPECT_EQ(weak_get_masked(w2), m);
  g_resurrected = nullptr;
  collect_clean();
  EXPECT_EQ(gomem_weak_get(w2), nullptr);
}

GC_TEST(Weak, OneHandlePerPointer) {
  uintptr_t a = make_masked(256, 7), b = make_masked(256, 8);
  set_root(a);
  void** holder = static_cast<void**>(gomem_malloc_uncollectable(16));
  holder[0] = unmask(b);
  gomem_weak* volatile wa1 = weak_of(a);
  gomem_weak* volatile wa2 = weak_of(a);
  gomem_weak* volatile wb = weak_of(b);
  gomem_weak* volatile wa_in = weak_of(a, 40);
  EXPECT_EQ(wa1, wa2);
  EXPECT_NE(wa1, wb);
  EXPECT_NE(wa1, wa_in);
  EXPECT_EQ(weak_of(a, 40), wa_in);
  EXPECT_EQ(weak_get_masked(wa_in), masked_plus(a, 40));
  collect_clean();
  EXPECT_EQ(weak_of(a), wa1) << "the handle changed while its object lived";
  // Not collected objects: no weak pointer.
  int local = 0;
  void* manual = gomem_malloc(64);
  EXPECT_EQ(gomem_weak_make(nullptr), nullptr);
  EXPECT_EQ(gomem_weak_make(&local), nullptr);
  EXPECT_EQ(gomem_weak_make(manual), nullptr);
  EXPECT_EQ(gomem_weak_get(nullptr), nullptr);
  gomem_free(manual);
  // An early free clears the weak pointers.
  holder[0] = nullptr;
  gomem_gc_free(unmask(b));
  EXPECT_EQ(gomem_weak_get(wb), nullptr);
  gomem_free(holder);
  g_root = nullptr;
  collect_clean();
  EXPECT_EQ(gomem_weak_get(wa1), nullptr);
  EXPECT_EQ(gomem_weak_get(wa_in), nullptr);
}

namespace {
std::atomic<int> g_node_dtors{0};
struct Node {
  Node* self = this;
  int value = 0;
  explicit Node(int v) : value(v) {}
  ~Node() { g_node_dtors.fetch_add(1); }
};

GOMEM_NOINLINE_TEST gomem::weak_ptr<Node> make_node_weak(int v) {
  return gomem::weak_ptr<Node>(gomem::gc_new<Node>(v));
}

// Checks made without leaving the object's address in the caller's frame.
GOMEM_NOINLINE_TEST int value_of(const gomem::weak_ptr<Node>& w) { return w.get() ? w.get()->value : -1; }
GOMEM_NOINLINE_TEST bool remade_equal(const gomem::weak_ptr<Node>& w) { return gomem::weak_ptr<Node>(w.get()) == w; }
}  // namespace

GC_TEST(Weak, CppWeakPtr) {
  g_node_dtors = 0;
  gomem::weak_ptr<Node> w = make_node_weak(42);
  gomem::weak_ptr<Node> copy = w;
  EXPECT_EQ(copy, w);
  EXPECT_TRUE(remade_equal(w)) << "two weak_ptrs of one object differ";
  EXPECT_EQ(value_of(copy), 42);
  EXPECT_EQ(gomem::weak_ptr<Node>().get(), nullptr);
  collect_clean();
  EXPECT_EQ(value_of(w), -1) << "a weak_ptr kept its object, or the object was not collected";
  EXPECT_EQ(copy.get(), nullptr);
  gomem::run_finalizers();
  EXPECT_EQ(g_node_dtors.load(), 1);
}

// Readers call gomem_weak_get while the collector frees the objects: a
// non-null result is always an intact object, never a freed slot.
namespace {
constexpr int kWeakObjs = 2000;
void** volatile g_objs;     // collected scan array: the strong references
void** volatile g_handles;  // collected scan array of gomem_weak*

GOMEM_NOINLINE_TEST void make_weak_set() {
  g_objs = static_cast<void**>(gomem_gc_alloc(kWeakObjs * sizeof(void*)));
  g_handles = static_cast<void**>(gomem_gc_alloc(kWeakObjs * sizeof(void*)));
  for (int i = 0; i < kWeakObjs; i++) {
    g_objs[i] = make_object(64, 5000 + i);
    g_handles[i] = gomem_weak_make(g_objs[i]);
  }
}

GOMEM_NOINLINE_TEST bool read_weak(int i) {
  void* p = gomem_weak_get(static_cast<gomem_weak*>(g_handles[i]));
  return !p || check(p, 64, 5000 + i);
}

GOMEM_NOINLINE_TEST void churn64(int n) {
  for (int i = 0; i < n; i++) memset(gomem_gc_alloc(64), 0xee, 64);
}
}  // namespace

GC_TEST(Weak, GetNeverReturnsAFreedObjectWhileCollectionsRun) {
  make_weak_set();
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; r++)
    readers.emplace_back([&, r] {
      uint32_t x = 12345u + r;
      while (!done.load()) {
        x = x * 1103515245u + 12345u;
        if (!read_weak(static_cast<int>((x >> 8) % kWeakObjs))) bad.fetch_add(1);
      }
    });
  for (int round = 0; round < 10; round++) {
    for (int i = round; i < kWeakObjs; i += 10) g_objs[i] = nullptr;
    collect_clean();
    churn64(20000);  // reuse the freed slots
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0) << "gomem_weak_get returned a freed object";
  int cleared = 0;
  for (int i = 0; i < kWeakObjs; i++) cleared += gomem_weak_get(static_cast<gomem_weak*>(g_handles[i])) == nullptr;
  EXPECT_GT(cleared, kWeakObjs * 9 / 10);
  g_objs = nullptr;
  g_handles = nullptr;
}

// The calls a program's key destructor may make after gomem's own has run
// for the last time (the last round: nothing will give a P back later) hand
// back the P they take. They used to keep it: one P (and its spans) lost per
// exiting thread.
namespace {
struct LastRound {
  pthread_key_t key;
  gomem_weak* weak;
  int call;  // which call the destructor makes
  bool ran = false;
};
LastRound* g_last_round;

void last_round_destructor(void* v) {
  uintptr_t round = reinterpret_cast<uintptr_t>(v);
  if (round < PTHREAD_DESTRUCTOR_ITERATIONS) {
    pthread_setspecific(g_last_round->key, reinterpret_cast<void*>(round + 1));
    return;
  }
  switch (g_last_round->call) {
    case 0:
      (void)gomem_weak_get(g_last_round->weak);
      break;
    case 1:
      gomem_free_os_memory();
      break;
    case 2:
      gomem_gc_run_finalizers();
      break;
    default:
      gomem_gc_collect();
  }
  g_last_round->ran = true;
}
}  // namespace

GC_TEST(Weak, CallsFromTheLastDestructorRoundGiveThePBack) {
  LastRound lr;
  g_last_round = &lr;
  ASSERT_EQ(pthread_key_create(&lr.key, last_round_destructor), 0);  // after gomem's key
  lr.weak = gomem_weak_make(gomem_gc_alloc(64));
  ASSERT_NE(lr.weak, nullptr);
  gomem_stats before, after;
  gomem_read_stats(&before);
  for (int i = 0; i < 8; i++) {
    lr.ran = false;
    lr.call = i % 4;
    std::thread t([&] {
      gomem_gc_free(gomem_gc_alloc(16));  // a registered thread with a P
      pthread_setspecific(lr.key, reinterpret_cast<void*>(1));
    });
    t.join();
    ASSERT_TRUE(lr.ran);
  }
  gomem_read_stats(&after);
  EXPECT_EQ(after.num_p_in_use, before.num_p_in_use) << "exited threads still hold Ps";
  pthread_key_delete(lr.key);
}

// ---------------------------------------------------------------------------
// Cleanups.

namespace {
std::atomic<int> g_arg_intact{0};
void check_arg_cleanup(void* arg) {
  if (check(arg, 200, 9)) g_arg_intact.fetch_add(1);
}

// A cycle of two 3000-byte objects with three cleanups (two on A, one added
// through an interior pointer of B) and one whose arg is a collected object.
GOMEM_NOINLINE_TEST uintptr_t make_cleanup_cycle(uintptr_t* b) {
  void** a = static_cast<void**>(gomem_gc_alloc(3000));
  void** bb = static_cast<void**>(gomem_gc_alloc(3000));
  a[0] = bb;
  bb[0] = a;
  EXPECT_EQ(gomem_gc_add_cleanup(a, count_cleanup, tag(31)), 0);
  EXPECT_EQ(gomem_gc_add_cleanup(a, count_cleanup, tag(32)), 0);
  EXPECT_EQ(gomem_gc_add_cleanup(reinterpret_cast<char*>(bb) + 100, count_cleanup, tag(33)), 0);
  EXPECT_EQ(gomem_gc_add_cleanup(bb, check_arg_cleanup, make_object(200, 9)), 0);
  // Refused: an arg inside the object, no function, not a collected object.
  EXPECT_EQ(gomem_gc_add_cleanup(a, count_cleanup, a), -1);
  EXPECT_EQ(gomem_gc_add_cleanup(a, count_cleanup, reinterpret_cast<char*>(a) + 2999), -1);
  EXPECT_EQ(gomem_gc_add_cleanup(a, nullptr, tag(1)), -1);
  int local;
  EXPECT_EQ(gomem_gc_add_cleanup(&local, count_cleanup, tag(1)), -1);
  *b = reinterpret_cast<uintptr_t>(bb) ^ kMask;
  return reinterpret_cast<uintptr_t>(a) ^ kMask;
}
}  // namespace

GC_TEST(Cleanup, ObjectsInACycleAreCleanedUpAndFreedInOneCycle) {
  reset_runs();
  g_arg_intact = 0;
  uintptr_t b;
  uintptr_t a = make_cleanup_cycle(&b);
  collect_clean();
  EXPECT_EQ(gomem_kind(unmask(a)), GOMEM_KIND_NONE) << "the cycle was not freed by the cycle that found it dead";
  EXPECT_EQ(gomem_kind(unmask(b)), GOMEM_KIND_NONE);
  gomem_gc_run_finalizers();
  EXPECT_EQ(runs(31), 1);
  EXPECT_EQ(runs(32), 1);
  EXPECT_EQ(runs(33), 1);
  EXPECT_EQ(g_arg_intact.load(), 1) << "a cleanup's arg was not kept alive until it ran";
  for (int i = 0; i < 2; i++) collect_and_finalize();
  EXPECT_EQ(runs(31) + runs(32) + runs(33), 3) << "a cleanup ran twice";
}

namespace {
GOMEM_NOINLINE_TEST void make_finalizer_and_cleanup() {
  void* p = gomem_gc_alloc(80);
  EXPECT_EQ(gomem_gc_set_finalizer(p, count_finalizer, tag(40)), 0);
  EXPECT_EQ(gomem_gc_add_cleanup(p, count_cleanup, tag(41)), 0);
}
}  // namespace

GC_TEST(Cleanup, RunsAfterTheFinalizerOnceTheObjectStaysDead) {
  reset_runs();
  make_finalizer_and_cleanup();
  collect_and_finalize();
  EXPECT_EQ(runs(40), 1);
  EXPECT_EQ(runs(41), 0) << "the cleanup ran while the finalizer kept the object";
  collect_and_finalize();
  EXPECT_EQ(runs(41), 1);
  ASSERT_EQ(g_order_n.load(), 2);
  EXPECT_EQ(g_order[0], 40);
}

// ---------------------------------------------------------------------------
// gomem_gc_base and gomem_kind.

namespace {
int g_static_int;

void expect_object(void* base, size_t n, int kind, const char* what) {
  char* b = static_cast<char*>(base);
  for (size_t off : {size_t{0}, size_t{1}, n / 2, n - 1}) {
    EXPECT_EQ(gomem_gc_base(b + off), base) << what << " + " << off;
    EXPECT_EQ(gomem_kind(b + off), kind) << what << " + " << off;
  }
}
}  // namespace

GC_TEST(Introspection, BaseAndKindOfEveryKindOfMemory) {
  void* scan = gomem_gc_alloc(100);
  void* noscan = gomem_gc_alloc_noscan(100);
  void* big_scan = gomem_gc_alloc(100000);
  void* big_noscan = gomem_gc_alloc_noscan(200000);
  void* manual = gomem_malloc(100);
  void* big_manual = gomem_malloc(1 << 20);
  void* unc = gomem_malloc_uncollectable(100);
  void* big_unc = gomem_malloc_uncollectable(100000);
  expect_object(scan, 100, GOMEM_KIND_GC_SCAN, "gc scan");
  expect_object(noscan, 100, GOMEM_KIND_GC_NOSCAN, "gc noscan");
  expect_object(big_scan, 100000, GOMEM_KIND_GC_SCAN, "large gc scan");
  expect_object(big_noscan, 200000, GOMEM_KIND_GC_NOSCAN, "large gc noscan");
  expect_object(manual, 100, GOMEM_KIND_MANUAL, "manual");
  expect_object(big_manual, 1 << 20, GOMEM_KIND_MANUAL, "large manual");
  expect_object(unc, 100, GOMEM_KIND_UNCOLLECTABLE, "uncollectable");
  expect_object(big_unc, 100000, GOMEM_KIND_UNCOLLECTABLE, "large uncollectable");
  int local = 0;
  for (const void* p :
       {static_cast<const void*>(nullptr), static_cast<const void*>(&local), static_cast<const void*>(&g_static_int),
        reinterpret_cast<const void*>(&expect_object), reinterpret_cast<const void*>(~uintptr_t{0} - 7)}) {
    EXPECT_EQ(gomem_gc_base(p), nullptr) << p;
    EXPECT_EQ(gomem_kind(p), GOMEM_KIND_NONE) << p;
  }
  // Free slots: a freed manual object, a freed large one, a collected slot
  // not handed out yet, and the tail past a span's last slot.
  gomem_free(manual);
  gomem_free(big_manual);
  EXPECT_EQ(gomem_kind(manual), GOMEM_KIND_NONE);
  EXPECT_EQ(gomem_gc_base(manual), nullptr);
  EXPECT_EQ(gomem_kind(big_manual), GOMEM_KIND_NONE);
  // 5000 bytes: class 5376, three per 16 KiB span, 256 bytes of tail. No
  // other test uses the class, so this is the first slot of a fresh span.
  char* first = static_cast<char*>(gomem_gc_alloc(5000));
  ASSERT_EQ(reinterpret_cast<uintptr_t>(first) % 8192, 0u);
  EXPECT_EQ(gomem_gc_base(first + 5375), first);
  EXPECT_EQ(gomem_kind(first + 5376), GOMEM_KIND_NONE) << "a free collected slot";
  EXPECT_EQ(gomem_gc_base(first + 3 * 5376 + 10), nullptr) << "the span's tail";
  EXPECT_EQ(gomem_kind(first + 3 * 5376 + 10), GOMEM_KIND_NONE);
  gomem_free(unc);
  gomem_free(big_unc);
  gomem::keep_alive(scan);
  gomem::keep_alive(noscan);
  gomem::keep_alive(big_scan);
  gomem::keep_alive(big_noscan);
  gomem::keep_alive(first);
}

GC_TEST(Introspection, ASweptCollectedObjectIsNone) {
  uintptr_t m = make_masked(700, 3);
  uintptr_t big = make_masked(70000, 4);
  EXPECT_EQ(kind_masked(m), GOMEM_KIND_GC_SCAN);
  EXPECT_EQ(kind_masked(big, 69999), GOMEM_KIND_GC_SCAN);
  collect_clean();
  EXPECT_EQ(gomem_kind(unmask(m)), GOMEM_KIND_NONE);
  EXPECT_EQ(gomem_gc_base(unmask(m)), nullptr);
  EXPECT_EQ(gomem_kind(unmask(big)), GOMEM_KIND_NONE);
}

// Issue 13: a finalizer set on an object gomem_gc_free already freed was
// accepted and then ran on the zeroed memory; it is refused like any
// pointer that is no allocated collected object (-1).
GC_TEST(Finalizer, SetOnAnObjectAlreadyFreedIsRefused) {
  reset_runs();
  void* small = gomem_gc_alloc(48);
  void* large = gomem_gc_alloc(100000);
  gomem_gc_free(small);
  gomem_gc_free(large);
  EXPECT_EQ(gomem_gc_set_finalizer(small, count_finalizer, tag(0)), -1);
  EXPECT_EQ(gomem_gc_set_finalizer(large, count_finalizer, tag(1)), -1);
  collect_and_finalize();
  EXPECT_EQ(runs(0), 0);
  EXPECT_EQ(runs(1), 0);
}
