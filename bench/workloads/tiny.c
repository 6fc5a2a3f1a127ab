/*
 * tiny: a short-lived program's fixed cost.
 *
 * Most processes are small: a command-line tool allocates a few hundred
 * objects of assorted sizes (strings, small structs, a buffer or two), uses
 * them and exits. The figure of this row is peak RSS (VmHWM): what the
 * allocator costs a program that needs almost nothing from it — metadata,
 * first reservations, and the pages touched before and around its first
 * objects. `objs` objects of 20 sizes (16..2000 B), plus one 4 KiB and one
 * 64 KiB buffer; a third of the objects are freed and allocated again.
 * Time is a few microseconds of work against process start-up: the row is
 * about memory (and the page faults behind it), not speed.
 */
#include "common.h"

BENCH_MAIN_DEFS

static const size_t kSizes[] = {16,  24,  32,  40,  48,  64,  80,  96,   128,  160,
                                200, 256, 320, 400, 512, 640, 800, 1024, 1500, 2000};
#define NSIZES (sizeof kSizes / sizeof kSizes[0])
#define MAXOBJS 4096

int main(int argc, char** argv) {
  bench_param_t ps[] = {
      {"objs", 200, 200, "small objects (20 sizes, 16..2000 B)", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("tiny", "a short-lived program: a few hundred objects, then exit", ps, np, argc, argv);
  long n = bench_get(ps, np, "objs");
  if (n < 1 || n > MAXOBJS) {
    fprintf(stderr, "tiny: objs must be 1..%d\n", MAXOBJS);
    return 2;
  }
  static void* objs[MAXOBJS];
  double t0 = bench_now();
  uint64_t sum = 0, tag = 1;
  void *buf4k = obj_new(4096, tag++), *buf64k = obj_new(65536, tag++);
  for (long i = 0; i < n; i++) objs[i] = obj_new(kSizes[i % NSIZES], tag++);
  for (long i = 0; i < n; i += 3) {
    size_t size;
    sum += obj_verify(objs[i], &size);
    free(objs[i]);
    objs[i] = obj_new(size, tag++);
  }
  for (long i = 0; i < n; i++) sum += obj_free(objs[i]);
  sum += obj_free(buf4k) + obj_free(buf64k);
  double t1 = bench_now();
  printf("ops=%ld\n", n + n / 3);
  return bench_finish(sum, t1 - t0);
}
