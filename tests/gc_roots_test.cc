// Roots a C/C++ program relies on beyond stacks and globals: objects that
// pthread key destructors allocate at thread exit, static thread-local
// storage (the main thread's too), and fiber stacks declared with
// gomem_fiber_start_switch / gomem_fiber_finish_switch. What GOMEM_GC_TRACE_ROOT
// reports about them.
//
// As in gc_test.cc: pointers are held XOR-masked where the test does not mean
// to hold them, the stack is cleared before collecting, bodies run on fresh
// threads, every wait has its own bound, and threaded tests run at least four
// threads.
#include <gtest/gtest.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gc/collector.h"  // the GOMEM_GC_TRACE_ROOT setting
#include "gc_test_util.h"
#include "gomem/gomem.h"
#include "test_util.h"

using namespace gomem_test;

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kWaitBound = std::chrono::seconds(60);

// Waits until pred() holds, yielding; false after kWaitBound.
template <class F>
bool wait_for(F pred) {
  auto deadline = Clock::now() + kWaitBound;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// Finalizer bookkeeping: how often the object with a given seed was
// finalized.
constexpr int kSeeds = 64;
std::atomic<int> g_finalized[kSeeds];

void count_finalizer(void*, void* seed) { g_finalized[reinterpret_cast<uintptr_t>(seed) % kSeeds]++; }

GOMEM_NOINLINE_TEST void* make_finalizable(size_t n, uint64_t seed) {
  void* p = make_object(n, seed);
  EXPECT_EQ(gomem_gc_set_finalizer(p, count_finalizer, reinterpret_cast<void*>(seed)), 0);
  return p;
}

// Other threads that collect and churn until *stop, so that collections run
// while the thread under test holds its objects (and more threads run than
// there are cores).
struct Collectors {
  std::atomic<bool> stop{false};
  std::atomic<long> cycles{0};
  std::vector<std::thread> ts;
  explicit Collectors(int n) {
    for (int i = 0; i < n; i++)
      ts.emplace_back([this, i] {
        while (!stop.load()) {
          if (i == 0) gomem_gc_collect();
          cycles++;
          churn(i % 2 ? 5000 : 48, 300);
        }
      });
  }
  // Waits for k more rounds of every collector.
  bool run(long k) {
    long c0 = cycles.load();
    return wait_for([&] { return cycles.load() >= c0 + k * static_cast<long>(ts.size()); });
  }
  ~Collectors() {
    stop = true;
    for (auto& t : ts) t.join();
  }
};

}  // namespace

// ---------------------------------------------------------------------------
// Thread exit: a pthread key created by the program after gomem's runs its
// destructor after gomem's in every round. An object that destructor
// allocates lives only in its locals; the thread must still be a root.

