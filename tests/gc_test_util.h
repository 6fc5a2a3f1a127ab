// Helpers of the collector's tests: test bodies on fresh threads, pointers
// held masked, the stack and registers cleared before collecting.
#pragma once

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/mman.h>

#include <cstring>
#include <functional>
#include <string>

#include "gomem/gomem.h"
#include "platform/dirty.h"
#include "test_util.h"

namespace gomem_test {

// Runs fn on a new thread whose stack is freshly mapped (zero pages), so no
// stale word from earlier work can look like a pointer.
inline void in_fresh_thread(std::function<void()> fn) {
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

#define GC_TEST(suite, name)                                                \
  static void suite##_##name##_body();                                      \
  TEST(suite, name) { gomem_test::in_fresh_thread(suite##_##name##_body); } \
  static void suite##_##name##_body()

constexpr uintptr_t kMask = 0x5a5a5a5a5a5a5a5aULL;

// A new filled object, returned masked: from the moment it is masked until
// the caller unmasks it, no word anywhere points to it, and a collection then
// frees it. So the object of make_masked is for tests that collect only when
// they say so, or that want it unreachable; a test whose object must survive
// a collection by another thread (or the concurrent collector's thread) at
// any moment takes it from make_object.
GOMEM_NOINLINE_TEST inline uintptr_t make_masked(size_t n, uint64_t seed, bool scan = true) {
  void* p = scan ? gomem_gc_alloc(n) : gomem_gc_alloc_noscan(n);
  fill(p, n, seed);
  return reinterpret_cast<uintptr_t>(p) ^ kMask;
}

inline void* unmask(uintptr_t m) { return reinterpret_cast<void*>(m ^ kMask); }

// A new filled object whose pointer is never masked: it goes from the
// allocator's return register to the caller's, so the object is reachable at
// every instruction, wherever the caller stores it.
GOMEM_NOINLINE_TEST inline void* make_object(size_t n, uint64_t seed) {
  void* p = gomem_gc_alloc(n);
  fill(p, n, seed);
  return p;
}

// Overwrites the stack below the caller, where dead frames may still hold
// copies of pointers, and the caller-saved registers (general and vector:
// the collector scans a stopped thread's vector registers too). Inlined, so
// that it starts right at the caller's stack pointer: a called function could
// not clear the padding slots at the top of its own frame. In assembly: a
// local buffer would be part of the caller's frame, above the dead frames of
// the functions it called, and clear none of them.
__attribute__((always_inline)) inline void clear_stack() {
#if defined(__x86_64__)
  __asm__ __volatile__(
      "lea -262144(%%rsp), %%rax\n"
      "1: movq $0, (%%rax)\n"
      "add $8, %%rax\n"
      "cmp %%rsp, %%rax\n"
      "jb 1b\n"
      "xor %%eax, %%eax\n xor %%ecx, %%ecx\n xor %%edx, %%edx\n xor %%esi, %%esi\n xor %%edi, %%edi\n"
      "xor %%r8d, %%r8d\n xor %%r9d, %%r9d\n xor %%r10d, %%r10d\n xor %%r11d, %%r11d\n"
      "pxor %%xmm0, %%xmm0\n pxor %%xmm1, %%xmm1\n pxor %%xmm2, %%xmm2\n pxor %%xmm3, %%xmm3\n"
      "pxor %%xmm4, %%xmm4\n pxor %%xmm5, %%xmm5\n pxor %%xmm6, %%xmm6\n pxor %%xmm7, %%xmm7\n"
      "pxor %%xmm8, %%xmm8\n pxor %%xmm9, %%xmm9\n pxor %%xmm10, %%xmm10\n pxor %%xmm11, %%xmm11\n"
      "pxor %%xmm12, %%xmm12\n pxor %%xmm13, %%xmm13\n pxor %%xmm14, %%xmm14\n pxor %%xmm15, %%xmm15\n"
      :
      :
      : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
        "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory");
#elif defined(__aarch64__)
  // v8-v15 are callee-saved (their low halves): only the others are
  // cleared, as a call would be free to.
  __asm__ __volatile__(
      "mov x9, sp\n"
      "sub x10, x9, #262144\n"
      "1: stp xzr, xzr, [x10], #16\n"
      "cmp x10, x9\n"
      "b.lo 1b\n"
      "mov x0, xzr\n mov x1, xzr\n mov x2, xzr\n mov x3, xzr\n mov x4, xzr\n mov x5, xzr\n"
      "mov x6, xzr\n mov x7, xzr\n mov x8, xzr\n mov x9, xzr\n mov x10, xzr\n mov x11, xzr\n"
      "mov x12, xzr\n mov x13, xzr\n mov x14, xzr\n mov x15, xzr\n mov x16, xzr\n mov x17, xzr\n"
      "mov x18, xzr\n"
      "movi v0.2d, #0\n movi v1.2d, #0\n movi v2.2d, #0\n movi v3.2d, #0\n"
      "movi v4.2d, #0\n movi v5.2d, #0\n movi v6.2d, #0\n movi v7.2d, #0\n"
      "movi v16.2d, #0\n movi v17.2d, #0\n movi v18.2d, #0\n movi v19.2d, #0\n"
      "movi v20.2d, #0\n movi v21.2d, #0\n movi v22.2d, #0\n movi v23.2d, #0\n"
      "movi v24.2d, #0\n movi v25.2d, #0\n movi v26.2d, #0\n movi v27.2d, #0\n"
      "movi v28.2d, #0\n movi v29.2d, #0\n movi v30.2d, #0\n movi v31.2d, #0\n"
      :
      :
      : "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16",
        "x17", "x18", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v16", "v17", "v18", "v19", "v20", "v21", "v22",
        "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31", "cc", "memory");
#else
  // Clears only this buffer, inside the caller's frame: the dead frames
  // below it keep what they held (tests may see false retention here).
  volatile char buf[256 * 1024];
  memset(const_cast<char*>(buf), 0, sizeof buf);
#endif
}

__attribute__((always_inline)) inline void collect_clean() {
  clear_stack();
  gomem_gc_collect();
}

// Allocates (and drops) garbage of a given size, so that freed slots get
// handed out again and overwritten.
GOMEM_NOINLINE_TEST inline void churn(size_t n, int count) {
  for (int i = 0; i < count; i++) {
    void* p = gomem_gc_alloc(n);
    memset(p, 0xee, n);
  }
}

// The collector's statistics (static: the struct is large, keep it off the
// test's stack).
inline gomem_stats read_stats() {
  static gomem_stats st;
  gomem_read_stats(&st);
  return st;
}

// Automatic cycles off for the test's duration: it decides which run.
struct NoAutoGC {
  int old = gomem_gc_set_percent(-1);
  ~NoAutoGC() { gomem_gc_set_percent(old); }
};

// Whether the test can run in GOMEM_GC=`mode` (gomem_stats.gc_mode
// `gc_mode`); false, with *why, when GOMEM_GC is another mode or the kernel
// refuses dirty-page tracking. Fails the test if the kernel tracks pages
// and the collector still does not run in that mode.
inline bool gc_mode_or_skip(const char* mode, uint32_t gc_mode, std::string* why) {
  if (getenv("GOMEM_TEST_ANYMODE")) return true;
  const char* env = getenv("GOMEM_GC");
  if (!env || strcmp(env, mode) != 0) {
    *why = std::string("GOMEM_GC is not ") + mode;
    return false;
  }
  gomem::DirtyTracker probe;
  if (!probe.init()) {
    *why = std::string("dirty-page tracking refused: ") + probe.reason();
    return false;
  }
  probe.shutdown();
  EXPECT_EQ(read_stats().gc_mode, gc_mode)
      << "GOMEM_GC=" << mode << " and the kernel tracks pages, yet gc_mode differs";
  return true;
}

#define REQUIRE_GC_MODE(mode, gc_mode)                        \
  do {                                                        \
    std::string why_;                                         \
    if (!gomem_test::gc_mode_or_skip(mode, gc_mode, &why_)) { \
      GTEST_SKIP() << why_;                                   \
    }                                                         \
  } while (0)

}  // namespace gomem_test
