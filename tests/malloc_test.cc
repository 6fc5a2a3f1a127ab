// The manual heap through its public API: sizes, alignment, zeroing,
// realloc, errors, slot reuse, statistics, and the heap checker.
#include <errno.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

#include "heap/heap.h"
#include "heap/mcache.h"
#include "heap/sizeclasses.h"
#include "runtime/malloc.h"
#include "runtime/proc.h"
#include "test_util.h"

using namespace gomem_test;

TEST(Malloc, EverySizeIsUsableAlignedAndDistinct) {
  std::vector<void*> ps;
  for (size_t n = 0; n <= 70000; n += (n < 2048 ? 1 : n < 40000 ? 97 : 1031)) {
    void* p = gomem_malloc(n);
    ASSERT_NE(p, nullptr) << n;
    size_t align = n >= 16 ? 16 : 8;
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u) << n;
    ASSERT_GE(gomem_usable_size(p), n) << n;
    fill(p, n, n);
    ps.push_back(p);
  }
  size_t i = 0;
  for (size_t n = 0; n <= 70000; n += (n < 2048 ? 1 : n < 40000 ? 97 : 1031), i++) {
    ASSERT_TRUE(check(ps[i], n, n)) << n;
    gomem_free(ps[i]);
  }
  gomem_check_heap();
}

TEST(Malloc, FreedSlotIsReused) {
  // A freed object goes to its span's local list and is handed out again
  // once the span's current free list runs dry: within one span's worth of
  // allocations. That is the thread's own span once it has used the class
  // (a span's worth of objects; before, the class is cold and its objects
  // come from a shared P: runtime/shared_p.h).
  std::vector<void*> warm;
  for (int i = 0; i < 8192 / 48; i++) warm.push_back(gomem_malloc(48));
  void* p = gomem_malloc(48);
  gomem_free(p);
  std::vector<void*> got;
  bool reused = false;
  for (int i = 0; i < 8192 / 48 + 1 && !reused; i++) {
    got.push_back(gomem_malloc(48));
    reused = got.back() == p;
  }
  EXPECT_TRUE(reused);
  for (void* q : got) gomem_free(q);
  for (void* q : warm) gomem_free(q);
  void* big = gomem_malloc(1 << 20);
  gomem_free(big);
  void* big2 = gomem_malloc(1 << 20);
  EXPECT_EQ(big, big2);
  gomem_free(big2);
}

TEST(Malloc, FreeNullIsANoOp) {
  gomem_free(nullptr);
  EXPECT_EQ(gomem_usable_size(nullptr), 0u);
}

