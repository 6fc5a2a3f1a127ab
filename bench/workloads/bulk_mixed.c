/*
 * bulk_mixed: allocate many objects of mixed sizes, then free them all.
 *
 * Each round allocates N objects of log-uniform random size (16 B..4 KiB,
 * one in 64 of them 4 KiB..256 KiB), then frees every one of them, in
 * allocation order on even rounds and in a random order on odd ones. Models
 * a batch job or a request arena built and torn down as a whole: the
 * allocator must hand back (or reuse) a whole heap's worth of spans each
 * round, and a heap that fragments keeps growing from round to round.
 */
#include "common.h"

BENCH_MAIN_DEFS

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"objs", 5000, 100000, "objects allocated per round", 0},
      {"rounds", 3, 20, "allocate-all then free-all rounds", 0},
      {"seed", 17, 17, "random seed", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("bulk_mixed", "allocate many mixed-size objects, then free them all", ps, np, argc,
               argv);
  long objs = bench_get(ps, np, "objs");
  long rounds = bench_get(ps, np, "rounds");
  rng_t rng;
  rng_seed(&rng, (uint64_t)bench_get(ps, np, "seed"));
  if (objs < 1 || rounds < 1) {
    fprintf(stderr, "bulk_mixed: bad parameters\n");
    return 2;
  }
  void **p = (void **)malloc((size_t)objs * sizeof(void *));
  uint64_t sum = 0, tag = 1;
  double t0 = bench_now();
  for (long r = 0; r < rounds; r++) {
    for (long i = 0; i < objs; i++) {
      size_t size = rng_below(&rng, 64) == 0 ? (size_t)rng_logrange(&rng, 4 << 10, 256 << 10)
                                             : (size_t)rng_logrange(&rng, 16, 4 << 10);
      p[i] = obj_new(size, tag++);
    }
    if (r % 2) /* a random order: Fisher-Yates */
      for (long i = objs - 1; i > 0; i--) {
        long j = (long)rng_below(&rng, (uint64_t)i + 1);
        void *t = p[i];
        p[i] = p[j];
        p[j] = t;
      }
    for (long i = 0; i < objs; i++) sum += obj_free(p[i]);
  }
  double t1 = bench_now();
  free(p);
  printf("ops=%ld\n", objs * rounds * 2);
  return bench_finish(sum, t1 - t0);
}
