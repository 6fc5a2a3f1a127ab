// guarded_test's program: started with GOMEM_GUARDED_SAMPLE_RATE set (read
// once, when gomem initialises), it does what argv[1] names and prints
// what it saw. The misuse modes end in a gomem report and a signal; the
// others exit 0 after printing their findings. Few allocations come before
// the mode's own, so the pool has free slots for them.
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <thread>
#include <vector>

#include "gomem/gomem.h"
#include "heap/guarded.h"

extern "C" size_t malloc_usable_size(void*);

namespace {

char* volatile g_keep;

bool in_pool(const void* p) { return gomem::guarded::contains(reinterpret_cast<uintptr_t>(p)); }

// The allocation and free sites the reports must name.
__attribute__((noinline)) char* guarded_site_alloc(size_t n) {
  char* p = static_cast<char*>(malloc(n));
  __asm__ __volatile__("" ::: "memory");
  return p;
}
__attribute__((noinline)) void guarded_site_free(char* p) {
  free(p);
  __asm__ __volatile__("" ::: "memory");
}
__attribute__((noinline)) char* guarded_site_new(size_t n) {
  char* p = new char[n];
  __asm__ __volatile__("" ::: "memory");
  return p;
}

// Fails the mode (exit 3) unless p is a guarded object.
char* sampled(char* p) {
  if (!in_pool(p)) {
    printf("not sampled: %p\n", static_cast<void*>(p));
    exit(3);
  }
  return p;
}

int write_past_end() {
  char* volatile p = sampled(guarded_site_alloc(13));
  p[16] = 1;  // the first byte of the guard page
  return 0;
}

int write_into_slack() {
  char* volatile p = sampled(guarded_site_alloc(13));
  p[13] = 1;  // off by one: in the 3 bytes of alignment slack
  guarded_site_free(p);
  return 0;
}

int write_before() {
  char* volatile p = sampled(guarded_site_alloc(13));
  p[-1] = 1;
  guarded_site_free(p);
  return 0;
}

int read_after_free() {
  char* volatile p = sampled(guarded_site_alloc(13));
  guarded_site_free(p);
  return p[4];
}

int double_free() {
  char* p = sampled(guarded_site_alloc(13));
  guarded_site_free(p);
  guarded_site_free(p);
  return 0;
}

int new_past_end() {
  char* volatile p = sampled(guarded_site_new(32));
  p[32] = 1;  // 32 is a multiple of 16: no slack, the guard page
  return 0;
}

// realloc, calloc, aligned_alloc and malloc_usable_size of guarded objects.
int api() {
  char* p = sampled(guarded_site_alloc(13));
  memcpy(p, "hello, world", 13);
  printf("usable %zu\n", malloc_usable_size(p));
  p = sampled(static_cast<char*>(realloc(p, 100)));
  printf("realloc %s usable %zu\n", p, malloc_usable_size(p));
  free(p);
  auto* z = static_cast<unsigned char*>(calloc(10, 10));
  sampled(reinterpret_cast<char*>(z));
  int nonzero = 0;
  for (int i = 0; i < 100; i++) nonzero += z[i] != 0;
  printf("calloc nonzero %d\n", nonzero);
  free(z);
  void* a = aligned_alloc(256, 300);
  sampled(static_cast<char*>(a));
  printf("aligned %d\n", static_cast<int>(reinterpret_cast<uintptr_t>(a) % 256 == 0));
  free(a);
  printf("check %ld\n", gomem_check_heap() >= 0 ? 0L : 1L);
  return 0;
}

// How many of `n` mallocs of 8..4096 bytes the pool served.
int count(int n) {
  int in = 0;
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    char* p = static_cast<char*>(malloc(8 + x % 4089));
    in += in_pool(p);
    p[0] = 1;
    free(p);
  }
  printf("sampled %d of %d\n", in, n);
  return 0;
}

// 8 threads (more than the machine's cores) allocating, writing, reading
// back, reallocating and freeing, some objects freed by another thread;
// then the heap check.
int threads() {
  constexpr int kThreads = 8, kIters = 20000;
  std::atomic<char*> handoff[kThreads] = {};
  std::atomic<long> sampled_count{0}, bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++)
    ts.emplace_back([&, t] {
      uint64_t x = 0x9E3779B97F4A7C15ull * (t + 1);
      for (int i = 0; i < kIters; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = 1 + x % 3000;
        char* p = static_cast<char*>(malloc(n));
        sampled_count += in_pool(p);
        memset(p, static_cast<int>(n & 0xff), n);
        if (i % 3 == 0) p = static_cast<char*>(realloc(p, n + 40));
        if (p[n - 1] != static_cast<char>(n & 0xff)) bad++;
        if (i % 5 == 0) p = handoff[(t + 1) % kThreads].exchange(p);  // freed by this thread, made by another
        free(p);
      }
    });
  for (auto& t : ts) t.join();
  for (auto& h : handoff) free(h.load());
  printf("threads sampled %ld bad %ld check %d\n", sampled_count.load(), bad.load(), gomem_check_heap() >= 0);
  return 0;
}

// Without the knob: nothing of the pool exists, malloc is the heap's.
int unsampled() {
  char* p = guarded_site_alloc(13);
  struct sigaction sa;
  sigaction(SIGSEGV, nullptr, &sa);
  printf("pool %d rate %d handler %d usable %zu\n", gomem::guarded::g_bytes != 0,
         static_cast<int>(gomem::guarded::rate()), sa.sa_handler != SIG_DFL, malloc_usable_size(p));
  free(p);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const char* m = argv[1];
  setvbuf(stdout, nullptr, _IONBF, 0);
  if (!strcmp(m, "write_past_end")) return write_past_end();
  if (!strcmp(m, "write_into_slack")) return write_into_slack();
  if (!strcmp(m, "write_before")) return write_before();
  if (!strcmp(m, "read_after_free")) return read_after_free();
  if (!strcmp(m, "double_free")) return double_free();
  if (!strcmp(m, "new_past_end")) return new_past_end();
  if (!strcmp(m, "api")) return api();
  if (!strcmp(m, "count")) return count(argc > 2 ? atoi(argv[2]) : 100000);
  if (!strcmp(m, "threads")) return threads();
  if (!strcmp(m, "unsampled")) return unsampled();
  return 2;
}
