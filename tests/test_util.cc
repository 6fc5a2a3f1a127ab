#include "test_util.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/mman.h>

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

void in_fresh_thread(std::function<void()> fn) {
  constexpr size_t kStack = 8 << 20;
  void* stack = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(stack, MAP_FAILED);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstack(&attr, stack, kStack);
  pthread_t t;
  auto* f = new std::function<void()>(std::move(fn));
  ASSERT_EQ(pthread_create(
                &t, &attr,
                [](void* a) -> void* {
                  auto* g = static_cast<std::function<void()>*>(a);
                  (*g)();
                  delete g;
                  return nullptr;
                },
                f),
            0);
  pthread_join(t, nullptr);
  pthread_attr_destroy(&attr);
  munmap(stack, kStack);
}

}  // namespace gomem_test
