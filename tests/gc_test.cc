// The collector: unreachable objects are reclaimed; reachable ones survive
// with their contents, whatever holds them (a stack, a register of a stopped
// thread, a global, a dlopen'ed library, an uncollectable block, an interior
// pointer, a long chain); noscan objects retain nothing; finalizers run once,
// after their object became unreachable.
//
// Tests never keep a collected pointer where they do not mean to: helpers
// return addresses XOR-masked, the stack is cleared before collecting, and
// every test body runs on a thread with a brand-new stack (the main thread,
// whose frames hold whatever GoogleTest left there, never registers).
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "gc_test_util.h"
#include "gomem/gomem.h"
#include "gomem/gomem.hpp"
#include "heap/mcache.h"
#include "heap/preempt.h"
#include "runtime/malloc.h"
#include "test_util.h"

using namespace gomem_test;

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <functional>
#include <random>
#include <string>

static void* volatile g_global_root;

// Sets g_global_root from a masked address without the caller ever holding
// the real pointer.
GOMEM_NOINLINE_TEST void set_root(uintptr_t masked, ptrdiff_t offset = 0) {
  g_global_root = static_cast<char*>(unmask(masked)) + offset;
}

GC_TEST(GC, UnreachableObjectSlotIsReusedAfterACollection) {
  // Size 5000: class 5376, three objects per span. Keep one (so the span
  // stays), drop the others, collect, and the same class hands their slots
  // out again.
  uintptr_t keep = make_masked(5000, 1);
  uintptr_t drop1 = make_masked(5000, 2);
  uintptr_t drop2 = make_masked(5000, 3);
  set_root(keep);
  collect_clean();
  bool reused1 = false, reused2 = false;
  std::vector<uintptr_t> got;
  for (int i = 0; i < 64 && !(reused1 && reused2); i++) {
    uintptr_t m = make_masked(5000, 100 + i);
    got.push_back(m);
    reused1 |= m == drop1;
    reused2 |= m == drop2;
  }
  EXPECT_TRUE(reused1 && reused2) << "unreachable objects' slots were not reused";
  EXPECT_TRUE(check(unmask(keep), 5000, 1)) << "the reachable neighbour was damaged";
  g_global_root = nullptr;
}

GC_TEST(GC, SurvivesOnTheStackAndCountsAsLive) {
  void* volatile p = gomem_gc_alloc(200);
  fill(p, 200, 7);
  collect_clean();
  churn(200, 100000);
  collect_clean();
  EXPECT_TRUE(check(p, 200, 7));
  gomem_stats st;
  gomem_read_stats(&st);
  EXPECT_GE(st.num_gc, 2u);
  EXPECT_GT(st.gc_heap_live, 0u);
}

GC_TEST(GC, SurvivesInAGlobal) {
  set_root(make_masked(1000, 11));
  for (int i = 0; i < 3; i++) {
    collect_clean();
    churn(1000, 20000);
  }
  EXPECT_TRUE(check(g_global_root, 1000, 11));
  g_global_root = nullptr;
}

GC_TEST(GC, SurvivesThroughAnInteriorPointer) {
  set_root(make_masked(512, 12), 300);
  for (int i = 0; i < 3; i++) {
    collect_clean();
    churn(512, 20000);
  }
  EXPECT_TRUE(check(static_cast<char*>(g_global_root) - 300, 512, 12));
  g_global_root = nullptr;
}

GC_TEST(GC, SurvivesInAnUncollectableBlock) {
  void** u = static_cast<void**>(gomem_malloc_uncollectable(64));
  u[3] = make_object(96, 13);
  for (int i = 0; i < 3; i++) {
    collect_clean();
    churn(96, 50000);
  }
  EXPECT_TRUE(check(u[3], 96, 13));
  gomem_free(u);
}

GC_TEST(GC, SurvivesInARegisteredRootRange) {
  static uintptr_t area[4];
  gomem_add_roots(area, area + 4);
  area[2] = make_masked(128, 14) ^ kMask;
  for (int i = 0; i < 3; i++) {
    collect_clean();
    churn(128, 50000);
  }
  EXPECT_TRUE(check(reinterpret_cast<void*>(area[2]), 128, 14));
  gomem_remove_roots(area, area + 4);
}

