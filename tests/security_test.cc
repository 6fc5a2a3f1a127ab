// The hardened build against heap overflows (docs/security.md): a free
// object's link word overwritten by an overflow or a use after free stops
// the program with "gomem: heap corruption detected" before malloc hands
// out memory the attacker chose, whichever list the object is on (the
// owner's, the remote one); fresh spans are handed out in random order; a
// large object sits between two no-access pages, whose faults the handler
// names, and a freed one's span is reused with them. And in every build:
// metadata never shares a mapping with user data (in the hardened build it
// sits between no-access pages).
//
// The corruption cases are death tests of the hardened build: the default
// build trusts its links (no fast-path cost) and crashes in malloc, or
// hands a live object out again, as docs/security.md shows.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gc_test_util.h"
#include "gomem/gomem.h"
#include "heap/heap.h"
#include "heap/mcache.h"
#include "heap/sizeclasses.h"
#include "runtime/malloc.h"
#include "test_util.h"

namespace {

const char* kCorrupt =
    "gomem: heap corruption detected: free-list link at 0x[0-9a-f]+ in span 0x[0-9a-f]+ \\(class [0-9]+\\) "
    "decodes to 0x[0-9a-f]+";

constexpr size_t kSize = 64;
void* volatile g_sink;

gomem::MSpan* current_span(size_t size) {
  return gomem::t_mcache->alloc[gomem::make_span_class(gomem::kManualClasses.class_of(size), gomem::SpanKind::kManual)];
}

// Takes every free object of the current span of kSize, so that the next
// malloc refills it from its own frees. Returns the span and what it took.
gomem::MSpan* drain_current(std::vector<char*>* mine) {
  mine->push_back(static_cast<char*>(gomem_malloc(kSize)));  // the thread has a P and a current span
  gomem::MSpan* s = current_span(kSize);
  while (s->freelist) mine->push_back(static_cast<char*>(gomem_malloc(kSize)));
  return s;
}

// Drains the current span of kSize into *mine and returns a such that a
// and a + kSize are both in it (nullptr if none is).
char* neighbours(std::vector<char*>* out) {
  gomem::MSpan* s = drain_current(out);
  const std::vector<char*>& mine = *out;
  std::set<char*> set(mine.begin(), mine.end());
  for (char* a : mine) {
    uintptr_t x = reinterpret_cast<uintptr_t>(a);
    if (x >= s->base && x + 2 * kSize <= s->limit() && set.count(a + kSize)) return a;
  }
  return nullptr;
}

// Mallocs more than a span's worth: one of them pops the corrupted object.
void malloc_until_the_corrupt_object_is_popped() {
  for (int i = 0; i < 4096; i++) g_sink = gomem_malloc(kSize);
}

// The first shape: an 8-byte overflow out of a into its freed
// neighbour's link word, with `value`.
void overflow_into_freed_neighbour(uint64_t value) {
  std::vector<char*> mine;
  char* a = neighbours(&mine);
  if (!a) return;  // the test fails (no death) rather than guessing
  gomem_free(a + kSize);
  memcpy(a + kSize, &value, sizeof value);  // the overflow: a[kSize..kSize+8)
  malloc_until_the_corrupt_object_is_popped();
}

bool hardened() { return GOMEM_HARDENED; }

}  // namespace

class Security : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(Security, OverflowIntoAFreedNeighboursLinkWordIsDetected) {
  if (!hardened()) GTEST_SKIP() << "the default build trusts its free lists (GOMEM_HARDENED=OFF)";
  EXPECT_DEATH(overflow_into_freed_neighbour(0x4141414141414141ull), kCorrupt);
  EXPECT_DEATH(overflow_into_freed_neighbour(0), kCorrupt);  // a NUL terminator's worth
}

// The second shape: a plausible pointer, a live object, written
// over the link: the default build hands that object out again.
TEST_F(Security, PlausiblePointerInAFreedLinkWordIsNeverHandedOut) {
  if (!hardened()) GTEST_SKIP() << "the default build trusts its free lists (GOMEM_HARDENED=OFF)";
  EXPECT_DEATH(
      {
        std::vector<char*> mine;
        char* a = neighbours(&mine);
        char* live = a ? (mine[0] == a ? mine[1] : mine[0]) : nullptr;
        if (a) {
          memset(live, 0, kSize);  // ends the list there in the default build
          gomem_free(a + kSize);
          memcpy(a + kSize, &live, sizeof live);
          for (int i = 0; i < 4096; i++) {
            void* p = gomem_malloc(kSize);
            if (p == live) fprintf(stderr, "live object %p handed out again\n", p);
          }
        }
      },
      kCorrupt);
}

