// Shared per-CPU Ps for cold size classes (runtime/shared_p.h): many threads
// each allocating a few objects of many classes, freed by other threads,
// with rseq disabled (glibc's tunable, in a child), with threads moving
// between CPUs, and across fork(); and the memory bound, which the code before shared Ps
// fails (one span per class per thread). Always more threads than cores.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

#if __has_include("runtime/shared_p.h")
#include "heap/heap.h"
#include "platform/os.h"
#include "runtime/shared_p.h"
#define GOMEM_HAVE_SHARED_PS 1
#endif

using namespace gomem_test;

namespace {

// Sizes 16, 32, ..., max: one or more per manual size class.
std::vector<size_t> sizes_up_to(size_t max) {
  std::vector<size_t> v;
  for (size_t n = 16; n <= max; n += 16) v.push_back(n);
  return v;
}

// How many manual size classes `sizes` fall into.
size_t classes_of(const std::vector<size_t>& sizes) {
  std::set<size_t> s;
  for (size_t n : sizes) {
    void* p = alloc(n);
    s.insert(gomem_usable_size(p));
    release(p);
  }
  return s.size();
}

// A countdown that threads wait on, each wait bounded (60 s): a test that
// would hang fails instead.
class Latch {
 public:
  explicit Latch(int n) : left_(n) {}
  void arrive() { left_.fetch_sub(1, std::memory_order_acq_rel); }
  bool wait() const {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (left_.load(std::memory_order_acquire) > 0) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::yield();
    }
    return true;
  }

 private:
  std::atomic<int> left_;
};

struct Obj {
  void* p;
  size_t n;
  uint64_t seed;
};

// T threads each allocate `per_size` objects of every size in `sizes` and
// fill them; once all have, each checks and frees the objects of the next
// thread (cross-thread frees). between(t, i): called before each of
// thread t's allocations. Returns the number of bad objects.
template <typename Between>
int alloc_few_free_elsewhere(int T, const std::vector<size_t>& sizes, int per_size, Between between) {
  std::vector<std::vector<Obj>> objs(T);
  std::atomic<int> bad{0};
  Latch allocated(T);
  std::vector<std::thread> ts;
  for (int t = 0; t < T; t++) {
    ts.emplace_back([&, t] {
      uint64_t seed = static_cast<uint64_t>(t) << 32;
      int i = 0;
      for (int k = 0; k < per_size; k++) {
        for (size_t n : sizes) {
          between(t, i++);
          void* p = alloc(n);
          if (!p) {
            bad++;
            continue;
          }
          fill(p, n, ++seed);
          objs[t].push_back({p, n, seed});
        }
      }
      allocated.arrive();
      if (!allocated.wait()) {
        bad++;
        return;
      }
      for (const Obj& o : objs[(t + 1) % T]) {
        if (!check(o.p, o.n, o.seed)) bad++;
        release(o.p);
      }
    });
  }
  for (auto& th : ts) th.join();
  return bad.load();
}

int nthreads() { return ncpu() * 4 > 8 ? ncpu() * 4 : 8; }