namespace {

constexpr size_t kExitSize = 5000;

struct ExitTest {
  pthread_key_t key;
  uintptr_t round;  // the destructor round that allocates
  uint64_t seed;
  Collectors* collectors;
  bool held = false;  // the thread allocated the object before exit (t_exit_held)
  bool ran = false;
  bool waited = false;
  bool intact = false;
  int finalized_while_used = -1;
};
ExitTest* g_exit;
// The object the thread allocated before it exited, held in its static TLS
// (a root) until the destructor moves it to its locals.
__thread void* t_exit_held;

// Holds, in its locals only, an object allocated earlier by the thread:
// the destructor makes no call into gomem, so nothing registers the thread
// again; only other threads collect.
GOMEM_NOINLINE_TEST void hold_without_allocating(ExitTest* e) {
  void* volatile p = t_exit_held;
  t_exit_held = nullptr;
  clear_stack();
  e->waited = e->collectors->run(3);
  e->intact = check(p, kExitSize, e->seed);
  e->finalized_while_used = g_finalized[e->seed % kSeeds].load();
  e->ran = true;
}

GOMEM_NOINLINE_TEST void hold_in_destructor(ExitTest* e) {
  if (e->held) return hold_without_allocating(e);
  void* volatile p = make_finalizable(kExitSize, e->seed);  // only here
  clear_stack();
  e->waited = e->collectors->run(3);  // other threads collect meanwhile
  for (int i = 0; i < 2; i++) {
    clear_stack();
    gomem_gc_collect();  // and so does this one, in its destructor
    churn(kExitSize, 500);
  }
  e->waited = e->waited && e->collectors->run(2);
  e->intact = check(p, kExitSize, e->seed);
  e->finalized_while_used = g_finalized[e->seed % kSeeds].load();
  e->ran = true;
}

void exit_destructor(void* v) {
  uintptr_t round = reinterpret_cast<uintptr_t>(v);
  if (round < g_exit->round) {
    pthread_setspecific(g_exit->key, reinterpret_cast<void*>(round + 1));  // run again next round
    return;
  }
  hold_in_destructor(g_exit);
}

void run_exit_test(uintptr_t round, uint64_t seed, bool allocate_at_exit = true) {
  ExitTest e;
  e.round = round;
  e.seed = seed;
  g_exit = &e;
  g_finalized[seed % kSeeds] = 0;
  ASSERT_EQ(pthread_key_create(&e.key, exit_destructor), 0);  // after gomem's key
  {
    Collectors c(3);
    e.collectors = &c;
    std::thread t([&] {
      gomem_gc_free(gomem_gc_alloc(16));  // a registered thread with a P
      if (!allocate_at_exit) {
        t_exit_held = make_finalizable(kExitSize, seed);
        e.held = true;
      }
      pthread_setspecific(e.key, reinterpret_cast<void*>(1));
    });
    t.join();
  }
  ASSERT_TRUE(e.ran);
  EXPECT_TRUE(e.waited) << "the other threads' collections did not run within the bound";
  EXPECT_TRUE(e.intact) << "an object a key destructor used in round " << round
                        << " was freed while the destructor used it";
  EXPECT_EQ(e.finalized_while_used, 0) << "it was finalized while in use";
  // Now unreachable: finalized exactly once. (The thread is gone: the
  // collections below must not wait for it.)
  bool done = wait_for([&] {
    collect_clean();
    return g_finalized[seed % kSeeds].load() > 0;
  });
  EXPECT_TRUE(done) << "the object was never finalized";
  for (int i = 0; i < 2; i++) collect_clean();
  EXPECT_EQ(g_finalized[seed % kSeeds].load(), 1);
  pthread_key_delete(e.key);
}

}  // namespace

GC_TEST(GCRoots, AnObjectAKeyDestructorAllocatesLivesWhileTheDestructorUsesIt) { run_exit_test(1, 1); }

// In the last round gomem's own destructor has unregistered the thread by
// the time the program's runs: the allocation registers it again, until it
// is gone.
GC_TEST(GCRoots, AnObjectAllocatedInTheLastDestructorRoundLivesWhileInUse) {
  run_exit_test(PTHREAD_DESTRUCTOR_ITERATIONS, 2);
}

// The same round, but the destructor only holds an object the thread
// allocated before it exited, and calls nothing of gomem's: the thread is a
// root until glibc's last exit steps, not just until gomem's destructor.
GC_TEST(GCRoots, AnObjectHeldByTheLastDestructorRoundWithoutAllocatingLives) {
  run_exit_test(PTHREAD_DESTRUCTOR_ITERATIONS, 3, /*allocate_at_exit=*/false);
}

// ---------------------------------------------------------------------------
// Static TLS.