// Every raw value an attacker may try without the key: the object itself,
// another free object of the span, an object of another span.
TEST_F(Security, RawLinksToSelfToAFreeObjectAndIntoAnotherSpanAreDetected) {
  if (!hardened()) GTEST_SKIP() << "the default build trusts its free lists (GOMEM_HARDENED=OFF)";
  for (int which = 0; which < 3; which++) {
    EXPECT_DEATH(
        {
          std::vector<char*> mine;
          char* a = neighbours(&mine);
          if (a) {
            char* b = a + kSize;
            char* other = static_cast<char*>(gomem_malloc(4 * kSize));  // another span (class)
            gomem_free(a);
            gomem_free(b);  // local_free: b -> a
            char* target = which == 0 ? b : which == 1 ? a : other;
            memcpy(b, &target, sizeof target);
            malloc_until_the_corrupt_object_is_popped();
          }
        },
        kCorrupt)
        << "case " << which;
  }
}

// The remote list: objects freed by another thread are linked with the
// same key, and collecting them walks the chain through the check.
TEST_F(Security, CorruptLinkOnTheRemoteFreeListIsDetected) {
  if (!hardened()) GTEST_SKIP() << "the default build trusts its free lists (GOMEM_HARDENED=OFF)";
  EXPECT_DEATH(
      {
        std::vector<char*> mine;
        char* a = neighbours(&mine);
        if (a) {
          char* first = mine[0] == a || mine[0] == a + kSize ? mine[1] : mine[0];
          std::thread([&] {
            gomem_free(first);
            gomem_free(a + kSize);  // remote chain: a + kSize -> first
            gomem_check_heap();     // sends the batch home (and finds the lists sound)
          }).join();
          uint64_t value = 0x4242424242424242ull;
          memcpy(a + kSize, &value, sizeof value);
          malloc_until_the_corrupt_object_is_popped();
        }
      },
      kCorrupt);
}

// Not a death: the check accepts every list the allocator itself builds,
// across refills, remote frees and span switches.
TEST_F(Security, SoundListsPassTheCheck) {
  std::vector<void*> v;
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < 3000; i++) v.push_back(gomem_malloc(16 + (i % 40) * 16));
    std::thread([&] {
      for (size_t i = 0; i < v.size(); i += 2) gomem_free(v[i]);
    }).join();
    for (size_t i = 1; i < v.size(); i += 2) gomem_free(v[i]);
    v.clear();
  }
  gomem_check_heap();
}

TEST_F(Security, AFreshSpanIsHandedOutInRandomOrder) {
  if (!hardened()) GTEST_SKIP() << "address order in the default build";
  constexpr size_t kOdd = 3072;  // a class the test process does not otherwise use
  gomem_free(gomem_malloc(kOdd));
  gomem::MSpan* s = current_span(kOdd);
  std::vector<uintptr_t> got;
  for (uint32_t i = 0; i < 2 * s->nelems; i++) got.push_back(reinterpret_cast<uintptr_t>(gomem_malloc(kOdd)));
  int ascending = 0;
  for (size_t i = 1; i < got.size(); i++) ascending += got[i] == got[i - 1] + kOdd;
  // In address order nearly every step is +kOdd; shuffled, about 1 in nelems.
  EXPECT_LT(ascending, static_cast<int>(got.size()) / 2);
  for (uintptr_t p : got) gomem_free(reinterpret_cast<void*>(p));
}

// The fault handler's line for an access `where` ("N bytes after/before")
// a large object of n bytes (freed: cached). (A threadsafe death test runs
// the test again in a new process: the addresses are not the parent's.)
std::string guard_report(const char* where, size_t n, bool freed = false) {
  return std::string("gomem: heap-buffer-overflow: access at 0x[0-9a-f]+, ") + where +
         (freed ? " the freed " : " the ") + std::to_string(n) + "-byte large object 0x[0-9a-f]+ \\(a guard page\\)";
}

