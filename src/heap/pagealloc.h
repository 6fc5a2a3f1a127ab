// PageAlloc: the set of free page runs, searched in bounded time.
//
// Go 1.14+ finds free pages with a bitmap and a radix tree of summaries
// (mpagealloc.go) and allocates first-fit by address. gomem keeps free runs
// as MSpan records (state kFree), as Go did before, and indexes them by
// length with a two-level segregated fit (TLSF): runs of 1..7 pages have
// exact lists; longer runs fall into 8 lists per power of two, a list holding
// runs of [lo, lo + lo/8). Two bitmaps say which lists are non-empty, so
// finding the next non-empty list is a couple of count-trailing-zeros,
// whatever the heap size.
//
// The search (take) first looks inside the request's own list. On an exact
// list it takes the front run. Other lists hold runs both shorter and longer
// than the request: it examines at most kScanLimit runs there and takes the
// best fit (the shortest run that is long enough; among equals, the lowest
// address). Only if none of those fits does it move to the next non-empty
// list above, where every run fits, and picks the same way among its first
// kScanLimit runs. Classic TLSF skips the own list (it rounds the request up
// to the next list boundary), so a freed run of exactly the requested length
// was never reused unless the length was a boundary: 16 spans of 1000 pages
// freed and reallocated at random grew the heap to 1.7-1.85 times the live
// pages. Searching the own list gives exact reuse; the bound keeps a search
// at 2 × kScanLimit MSpan records read (two cache lines each), small beside
// what a span of 8 pages (64 KiB) or more costs its user to touch. Best fit
// with the lowest address among equals keeps long runs long and the heap
// packed towards its start, as Go's address-ordered first fit does.
//
// Coalescing is the page heap's job (mheap.cc): the page map's first/last
// page entries of a free run find its neighbours.
//
// Not synchronised: the heap lock protects it.
#pragma once

#include <cstdint>

#include "base/bits.h"
#include "base/list.h"
#include "heap/mspan.h"

namespace gomem {

class PageAlloc {
 public:
  static constexpr unsigned kSLBits = 3;
  static constexpr unsigned kSL = 1u << kSLBits;  // lists per power of two
  static constexpr unsigned kFL = 40;             // enough for 2^40 pages
  // Runs examined per list by one search (see above).
  static constexpr unsigned kScanLimit = 16;

  constexpr PageAlloc() = default;

  void insert(MSpan* s);
  void remove(MSpan* s);
  // Removes and returns a run of at least npages, or nullptr: the best fit
  // among the first kScanLimit runs of the request's own list, else among the
  // first kScanLimit runs of the next non-empty list above it.
  MSpan* take(uintptr_t npages);

  uintptr_t free_pages() const { return free_pages_; }
  uintptr_t free_runs() const { return free_runs_; }
  // Runs examined by every take() so far (the search cost, for tests).
  uint64_t runs_examined() const { return runs_examined_; }

  // Calls fn(run) for every free run.
  template <class F>
  void for_each(F fn) const {
    for (unsigned f = 0; f < kFL; f++)
      for (unsigned s = 0; s < kSL; s++)
        for (MSpan* x = lists_[f][s].front(); x; x = List::next(x)) fn(x);
  }

  // The list a run of n pages belongs on.
  static void mapping(uintptr_t n, unsigned* fl, unsigned* sl) {
    if (n < kSL) {
      *fl = 0;
      *sl = static_cast<unsigned>(n);
      return;
    }
    unsigned l = log2_floor(n);
    *fl = l - kSLBits + 1;
    *sl = static_cast<unsigned>((n >> (l - kSLBits)) - kSL);
  }

 private:
  using List = IntrusiveList<MSpan, &MSpan::links>;

  // The best fit for npages among the first kScanLimit runs of list, or nullptr.
  MSpan* best_fit(const List& list, uintptr_t npages);

  List lists_[kFL][kSL];
  uint64_t fl_bitmap_ = 0;        // bit f: some list in row f is non-empty
  uint32_t sl_bitmap_[kFL] = {};  // bit s of row f: lists_[f][s] is non-empty
  uintptr_t free_pages_ = 0;
  uintptr_t free_runs_ = 0;
  uint64_t runs_examined_ = 0;
};

}  // namespace gomem