// Waits up to 300 s for child pid; returns its wait status, or -1 (after
// killing it) if it did not finish.
int wait_child(pid_t pid) {
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  pid_t r;
  while ((r = waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a deadline
  if (r != 0) return status;
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

}  // namespace

// Few objects of many classes per thread, freed by another thread: every
// object keeps its contents and the heap checks out.
TEST(SharedPs, FewObjectsManyClassesCrossThreadFrees) {
  const char* want_no_rseq = getenv("GOMEM_TEST_EXPECT_NO_RSEQ");
#ifdef GOMEM_HAVE_SHARED_PS
  if (want_no_rseq) EXPECT_NE(gomem::os::cpu_source(), gomem::os::CpuSource::kRseq);
#endif
  (void)want_no_rseq;
  auto sizes = sizes_up_to(1024);
  for (int round = 0; round < 3; round++)
    EXPECT_EQ(alloc_few_free_elsewhere(nthreads() * 2, sizes, 3, [](int, int) {}), 0);
  EXPECT_GT(gomem_check_heap(), 0);
}

// The same with rseq disabled (GLIBC_TUNABLES=glibc.pthread.rseq=0, in a
// child running the test above): CPUs come from sched_getcpu.
TEST(SharedPs, NoRseqChild) {
  std::string self = "/proc/self/exe";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0", 1);
    setenv("GOMEM_TEST_EXPECT_NO_RSEQ", "1", 1);
    execl(self.c_str(), self.c_str(), "--gtest_filter=SharedPs.FewObjectsManyClassesCrossThreadFrees", nullptr);
    _exit(127);
  }
  int status = wait_child(pid);
  ASSERT_NE(status, -1) << "the child did not finish within 300 s";
  ASSERT_TRUE(WIFEXITED(status)) << "child status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// fork() while short-lived threads allocate cold objects from the shared
// Ps and free each other's: the child (only the forking thread) finds the
// shared Ps whole, allocates from them, frees objects made before the fork,
// and its heap checks out.
TEST(SharedPs, ForkWhileThreadsUseSharedPs) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  auto sizes = sizes_up_to(1024);
  for (int t = 0; t < nthreads(); t++) {
    ts.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed))
        std::thread([&] {  // a fresh thread: every class is cold for it
          std::vector<void*> v;
          for (size_t n : sizes) v.push_back(alloc(n));
          for (void* p : v) release(p);
        })
            .join();
    });
  }
  for (int i = 0; i < 20; i++) {
    std::vector<Obj> mine;
    for (size_t n : sizes) {
      void* p = alloc(n);
      fill(p, n, n + i);
      mine.push_back({p, n, n + i});
    }
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int bad = 0;
      std::vector<void*> v;
      for (size_t n : sizes) v.push_back(alloc(n));
      for (const Obj& o : mine) {
        if (!check(o.p, o.n, o.seed)) bad++;
        release(o.p);
      }
      for (void* p : v) release(p);
#if !defined(__SANITIZE_THREAD__)  // TSan cannot start threads after a multi-threaded fork
      std::thread([&] {
        for (size_t n : sizes) release(alloc(n));
      }).join();
#endif
      gomem_check_heap();
      _exit(bad == 0 ? 0 : 1);
    }
    int status = wait_child(pid);
    ASSERT_NE(status, -1) << "the child did not finish within 300 s";
    ASSERT_TRUE(WIFEXITED(status)) << "child status " << status;
    ASSERT_EQ(WEXITSTATUS(status), 0);
    for (const Obj& o : mine) release(o.p);
  }
  stop = true;
  for (auto& th : ts) th.join();
  EXPECT_GT(gomem_check_heap(), 0);
}

// Threads move between CPUs between allocations (sched_setaffinity): the
// CPU read before taking a shared P's lock may be stale by then, which
// must not matter.
TEST(SharedPs, ThreadsMigrateBetweenCpus) {
  std::vector<int> cpus;
  cpu_set_t mask;
  ASSERT_EQ(sched_getaffinity(0, sizeof mask, &mask), 0);
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &mask)) cpus.push_back(c);
  auto sizes = sizes_up_to(512);
  int bad = alloc_few_free_elsewhere(nthreads(), sizes, 4, [&](int t, int i) {
    if (i % 3 != 0) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpus[static_cast<size_t>(t + i) % cpus.size()], &one);
    pthread_setaffinity_np(pthread_self(), sizeof one, &one);
  });
  EXPECT_EQ(bad, 0);
  EXPECT_GT(gomem_check_heap(), 0);
}