GC_TEST(GC, SurvivesInADlopenedLibrarysData) {
  void* lib = dlopen(GOMEM_TEST_DL_HOLDER, RTLD_NOW);
  ASSERT_NE(lib, nullptr) << dlerror();
  auto set = reinterpret_cast<void (*)(void*)>(dlsym(lib, "gomem_test_set_holder"));
  auto get = reinterpret_cast<void* (*)()>(dlsym(lib, "gomem_test_get_holder"));
  ASSERT_TRUE(set && get);
  set(make_object(300, 15));
  for (int i = 0; i < 3; i++) {
    collect_clean();
    churn(300, 40000);
  }
  EXPECT_TRUE(check(get(), 300, 15));
  set(nullptr);
  dlclose(lib);
}

struct Link {
  Link* next;
  uint64_t n;
  uint64_t pad[2];
};

GOMEM_NOINLINE_TEST uintptr_t make_chain(int n) {
  Link* head = nullptr;
  for (int i = 0; i < n; i++) {
    Link* l = static_cast<Link*>(gomem_gc_alloc(sizeof(Link)));
    l->next = head;
    l->n = static_cast<uint64_t>(i);
    l->pad[0] = l->n * 3;
    head = l;
  }
  return reinterpret_cast<uintptr_t>(head) ^ kMask;
}

GC_TEST(GC, AChainOfTenThousandObjectsSurvives) {
  set_root(make_chain(10000));
  for (int i = 0; i < 3; i++) {
    collect_clean();
    churn(sizeof(Link), 100000);
  }
  int count = 0;
  for (Link* l = static_cast<Link*>(g_global_root); l; l = l->next, count++) {
    ASSERT_EQ(l->n, static_cast<uint64_t>(9999 - count));
    ASSERT_EQ(l->pad[0], l->n * 3);
  }
  EXPECT_EQ(count, 10000);
  g_global_root = nullptr;
}

#if defined(__x86_64__)
// Holds an unmasked pointer in r12 and nowhere else (the stack below is
// cleared) until *flag == 2; returns it.
extern "C" uintptr_t gomem_test_hold_in_r12(uintptr_t masked, volatile int* flag, uintptr_t mask);
__asm__(
    ".text\n"
    ".globl gomem_test_hold_in_r12\n"
    ".type gomem_test_hold_in_r12,@function\n"
    "gomem_test_hold_in_r12:\n"
    "  push %r12\n"
    "  mov %rdi, %r12\n"
    "  xor %rdx, %r12\n"
    "  xor %edi, %edi\n"
    "  xor %edx, %edx\n"
    "  lea -65536(%rsp), %rax\n"
    "1: movq $0, (%rax)\n"
    "  add $8, %rax\n"
    "  cmp %rsp, %rax\n"
    "  jb 1b\n"
    "  xor %eax, %eax\n"
    "  movl $1, (%rsi)\n"
    "2: pause\n"
    "  cmpl $2, (%rsi)\n"
    "  jne 2b\n"
    "  mov %r12, %rax\n"
    "  pop %r12\n"
    "  ret\n"
    ".size gomem_test_hold_in_r12, .-gomem_test_hold_in_r12\n");

GC_TEST(GC, SurvivesInARegisterOfAStoppedThread) {
  volatile int flag = 0;
  uintptr_t result = 0;
  std::thread t([&] {
    uintptr_t m = make_masked(700, 16);
    result = gomem_test_hold_in_r12(m, &flag, kMask);
  });
  while (flag != 1) std::this_thread::yield();
  for (int i = 0; i < 3; i++) {
    collect_clean();
    churn(700, 20000);
  }
  flag = 2;
  t.join();
  EXPECT_TRUE(check(reinterpret_cast<void*>(result), 700, 16)) << "an object held only in a register was freed";
}
#endif

// ---------------------------------------------------------------------------
// Finalizers and noscan.

