// PageAlloc: the set of free page runs, searched in O(1).
//
// Go 1.14+ finds free pages with a bitmap and a radix tree of summaries
// (mpagealloc.go). gomem keeps free runs as MSpan records (state kFree), as
// Go did before, and indexes them by length with a two-level segregated fit
// (TLSF): runs of 1..7 pages have exact lists; longer runs fall into 8 lists
// per power of two. Two bitmaps say which lists are non-empty, so a search is
// a couple of count-trailing-zeros, whatever the heap size. A request is
// rounded up to the next list boundary, so any run on the list found fits.
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

  constexpr PageAlloc() = default;

  void insert(MSpan* s);
  void remove(MSpan* s);
  // Removes and returns a run of at least npages, or nullptr.
  MSpan* take(uintptr_t npages);

  uintptr_t free_pages() const { return free_pages_; }
  uintptr_t free_runs() const { return free_runs_; }

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

  List lists_[kFL][kSL];
  uint64_t fl_bitmap_ = 0;     // bit f: some list in row f is non-empty
  uint32_t sl_bitmap_[kFL] = {};  // bit s of row f: lists_[f][s] is non-empty
  uintptr_t free_pages_ = 0;
  uintptr_t free_runs_ = 0;
};

}  // namespace gomem