// A 5-page large object p, just allocated: every usable byte of it is
// writable and the byte after it is a guard; realloc within it stays in
// place, growing moves it, guard and all. Returns the moved object.
char* expect_guarded_and_moved(char* p) {
  size_t n = gomem_usable_size(p);
  EXPECT_EQ(n, 5 * gomem::kPageSize);
  memset(p, 1, n);
  EXPECT_EXIT(p[n] = 1, ::testing::KilledBySignal(SIGSEGV), guard_report("0 bytes after", n));
  EXPECT_EQ(gomem_realloc(p, n - 100), p);
  char* q = static_cast<char*>(gomem_realloc(p, 9 * gomem::kPageSize));
  EXPECT_EQ(q[n - 1], 1);
  EXPECT_EXIT(q[9 * gomem::kPageSize] = 1, ::testing::KilledBySignal(SIGSEGV), "");
  return q;
}

TEST_F(Security, LargeObjectOverflowFaults) {
  if (!hardened()) GTEST_SKIP() << "no guard pages in the default build";
  gomem_free(expect_guarded_and_moved(static_cast<char*>(gomem_malloc(5 * gomem::kPageSize))));
}

// One byte below a large object faults too, as does reading there, and
// the guard below is the object's own: whatever lies below it (a small
// span, say) cannot be reached from it, nor reach it.
TEST_F(Security, LargeObjectUnderflowFaults) {
  if (!hardened()) GTEST_SKIP() << "no guard pages in the default build";
  void* small = gomem_malloc(kSize);  // something below, with luck
  char* p = static_cast<char*>(gomem_malloc(5 * gomem::kPageSize));
  size_t n = gomem_usable_size(p);
  EXPECT_EXIT(p[-1] = 1, ::testing::KilledBySignal(SIGSEGV), guard_report("1 bytes before", n));
  EXPECT_EXIT(g_sink = reinterpret_cast<void*>(static_cast<uintptr_t>(*(volatile char*)(p - 4096))),
              ::testing::KilledBySignal(SIGSEGV), guard_report("4096 bytes before", n));
  // memalign's object is aligned, its guard just below it.
  char* q = static_cast<char*>(gomem_aligned_alloc(64 * 1024, 100000));
  ASSERT_EQ(reinterpret_cast<uintptr_t>(q) % (64 * 1024), 0u);
  EXPECT_EXIT(q[-1] = 1, ::testing::KilledBySignal(SIGSEGV), guard_report("1 bytes before", gomem_usable_size(q)));
  EXPECT_EXIT(q[gomem_usable_size(q)] = 1, ::testing::KilledBySignal(SIGSEGV),
              guard_report("0 bytes after", gomem_usable_size(q)));
  // Neither guard is an object.
  EXPECT_EQ(gomem_gc_base(p - 1), nullptr);
  EXPECT_EQ(gomem_gc_base(p + n), nullptr);
  EXPECT_EQ(gomem_gc_base(p + n - 1), p);
  gomem_free(p);
  gomem_free(q);
  gomem_free(small);
}

// Uncollectable large objects (issue 13) are manual memory as far as
// overflows go (the program writes them as buffers and frees them): each
// sits between two no-access pages too. (Collected large objects do not:
// docs/security.md says why.)
TEST_F(Security, UncollectableLargeObjectHasGuards) {
  if (!hardened()) GTEST_SKIP() << "no guard pages in the default build";
  char* p = static_cast<char*>(gomem_malloc_uncollectable(5 * gomem::kPageSize));
  size_t n = gomem_usable_size(p);
  EXPECT_EXIT(p[-1] = 1, ::testing::KilledBySignal(SIGSEGV), guard_report("1 bytes before", n));
  EXPECT_EQ(gomem_kind(p), GOMEM_KIND_UNCOLLECTABLE);
  EXPECT_EQ(gomem_gc_base(p + n - 1), p);
  EXPECT_EQ(gomem_gc_base(p - 1), nullptr);
  EXPECT_EQ(gomem_gc_base(p + n), nullptr);
  char* q = expect_guarded_and_moved(p);
  EXPECT_EQ(gomem_kind(q), GOMEM_KIND_UNCOLLECTABLE);  // (moved: still uncollectable)
  gomem_free(q);
  // Freed, its span waits in the guarded cache: the old pointer is no object
  // and a second free is a double free.
  EXPECT_EQ(gomem_kind(q), GOMEM_KIND_NONE);
  EXPECT_DEATH(gomem_free(q), "gomem: double free of 0x[0-9a-f]+ .*the large object is free");
}