namespace {
std::mutex g_fin_mu;
std::condition_variable g_fin_cv;
int g_fin_count = 0;
uintptr_t g_fin_last = 0;
bool g_fin_intact = false;

void finalizer(void* obj, void* arg) {
  std::lock_guard<std::mutex> l(g_fin_mu);
  g_fin_count++;
  g_fin_last = reinterpret_cast<uintptr_t>(obj) ^ kMask;
  g_fin_intact = check(obj, 256, reinterpret_cast<uintptr_t>(arg));
  g_fin_cv.notify_all();
}

GOMEM_NOINLINE_TEST void store_in_holder(uintptr_t masked) { static_cast<void**>(g_global_root)[0] = unmask(masked); }

bool wait_finalizers(int n) {
  std::unique_lock<std::mutex> l(g_fin_mu);
  return g_fin_cv.wait_for(l, std::chrono::seconds(30), [&] { return g_fin_count >= n; });
}

GOMEM_NOINLINE_TEST uintptr_t make_finalizable(uint64_t seed) {
  uintptr_t m = make_masked(256, seed);
  EXPECT_EQ(gomem_gc_set_finalizer(unmask(m), finalizer, reinterpret_cast<void*>(seed)), 0);
  return m;
}
}  // namespace

GC_TEST(GC, FinalizerRunsExactlyOnceAfterTheObjectBecameUnreachable) {
  g_fin_count = 0;
  uintptr_t m = make_finalizable(21);
  set_root(m);
  for (int i = 0; i < 3; i++) collect_clean();
  {
    std::lock_guard<std::mutex> l(g_fin_mu);
    EXPECT_EQ(g_fin_count, 0) << "finalizer ran while the object was reachable";
  }
  g_global_root = nullptr;
  collect_clean();
  ASSERT_TRUE(wait_finalizers(1));
  for (int i = 0; i < 4; i++) {
    collect_clean();
    churn(256, 10000);
  }
  std::lock_guard<std::mutex> l(g_fin_mu);
  EXPECT_EQ(g_fin_count, 1);
  EXPECT_EQ(g_fin_last, m);
  EXPECT_TRUE(g_fin_intact) << "the object was damaged before its finalizer ran";
  gomem_stats st;
  gomem_read_stats(&st);
  EXPECT_EQ(st.num_finalizers_run, 1u);
}

GC_TEST(GC, APointerInsideANoscanObjectDoesNotKeepItsTargetAlive) {
  g_fin_count = 0;
  set_root(make_masked(64, 0, /*scan=*/false));
  store_in_holder(make_finalizable(22));  // the only reference, in pointer-free memory
  collect_clean();
  ASSERT_TRUE(wait_finalizers(1)) << "the target was kept alive by a noscan object";
  // The same pointer in a scan object does keep it alive.
  set_root(make_masked(64, 0, /*scan=*/true));
  store_in_holder(make_finalizable(23));
  for (int i = 0; i < 3; i++) collect_clean();
  std::lock_guard<std::mutex> l(g_fin_mu);
  EXPECT_EQ(g_fin_count, 1);
  g_global_root = nullptr;
}

// ---------------------------------------------------------------------------
// Threads that never allocated collected memory.

namespace {
void no_op_finalizer(void*, void*) {}

// Holds `held` (its only reference, on this thread's stack) and, without
// having allocated collected memory, calls one of the entry points that must
// register the thread: from then on its stack is a root.
GOMEM_NOINLINE_TEST void hold_and_call(uintptr_t held, size_t n, uint64_t seed, int how, uintptr_t other,
                                       std::atomic<int>* ready, std::atomic<bool>* done, bool* intact) {
  void* volatile p = unmask(held);
  switch (how) {
    case 0:
      EXPECT_EQ(gomem_gc_set_finalizer(unmask(other), no_op_finalizer, nullptr), 0);
      break;
    case 1:
      gomem_gc_free(unmask(other));
      break;
    default:
      gomem_free(unmask(other));
      break;  // free() of a collected object: the same early free
  }
  ready->fetch_add(1);
  while (!done->load()) std::this_thread::yield();
  *intact = check(p, n, seed);
}
}  // namespace

