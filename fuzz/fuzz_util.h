// Helpers shared by the fuzz targets: a reader that turns the fuzzer's
// bytes into operations (past the end it reads zeros, so every input is a
// valid program), sizes drawn from the size classes' interesting ranges,
// and a content pattern that tells one object's bytes from another's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace fuzz {

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : d_(data), n_(size) {}
  bool done() const { return i_ >= n_; }
  uint8_t u8() { return i_ < n_ ? d_[i_++] : 0; }
  uint32_t u16() { return u8() | uint32_t{u8()} << 8; }
  uint32_t u24() { return u16() | uint32_t{u8()} << 16; }

  // A request size: mostly small, sometimes around the small/large border
  // (32 KiB), sometimes large (up to 1 MiB), rarely absurd.
  size_t size() {
    uint8_t k = u8();
    switch (k % 8) {
      case 0:
      case 1:
      case 2:
        return u8();
      case 3:
      case 4:
        return u16() % 4096;
      case 5:
        return 32768 - 512 + u16() % 1024;
      case 6:
        return u24() % (1 << 20);
      default:
        return k == 255 ? SIZE_MAX - u8() : u16();
    }
  }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t i_ = 0;
};

inline uint8_t pattern(uint8_t seed, size_t i) { return static_cast<uint8_t>(seed + i * 131 + (i >> 8)); }

inline void fill(void* p, size_t n, uint8_t seed, size_t from = 0) {
  auto* b = static_cast<uint8_t*>(p);
  for (size_t i = from; i < n; i++) b[i] = pattern(seed, i);
}

// Aborts (a finding) if [p, p+n) does not hold seed's pattern.
inline void expect_pattern(const void* p, size_t n, uint8_t seed, const char* what) {
  auto* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; i++) {
    if (b[i] != pattern(seed, i)) {
      fprintf(stderr, "fuzz: %s: %p byte %zu of %zu is %#x, want %#x\n", what, p, i, n, b[i], pattern(seed, i));
      abort();
    }
  }
}

[[noreturn]] inline void fail(const char* what, const void* p, size_t a, size_t b) {
  fprintf(stderr, "fuzz: %s (%p, %zu, %zu)\n", what, p, a, b);
  abort();
}

}  // namespace fuzz