namespace {

// An uncollectable large object of 5 pages whose first and last words hold
// the only pointers to two collected objects; returns it, and them masked.
// They are large (a collection frees them at once: no P holds their span).
constexpr size_t kHeld = 100000;

GOMEM_NOINLINE_TEST void** make_holder(uintptr_t* first, uintptr_t* last) {
  auto** u = static_cast<void**>(gomem_malloc_uncollectable(5 * gomem::kPageSize));
  *first = gomem_test::make_masked(kHeld, 1);
  *last = gomem_test::make_masked(kHeld, 2);
  u[0] = gomem_test::unmask(*first);
  u[5 * gomem::kPageSize / sizeof(void*) - 1] = gomem_test::unmask(*last);
  return u;
}

// The kind of the object masked in m, and whether it holds its pattern:
// the unmasked pointer lives only in these frames (dead when the test
// collects), never in the test's own registers.
GOMEM_NOINLINE_TEST int kind_of(uintptr_t m) { return gomem_kind(gomem_test::unmask(m)); }
GOMEM_NOINLINE_TEST bool intact(uintptr_t m, uint64_t seed) {
  return gomem_test::check(gomem_test::unmask(m), kHeld, seed);
}

}  // namespace

// The collector scans a guarded uncollectable object as a root, all of it
// and nothing of its guards (a scan of a guard page would fault with the
// world stopped); once freed, its span waits in the guarded cache and what
// it held is no root any more.
GC_TEST(SecurityGC, GuardedUncollectableObjectIsARootAndItsCachedSpanIsNot) {
  uintptr_t first, last;
  void** u = make_holder(&first, &last);
  gomem_test::collect_clean();
  EXPECT_EQ(kind_of(first), GOMEM_KIND_GC_SCAN) << "held by the first word";
  EXPECT_EQ(kind_of(last), GOMEM_KIND_GC_SCAN) << "held by the last word";
  EXPECT_TRUE(intact(first, 1));
  EXPECT_TRUE(intact(last, 2));
  gomem_free(u);
  gomem_test::collect_clean();
  EXPECT_EQ(kind_of(first), GOMEM_KIND_NONE) << "a freed uncollectable object was a root";
  EXPECT_EQ(kind_of(last), GOMEM_KIND_NONE) << "a freed uncollectable object was a root";
}

// A freed guarded object's span is kept, guards and all, for the next
// request of its size (no mprotect: docs/security.md counts them): the
// object comes back at the same address still between its guards; its old
// pointer is no object meanwhile and freeing it again is a double free;
// gomem_free_os_memory gives the cached spans back.
TEST_F(Security, FreedLargeSpansAreReusedWithTheirGuards) {
  if (!hardened()) GTEST_SKIP() << "no guard pages in the default build";
  constexpr size_t kBig = 7 * gomem::kPageSize;
  char* p = static_cast<char*>(gomem_malloc(kBig));
  p[0] = 1;
  gomem_free(p);
  EXPECT_EQ(gomem_gc_base(p), nullptr);
  EXPECT_EQ(gomem_kind(p), GOMEM_KIND_NONE);
  EXPECT_EQ(gomem_usable_size(p), 0u);
  EXPECT_DEATH(gomem_free(p), "gomem: double free of 0x[0-9a-f]+ .*the large object is free");
  EXPECT_DEATH(g_sink = gomem_realloc(p, 10), "gomem: double free of 0x[0-9a-f]+ .*the large object is free");
  EXPECT_EXIT(p[-1] = 1, ::testing::KilledBySignal(SIGSEGV), guard_report("1 bytes before", kBig, true));
  char* q = static_cast<char*>(gomem_calloc(1, kBig));
  EXPECT_EQ(q, p);
  EXPECT_EQ(q[0], 0);  // calloc clears a reused span
  EXPECT_EXIT(q[-1] = 1, ::testing::KilledBySignal(SIGSEGV), guard_report("1 bytes before", kBig));
  EXPECT_EXIT(q[kBig] = 1, ::testing::KilledBySignal(SIGSEGV), guard_report("0 bytes after", kBig));
  EXPECT_EQ(gomem_check_heap() > 0, true);
  // Cached spans are idle, not in use, and stay backed until the scavenger
  // takes them back.
  std::vector<void*> v;
  for (int i = 0; i < 8; i++) v.push_back(gomem_malloc(kBig + i * gomem::kPageSize));
  v.push_back(q);
  gomem_stats st;
  gomem_read_stats(&st);
  uint64_t inuse = st.heap_inuse, alloc = st.heap_alloc;
  for (void* x : v) gomem_free(x);
  gomem_read_stats(&st);
  EXPECT_LE(st.heap_inuse + 9 * kBig, inuse);
  EXPECT_LE(st.heap_alloc + 9 * kBig, alloc);
  EXPECT_GT(gomem_check_heap(), 0);
  uint64_t released = st.heap_released;
  gomem_free_os_memory();
  gomem_read_stats(&st);
  EXPECT_GE(st.heap_released, released + 9 * kBig);
  EXPECT_GT(gomem_check_heap(), 0);
}

