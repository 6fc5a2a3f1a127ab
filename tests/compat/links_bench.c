/* What disappearing links cost (count_links.sh counts it with callgrind):
 * N keys of 16 bytes, each with a link in a pointer-free holder of 8 KiB
 * (how Guile's weak tables keep their entries; consecutive links go to
 * different holders, as entries of several tables filled in turn do),
 * registered, then three collections with every key alive, then half the
 * keys dropped and three more collections that clear their links.
 *   links_bench N */
#include <gc.h>
#include <stdio.h>
#include <stdlib.h>

#define PER_HOLDER 1024

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 100000;
  GC_INIT();
  void** keys = GC_MALLOC(n * sizeof(void*));
  long nh = (n + PER_HOLDER - 1) / PER_HOLDER;
  void*** holders = GC_MALLOC(nh * sizeof(void**));
  for (long h = 0; h < nh; h++) holders[h] = GC_MALLOC_ATOMIC(PER_HOLDER * sizeof(void*));
  for (long i = 0; i < n; i++) {
    void** link = &holders[i % nh][i / nh];
    keys[i] = GC_MALLOC(16);
    *link = keys[i];
    if (GC_general_register_disappearing_link(link, keys[i]) != GC_SUCCESS) return 1;
  }
  for (int c = 0; c < 3; c++) GC_gcollect();
  for (long i = 0; i < n; i += 2) keys[i] = NULL;
  for (int c = 0; c < 3; c++) GC_gcollect();
  long cleared = 0;
  for (long i = 0; i < n; i++) cleared += holders[i % nh][i / nh] == NULL;
  printf("%ld links cleared\n", cleared);
  return cleared >= n / 2 - n / 100 ? 0 : 1; /* a few may be held by stale stack words */
}
