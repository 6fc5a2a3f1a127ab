// A randomized test against a shadow model: random sizes from 0 to several
// MiB, frees, reallocs and aligned allocations, with every block's contents
// checked byte for byte and the whole heap checked as it goes.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "test_util.h"

using namespace gomem_test;

namespace {

struct Block {
  void* p = nullptr;
  size_t n = 0;
  uint64_t seed = 0;
};

size_t random_size(std::mt19937_64& rng) {
  switch (rng() % 16) {
    case 0:
      return 0;
    case 1:
      return rng() % (4u << 20);  // up to 4 MiB
    case 2:
    case 3:
      return rng() % 65536;  // around the small/large cut
    case 4:
      return 32768 + rng() % 64;
    default:
      return rng() % 1100;  // small classes
  }
}

void run_shadow(uint64_t seed, int steps) {
  std::mt19937_64 rng(seed);
  std::vector<Block> live(2000);
  for (int step = 0; step < steps; step++) {
    Block& b = live[rng() % live.size()];
    if (b.p) ASSERT_TRUE(check(b.p, b.n, b.seed)) << "block corrupted at step " << step;
    switch (rng() % 4) {
      case 0:
      case 1: {  // free and allocate
        gomem_free(b.p);
        b.n = random_size(rng);
        b.p = gomem_malloc(b.n);
        ASSERT_NE(b.p, nullptr);
        b.seed = rng();
        fill(b.p, b.n, b.seed);
        break;
      }
      case 2: {  // realloc, contents preserved up to the smaller size
        size_t m = random_size(rng);
        void* q = gomem_realloc(b.p, m);
        if (m == 0 && b.p) {
          ASSERT_EQ(q, nullptr);
          b.p = nullptr;
          b.n = 0;
          break;
        }
        ASSERT_NE(q, nullptr);
        size_t keep = b.n < m ? b.n : m;
        ASSERT_TRUE(check(q, keep, b.seed)) << "realloc lost contents at step " << step;
        b.p = q;
        b.n = m;
        b.seed = rng();
        fill(b.p, b.n, b.seed);
        break;
      }
      case 3: {  // aligned
        gomem_free(b.p);
        size_t a = size_t{1} << (rng() % 16);
        b.n = random_size(rng);
        b.p = gomem_aligned_alloc(a, b.n);
        ASSERT_NE(b.p, nullptr);
        ASSERT_EQ(reinterpret_cast<uintptr_t>(b.p) % a, 0u);
        b.seed = rng();
        fill(b.p, b.n, b.seed);
        break;
      }
    }
    if (b.p) ASSERT_GE(gomem_usable_size(b.p), b.n);
    if (step % 20000 == 0) gomem_check_heap();
  }
  for (Block& b : live) {
    if (b.p) ASSERT_TRUE(check(b.p, b.n, b.seed));
    gomem_free(b.p);
  }
  gomem_check_heap();
}

}  // namespace

TEST(Shadow, RandomOperationsKeepEveryByte) { run_shadow(1, 200000); }
TEST(Shadow, AnotherSeed) { run_shadow(0xdecafbad, 200000); }