namespace {

struct Mapping {
  uintptr_t lo, hi;
  bool accessible;
};

std::vector<Mapping> read_maps() {
  std::vector<Mapping> maps;
  FILE* f = fopen("/proc/self/maps", "r");
  char line[512];
  while (f && fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char perms[8];
    if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3) maps.push_back({lo, hi, perms[0] == 'r'});
  }
  if (f) fclose(f);
  return maps;
}

const Mapping* mapping_of(const std::vector<Mapping>& maps, uintptr_t p) {
  for (const Mapping& m : maps)
    if (p >= m.lo && p < m.hi) return &m;
  return nullptr;
}

}  // namespace

// Metadata (span records, mark bitmaps, P caches, arena records) is mapped
// apart from the heap: no mapping holds both (the kernel merges adjacent
// mappings of the same protection, so this also says they never touch).
// Hardened: each metadata mapping has a no-access page on either side, and
// a large object one of its own on either side.
TEST_F(Security, MetadataIsNeverAdjacentToUserData) {
  void* small = gomem_malloc(kSize);
  void* large = gomem_malloc(100000);
  void* collected = gomem_gc_alloc(kSize);
  gomem::MSpan* cs = gomem::g_arena_index.span_of(reinterpret_cast<uintptr_t>(collected));
  std::vector<uintptr_t> meta = {
      // Span records (a FixAlloc of their own), the collector's bitmaps
      // (FixAllocs by size), the arena record, the P.
      reinterpret_cast<uintptr_t>(gomem::g_arena_index.span_of(reinterpret_cast<uintptr_t>(small))),
      reinterpret_cast<uintptr_t>(gomem::g_arena_index.span_of(reinterpret_cast<uintptr_t>(large))),
      reinterpret_cast<uintptr_t>(cs),
      reinterpret_cast<uintptr_t>(cs->bits_base()),
      reinterpret_cast<uintptr_t>(gomem::g_arena_index.arena_of(reinterpret_cast<uintptr_t>(small))),
      reinterpret_cast<uintptr_t>(gomem::t_mcache),
  };
  std::vector<Mapping> maps = read_maps();
  const Mapping* user[] = {mapping_of(maps, reinterpret_cast<uintptr_t>(small)),
                           mapping_of(maps, reinterpret_cast<uintptr_t>(large)),
                           mapping_of(maps, reinterpret_cast<uintptr_t>(collected))};
  if (hardened()) {
    // The large object sits between no-access pages of its own.
    size_t n = gomem_usable_size(large);
    const Mapping* below = mapping_of(maps, reinterpret_cast<uintptr_t>(large) - 1);
    const Mapping* above = mapping_of(maps, reinterpret_cast<uintptr_t>(large) + n);
    EXPECT_TRUE(below && !below->accessible) << "no guard page below the large object";
    EXPECT_TRUE(above && !above->accessible) << "no guard page above the large object";
  }
  for (uintptr_t m : meta) {
    const Mapping* mm = mapping_of(maps, m);
    ASSERT_NE(mm, nullptr) << std::hex << m;
    for (const Mapping* u : user)
      EXPECT_NE(mm, u) << "metadata at " << std::hex << m << " shares a mapping with the heap";
    if (hardened()) {
      const Mapping* before = mapping_of(maps, mm->lo - 1);
      const Mapping* after = mapping_of(maps, mm->hi);
      EXPECT_TRUE(before && !before->accessible) << "no guard page below metadata at " << std::hex << m;
      EXPECT_TRUE(after && !after->accessible) << "no guard page above metadata at " << std::hex << m;
    }
  }
  gomem_free(small);
  gomem_free(large);
  g_sink = collected;
}