GC_TEST(GC, SetFinalizerAndEarlyFreeRegisterTheCallingThread) {
  constexpr size_t kSize = 5000;
  const char* what[3] = {"gomem_gc_set_finalizer", "gomem_gc_free", "free() of a collected object"};
  std::atomic<int> ready{0};
  std::atomic<bool> done{false};
  bool intact[3] = {};
  std::vector<std::thread> ts;
  for (int how = 0; how < 3; how++)
    ts.emplace_back(hold_and_call, make_masked(kSize, 40 + how), kSize, 40 + how, how, make_masked(64, 50 + how),
                    &ready, &done, &intact[how]);
  while (ready.load() != 3) std::this_thread::yield();
  for (int i = 0; i < 3; i++) {
    collect_clean();
    churn(kSize, 4000);
  }
  done = true;
  for (auto& t : ts) t.join();
  for (int how = 0; how < 3; how++)
    EXPECT_TRUE(intact[how]) << "an object held only on the stack of a thread that called " << what[how]
                             << " was freed: the call did not register the thread";
}

// ---------------------------------------------------------------------------
// fork() while other threads use the collector: in the child only the forking
// thread exists. Every lock the other threads could hold must be free there,
// and the collected spans they held (their Ps' current spans, a span one of
// them was sweeping, a span on its way between a P and mcentral) must be
// where sweeping and allocation find them again: gomem_check_heap fails on a
// collected span marked current that no P holds, or one left mid-sweep.

namespace {
size_t child_size(int i) { return i % 97 == 0 ? 40000 + i % 5000 : 16 + (i * 37) % 3000; }

// The child's work: collections, collected and manual allocation, and the
// entry points with locks of their own. Returns the exit status.
GOMEM_NOINLINE_TEST int fork_child_work(int round) {
  alarm(60);  // a watchdog: a lock left held by a vanished thread would hang the child
  gomem_gc_collect();
  constexpr int kKeep = 512;
  void** keep = static_cast<void**>(gomem_gc_alloc(kKeep * sizeof(void*)));
  if (!keep) return 2;
  for (int i = 0; i < kKeep; i++) {
    keep[i] = i % 2 ? gomem_gc_alloc(child_size(i)) : gomem_gc_alloc_noscan(child_size(i));
    if (!keep[i]) return 2;
    fill(keep[i], child_size(i), round * 100000 + i);
  }
  churn(300, 20000);
  gomem_gc_collect();
  churn(3000, 3000);
  for (int i = 0; i < kKeep; i++)
    if (!check(keep[i], child_size(i), round * 100000 + i)) return 3;
  std::vector<void*> manual;
  for (int i = 0; i < 20000; i++) manual.push_back(gomem_malloc(i % 700));
  for (void* p : manual) gomem_free(p);
  static uintptr_t area[4];
  gomem_add_roots(area, area + 4);
  gomem_remove_roots(area, area + 4);
  if (gomem_gc_set_finalizer(keep[1], no_op_finalizer, nullptr) != 0) return 4;
  gomem_gc_free(keep[3]);
  keep[3] = nullptr;
  gomem_stats st;
  gomem_read_stats(&st);
  if (st.num_gc == 0) return 5;
  gomem_free_os_memory();
  gomem_check_heap();
  return 0;
}

// A worker of the parent: collected allocation without pause, and now and
// then every other entry point that takes a lock of the collector's.
void fork_worker(int t, std::atomic<bool>* stop, std::atomic<long>* progress) {
  std::mt19937_64 rng(t);
  void* ring[64] = {};  // on this registered thread's stack: roots
  uintptr_t area[8] = {};
  long iter = 0;
  while (!stop->load(std::memory_order_relaxed)) {
    iter++;
    progress->fetch_add(1, std::memory_order_relaxed);
    size_t n = rng() % 64 == 0 ? 33000 + rng() % 60000 : 8 + rng() % 2000;
    void* p = rng() % 2 ? gomem_gc_alloc(n) : gomem_gc_alloc_noscan(n);
    memset(p, t, n < 64 ? n : 64);
    size_t k = rng() % 64;
    switch (rng() % 16) {
      case 0:
        if (ring[k]) gomem_gc_free(ring[k]);
        ring[k] = nullptr;
        break;
      case 1:
        gomem_gc_set_finalizer(p, no_op_finalizer, nullptr);
        break;
      case 2:
        gomem_add_roots(area, area + 8);
        gomem_remove_roots(area, area + 8);
        break;
      case 3: {
        gomem_stats st;
        gomem_read_stats(&st);
        break;
      }
      case 4:
        gomem_free(gomem_malloc(rng() % 5000));
        break;
      default:
        break;
    }
    if (t == 0 && iter % 4000 == 0) gomem_free_os_memory();  // the scavenger's lock
    ring[k] = p;
  }
}
}  // namespace