TEST(Malloc, CallocZeroesEvenReusedMemory) {
  for (size_t n : {1, 16, 100, 1000, 5000, 40000, 300000, 3000000}) {
    void* p = gomem_malloc(n);
    memset(p, 0xff, n);
    gomem_free(p);
    auto* q = static_cast<unsigned char*>(gomem_calloc(1, n));
    ASSERT_NE(q, nullptr);
    for (size_t i = 0; i < n; i++) ASSERT_EQ(q[i], 0) << n << " at " << i;
    gomem_free(q);
  }
  errno = 0;
  EXPECT_EQ(gomem_calloc(SIZE_MAX / 2, 3), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(Malloc, ImpossibleSizesFailWithENOMEM) {
  for (size_t n : {SIZE_MAX, SIZE_MAX / 2, size_t{1} << 50}) {
    errno = 0;
    EXPECT_EQ(gomem_malloc(n), nullptr) << n;
    EXPECT_EQ(errno, ENOMEM);
    errno = 0;
    EXPECT_EQ(gomem_aligned_alloc(4096, n), nullptr);
    EXPECT_EQ(errno, ENOMEM);
  }
  void* p = gomem_malloc(10);
  errno = 0;
  EXPECT_EQ(gomem_realloc(p, SIZE_MAX), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  gomem_free(p);  // the block survived the failed realloc
}

TEST(Malloc, ReallocKeepsContentsAcrossClassesAndLargeSizes) {
  size_t n = 1;
  void* p = gomem_malloc(n);
  fill(p, n, 99);
  while (n < (8u << 20)) {
    size_t m = n * 3 / 2 + 7;
    p = gomem_realloc(p, m);
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(check(p, n, 99)) << n << " -> " << m;
    fill(p, m, 99);
    n = m;
  }
  while (n > 10) {
    size_t m = n / 3;
    p = gomem_realloc(p, m);
    ASSERT_TRUE(check(p, m, 99)) << n << " -> " << m;
    n = m;
  }
  EXPECT_EQ(gomem_realloc(p, 0), nullptr);  // frees, like glibc
  void* q = gomem_realloc(nullptr, 100);
  ASSERT_NE(q, nullptr);
  gomem_free(q);
  gomem_check_heap();
}

TEST(Malloc, LargeReallocGrowsInPlaceWhenThePagesAfterAreFree) {
  if (GOMEM_HARDENED) GTEST_SKIP() << "a guarded large object never grows in place (docs/security.md)";
  // Find a block followed by at least 1 MiB of free pages (earlier tests
  // leave the heap in some state; blocks that do not qualify are kept
  // allocated meanwhile so the next try lands elsewhere).
  std::vector<void*> tried;
  void* p = nullptr;
  for (int i = 0; i < 64 && !p; i++) {
    void* a = gomem_malloc(200000);
    gomem::MSpan* s = gomem::g_arena_index.span_of(reinterpret_cast<uintptr_t>(a));
    gomem::MSpan* next = gomem::g_arena_index.span_of(s->end());
    if (next && next->state.load() == gomem::SpanState::kFree && next->bytes() >= (1 << 20))
      p = a;
    else
      tried.push_back(a);
  }
  ASSERT_NE(p, nullptr);
  fill(p, 200000, 5);
  void* q = gomem_realloc(p, 400000);
  ASSERT_TRUE(check(q, 200000, 5));
  void* r = gomem_realloc(q, 800000);
  ASSERT_TRUE(check(r, 200000, 5));
  EXPECT_EQ(p, q) << "growth into free pages should not copy";
  EXPECT_EQ(q, r) << "growth into free pages should not copy";
  gomem_free(r);
  for (void* t : tried) gomem_free(t);
}

TEST(Malloc, AlignedAllocationsOfEveryPowerOfTwo) {
  for (size_t a = 1; a <= (size_t{4} << 20); a *= 2) {
    for (size_t n : {size_t{1}, a / 2 + 1, a, a * 3 + 5, size_t{50000}}) {
      void* p = gomem_aligned_alloc(a, n);
      ASSERT_NE(p, nullptr) << a << " " << n;
      ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % a, 0u) << a << " " << n;
      ASSERT_GE(gomem_usable_size(p), n);
      fill(p, n, a);
      ASSERT_TRUE(check(p, n, a));
      gomem_free(p);
    }
  }
  // No power of two: rounded up, as glibc 2.36 does (harden_test has the table).
  void* p = gomem_aligned_alloc(24, 100);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 32, 0u);
  gomem_free(p);
}

TEST(Malloc, CountersAddUpPerClassAndInTotal) {
  gomem_stats a, b;
  gomem_read_stats(&a);
  EXPECT_EQ(a.mallocs - a.frees, a.heap_objects);
  const int N = 10000;
  std::vector<void*> ps;
  for (int i = 0; i < N; i++) ps.push_back(gomem_malloc(100));
  gomem_read_stats(&b);
  uint32_t cls = gomem::kManualClasses.class_of(100);
  uint32_t size = gomem::kManualClasses.cls[cls].size;
  EXPECT_EQ(b.by_size[cls].size, size);
  EXPECT_EQ(b.by_size[cls].mallocs - a.by_size[cls].mallocs, uint64_t{N});
  EXPECT_EQ(b.by_size[cls].frees, a.by_size[cls].frees);
  EXPECT_GE(b.heap_alloc - a.heap_alloc, uint64_t{N} * size);
  EXPECT_EQ(b.mallocs - b.frees, b.heap_objects);
  for (void* p : ps) gomem_free(p);
  gomem_read_stats(&b);
  EXPECT_EQ(b.by_size[cls].frees - a.by_size[cls].frees, uint64_t{N});
  EXPECT_EQ(b.by_size[cls].mallocs - b.by_size[cls].frees, a.by_size[cls].mallocs - a.by_size[cls].frees);
  EXPECT_EQ(b.mallocs - b.frees, b.heap_objects);
  // Large objects count too.
  void* big = gomem_malloc(5 << 20);
  gomem_read_stats(&b);
  EXPECT_GE(b.heap_alloc - a.heap_alloc, uint64_t{5} << 20);
  EXPECT_GE(b.heap_inuse, b.heap_alloc);
  EXPECT_EQ(b.heap_sys, b.heap_inuse + b.heap_idle);
  EXPECT_LE(b.heap_released, b.heap_idle);
  EXPECT_GE(b.sys, b.heap_sys);
  gomem_free(big);
  gomem_check_heap();
}

TEST(Malloc, EmptySpansGoBackToTheHeap) {
  gomem_stats a, b, c;
  gomem_read_stats(&a);
  std::thread([&] {
    std::vector<void*> ps;
    for (int i = 0; i < 200000; i++) ps.push_back(gomem_malloc(64));  // ~12 MiB of spans
    gomem_read_stats(&b);
    for (void* p : ps) gomem_free(p);
  }).join();
  gomem_read_stats(&c);
  EXPECT_GE(b.heap_inuse - a.heap_inuse, uint64_t{12} << 20);
  EXPECT_LE(c.heap_inuse, a.heap_inuse + (1 << 20)) << "empty spans were not returned";
  gomem_check_heap();
}

// A program that uses each size class in turn (bench/workloads/churn.c)
// leaves every class's current span behind, empty, while the next class
// takes new spans from the heap. A P that has taken kIdleScanBytes of new
// spans gives those empty current spans back (MCache::give_back_idle).
TEST(Malloc, EmptyCurrentSpansOfIdleClassesGoBackToTheHeap) {
  // Shared Ps (threads outnumber CPUs) would hold spans of these classes too.
  if (gomem::g_ps_outnumber_cpus.load()) GTEST_SKIP() << "other threads hold Ps";
  gomem_stats a, b;
  std::thread([&] {
    gomem_read_stats(&a);
    std::vector<void*> ps;
    for (int c = 1; c < gomem::kManualClasses.count; c++) {
      const gomem::SizeClass& info = gomem::kManualClasses.cls[c];
      for (uint32_t i = 0; i < 2 * info.nelems; i++) ps.push_back(gomem_malloc(info.size));
      for (void* p : ps) gomem_free(p);
      ps.clear();
    }
    // One more class, for more than kIdleScanBytes of new spans.
    for (uintptr_t n = 0; n < gomem::kIdleScanBytes + (1 << 20); n += 256) ps.push_back(gomem_malloc(256));
    gomem_read_stats(&b);
    for (void* p : ps) gomem_free(p);
  }).join();
  int64_t spare = static_cast<int64_t>(b.heap_inuse - b.heap_alloc) - static_cast<int64_t>(a.heap_inuse - a.heap_alloc);
  // The empty-span cache may hold kEmptyReserveBytes; the current spans of
  // every class together hold 1.3 MiB.
  EXPECT_LE(spare, static_cast<int64_t>(gomem::kEmptyReserveBytes + (256 << 10)))
      << "empty current spans of classes no longer used stay with the P";
  gomem_check_heap();
}

// A producer's spans whose objects another thread frees (bench/workloads/
// xmalloc.c) come back to it through its partial list; one that is entirely
// free by the time the producer reaches it, while other spans wait, goes to
// the empty cache or the heap instead of staying with the producer. Then
// the producer reuses the cached spans of its class as they are.
TEST(Malloc, SpansFreedByOthersLeaveTheOwnerWhenTheyDrainBeforeTheirTurn) {
  gomem_stats a, b;
  std::thread([&] {
    const size_t size = 1024;
    std::vector<void*> ps;
    for (uintptr_t n = 0; n < (uintptr_t{5} << 20); n += size) ps.push_back(gomem_malloc(size));
    std::thread([&] {
      for (void* p : ps) gomem_free(p);
    }).join();
    ps.clear();
    gomem_read_stats(&a);
    // Past the current span: the next span comes from the partial list.
    gomem::MSpan* cur = gomem::g_arena_index.span_of(reinterpret_cast<uintptr_t>(ps.emplace_back(gomem_malloc(size))));
    while (gomem::g_arena_index.span_of(reinterpret_cast<uintptr_t>(ps.back())) == cur)
      ps.push_back(gomem_malloc(size));
    gomem_read_stats(&b);
    // Reuse: 2 MiB more of the class, every object distinct and writable.
    for (uintptr_t n = 0; n < (uintptr_t{2} << 20); n += size) ps.push_back(gomem_malloc(size));
    for (size_t i = 0; i < ps.size(); i++) memset(ps[i], static_cast<int>(i), size);
    for (size_t i = 0; i < ps.size(); i++)
      ASSERT_EQ(static_cast<unsigned char*>(ps[i])[size - 1], static_cast<unsigned char>(i)) << i;
    for (void* p : ps) gomem_free(p);
  }).join();
  // Before: the producer kept all 5 MiB of spans.
  EXPECT_LE(b.heap_inuse - b.heap_alloc, a.heap_inuse - a.heap_alloc - (uintptr_t{3} << 20))
      << "spans entirely free stay with their producer";
  gomem_check_heap();
}

TEST(Malloc, ObjectsFreedByAnotherThreadGoHomeToTheirSpan) {
  std::vector<void*> ps;
  std::thread([&] {
    for (int i = 0; i < 50000; i++) ps.push_back(gomem_malloc(32));
  }).join();  // the allocating thread exits: its spans are unowned now
  gomem_stats a, b;
  gomem_read_stats(&a);
  for (void* p : ps) gomem_free(p);
  gomem_read_stats(&b);
  EXPECT_LT(b.heap_inuse, a.heap_inuse);
  EXPECT_EQ(b.mallocs - b.frees, b.heap_objects);
  gomem_check_heap();
}

TEST(Malloc, ThreadsTakeAndReturnPs) {
  gomem_stats a, b;
  gomem_read_stats(&a);
  for (int i = 0; i < 50; i++) {
    std::thread([] { gomem_free(gomem_malloc(10)); }).join();
  }
  gomem_read_stats(&b);
  EXPECT_EQ(b.num_p_in_use, a.num_p_in_use);
  // num_p also counts the shared Ps (runtime/shared_p.h), made once per CPU
  // the first time a thread allocates a cold class there.
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  EXPECT_LE(b.num_p, a.num_p + 2 + static_cast<uint32_t>(cpus)) << "Ps should be pooled and reused";
}

namespace {

gomem::MSpan* span_of(void* p) { return gomem::g_arena_index.span_of(reinterpret_cast<uintptr_t>(p)); }

// The current span of the manual class for `size` in the calling thread's P.
gomem::MSpan* current_span(size_t size) {
  return gomem::t_mcache->alloc[gomem::make_span_class(gomem::kManualClasses.class_of(size), gomem::SpanKind::kManual)];
}

// Allocates objects of `size` until the current span has no free object
// left (and is still current); returns the last object.
void* drain_current(size_t size) {
  void* p = gomem_malloc(size);
  while (current_span(size)->freelist || current_span(size)->unbuilt) p = gomem_malloc(size);
  return p;
}

}  // namespace

// A span that ran out of objects is parked; its owner's frees into it are
// plain pushes (free's fast path) and it comes back to the P's partial list
// only once unpark_threshold of its objects are free, so that the span
// becoming current again is worth the switch.
TEST(Malloc, OwnerFreesIntoAParkedSpanArePlainPushesUntilEnoughCameBack) {
  std::thread([] {
    constexpr size_t kSize = 512;
    std::vector<void*> objs;
    for (int i = 0; i < 64; i++) objs.push_back(gomem_malloc(kSize));
    // A span this thread filled entirely, and no longer current: parked.
    gomem::MSpan* a = nullptr;
    for (void* p : objs) {
      gomem::MSpan* s = span_of(p);
      uint32_t mine = 0;
      for (void* q : objs) mine += span_of(q) == s;
      if (mine == s->nelems && !s->current) a = s;
    }
    ASSERT_NE(a, nullptr);
    EXPECT_TRUE(a->parked);
    const uint32_t k = gomem::unpark_threshold(a->nelems);
    ASSERT_GT(k, 1u);
    std::vector<void*> freed;
    for (void*& p : objs) {
      if (span_of(p) == a && freed.size() + 1 < k) {
        freed.push_back(p);
        gomem_free(p);
        p = nullptr;
      }
    }
    EXPECT_TRUE(a->parked);
    gomem_check_heap();
    // Two span switches: neither may come back to a, which has k - 1 free objects.
    std::vector<void*> more;
    for (int i = 0; i < 2; i++) {
      more.push_back(drain_current(kSize));
      more.push_back(gomem_malloc(kSize));
    }
    for (void* p : more) EXPECT_NE(span_of(p), a) << "a parked span with k - 1 free objects became current";
    // The k-th free brings it back; the next switch takes it, with all k.
    for (void*& p : objs) {
      if (p && span_of(p) == a) {
        freed.push_back(p);
        gomem_free(p);
        p = nullptr;
        break;
      }
    }
    EXPECT_FALSE(a->parked);
    more.push_back(drain_current(kSize));
    std::vector<void*> again;
    for (uint32_t i = 0; i < k; i++) {
      again.push_back(gomem_malloc(kSize));
      EXPECT_EQ(span_of(again.back()), a);
    }
    std::sort(again.begin(), again.end());
    std::sort(freed.begin(), freed.end());
    EXPECT_EQ(again, freed);
    gomem_check_heap();
    for (void* p : objs) gomem_free(p);
    for (void* p : more) gomem_free(p);
    for (void* p : again) gomem_free(p);
  }).join();
  gomem_check_heap();
}

// When the current span runs dry, malloc first takes back what was freed
// into it - by the owner (local_free) or by other threads (the remote list)
// - without taking the P's lock: here the test holds that lock, and the
// allocations must still complete (before, they waited for it forever: the
// alarm ends the child then).
TEST(MallocDeathTest, RefillFromTheCurrentSpansOwnFreesTakesNoLock) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        alarm(20);
        std::thread([] {
          constexpr size_t kSize = 256;
          void* last = drain_current(kSize);
          gomem::MSpan* s = current_span(kSize);
          ASSERT_EQ(span_of(last), s);
          // Own frees pending.
          gomem_free(last);
          gomem::t_mcache->lock.lock();
          void* p = gomem_malloc(kSize);
          gomem::t_mcache->lock.unlock();
          if (p != last || current_span(kSize) != s) _exit(2);
          // Remote frees pending: another thread frees two objects of s
          // (its batch is sent home when it exits).
          void* q = gomem_malloc(kSize);
          ASSERT_EQ(span_of(q), s);
          std::thread([&] {
            gomem_free(p);
            gomem_free(q);
          }).join();
          gomem::t_mcache->lock.lock();
          void* r1 = gomem_malloc(kSize);
          void* r2 = gomem_malloc(kSize);
          gomem::t_mcache->lock.unlock();
          if (!((r1 == p && r2 == q) || (r1 == q && r2 == p)) || current_span(kSize) != s) _exit(3);
          gomem_free(r1);
          gomem_free(r2);
        }).join();
        gomem_check_heap();
        _exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

namespace {

// The span release_test_hook acts on, and its progress: 1 when the hook
// asks the freer to free, 2 once the freer has sent the object home.
gomem::MSpan* g_hook_span = nullptr;
std::atomic<int> g_hook_step{0};

// Waits (at most 60 s) while g_hook_step is `step`.
void wait_while_step(int step) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (g_hook_step.load() == step && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
}

// gomem::g_release_test_hook: at g_hook_span, lets the freer run.
void free_last_object_elsewhere(gomem::MSpan* s) {
  if (s != g_hook_span) return;
  g_hook_step.store(1);
  wait_while_step(1);
}

}  // namespace

// A thread that exits gives its spans up to mcentral while other threads
// may still free their objects. A remote free that returns a span's last
// object notifies the owner (heap/mcache.h, "Spans emptied by other
// threads") unless the owner has stopped notifications (kReleasing); when
// release_all put a span back to kActive just before mcentral took it, such
// a free pushed the span on the notify stack of a P that then gave it up
// (freed here), and the P's next holder took a freed span off its stack
// (SharedPs.FewObjectsManyClassesCrossThreadFrees without rseq, about one
// run in 200). Here that free lands exactly there.
TEST(Malloc, ASpanEmptiedByAnotherThreadWhileItsOwnerExitsIsGivenUpOnce) {
  constexpr size_t kSize = 256;
  void* last = nullptr;
  g_hook_step.store(0);
  std::thread freer([&] {
    wait_while_step(0);
    if (g_hook_step.load() != 1) return;
    gomem_free(last);    // this thread takes a P: a batched remote free
    gomem::release_p();  // sends the batch home
    g_hook_step.store(2);
  });
  std::thread owner([&] {
    std::vector<void*> objs;
    objs.reserve(4096);  // its buffer in another class
    // Past the shared Ps' share of the class (at most half a span: runtime/shared_p.h),
    // then until this thread's current span is full.
    do objs.push_back(gomem_malloc(kSize));
    while (span_of(objs.back())->get_owner() != gomem::t_mcache && objs.size() < 1024);
    while (current_span(kSize)->freelist || current_span(kSize)->unbuilt) objs.push_back(gomem_malloc(kSize));
    last = objs.back();
    gomem::MSpan* s = span_of(last);
    ASSERT_EQ(s, current_span(kSize));
    for (void* p : objs)
      if (p != last) gomem_free(p);  // s holds `last` alone
    gomem::MCache* c = gomem::t_mcache;
    g_hook_span = s;
    gomem::g_release_test_hook = free_last_object_elsewhere;
    gomem::release_p();
    gomem::g_release_test_hook = nullptr;
    EXPECT_EQ(g_hook_step.load(), 2) << "the freer did not run";
    EXPECT_EQ(c->notify.load(), nullptr) << "a span was pushed on the notify stack of a P that gave it up";
  });
  owner.join();
  if (g_hook_step.load() == 0) g_hook_step.store(-1);  // the owner failed early: release the freer
  freer.join();
  gomem_check_heap();
}

#ifndef GOMEM_SANITIZED
// The standard names, as LD_PRELOAD users get them.
TEST(Override, StandardEntryPointsAreGomem) {
  void* p = malloc(100);
  EXPECT_EQ(malloc_usable_size(p), gomem_usable_size(p));
  EXPECT_GE(gomem_usable_size(p), 100u);
  free(p);
  void* q = nullptr;
  EXPECT_EQ(posix_memalign(&q, 64, 1000), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % 64, 0u);
  free(q);
  EXPECT_EQ(posix_memalign(&q, 3, 1000), EINVAL);
  void* r = memalign(4096, 10);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(r) % 4096, 0u);
  free(r);
  void* v = valloc(10);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(v) % 4096, 0u);
  free(v);
  void* pv = pvalloc(10);
  EXPECT_GE(malloc_usable_size(pv), 4096u);
  free(pv);
  void* ra = reallocarray(nullptr, 10, 10);
  ASSERT_NE(ra, nullptr);
  errno = 0;
  EXPECT_EQ(reallocarray(ra, SIZE_MAX / 2, 3), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  free(ra);
  int* a = new int[1000];
  EXPECT_GE(gomem_usable_size(a), 4000u);
  delete[] a;
  struct alignas(256) Big {
    char c[300];
  };
  Big* b = new Big;
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % 256, 0u);
  delete b;
  EXPECT_THROW((void)::operator new(SIZE_MAX / 2), std::bad_alloc);
  EXPECT_EQ(::operator new(SIZE_MAX / 2, std::nothrow), nullptr);
  EXPECT_THROW((void)::operator new (SIZE_MAX / 2, std::align_val_t{64}), std::bad_alloc);
}
#endif