namespace {

constexpr size_t kTlsSize = 3000;
__thread void* t_tls_root;       // C's __thread
thread_local void* tl_tls_root;  // C++'s thread_local (trivial: no guard, static TLS too)

GOMEM_NOINLINE_TEST void set_tls_roots(uint64_t seed) {
  t_tls_root = make_object(kTlsSize, seed);
  tl_tls_root = make_object(kTlsSize, seed + 1);
}

GOMEM_NOINLINE_TEST void collect_and_churn(int rounds) {
  for (int i = 0; i < rounds; i++) {
    collect_clean();
    churn(kTlsSize, 3000);
  }
}

// 0 if both objects held only by this thread's TLS survive.
GOMEM_NOINLINE_TEST int tls_roots_survive(uint64_t seed) {
  set_tls_roots(seed);
  collect_and_churn(3);
  int r = 0;
  if (!check(t_tls_root, kTlsSize, seed)) r |= 1;
  if (!check(tl_tls_root, kTlsSize, seed + 1)) r |= 2;
  t_tls_root = tl_tls_root = nullptr;
  return r;
}

const char* tls_failure(int r) {
  return r == 1 ? "__thread" : r == 2 ? "thread_local" : r == 3 ? "__thread and thread_local" : "";
}

}  // namespace

// The main thread's static TLS is not inside its stack: in a child process
// (forked from the main thread, so its only thread is a main thread whose TLS
// the loader placed) the main thread registers and keeps objects only in
// thread-local variables.
TEST(GCRoots, TheMainThreadsStaticTlsIsARoot) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(60);  // a watchdog against a hang
    if (gomem_register_thread() != 0) _exit(10);
    _exit(tls_roots_survive(7));
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died with signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "an object held only in the main thread's " << tls_failure(WEXITSTATUS(status))
                                    << " variable was freed";
}

// A thread whose stack the program gave (pthread_attr_setstack). Every test
// body runs on one; the other threads collect.
GC_TEST(GCRoots, AThreadsStaticTlsIsARoot) {
  Collectors c(3);
  int r = 0;
  for (int i = 0; i < 3; i++) r |= tls_roots_survive(20 + 2 * i);
  EXPECT_EQ(r, 0) << "an object held only in a thread's " << tls_failure(r) << " variable was freed";
}

// ---------------------------------------------------------------------------
// Fibers: makecontext / swapcontext with declared switches.

