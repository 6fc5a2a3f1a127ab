// MHeap on a fake platform: spans of any size come back page aligned and
// mapped page by page, frees coalesce, the page map never points at a stale
// span, the heap grows in 2 MiB steps over 64 MiB arenas, running out of
// memory is an error return, and the scavenger's accounting adds up.
#include "heap/mheap.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <new>
#include <random>
#include <vector>

#include "fake_os.h"

using namespace gomem;

namespace {

// A heap with its own arena index, on a FakeOS.
struct TestHeap {
  FakeOS os;
  ArenaIndex* index;
  MHeap* heap;
  TestHeap() {
    void* mem =
        mmap(nullptr, sizeof(ArenaIndex), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    index = new (mem) ArenaIndex();
    heap = new MHeap();
    heap->init(&os, index);
  }
  ~TestHeap() {
    delete heap;
    munmap(index, sizeof(ArenaIndex));
  }
  void check() {
    uintptr_t bad = 0;
    const char* err = heap->check_pages(&bad);
    ASSERT_EQ(err, nullptr) << err << " at " << reinterpret_cast<void*>(bad);
  }
};

SpanClass large_class() { return make_span_class(0, SpanKind::kManual); }

}  // namespace

TEST(MHeap, SpansArePageAlignedAndMappedPageByPage) {
  TestHeap t;
  std::vector<MSpan*> spans;
  for (uintptr_t n : {1, 2, 3, 7, 8, 100, 511, 512, 513, 4096}) {
    MSpan* s = t.heap->alloc_span(n, large_class());
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->base % kPageSize, 0u);
    EXPECT_EQ(s->npages, n);
    for (uintptr_t i = 0; i < n; i++) ASSERT_EQ(t.index->span_of(s->base + i * kPageSize + 123), s);
    memset(reinterpret_cast<void*>(s->base), 0xab, s->bytes());  // the memory is usable
    spans.push_back(s);
  }
  t.check();
  for (MSpan* s : spans) t.heap->free_span(s);
  t.check();
}

TEST(MHeap, FreedSpansCoalesceAndThePageMapForgetsThem) {
  TestHeap t;
  std::mt19937_64 rng(7);
  std::vector<std::pair<MSpan*, uintptr_t>> live;
  for (int i = 0; i < 3000; i++) {
    if (live.empty() || rng() % 2) {
      uintptr_t n = 1 + rng() % (rng() % 8 == 0 ? 300 : 10);
      MSpan* s = t.heap->alloc_span(n, large_class());
      ASSERT_NE(s, nullptr);
      live.push_back({s, s->base});
    } else {
      size_t k = rng() % live.size();
      MSpan* s = live[k].first;
      uintptr_t base = live[k].second;
      uintptr_t n = s->npages;
      t.heap->free_span(s);
      // No page of a freed span maps to an in-use span any more.
      for (uintptr_t i = 0; i < n; i++) {
        MSpan* m = t.index->span_of(base + i * kPageSize);
        ASSERT_TRUE(m == nullptr || m->state.load() == SpanState::kFree);
      }
      live.erase(live.begin() + static_cast<long>(k));
    }
    if (i % 100 == 0) t.check();
  }
  for (auto& [s, base] : live) t.heap->free_span(s);
  t.check();
  // Everything is free again: the committed memory is a handful of maximal
  // runs (one per contiguous reservation), not thousands of fragments.
  HeapPageStats st = t.heap->page_stats();
  EXPECT_EQ(st.inuse, 0u);
  int runs = 0;
  t.heap->for_each_span_record([&](MSpan* s) { runs += s->state.load() == SpanState::kFree; });
  EXPECT_LE(runs, 2);
}

TEST(MHeap, GrowsInChunksOverArenas) {
  TestHeap t;
  MSpan* s = t.heap->alloc_span(1, large_class());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(t.os.committed.load(), kHeapGrowBytes);
  EXPECT_EQ(t.heap->page_stats().reserved, kArenaBytes);
  // A span larger than an arena spans several contiguous arenas.
  MSpan* big = t.heap->alloc_span((kArenaBytes * 2) / kPageSize, large_class());
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(t.index->span_of(big->base + kArenaBytes + 5), big);
  EXPECT_EQ(t.index->span_of(big->end() - 1), big);
  t.check();
  t.heap->free_span(big);
  t.heap->free_span(s);
  t.check();
}

