// Helpers shared by the tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>

#include "gomem/gomem.h"

#define GOMEM_NOINLINE_TEST __attribute__((noinline))

namespace gomem_test {

// The library's allocation entry points. Tests call these rather than
// malloc so that they also run against the sanitizer builds, where malloc
// belongs to the sanitizer.
inline void* alloc(size_t n) { return gomem_malloc(n); }
inline void release(void* p) { gomem_free(p); }

// Fills [p, p+n) with a pattern derived from seed, and checks it.
void fill(void* p, size_t n, uint64_t seed);
bool check(const void* p, size_t n, uint64_t seed);

// Resident set size of the process, bytes (from /proc/self/smaps_rollup,
// falling back to statm).
size_t rss_bytes();

// Number of CPUs; tests run more threads than this.
int ncpu();

// Runs fn on a new thread whose stack is freshly mapped (zero pages), so no
// stale word from earlier work can look like a pointer.
void in_fresh_thread(std::function<void()> fn);

// A test whose body runs in_fresh_thread.
#define GC_TEST(suite, name)                                                \
  static void suite##_##name##_body();                                      \
  TEST(suite, name) { gomem_test::in_fresh_thread(suite##_##name##_body); } \
  static void suite##_##name##_body()

}  // namespace gomem_test