namespace {

constexpr size_t kFiberStack = 1 << 20;  // more than clear_stack's 256 KiB
constexpr size_t kFiberObj = 700;

// A fiber stack: fresh zero pages.
char* map_fiber_stack() {
  void* p = mmap(nullptr, kFiberStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
}

// Makes ctx start fn on stack when first switched to.
void prepare_fiber(ucontext_t* ctx, char* stack, void (*fn)()) {
  getcontext(ctx);
  ctx->uc_stack.ss_sp = stack;
  ctx->uc_stack.ss_size = kFiberStack;
  ctx->uc_link = nullptr;
  makecontext(ctx, fn, 0);
}

// The contexts hold the suspended side's registers: in scanned memory.
ucontext_t g_thread_ctx, g_fiber_ctx;

struct FiberTest {
  char* stack;
  Collectors* collectors;
  bool fiber_intact = false;
  bool waited = false;
  bool done = false;
};
FiberTest* g_fiber;

// Switches from the fiber back to the thread's own stack; the suspended
// fiber's stack is registered as a root meanwhile (gomem.h's rule).
GOMEM_NOINLINE_TEST void fiber_yield() {
  gomem_add_roots(g_fiber->stack, g_fiber->stack + kFiberStack);
  gomem_fiber_start_switch(nullptr, 0);
  swapcontext(&g_fiber_ctx, &g_thread_ctx);
  gomem_fiber_finish_switch();
  gomem_remove_roots(g_fiber->stack, g_fiber->stack + kFiberStack);
}

// Switches from the thread to the fiber.
GOMEM_NOINLINE_TEST void fiber_resume() {
  gomem_fiber_start_switch(g_fiber->stack, kFiberStack);
  swapcontext(&g_thread_ctx, &g_fiber_ctx);
  gomem_fiber_finish_switch();
}

GOMEM_NOINLINE_TEST void fiber_work(FiberTest* f) {
  void* volatile q = make_object(kFiberObj, 31);  // only on the fiber's stack
  // Collections from the fiber: the thread's stack (suspended frames) and
  // the fiber's (current) must both be scanned.
  for (int i = 0; i < 2; i++) {
    collect_clean();
    churn(kFiberObj, 3000);
  }
  // Collections by other threads while the fiber runs.
  clear_stack();
  f->waited = f->collectors->run(3);
  f->fiber_intact = check(q, kFiberObj, 31);
  fiber_yield();  // the thread collects while the fiber is suspended
  f->fiber_intact = f->fiber_intact && check(q, kFiberObj, 31);
}

void fiber_main() {
  gomem_fiber_finish_switch();
  fiber_work(g_fiber);
  g_fiber->done = true;
  gomem_fiber_start_switch(nullptr, 0);
  swapcontext(&g_fiber_ctx, &g_thread_ctx);  // never resumed
}

GOMEM_NOINLINE_TEST bool thread_side(FiberTest* f) {
  void* volatile p = make_object(kFiberObj, 30);  // only on the thread's stack
  prepare_fiber(&g_fiber_ctx, f->stack, fiber_main);
  fiber_resume();  // the fiber collects, others collect, then it yields
  for (int i = 0; i < 2; i++) {
    collect_clean();
    churn(kFiberObj, 3000);
  }
  f->waited = f->waited && f->collectors->run(2);
  fiber_resume();  // the fiber checks its object and ends
  return check(p, kFiberObj, 30);
}

}  // namespace

GC_TEST(GCFiber, ObjectsOnTheFiberStackAndOnTheThreadStackSurvive) {
  FiberTest f;
  f.stack = map_fiber_stack();
  ASSERT_NE(f.stack, nullptr);
  g_fiber = &f;
  gomem_register_thread();
  bool thread_intact;
  {
    Collectors c(3);
    f.collectors = &c;
    thread_intact = thread_side(&f);
  }
  ASSERT_TRUE(f.done);
  EXPECT_TRUE(f.waited) << "the other threads' collections did not run within the bound";
  EXPECT_TRUE(thread_intact) << "an object held only on the thread's own stack was freed while a fiber ran";
  EXPECT_TRUE(f.fiber_intact) << "an object held only on the fiber's stack was freed";
  munmap(f.stack, kFiberStack);
}

// Switching back and forth while other threads collect all the time: stops
// land anywhere in a switch, between start_switch and finish_switch too.
namespace {

constexpr long kMinSwitches = 3000;
constexpr uint32_t kMinCollections = 300;  // during the switches
constexpr long kMaxSwitches = 1000000;

struct PingPong {
  char* stack;
  bool stop = false;  // set by the thread before it resumes the fiber a last time
  bool fiber_ok = true;
  long fiber_rounds = 0;
};
PingPong* g_pp;
ucontext_t g_pp_thread, g_pp_fiber;

GOMEM_NOINLINE_TEST void pp_fiber_work(PingPong* pp) {
  for (long i = 0; !pp->stop; i++) {
    void* volatile q = make_object(64, 1000 + i);
    gomem_fiber_start_switch(nullptr, 0);
    swapcontext(&g_pp_fiber, &g_pp_thread);
    gomem_fiber_finish_switch();
    pp->fiber_ok = pp->fiber_ok && check(q, 64, 1000 + i);
    pp->fiber_rounds++;
  }
}

void pp_fiber_main() {
  gomem_fiber_finish_switch();
  pp_fiber_work(g_pp);
  gomem_fiber_start_switch(nullptr, 0);
  swapcontext(&g_pp_fiber, &g_pp_thread);  // never resumed
}

uint32_t num_gc() {
  gomem_stats st;
  gomem_read_stats(&st);
  return st.num_gc;
}

GOMEM_NOINLINE_TEST bool pp_thread_side(PingPong* pp) {
  prepare_fiber(&g_pp_fiber, pp->stack, pp_fiber_main);
  bool ok = true;
  uint32_t gc0 = num_gc();
  for (long i = 0; !pp->stop; i++) {
    void* volatile p = make_object(64, 5000 + i);
    pp->stop = i >= kMaxSwitches || (i >= kMinSwitches && i % 64 == 0 && num_gc() >= gc0 + kMinCollections);
    gomem_fiber_start_switch(pp->stack, kFiberStack);
    swapcontext(&g_pp_thread, &g_pp_fiber);
    gomem_fiber_finish_switch();
    churn(64, 20);
    ok = ok && check(p, 64, 5000 + i);
  }
  return ok;
}

}  // namespace

GC_TEST(GCFiber, SwitchingWhileOtherThreadsCollect) {
  PingPong pp;
  pp.stack = map_fiber_stack();
  ASSERT_NE(pp.stack, nullptr);
  g_pp = &pp;
  gomem_register_thread();
  gomem_add_roots(pp.stack, pp.stack + kFiberStack);  // suspended half the time
  bool thread_ok;
  long switches;
  {
    Collectors c(3);
    thread_ok = pp_thread_side(&pp);
    switches = pp.fiber_rounds;
  }
  gomem_remove_roots(pp.stack, pp.stack + kFiberStack);
  EXPECT_GE(switches, kMinSwitches);
  EXPECT_TRUE(thread_ok) << "an object on the thread's stack was freed";
  EXPECT_TRUE(pp.fiber_ok) << "an object on the fiber's stack was freed";
  munmap(pp.stack, kFiberStack);
}

// ---------------------------------------------------------------------------
// GOMEM_GC_TRACE_ROOT: the marker names every word that points into the
// traced object. The variable is read at start-up into the setting, which the
// test sets directly.

namespace {
void* volatile g_trace_global;  // in the test's .bss: a data segment root
void* volatile g_trace_holder;  // keeps the heap object that points to the traced one

std::string hex(const void* p) {
  char b[32];
  snprintf(b, sizeof b, "%#lx", static_cast<unsigned long>(reinterpret_cast<uintptr_t>(p)));
  return b;
}

GOMEM_NOINLINE_TEST void hold_traced(uintptr_t obj, uintptr_t holder, void** range) {
  char* o = static_cast<char*>(unmask(obj));
  g_trace_global = o + 8;
  static_cast<void**>(unmask(holder))[3] = o + 16;
  g_trace_holder = unmask(holder);
  range[1] = o;
}
}  // namespace

GC_TEST(TraceRoot, NamesTheDataSegmentTheHeapObjectAndTheRegisteredRange) {
  uintptr_t obj = make_masked(64, 1);
  uintptr_t holder = make_masked(64, 2);
  void** range = static_cast<void**>(calloc(8, sizeof(void*)));  // manual memory: a root only once added
  gomem_add_roots(range, range + 8);
  hold_traced(obj, holder, range);
  gomem::gc::g_gcsettings.trace_root = reinterpret_cast<uintptr_t>(unmask(obj)) + 40;  // any address inside it
  testing::internal::CaptureStderr();
  collect_clean();
  std::string out = testing::internal::GetCapturedStderr();
  gomem::gc::g_gcsettings.trace_root = 0;
  std::string head = "gomem: GOMEM_GC_TRACE_ROOT: object " + hex(unmask(obj)) + " (";
  EXPECT_NE(out.find(head), std::string::npos) << out;
  EXPECT_NE(out.find(" at " + hex(const_cast<void**>(&g_trace_global)) + " in the data segment of "), std::string::npos)
      << out;
  EXPECT_NE(out.find(" in the heap object " + hex(unmask(holder))), std::string::npos) << out;
  EXPECT_NE(out.find(" at " + hex(range + 1) + " in the registered range " + hex(range) + "-" + hex(range + 8)),
            std::string::npos)
      << out;
  gomem_remove_roots(range, range + 8);
  free(range);
  g_trace_global = nullptr;
  g_trace_holder = nullptr;
}
