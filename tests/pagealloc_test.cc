// PageAlloc (the free-run index): every run handed out fits the request, a
// request fails only when no run fits, a short own list yields the best fit,
// a search reads a bounded number of runs, and the lists stay consistent,
// checked against a simple model over random operations.
#include "heap/pagealloc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <random>
#include <set>

using namespace gomem;

TEST(PageAlloc, MappingIsMonotoneAndRoundTrips) {
  unsigned pf = 0, ps = 0;
  for (uintptr_t n = 1; n < 100000; n++) {
    unsigned f, s;
    PageAlloc::mapping(n, &f, &s);
    ASSERT_LT(f, PageAlloc::kFL);
    ASSERT_LT(s, PageAlloc::kSL);
    ASSERT_TRUE(f > pf || (f == pf && s >= ps)) << n;
    pf = f;
    ps = s;
  }
}

TEST(PageAlloc, TakeReturnsAFittingRunWheneverOneExists) {
  std::mt19937_64 rng(42);
  PageAlloc pa;
  std::deque<MSpan> storage;
  std::multiset<uintptr_t> model;  // sizes of runs in the index
  std::vector<MSpan*> in;
  for (int step = 0; step < 20000; step++) {
    if (rng() % 3 != 0 || in.empty()) {
      storage.emplace_back();
      MSpan* s = &storage.back();
      s->npages = 1 + static_cast<uint32_t>(rng() % (rng() % 4 == 0 ? 5000 : 40));
      pa.insert(s);
      in.push_back(s);
      model.insert(s->npages);
    } else {
      uintptr_t want = 1 + rng() % (rng() % 4 == 0 ? 6000 : 50);
      // Runs on the request's own list (the model is ordered by length).
      unsigned wf, wl;
      PageAlloc::mapping(want, &wf, &wl);
      size_t own = 0;
      uintptr_t own_best = 0;
      for (uintptr_t len : model) {
        unsigned f, l;
        PageAlloc::mapping(len, &f, &l);
        if (f != wf || l != wl) continue;
        own++;
        if (len >= want && !own_best) own_best = len;
      }
      bool exists = model.lower_bound(want) != model.end();
      // Beyond the scan bound the own list may hide a fit; a run on a
      // higher list is always found.
      uintptr_t n = want;
      if (n >= PageAlloc::kSL) n += (uintptr_t{1} << (63 - __builtin_clzll(n) - PageAlloc::kSLBits)) - 1;
      bool big_exists = model.lower_bound(n) != model.end();
      MSpan* s = pa.take(want);
      if (s) {
        ASSERT_GE(s->npages, want);
        // With a short own list the search is complete: the best fit.
        if (own <= PageAlloc::kScanLimit && own_best) ASSERT_EQ(s->npages, own_best);
        auto it = model.find(s->npages);
        ASSERT_NE(it, model.end());
        model.erase(it);
        in.erase(std::find(in.begin(), in.end(), s));
      } else {
        ASSERT_FALSE(big_exists) << "a run of >= " << n << " pages exists but take(" << want << ") failed";
        ASSERT_FALSE(exists && own <= PageAlloc::kScanLimit) << "take(" << want << ") missed a fitting run";
      }
    }
    ASSERT_EQ(pa.free_runs(), model.size());
  }
  uintptr_t total = 0;
  pa.for_each([&](MSpan* s) { total += s->npages; });
  uintptr_t want = 0;
  for (auto n : model) want += n;
  EXPECT_EQ(total, want);
  EXPECT_EQ(pa.free_pages(), want);
}

namespace {

// Runs of the given lengths at the given pages, inserted in order (so the
// last one is at the front of its list).
struct Runs {
  std::deque<MSpan> storage;
  MSpan* add(PageAlloc& pa, uintptr_t npages, uintptr_t base_page) {
    storage.emplace_back();
    MSpan* s = &storage.back();
    s->npages = static_cast<uint32_t>(npages);
    s->base = base_page << kPageShift;
    pa.insert(s);
    return s;
  }
};

}  // namespace

// A freed run of exactly the requested length is reused even when a longer
// run sits on a higher list (TLSF's rounded search took the longer one).
TEST(PageAlloc, ExactFitInTheOwnListIsTakenBeforeLongerRuns) {
  for (uintptr_t n : {70, 520, 1000, 1001, 1023, 1024}) {
    PageAlloc pa;
    Runs r;
    MSpan* exact = r.add(pa, n, 0);
    r.add(pa, 4 * n, 10 * n);  // a longer run, on a higher list
    EXPECT_EQ(pa.take(n), exact) << n;
  }
}

TEST(PageAlloc, BestFitWithTheLowestAddressAmongEquals) {
  PageAlloc pa;
  Runs r;
  // All on the list of [960, 1024) pages.
  r.add(pa, 1010, 100000);
  MSpan* low = r.add(pa, 1001, 20000);
  r.add(pa, 1001, 50000);
  r.add(pa, 990, 10000);  // too short for 1001
  r.add(pa, 1020, 0);
  EXPECT_EQ(pa.take(1001), low);
  // The runs of the next list all fit; the shortest is taken, then the lowest.
  PageAlloc pb;
  Runs q;
  q.add(pb, 1200, 300000);
  MSpan* b = q.add(pb, 1100, 200000);
  q.add(pb, 1100, 250000);
  EXPECT_EQ(pb.take(1001), b);
}

// One search examines at most kScanLimit runs of the own list and
// kScanLimit of the list above, however many runs the lists hold.
TEST(PageAlloc, SearchCostIsBounded) {
  PageAlloc pa;
  Runs r;
  MSpan* deep = r.add(pa, 1000, 0);  // fits, but behind 1000 shorter runs
  for (uintptr_t i = 1; i <= 1000; i++) r.add(pa, 960, i * 2000);
  for (uintptr_t i = 0; i < 1000; i++) r.add(pa, 1100, (i + 1) * 2000 + 3000000);
  uint64_t before = pa.runs_examined();
  MSpan* s = pa.take(1000);
  ASSERT_NE(s, nullptr);
  EXPECT_NE(s, deep);  // beyond the bound: the next list serves it
  EXPECT_EQ(s->npages, 1100u);
  EXPECT_LE(pa.runs_examined() - before, 2u * PageAlloc::kScanLimit);
  // Without the next list's runs the request fails rather than scan on.
  PageAlloc pb;
  Runs q;
  q.add(pb, 1000, 0);
  for (uintptr_t i = 1; i <= 1000; i++) q.add(pb, 960, i * 2000);
  EXPECT_EQ(pb.take(1000), nullptr);
  EXPECT_LE(pb.runs_examined(), uint64_t{PageAlloc::kScanLimit});
}