// The shape of bench's large_reuse: 16 live spans of N pages, 2,000 random free-and-
// reallocate steps. A freed span's run is exactly the next request, so the
// heap never needs to grow after the first 16 allocations (it grew to
// 1.75-1.85 times the live pages when the search skipped the own list), and
// the heap stays within 15 % of the live pages (2 MiB growth steps).
TEST(MHeap, SameSizeLargeSpansReuseTheirRunsAndTheHeapStopsGrowing) {
  for (uintptr_t n : {70, 520, 1000, 1001, 1023, 1024}) {
    TestHeap t;
    std::mt19937_64 rng(n);
    MSpan* live[16];
    for (MSpan*& s : live) {
      s = t.heap->alloc_span(n, large_class());
      ASSERT_NE(s, nullptr);
    }
    uint64_t sys0 = t.heap->page_stats().sys;
    for (int step = 0; step < 2000; step++) {
      MSpan*& s = live[rng() % 16];
      t.heap->free_span(s);
      s = t.heap->alloc_span(n, large_class());
      ASSERT_NE(s, nullptr);
    }
    HeapPageStats st = t.heap->page_stats();
    EXPECT_EQ(st.sys, sys0) << n << " pages: heap_sys / live = " << double(st.sys) / double(st.inuse);
    EXPECT_EQ(st.inuse, 16 * n * kPageSize);
    EXPECT_LE(double(st.sys) / double(st.inuse), 1.15) << n << " pages";
    t.check();
  }
}

// Freed neighbours merge into one run, and a request of the merged length
// takes exactly that run (the lowest-addressed one among equals).
TEST(MHeap, CoalescedRunsServeRequestsOfTheirLength) {
  TestHeap t;
  MSpan* s[7];
  for (MSpan*& x : s) {
    x = t.heap->alloc_span(100, large_class());
    ASSERT_NE(x, nullptr);
  }
  for (int i = 1; i < 7; i++) ASSERT_EQ(s[i]->base, s[i - 1]->end());
  uintptr_t low = s[1]->base;
  // Two runs of 200 pages (plus the long free tail after s[6]).
  t.heap->free_span(s[2]);
  t.heap->free_span(s[1]);
  t.heap->free_span(s[4]);
  t.heap->free_span(s[5]);
  t.check();
  MSpan* m = t.heap->alloc_span(200, large_class());
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->base, low);
  t.heap->free_span(m);
  t.check();
}

TEST(MHeap, AlignedSpans) {
  TestHeap t;
  for (uintptr_t align : {2, 4, 16, 64, 256}) {
    MSpan* s = t.heap->alloc_span(3, large_class(), align);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->base % (align * kPageSize), 0u) << align;
    t.check();
  }
}

TEST(MHeap, OutOfMemoryIsAnErrorReturnNotACrash) {
  TestHeap t;
  t.os.commit_budget = 64 << 20;
  std::vector<MSpan*> spans;
  for (;;) {
    MSpan* s = t.heap->alloc_span(256, large_class());  // 2 MiB each
    if (!s) break;
    spans.push_back(s);
    ASSERT_LT(spans.size(), 100u);
  }
  EXPECT_EQ(spans.size(), 32u);
  EXPECT_EQ(t.heap->alloc_span(1u << 20, large_class()), nullptr);
  t.check();
  // Freed memory is reusable without asking the OS again.
  t.heap->free_span(spans.back());
  spans.pop_back();
  EXPECT_NE(t.heap->alloc_span(256, large_class()), nullptr);
  t.check();
  TestHeap u;
  u.os.fail_reserve = true;
  EXPECT_EQ(u.heap->alloc_span(1, large_class()), nullptr);
}