GC_TEST(GCFork, ForkWhileOtherThreadsCollectAllocateAndFree) {
  std::atomic<bool> stop{false};
  std::atomic<long> progress{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++) ts.emplace_back(fork_worker, t, &stop, &progress);
  std::string failure;
  for (int round = 0; round < 40 && failure.empty(); round++) {
    // Let the workers run between forks.
    long p0 = progress.load();
    while (progress.load() < p0 + 2000) std::this_thread::yield();
    pid_t pid = fork();
    if (pid == 0) _exit(fork_child_work(round));
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
      failure = "fork or waitpid failed";
    else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
      failure = "the child hung (a lock held at fork?)";
    else if (WIFSIGNALED(status))
      failure = "the child died with signal " + std::to_string(WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0)
      failure = "the child exited with status " + std::to_string(WEXITSTATUS(status));
    if (!failure.empty()) failure = "round " + std::to_string(round) + ": " + failure;
  }
  stop = true;
  for (auto& t : ts) t.join();
  EXPECT_EQ(failure, "");
}

// The collector's helper marker threads do not survive a fork either: the
// child starts new ones, which must wait for the child's first marking round
// (not take the parent's last one for a new round: they would mark with
// nobody waiting for them and write into the parent's collector's frame - on
// a thread whose stack is gone here).
TEST(GCFork, AForkedChildCollectsAfterTheParentsCollectorThreadExited) {
  in_fresh_thread([] {  // collects, then exits; its stack is unmapped
    churn(200, 50000);
    collect_clean();
  });
  for (int round = 0; round < 20; round++) {  // each child starts its own helpers
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      alarm(60);  // a watchdog against a hang
      for (int i = 0; i < 3; i++) {
        gomem_gc_collect();
        churn(200, 20000);
      }
      gomem_check_heap();
      _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "round " << round << ": "
        << (WIFSIGNALED(status) ? "the child died with signal " + std::to_string(WTERMSIG(status))
                                : "the child failed");
  }
}

// ---------------------------------------------------------------------------
// C++.

namespace {
std::atomic<int> g_dtors{0};
struct Widget {
  explicit Widget(int v) : value(v) { memset(pad, v, sizeof pad); }
  ~Widget() { g_dtors++; }
  int value;
  char pad[100];
};
struct alignas(64) Aligned {
  double d[8];
};

GOMEM_NOINLINE_TEST void make_widgets(int n) {
  for (int i = 0; i < n; i++) gomem::gc_new<Widget>(i);
}
}  // namespace

GC_TEST(GC, CppGcNewRunsDestructorsAndHonoursAlignment) {
  make_widgets(1000);
  Aligned* a = gomem::gc_new<Aligned>();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 64, 0u);
  gomem::keep_alive(a);
  for (int i = 0; i < 4 && g_dtors < 1000; i++) {
    collect_clean();
    for (int k = 0; k < 1000 && g_dtors < 1000; k++) std::this_thread::yield();
  }
  for (int k = 0; k < 200000 && g_dtors < 1000; k++) std::this_thread::yield();
  EXPECT_EQ(g_dtors.load(), 1000);
  Widget* w = gomem::gc_new<Widget>(42);
  collect_clean();
  EXPECT_EQ(w->value, 42);
  gomem::keep_alive(w);
}

GC_TEST(GC, CppContainersWithGcAllocatorKeepTheirElementsAlive) {
  std::vector<void*, gomem::gc_allocator<void*>> v;
  for (int i = 0; i < 2000; i++) v.push_back(make_object(48, 1000 + i));
  for (int i = 0; i < 3; i++) {
    collect_clean();
    churn(48, 50000);
  }
  for (int i = 0; i < 2000; i++) ASSERT_TRUE(check(v[i], 48, 1000 + i)) << i;
}

