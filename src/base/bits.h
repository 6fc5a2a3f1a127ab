// Bit and alignment helpers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/compiler.h"

namespace gomem {

constexpr bool is_pow2(uintptr_t x) { return x != 0 && (x & (x - 1)) == 0; }

constexpr uintptr_t align_up(uintptr_t x, uintptr_t a) { return (x + a - 1) & ~(a - 1); }
constexpr uintptr_t align_down(uintptr_t x, uintptr_t a) { return x & ~(a - 1); }
constexpr uintptr_t div_round_up(uintptr_t x, uintptr_t d) { return (x + d - 1) / d; }

GOMEM_INLINE unsigned ctz64(uint64_t x) { return static_cast<unsigned>(__builtin_ctzll(x)); }
GOMEM_INLINE unsigned clz64(uint64_t x) { return static_cast<unsigned>(__builtin_clzll(x)); }
GOMEM_INLINE unsigned popcount64(uint64_t x) { return static_cast<unsigned>(__builtin_popcountll(x)); }

// floor(log2(x)) for x > 0.
GOMEM_INLINE unsigned log2_floor(uint64_t x) { return 63u - clz64(x); }

constexpr unsigned log2_floor_constexpr(uint64_t x) {
  unsigned r = 0;
  while (x >>= 1) r++;
  return r;
}

// High 64 bits of a 64x64-bit product.
GOMEM_INLINE uint64_t mulhi64(uint64_t a, uint64_t b) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(a) * b) >> 64);
}

// Bitmap helpers over arrays of 64-bit words.
GOMEM_INLINE bool bit_test(const uint64_t* bits, uintptr_t i) { return (bits[i >> 6] >> (i & 63)) & 1; }
GOMEM_INLINE void bit_set(uint64_t* bits, uintptr_t i) { bits[i >> 6] |= uint64_t{1} << (i & 63); }
GOMEM_INLINE void bit_clear(uint64_t* bits, uintptr_t i) { bits[i >> 6] &= ~(uint64_t{1} << (i & 63)); }

// Sets bits [start, start+n) of a bitmap.
void bits_set_range(uint64_t* bits, uintptr_t start, uintptr_t n);
// Clears bits [start, start+n) of a bitmap.
void bits_clear_range(uint64_t* bits, uintptr_t start, uintptr_t n);
// Counts the set bits in [start, start+n).
uintptr_t bits_count_range(const uint64_t* bits, uintptr_t start, uintptr_t n);

}  // namespace gomem
