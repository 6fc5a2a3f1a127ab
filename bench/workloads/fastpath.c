/*
 * fastpath: the allocator's fast path, for instruction counting.
 *
 * Does N malloc(size) + free pairs in one thread (batch=1: the same object
 * comes back each time), or N/batch rounds of `batch` mallocs followed by
 * `batch` frees. Meant to run under `valgrind --tool=callgrind`: the harness
 * runs it with two different N and reports
 *     (instructions(N2) - instructions(N1)) / (N2 - N1)
 * so that process start-up and allocator initialisation cancel out. The
 * result includes 11 instructions per pair of loop overhead and PLT stubs
 * (measured with callgrind_annotate), the same for every allocator.
 *
 * Usage: fastpath [quick|full] [n=N] [size=S] [batch=B]
 */
#include "common.h"

BENCH_MAIN_DEFS

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"n", 100000, 20000000, "malloc+free pairs", 0},
      {"size", 32, 32, "bytes per malloc", 0},
      {"batch", 1, 1, "mallocs before the frees (1 = pairs)", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("fastpath", "malloc+free pairs of one small size in one thread", ps, np, argc,
               argv);
  long n = bench_get(ps, np, "n");
  size_t size = (size_t)bench_get(ps, np, "size");
  long batch = bench_get(ps, np, "batch");
  if (batch < 1 || batch > 4096 || n < 0) {
    fprintf(stderr, "fastpath: bad parameters\n");
    return 2;
  }
  void *ptrs[4096];
  uint64_t ok = 0;
  double t0 = bench_now();
  if (batch == 1) {
    for (long i = 0; i < n; i++) {
      void *p = malloc(size);
      bench_escape(p);
      ok += p != NULL;
      free(p);
    }
  } else {
    for (long i = 0; i < n; i += batch) {
      for (long j = 0; j < batch; j++) {
        ptrs[j] = malloc(size);
        bench_escape(ptrs[j]);
        ok += ptrs[j] != NULL;
      }
      for (long j = 0; j < batch; j++) free(ptrs[j]);
    }
  }
  double t1 = bench_now();
  printf("pairs=%llu ns_per_pair=%.2f\n", (unsigned long long)ok,
         n ? (t1 - t0) * 1e9 / (double)n : 0.0);
  return bench_finish(ok, t1 - t0);
}
