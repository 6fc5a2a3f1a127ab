/*
 * churn: single-thread churn over every small size class, 8 B .. 32 KiB.
 *
 * For each of Go's 67 small size classes, in order: allocate N objects of
 * that size and free them in random order; allocate N again and free them in
 * LIFO order. N = min(objs, bytes / size), so every class moves about the
 * same number of bytes. Odd rounds use a size in the middle of the class
 * (between the previous class and this one) to exercise size rounding.
 * Models a program whose phases each hammer one object size.
 */
#include "common.h"

BENCH_MAIN_DEFS

/* Go's small size classes (runtime/sizeclasses.go), 8 B .. 32 KiB. */
static const unsigned classes[] = {
    8,     16,    24,    32,    48,    64,    80,    96,    112,   128,   144,   160,
    176,   192,   208,   224,   240,   256,   288,   320,   352,   384,   416,   448,
    480,   512,   576,   640,   704,   768,   896,   1024,  1152,  1280,  1408,  1536,
    1792,  2048,  2304,  2688,  3072,  3200,  3456,  4096,  4864,  5376,  6144,  6528,
    6784,  6912,  8192,  9472,  9728,  10240, 10880, 12288, 13568, 14336, 16384, 18432,
    19072, 20480, 21760, 24576, 27264, 28672, 32768};

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"rounds", 2, 40, "sweeps over all size classes", 0},
      {"objs", 256, 4096, "max objects per class per phase", 0},
      {"bytes", 1 << 18, 4 << 20, "max bytes per class per phase", 0},
      {"seed", 1, 1, "random seed", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("churn", "single-thread churn over every size class 8 B..32 KiB", ps, np, argc,
               argv);
  const long rounds = bench_get(ps, np, "rounds");
  const long objs = bench_get(ps, np, "objs");
  const long bytes = bench_get(ps, np, "bytes");
  rng_t rng;
  rng_seed(&rng, (uint64_t)bench_get(ps, np, "seed"));

  void **ptrs = (void **)malloc(sizeof(void *) * (size_t)objs);
  unsigned *order = (unsigned *)malloc(sizeof(unsigned) * (size_t)objs);
  const int nclasses = (int)(sizeof classes / sizeof classes[0]);
  uint64_t sum = 0, tagc = 0, ops = 0;
  double t0 = bench_now();

  for (long r = 0; r < rounds; r++) {
    for (int c = 0; c < nclasses; c++) {
      size_t size = classes[c];
      if ((r & 1) && c > 0) size = classes[c - 1] + (classes[c] - classes[c - 1]) / 2 + 1;
      long n = bytes / (long)size;
      if (n > objs) n = objs;
      if (n < 16) n = 16;
      if (n > objs) n = objs;

      /* Phase 1: allocate n, free in random order. */
      uint64_t base = tagc;
      for (long i = 0; i < n; i++) ptrs[i] = obj_new(size, tagc++);
      for (long i = 0; i < n; i++) order[i] = (unsigned)i;
      for (long i = n - 1; i > 0; i--) {
        long j = (long)rng_below(&rng, (uint64_t)i + 1);
        unsigned t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
      for (long i = 0; i < n; i++) {
        unsigned k = order[i];
        sum += obj_verify_known(ptrs[k], size, base + k);
        free(ptrs[k]);
      }

      /* Phase 2: allocate n, free in LIFO order. */
      base = tagc;
      for (long i = 0; i < n; i++) ptrs[i] = obj_new(size, tagc++);
      for (long i = n - 1; i >= 0; i--) {
        sum += obj_verify_known(ptrs[i], size, base + (uint64_t)i);
        free(ptrs[i]);
      }
      ops += 2 * (uint64_t)n;
    }
  }
  double t1 = bench_now();
  free(ptrs);
  free(order);
  printf("ops=%llu\n", (unsigned long long)ops);
  return bench_finish(sum, t1 - t0);
}
