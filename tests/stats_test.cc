// Statistics: gomem_read_stats and the getters make no system call (a
// program may poll them as often as it likes), agree with each other, and
// count live bytes exactly, whichever thread allocates and whichever frees.
#include <gtest/gtest.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <thread>
#include <vector>

#include "gomem/gomem.h"
#include "test_util.h"

using namespace gomem_test;

namespace {

volatile uint64_t g_sink;

// In a forked child: warms up, then allows only read, write and _exit
// (seccomp strict mode: any other system call kills the process) and reads
// the statistics 1000 times.
void read_stats_in_strict_child() {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    gomem_stats st;
    gomem_read_stats(&st);
    g_sink = gomem_heap_alloc();
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0) syscall(SYS_exit, 2);
    for (int i = 0; i < 1000; i++) {
      gomem_read_stats(&st);
      g_sink = g_sink + gomem_heap_alloc() + gomem_heap_sys() + gomem_gc_live() + gomem_gc_count();
    }
    syscall(SYS_exit, 0);  // exit_group is not allowed in strict mode
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the statistics made a system call: the child was killed by signal "
      << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

}  // namespace

TEST(Stats, ReadStatsMakesNoSystemCall) {
#ifdef GOMEM_SANITIZED
  GTEST_SKIP() << "the sanitizer's runtime makes system calls of its own";
#endif
  std::vector<void*> v;
  for (int i = 0; i < 1000; i++) v.push_back(alloc(16 + i % 2000));
  read_stats_in_strict_child();
  for (void* p : v) release(p);
}

#ifndef GOMEM_SANITIZED
TEST(Stats, ReadStatsMakesNoSystemCallWithTheCollectorInUse) {
  std::thread([] {
    for (int i = 0; i < 1000; i++) gomem_gc_alloc(16 + i % 500);
    gomem_gc_collect();
    read_stats_in_strict_child();
  }).join();
}
#endif

TEST(Stats, GettersAgreeWithReadStats) {
  gomem_stats st;
  gomem_read_stats(&st);
  EXPECT_EQ(gomem_heap_alloc(), st.heap_alloc);
  EXPECT_EQ(gomem_heap_sys(), st.heap_sys);
  EXPECT_EQ(gomem_gc_count(), st.num_gc);
  EXPECT_EQ(gomem_gc_live(), st.gc_heap_live);
}

TEST(Stats, HeapAllocCountsEveryManualObjectExactly) {
  std::vector<void*> v;
  v.reserve(1010);  // (malloc may be gomem's too)
  uint64_t before = gomem_heap_alloc();
  // 48 bytes: a class of malloc's fast path; 5000: the slow path's classes;
  // 100000: a large object.
  for (int i = 0; i < 1000; i++) v.push_back(alloc(i % 2 ? 48 : 5000));
  for (int i = 0; i < 10; i++) v.push_back(alloc(100000));
  uint64_t expect = 0;
  for (void* p : v) expect += gomem_usable_size(p);
#if GOMEM_HARDENED
  expect += 10 * 2 * 8192;  // each large object's two guard pages (docs/security.md)
#endif
  EXPECT_EQ(gomem_heap_alloc() - before, expect);
  for (void* p : v) release(p);
  EXPECT_EQ(gomem_heap_alloc(), before);
}