GC_TEST(GC, GcPercentAndStatistics) {
  int old = gomem_gc_set_percent(50);
  EXPECT_EQ(gomem_gc_set_percent(old), 50);
  EXPECT_EQ(gomem_gc_set_percent(-1), old);  // off
  gomem_stats a, b;
  gomem_read_stats(&a);
  churn(1000, 100000);  // 100 MB of garbage, no collection while off
  gomem_read_stats(&b);
  EXPECT_EQ(a.num_gc, b.num_gc);
  EXPECT_EQ(b.enable_gc, 0u);
  gomem_gc_set_percent(100);
  churn(1000, 100000);
  gomem_read_stats(&b);
  EXPECT_GT(b.num_gc, a.num_gc);
  EXPECT_GT(b.pause_total_ns, a.pause_total_ns);
  EXPECT_GT(b.pause_ns[(b.num_gc + 255) % 256], 0u);
  EXPECT_GE(b.next_gc, uint64_t{4} << 20);
  EXPECT_EQ(b.mallocs - b.frees, b.heap_objects);
  gomem_check_heap();
}

// An empty manual span that a P re-cuts for an uncollectable class changes
// kind, elemsize and nelems one after another; the marker scans every
// uncollectable span from base to base + nelems * elemsize with the world
// stopped, so a stop between those stores must be impossible (a 16-byte
// span's 512 slots of 1024 bytes would run 504 KiB past its end). A test
// hook in the middle of the re-cut asks another thread to collect, and waits
// until that collection has either finished (the stop landed in the re-cut:
// the marker's geometry check aborts) or is waiting for this thread to
// leave its non-preemptible section.
namespace recut {
std::atomic<bool> go{false}, done{false}, fired{false};
thread_local bool armed = false;
constexpr int64_t kBoundNs = 20'000'000'000;  // every wait here gives up after 20 s

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

void hook(gomem::MSpan* s) {
  if (!armed || s->kind != gomem::SpanKind::kUncollectable) return;
  armed = false;
  fired = true;
  go = true;
  for (int64_t end = now_ns() + kBoundNs; !done && !gomem::t_preempt_pending && now_ns() < end;) sched_yield();
}
}  // namespace recut

GC_TEST(GC, ASpanReCutForAnotherClassIsNeverScannedHalfWay) {
  using namespace recut;
  ASSERT_EQ(gomem_register_thread(), 0);
  std::thread collector([] {
    for (int64_t end = now_ns() + kBoundNs; !go && now_ns() < end;) sched_yield();
    gomem_gc_collect();
    done = true;
  });
  // Fill 16-byte spans, then free every object of each span this thread
  // filled entirely: they go to the P's empty-span cache. Plain arrays: a
  // vector's growth would allocate and could take the empty spans first.
  constexpr int kN = 4 * 512;
  static void* objs[kN];
  for (int i = 0; i < kN; i++) objs[i] = gomem_malloc(16);
  int emptied = 0;
  for (int i = 0; i < kN; i++) {
    if (!objs[i]) continue;
    gomem::MSpan* s = gomem::g_arena_index.span_of(reinterpret_cast<uintptr_t>(objs[i]));
    int mine = 0;
    for (int j = 0; j < kN; j++)
      mine += objs[j] && gomem::g_arena_index.span_of(reinterpret_cast<uintptr_t>(objs[j])) == s;
    if (mine != static_cast<int>(s->nelems) || s->current) continue;
    for (int j = 0; j < kN; j++) {
      if (objs[j] && gomem::g_arena_index.span_of(reinterpret_cast<uintptr_t>(objs[j])) == s) {
        gomem_free(objs[j]);
        objs[j] = nullptr;
      }
    }
    emptied++;
  }
  ASSERT_GE(emptied, 1);
  // Uncollectable 1000-byte blocks (one page per span, as for 16 bytes)
  // until one comes from a re-cut span (mcentral may hold spans of that
  // class from earlier tests' threads).
  gomem::g_recut_test_hook = hook;
  armed = true;
  static void* blocks[4096];
  int nb = 0;
  while (!fired && nb < 4096) blocks[nb++] = gomem_malloc_uncollectable(1000);
  gomem::g_recut_test_hook = nullptr;
  armed = false;
  go = true;  // the collector thread ends even if the hook never ran
  collector.join();
  EXPECT_TRUE(fired) << "no span was re-cut";
  EXPECT_TRUE(done);
  for (int i = 0; i < nb; i++) gomem_free(blocks[i]);
  for (int i = 0; i < kN; i++) gomem_free(objs[i]);
  gomem_check_heap();
}