// The memory bound: N threads each keeping one object of each of ~30
// classes at once. With a span per class per thread that costs at least
// N x classes x 8 KiB of heap; with shared Ps, about CPUs x classes spans
// plus the objects. Fails on the code before shared Ps (growth ~ N x
// classes x 8 KiB).
TEST(SharedPs, MemoryBoundedByCpusNotThreads) {
  const int T = ncpu() * 16 > 64 ? ncpu() * 16 : 64;
  auto sizes = sizes_up_to(512);
  size_t classes = classes_of(sizes);
  std::vector<std::vector<void*>> objs(T);
  Latch allocated(T), done(1);
  std::atomic<int> bad{0};
  uint64_t before = gomem_heap_sys();
  std::vector<std::thread> ts;
  for (int t = 0; t < T; t++) {
    ts.emplace_back([&, t] {
      for (size_t n : sizes) {
        void* p = alloc(n);
        memset(p, t, n);
        objs[t].push_back(p);
      }
      allocated.arrive();
      if (!done.wait()) bad++;
      for (void* p : objs[t]) release(p);
    });
  }
  bool all = allocated.wait();
  uint64_t growth = gomem_heap_sys() - before;
  done.arrive();
  for (auto& th : ts) th.join();
  ASSERT_TRUE(all);
  EXPECT_EQ(bad.load(), 0);
  uint64_t per_thread_spans = static_cast<uint64_t>(T) * classes * 8192;
  printf("%d threads x %zu classes: heap_sys grew by %llu KiB (a span per class per thread: %llu KiB)\n", T, classes,
         static_cast<unsigned long long>(growth >> 10), static_cast<unsigned long long>(per_thread_spans >> 10));
  EXPECT_LT(growth, per_thread_spans / 4) << T << " threads x " << classes << " classes: heap_sys grew by " << growth;
}

#ifdef GOMEM_HAVE_SHARED_PS
namespace {

// n threads that each hold a P (one allocation) until the object goes out
// of scope: makes threads outnumber CPUs, which shared Ps wait for.
class PHolders {
 public:
  explicit PHolders(int n) : ready_(n) {
    for (int i = 0; i < n; i++)
      ts_.emplace_back([this] {
        void* p = alloc(16);
        ready_.arrive();
        done_.wait();  // bounded (60 s)
        release(p);
      });
    ready_.wait();
  }
  ~PHolders() {
    done_.arrive();
    for (auto& t : ts_) t.join();
  }

 private:
  Latch ready_;
  Latch done_{1};
  std::vector<std::thread> ts_;
};

}  // namespace

// White box: a fresh thread's first objects of a class come from a shared
// P, and once it has allocated the class's limit, from its own span.
TEST(SharedPs, ColdClassMovesToOwnSpanAtLimit) {
  if (gomem::g_shared_ps.n == 0) GTEST_SKIP() << "GOMEM_SHARED_PS=0";
  PHolders crowd(ncpu() + 1);
  ASSERT_TRUE(gomem::g_ps_outnumber_cpus.load());
  std::thread([] {
    const size_t n = 48;
    void* first = alloc(n);
    gomem::MSpan* s = gomem::g_arena_index.span_of(reinterpret_cast<uintptr_t>(first));
    ASSERT_NE(s->get_owner(), nullptr);
    EXPECT_TRUE(s->get_owner()->shared);
    uint32_t sc = gomem::span_class_size_class(s->spanclass);
    uint32_t limit = gomem::g_shared_ps.cold_limit[sc];
    std::vector<void*> v{first};
    for (uint32_t i = 1; i < limit; i++) v.push_back(alloc(n));
    void* own = alloc(n);
    gomem::MSpan* os = gomem::g_arena_index.span_of(reinterpret_cast<uintptr_t>(own));
    EXPECT_FALSE(os->get_owner()->shared);
    EXPECT_EQ(os->get_owner(), gomem::t_mcache);
    for (void* p : v) release(p);
    release(own);
  }).join();
  EXPECT_GT(gomem_check_heap(), 0);
}

