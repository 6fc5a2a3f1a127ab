#include "test_util.h"

#include <cstdio>
#include <cstring>
#include <thread>

namespace gomem_test {

namespace {
inline uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}
}  // namespace

// Byte i of the pattern is byte i%8 of the i/8-th value of an LCG seeded
// from `seed`, so a prefix of a filled block checks against the same seed.
void fill(void* p, size_t n, uint64_t seed) {
  auto* b = static_cast<unsigned char*>(p);
  uint64_t v = mix(seed + 1);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    memcpy(b + i, &v, 8);
    v = v * 6364136223846793005ULL + 1442695040888963407ULL;
  }
  for (size_t k = 0; i < n; i++, k++) b[i] = static_cast<unsigned char>(v >> (8 * k));
}

bool check(const void* p, size_t n, uint64_t seed) {
  auto* b = static_cast<const unsigned char*>(p);
  uint64_t v = mix(seed + 1);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if (memcmp(b + i, &v, 8) != 0) return false;
    v = v * 6364136223846793005ULL + 1442695040888963407ULL;
  }
  for (size_t k = 0; i < n; i++, k++)
    if (b[i] != static_cast<unsigned char>(v >> (8 * k))) return false;
  return true;
}

size_t rss_bytes() {
  FILE* f = fopen("/proc/self/smaps_rollup", "r");
  if (f) {
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f)) {
      if (sscanf(line, "Rss: %zu kB", &kb) == 1) break;
    }
    fclose(f);
    if (kb) return kb * 1024;
  }
  return 0;
}

int ncpu() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

}  // namespace gomem_test