TEST(MHeap, LargeSpansGrowAndShrinkInPlace) {
  TestHeap t;
  MSpan* s = t.heap->alloc_span(10, large_class());
  ASSERT_NE(s, nullptr);
  uintptr_t base = s->base;
  ASSERT_TRUE(t.heap->grow_large_in_place(s, 50));
  EXPECT_EQ(s->base, base);
  EXPECT_EQ(s->npages, 50u);
  EXPECT_EQ(t.index->span_of(base + 49 * kPageSize), s);
  t.check();
  t.heap->shrink_large(s, 5);
  EXPECT_EQ(s->npages, 5u);
  MSpan* tail = t.index->span_of(base + 5 * kPageSize);
  EXPECT_TRUE(tail == nullptr || tail->state.load() == SpanState::kFree);
  t.check();
  // A neighbour in the way: no growth.
  MSpan* n = t.heap->alloc_span(1, large_class());
  ASSERT_EQ(n->base, base + 5 * kPageSize);
  EXPECT_FALSE(t.heap->grow_large_in_place(s, 6));
  t.check();
}

TEST(MHeap, ScavengeReleasesFreePagesAndAccountsForThem) {
  TestHeap t;
  std::vector<MSpan*> spans;
  for (int i = 0; i < 64; i++) {
    MSpan* s = t.heap->alloc_span(8, large_class());
    memset(reinterpret_cast<void*>(s->base), 1, s->bytes());  // touch: backed now
    spans.push_back(s);
  }
  HeapPageStats before = t.heap->page_stats();
  for (int i = 0; i < 64; i += 2) t.heap->free_span(spans[i]);
  uint64_t freed = 32 * 8 * kPageSize;
  EXPECT_EQ(t.heap->free_bytes_retained(), before.sys - before.inuse - before.released + freed);
  uint64_t done = t.heap->scavenge(0, 0, true);
  EXPECT_GE(done, freed);
  EXPECT_EQ(t.heap->free_bytes_retained(), 0u);
  EXPECT_GT(t.os.decommitted.load(), 0u);
  t.check();
  // Released pages come back zeroed and the span knows it needs no clearing.
  MSpan* s = t.heap->alloc_span(8, large_class());
  EXPECT_FALSE(s->needzero);
  for (uintptr_t i = 0; i < s->bytes(); i += 512) ASSERT_EQ(reinterpret_cast<char*>(s->base)[i], 0);
  t.check();
}

// A bounded request shorter than the scavenger's quantum releases the top of
// a run; the next one must release the pages below, not pick the same,
// already released piece again (it used to, forever).
TEST(MHeap, BoundedScavengesMakeProgressDownARun) {
  TestHeap t;
  MSpan* keep = t.heap->alloc_span(1, large_class());  // keeps the run off the arena's start
  MSpan* s = t.heap->alloc_span(256, large_class());
  MSpan* guard = t.heap->alloc_span(1, large_class());  // and off its end
  ASSERT_TRUE(keep && s && guard);
  t.heap->free_span(s);
  uint64_t before = t.heap->page_stats().released;
  uint64_t total = 0;
  for (int i = 0; i < 10; i++) {
    uint64_t got = t.heap->scavenge(3 * kPageSize, 0, true);
    EXPECT_EQ(got, 3 * kPageSize) << "request " << i;
    total += got;
  }
  EXPECT_EQ(total, 30 * kPageSize);
  EXPECT_EQ(t.heap->page_stats().released - before, 30 * kPageSize);
  t.check();
}

// free's fast path reads owner_key, free_key, magic, base_magic, local_free,
// nfree_slot and alloc_count, malloc's freelist and alloc_count: all on the
// span's first cache line, so that an owner's free into a span it has not
// touched for a while misses once, not twice (heap/mspan.h).
TEST(MSpan, FastPathFieldsShareTheFirstCacheLine) {
  EXPECT_EQ(alignof(MSpan), 64u);
  size_t offsets[] = {offsetof(MSpan, owner_key),  offsetof(MSpan, free_key),   offsetof(MSpan, magic),
                      offsetof(MSpan, base_magic), offsetof(MSpan, freelist),   offsetof(MSpan, local_free),
                      offsetof(MSpan, nfree_slot), offsetof(MSpan, alloc_count)};
  for (size_t off : offsets) EXPECT_LT(off, 64u);
  EXPECT_LE(offsetof(MSpan, alloc_count) + sizeof(uint32_t), 64u);
  // Taking a partial span reads its links and unbuilt (then local_free):
  // one line besides the first.
  EXPECT_EQ(offsetof(MSpan, unbuilt) / 64, offsetof(MSpan, links) / 64);
}
