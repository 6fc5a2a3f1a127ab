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

MSpan* PageAlloc::take(uintptr_t npages) {
  // Round up to the first list whose every run is >= npages.
  uintptr_t n = npages;
  if (n >= kSL) n += (uintptr_t{1} << (log2_floor(n) - kSLBits)) - 1;
  unsigned f, l;
  mapping(n, &f, &l);
  if (f >= kFL) return nullptr;
  uint32_t sl_map = sl_bitmap_[f] & (~0u << l);
  if (!sl_map) {
    uint64_t fl_map = f + 1 < 64 ? fl_bitmap_ & (~uint64_t{0} << (f + 1)) : 0;
    if (!fl_map) return nullptr;
    f = ctz64(fl_map);
    sl_map = sl_bitmap_[f];
  }
  l = static_cast<unsigned>(ctz64(sl_map));
  MSpan* s = lists_[f][l].front();
  remove(s);
  return s;
}

}  // namespace gomem
