/* gomem_read_stats in a loop, with 1000 manual objects of sizes over all of
 * malloc's small classes and, with a second argument of 1, a collected heap
 * after one cycle. Run under callgrind by stats_count.sh with two iteration
 * counts; the difference cancels startup. */
#include <stdlib.h>

#include "gomem/gomem.h"

static gomem_stats st;

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 100000;
  int gc = argc > 2 && atoi(argv[2]);
  static void *v[1000];
  for (int i = 0; i < 1000; i++) v[i] = gomem_malloc(16 + i % 2000);
  if (gc) {
    for (int i = 0; i < 1000; i++) gomem_gc_alloc(16 + i % 500);
    gomem_gc_collect();
  }
  for (long i = 0; i < n; i++) gomem_read_stats(&st);
  for (int i = 0; i < 1000; i++) gomem_free(v[i]);
  return 0;
}