namespace {

// Waits (at most a minute) until `n` reaches `want`.
bool wait_for(const std::atomic<int>& n, int want) {
  for (int i = 0; i < 60 * 1000 && n.load() < want; i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return n.load() >= want;
}

}  // namespace

TEST(Stats, FreesByOtherThreadsAreCounted) {
  // Each worker allocates, then frees what its neighbour allocated (remote
  // frees), more threads than cores. The same threads run every phase, and
  // exit only after the last figure is read, so that the allocations of
  // thread creation and exit stay out of the figures.
  int nthreads = ncpu() < 2 ? 4 : 2 * ncpu();
  std::vector<std::vector<void*>> made(nthreads);
  for (auto& m : made) m.reserve(5000);
  std::atomic<int> phase{0}, started{0}, allocated{0}, freed{0};
  std::vector<std::thread> t;
  for (int i = 0; i < nthreads; i++)
    t.emplace_back([&, i] {
      started++;
      wait_for(phase, 1);
      for (int k = 0; k < 5000; k++) made[i].push_back(alloc(16 + (k % 64) * 16));
      allocated++;
      wait_for(phase, 2);
      for (void* p : made[(i + 1) % nthreads]) release(p);
      freed++;
      wait_for(phase, 3);
    });
  ASSERT_TRUE(wait_for(started, nthreads));
  uint64_t before = gomem_heap_alloc();
  phase = 1;
  ASSERT_TRUE(wait_for(allocated, nthreads));
  uint64_t bytes = 0;
  for (auto& m : made)
    for (void* p : m) bytes += gomem_usable_size(p);
  EXPECT_EQ(gomem_heap_alloc() - before, bytes);
  phase = 2;
  ASSERT_TRUE(wait_for(freed, nthreads));
  EXPECT_EQ(gomem_heap_alloc(), before);
  phase = 3;
  for (auto& x : t) x.join();
}

namespace {

// Every field of `a` and `b` but the padding.
void expect_same_stats(const gomem_stats& a, const gomem_stats& b) {
  size_t head = offsetof(gomem_stats, by_size);
  EXPECT_EQ(memcmp(&a, &b, offsetof(gomem_stats, gc_cpu_fraction)), 0);
  EXPECT_EQ(a.gc_cpu_fraction, b.gc_cpu_fraction);
  size_t rest = offsetof(gomem_stats, gc_percent);
  EXPECT_EQ(memcmp(reinterpret_cast<const char*>(&a) + rest, reinterpret_cast<const char*>(&b) + rest, head - rest), 0);
  for (int c = 0; c < GOMEM_NUM_SIZE_CLASSES; c++) {
    EXPECT_EQ(a.by_size[c].size, b.by_size[c].size) << c;
    EXPECT_EQ(a.by_size[c].mallocs, b.by_size[c].mallocs) << c;
    EXPECT_EQ(a.by_size[c].frees, b.by_size[c].frees) << c;
    EXPECT_EQ(a.gc_by_size[c].size, b.gc_by_size[c].size) << c;
    EXPECT_EQ(a.gc_by_size[c].mallocs, b.gc_by_size[c].mallocs) << c;
    EXPECT_EQ(a.gc_by_size[c].frees, b.gc_by_size[c].frees) << c;
  }
}

// Reads the statistics into a zeroed and into a garbage-filled struct (a
// read must write every field, whatever was there), and checks the totals
// against the classes: mallocs, frees and heap_objects are the sums of the
// per-class counts, heap_alloc - gc_heap_alloc covers the manual classes'
// live objects, total_alloc their bytes.
void check_read() {
  static gomem_stats a, b;  // (7 KiB)
  memset(&a, 0, sizeof a);
  memset(&b, 0xa5, sizeof b);
  gomem_read_stats(&a);
  gomem_read_stats(&b);
  expect_same_stats(a, b);
  uint64_t m = 0, f = 0, live_small = 0, total_small = 0;
  for (int c = 0; c < GOMEM_NUM_SIZE_CLASSES; c++) {
    m += a.by_size[c].mallocs + a.gc_by_size[c].mallocs;
    f += a.by_size[c].frees + a.gc_by_size[c].frees;
    EXPECT_LE(a.by_size[c].frees, a.by_size[c].mallocs) << c;
    live_small += (a.by_size[c].mallocs - a.by_size[c].frees) * a.by_size[c].size;
    total_small += a.by_size[c].mallocs * a.by_size[c].size;
    if (c > 0 && a.by_size[c].size) EXPECT_GT(a.by_size[c].size, a.by_size[c - 1].size) << c;
    if (c > 0 && a.gc_by_size[c].size) EXPECT_GT(a.gc_by_size[c].size, a.gc_by_size[c - 1].size) << c;
  }
  EXPECT_EQ(a.mallocs, m);
  EXPECT_EQ(a.frees, f);
  EXPECT_EQ(a.heap_objects, m - f);
  EXPECT_EQ(a.alloc, a.heap_alloc);
  EXPECT_GE(a.heap_alloc - a.gc_heap_alloc, live_small);
  EXPECT_GE(a.total_alloc, total_small);
  EXPECT_EQ(a.sys, a.heap_sys + a.mspan_sys + a.mcache_sys + a.gc_sys + a.other_sys);
  EXPECT_EQ(a.heap_idle, a.heap_sys - a.heap_inuse);
  EXPECT_EQ(a.enable_gc, a.gc_percent >= 0 ? 1u : 0u);
}

}  // namespace

TEST(Stats, ReadStatsWritesEveryFieldAndAddsUp) {
  std::vector<void*> v;
  for (int i = 0; i < 1000; i++) v.push_back(alloc(16 + i % 2000));
  v.push_back(alloc(100000));
  v.push_back(gomem_malloc_uncollectable(100));
  check_read();
#ifndef GOMEM_SANITIZED  // (the collector does not run under the sanitizers)
  std::thread([] {
    for (int i = 0; i < 1000; i++) gomem_gc_alloc(16 + i % 500);
    gomem_gc_alloc(100000);
    gomem_gc_collect();
    check_read();
  }).join();
#endif
  for (void* p : v) release(p);
  check_read();
}
