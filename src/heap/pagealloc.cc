#include "heap/pagealloc.h"

namespace gomem {

void PageAlloc::insert(MSpan* s) {
  unsigned f, l;
  mapping(s->npages, &f, &l);
  lists_[f][l].push_front(s);
  fl_bitmap_ |= uint64_t{1} << f;
  sl_bitmap_[f] |= 1u << l;
  free_pages_ += s->npages;
  free_runs_++;
}

void PageAlloc::remove(MSpan* s) {
  unsigned f, l;
  mapping(s->npages, &f, &l);
  lists_[f][l].remove(s);
  if (lists_[f][l].empty()) {
    sl_bitmap_[f] &= ~(1u << l);
    if (!sl_bitmap_[f]) fl_bitmap_ &= ~(uint64_t{1} << f);
  }
  free_pages_ -= s->npages;
  free_runs_--;
}

MSpan* PageAlloc::best_fit(const List& list, uintptr_t npages) {
  MSpan* best = nullptr;
  unsigned n = 0;
  for (MSpan* s = list.front(); s && n < kScanLimit; s = List::next(s), n++) {
    if (s->npages < npages) continue;
    if (!best || s->npages < best->npages || (s->npages == best->npages && s->base < best->base)) best = s;
  }
  runs_examined_ += n;
  return best;
}

MSpan* PageAlloc::take(uintptr_t npages) {
  unsigned f, l;
  mapping(npages, &f, &l);
  if (f >= kFL) return nullptr;
  // The own list. Lists of 1..7 pages are exact: the front run (the most
  // recently freed) fits, and small spans are the common case. Longer lists
  // hold runs both shorter and longer than the request.
  if (sl_bitmap_[f] & (1u << l)) {
    MSpan* s = npages < kSL ? lists_[f][l].front() : best_fit(lists_[f][l], npages);
    if (s) {
      remove(s);
      return s;
    }
  }
  // The next non-empty list above: every run on it fits.
  uint32_t sl_map = l + 1 < kSL ? sl_bitmap_[f] & (~0u << (l + 1)) : 0;
  if (!sl_map) {
    uint64_t fl_map = f + 1 < kFL ? fl_bitmap_ & (~uint64_t{0} << (f + 1)) : 0;
    if (!fl_map) return nullptr;
    f = ctz64(fl_map);
    sl_map = sl_bitmap_[f];
  }
  l = ctz64(sl_map);
  MSpan* s = best_fit(lists_[f][l], npages);
  remove(s);
  return s;
}

}  // namespace gomem
