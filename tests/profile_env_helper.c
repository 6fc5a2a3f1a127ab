/* profile_test's program for GOMEM_HEAP_PROFILE: allocates from env_site,
 * raises SIGUSR2 (a dump at the next slow path: FILE.1), grows the heap by
 * 24 MB in 1 MB blocks (with GOMEM_HEAP_PROFILE_EVERY_MB=8: FILE.2, ...),
 * and exits (FILE). */
#include <signal.h>
#include <stdlib.h>

__attribute__((noinline)) void env_site(void** v, int n, size_t size) {
  for (int i = 0; i < n; i++) v[i] = malloc(size);
  __asm__ __volatile__("" ::: "memory");
}

int main(void) {
  static void* small[20000];
  static void* big[24];
  env_site(small, 20000, 100);
  raise(SIGUSR2);
  env_site(big, 1, 1 << 20); /* a slow path: the dump the signal asked for */
  env_site(big + 1, 23, 1 << 20);
  return 0;
}