// While every thread can have a CPU, per-thread Ps are already bounded by
// CPUs: a thread's objects come from its own P, without the shared P's lock
// and remote frees, and a program of one or two threads does not keep the
// shared Ps' spans (churn: 13.0 -> 8.1 MB peak RSS with give_back_idle).
TEST(SharedPs, NotUsedWhileThreadsFitTheCpus) {
  if (gomem::g_ps_outnumber_cpus.load()) GTEST_SKIP() << "other threads hold Ps";
  std::thread([] {
    if (gomem::g_ps_outnumber_cpus.load()) return;
    void* p = alloc(48);
    gomem::MSpan* s = gomem::g_arena_index.span_of(reinterpret_cast<uintptr_t>(p));
    EXPECT_EQ(s->get_owner(), gomem::t_mcache);
    release(p);
  }).join();
}
#endif

namespace {

// T threads (more than cores) alive at once, each keeping `keep` objects of
// the sizes in `sizes` (taken in turn) and replacing `keep` of them at
// random, as bench/workloads/threads1000.c does. Returns the growth of the
// bytes in spans (heap_inuse: not heap_sys, which earlier tests' free pages
// cushion) over the bytes the threads hold (usable sizes) at the moment all
// of them hold their objects, or 0 on a failure.
double spare_over_live(int T, const std::vector<size_t>& sizes, int keep) {
  std::vector<std::vector<Obj>> objs(T);
  Latch ready(T), done(1);
  std::atomic<int> bad{0};
  std::atomic<uint64_t> live{0};
  static gomem_stats st;
  gomem_free_os_memory();  // earlier tests' free pages: returned, not reused
  gomem_read_stats(&st);
  uint64_t before = st.heap_inuse;
  std::vector<std::thread> ts;
  for (int t = 0; t < T; t++) {
    ts.emplace_back([&, t] {
      uint64_t rng = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(t + 1), seed = static_cast<uint64_t>(t) << 32;
      auto& v = objs[t];
      for (int i = 0; i < keep; i++) {
        size_t n = sizes[static_cast<size_t>(i) % sizes.size()];
        void* p = alloc(n);
        fill(p, n, ++seed);
        v.push_back({p, n, seed});
      }
      for (int i = 0; i < keep; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        Obj& o = v[rng % v.size()];
        if (!check(o.p, o.n, o.seed)) bad++;
        release(o.p);
        o.p = alloc(o.n);
        fill(o.p, o.n, o.seed = ++seed);
      }
      uint64_t mine = 0;
      for (const Obj& o : v) mine += gomem_usable_size(o.p);
      live += mine;
      ready.arrive();
      if (!done.wait()) bad++;
      for (const Obj& o : v) {
        if (!check(o.p, o.n, o.seed)) bad++;
        release(o.p);
      }
    });
  }
  bool all = ready.wait();
  gomem_read_stats(&st);
  uint64_t growth = st.heap_inuse - before;
  done.arrive();
  for (auto& th : ts) th.join();
  if (!all || bad.load() != 0) return 0;
  return static_cast<double>(growth) / static_cast<double>(live.load());
}

int many_threads() { return ncpu() * 16 > 64 ? ncpu() * 16 : 64; }

}  // namespace

// Threads outnumber cores, each keeping more objects of one class than the
// shared Ps serve (so in spans of its own) and replacing them at random:
// the owner's frees scatter over its parked spans, and a P reuses those
// before the heap grows (MCache::reclaim_parked) instead of leaving up to a
// third of every parked span waiting. Before: heap_inuse grew by 1.35 x
// the bytes held; now by 1.20 x.
TEST(SharedPs, ManyThreadsReuseFreedSlotsBeforeTheHeapGrows) {
  double r = spare_over_live(many_threads(), {320}, 2000);
  printf("heap_inuse grew by %.3f x the bytes held\n", r);
  EXPECT_GT(r, 0.0) << "a thread failed";
  EXPECT_LT(r, 1.28);
}
