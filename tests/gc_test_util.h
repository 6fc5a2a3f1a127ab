// Helpers of the collector's tests: a fresh thread to run a test body on,
// and a collection from a cleared stack.
#pragma once

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/mman.h>

#include <cstring>
#include <functional>

#include "gomem/gomem.h"

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

#define GC_TEST(suite, name)                                    \
  static void suite##_##name##_body();                          \
  TEST(suite, name) { in_fresh_thread(suite##_##name##_body); } \
  static void suite##_##name##_body()

// Overwrites the stack below the caller, where dead frames may still hold
// copies of pointers, and the caller-saved registers. Inlined, so that it
// starts right at the caller's stack pointer: a called function could not
// clear the padding slots at the top of its own frame.
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
      :
      :
      : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory");
#else
  volatile char buf[256 * 1024];
  memset(const_cast<char*>(buf), 0, sizeof buf);
#endif
}

__attribute__((always_inline)) inline void collect_clean() {
  clear_stack();
  gomem_gc_collect();
}

}  // namespace gomem_test
