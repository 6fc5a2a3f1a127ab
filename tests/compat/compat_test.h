/* Helpers for the Boehm GC layer's tests: programs written for bdwgc 8.2,
 * compiled against the installed gc.h and linked with -lgc. Each test runs
 * its body on a fresh thread (a clean stack), keeps pointers it must not
 * hold XOR-masked, and bounds every loop that waits for the collector. */
#ifndef COMPAT_TEST_H
#define COMPAT_TEST_H

#define GC_THREADS 1
#include <gc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

#define MASK ((uintptr_t)0x5a5a5a5a5a5a5a5aull)
static inline uintptr_t hide(void* p) { return (uintptr_t)p ^ MASK; }
static inline void* reveal(uintptr_t h) { return (void*)(h ^ MASK); }

/* Where tests keep (hidden) the address of an uncollectable block, so that
 * the compiler cannot drop stores into it as dead. */
static volatile uintptr_t uncollectable_holder __attribute__((unused));

/* Clears a good stretch of the stack below the caller, so that dead frames
 * hold no stale pointers. */
static __attribute__((noinline, unused)) void clear_stack(void) {
  volatile char buf[64 * 1024];
  memset((char*)buf, 0, sizeof buf);
  __asm__ __volatile__("" : : "r"(buf) : "memory");
}

/* Collects up to `rounds` times until *flag is nonzero; returns *flag. */
static inline int collect_until(volatile int* flag, int rounds) {
  for (int i = 0; i < rounds && !*flag; i++) {
    clear_stack();
    GC_gcollect();
    GC_invoke_finalizers();
  }
  return *flag;
}

/* Runs fn on a fresh registered thread and waits for it. */
static inline void in_fresh_thread(void* (*fn)(void*)) {
  pthread_t t;
  CHECK(pthread_create(&t, NULL, fn, NULL) == 0); /* GC_pthread_create */
  CHECK(pthread_join(t, NULL) == 0);
}

/* Allocates garbage of `size` bytes, `n` times, to reuse freed slots. */
static __attribute__((noinline, unused)) void churn(size_t size, int n) {
  for (int i = 0; i < n; i++) {
    char* p = (char*)GC_MALLOC(size);
    memset(p, 0xee, size);
  }
}

#endif
