#include "base/bits.h"

namespace gomem {

namespace {
// Mask of bits [lo, hi) within one 64-bit word, 0 <= lo < hi <= 64.
inline uint64_t word_mask(unsigned lo, unsigned hi) {
  uint64_t m = hi == 64 ? ~uint64_t{0} : (uint64_t{1} << hi) - 1;
  return m & ~((uint64_t{1} << lo) - 1);
}

template <class F>
void for_each_word(uintptr_t start, uintptr_t n, F f) {
  uintptr_t end = start + n;
  while (start < end) {
    uintptr_t w = start >> 6;
    unsigned lo = static_cast<unsigned>(start & 63);
    uintptr_t wend = (w + 1) << 6;
    unsigned hi = static_cast<unsigned>((end < wend ? end : wend) - (w << 6));
    f(w, word_mask(lo, hi));
    start = w * 64 + hi;
  }
}
}  // namespace

void bits_set_range(uint64_t* bits, uintptr_t start, uintptr_t n) {
  for_each_word(start, n, [&](uintptr_t w, uint64_t m) { bits[w] |= m; });
}

void bits_clear_range(uint64_t* bits, uintptr_t start, uintptr_t n) {
  for_each_word(start, n, [&](uintptr_t w, uint64_t m) { bits[w] &= ~m; });
}

uintptr_t bits_count_range(const uint64_t* bits, uintptr_t start, uintptr_t n) {
  uintptr_t c = 0;
  for_each_word(start, n, [&](uintptr_t w, uint64_t m) { c += popcount64(bits[w] & m); });
  return c;
}

}  // namespace gomem
