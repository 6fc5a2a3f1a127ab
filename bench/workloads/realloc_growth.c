/*
 * realloc_growth: strings and vectors grown with realloc.
 *
 * B buffers grow side by side (so a buffer is rarely at the end of the heap
 * and in-place growth is not free). Each step picks a random buffer and
 * appends to it:
 *   - string buffers (half of them) grow the naive way: realloc to exactly
 *     len + chunk + 1 for every append of 1..80 bytes (log lines, string
 *     concatenation in C);
 *   - vector buffers grow by appending 1..16 8-byte elements, with capacity
 *     doubling (realloc to 2 * cap) when full (std::vector-like growth).
 * A buffer that reaches its random target length (log-uniform up to maxstr
 * or maxvec) is checked at 64 sampled positions (realloc must have copied
 * everything), sometimes shrunk to half with realloc and checked again, then
 * freed, and a new buffer starts in its slot.
 */
#include "common.h"

BENCH_MAIN_DEFS

typedef struct {
  unsigned char *p;
  size_t len, cap, target;
  uint64_t tag;
  int vec;
} buf_t;

static inline unsigned char str_byte(uint64_t tag, size_t i) {
  return (unsigned char)((tag * 31 + i * 7) ^ (i >> 9));
}

static uint64_t check_buf(const buf_t *b, size_t len) {
  uint64_t h = bench_mix(b->tag ^ ((uint64_t)len << 1) ^ (uint64_t)b->vec);
  int bad = 0;
  if (b->vec) {
    size_t n = len / 8;
    for (int k = 0; k <= 64 && n > 0; k++) {
      size_t i = (k == 64) ? n - 1 : (n * (size_t)k) / 64;
      uint64_t v;
      memcpy(&v, b->p + i * 8, 8);
      bad |= v != b->tag + i;
      h = bench_mix(h ^ v);
    }
  } else {
    for (int k = 0; k <= 64 && len > 0; k++) {
      size_t i = (k == 64) ? len - 1 : (len * (size_t)k) / 64;
      bad |= b->p[i] != str_byte(b->tag, i);
      h = bench_mix(h ^ b->p[i]);
    }
    if (len == b->len) bad |= b->p[len] != 0;
  }
  if (bad) obj_report_corruption(b->p, len, b->tag, b->vec ? "vector" : "string");
  return h;
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (!q) {
    fprintf(stderr, "realloc(%zu) failed\n", n);
    exit(4);
  }
  return q;
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"buffers", 32, 64, "buffers growing side by side", 0},
      {"steps", 100000, 24000000, "append steps", 0},
      {"maxstr", 16 << 10, 64 << 10, "largest target for a string (bytes)", 0},
      {"maxvec", 256 << 10, 4 << 20, "largest target for a vector (bytes)", 0},
      {"seed", 17, 17, "random seed", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("realloc_growth", "strings (exact realloc) and vectors (doubling) grown by realloc",
               ps, np, argc, argv);
  long nbuf = bench_get(ps, np, "buffers");
  long steps = bench_get(ps, np, "steps");
  uint64_t maxstr = (uint64_t)bench_get(ps, np, "maxstr");
  uint64_t maxvec = (uint64_t)bench_get(ps, np, "maxvec");
  rng_t rng;
  rng_seed(&rng, (uint64_t)bench_get(ps, np, "seed"));
  if (nbuf < 1 || maxstr < 16 || maxvec < 64) {
    fprintf(stderr, "realloc_growth: bad parameters\n");
    return 2;
  }
  buf_t *bs = (buf_t *)calloc((size_t)nbuf, sizeof(buf_t));
  uint64_t sum = 0, tag = 1, reallocs = 0, done = 0;
  double t0 = bench_now();
  for (long s = 0; s < steps; s++) {
    buf_t *b = &bs[rng_below(&rng, (uint64_t)nbuf)];
    if (!b->p) {
      b->vec = (int)rng_below(&rng, 2);
      b->tag = (tag++) << 24;
      b->len = 0;
      if (b->vec) {
        b->target = (size_t)rng_logrange(&rng, 64, maxvec);
        b->cap = 64;
      } else {
        b->target = (size_t)rng_logrange(&rng, 16, maxstr);
        b->cap = 1;
      }
      b->p = (unsigned char *)malloc(b->cap);
      if (!b->p) exit(4);
      if (!b->vec) b->p[0] = 0;
    }
    if (b->vec) {
      size_t k = (size_t)rng_range(&rng, 1, 16);
      if (b->len + 8 * k > b->cap) {
        while (b->len + 8 * k > b->cap) b->cap *= 2;
        b->p = (unsigned char *)xrealloc(b->p, b->cap);
        reallocs++;
      }
      size_t first = b->len / 8;
      for (size_t i = 0; i < k; i++) {
        uint64_t v = b->tag + first + i;
        memcpy(b->p + b->len + 8 * i, &v, 8);
      }
      b->len += 8 * k;
    } else {
      size_t k = (size_t)rng_range(&rng, 1, 80);
      b->p = (unsigned char *)xrealloc(b->p, b->len + k + 1);
      reallocs++;
      for (size_t i = 0; i < k; i++) b->p[b->len + i] = str_byte(b->tag, b->len + i);
      b->len += k;
      b->p[b->len] = 0;
    }
    if (b->len >= b->target) {
      sum += check_buf(b, b->len);
      if (rng_below(&rng, 4) == 0) {
        size_t half = b->vec ? (b->len / 16) * 8 : b->len / 2;
        if (half > 0) {
          b->p = (unsigned char *)xrealloc(b->p, half + (b->vec ? 0 : 1));
          reallocs++;
          sum += check_buf(b, half);
        }
      }
      free(b->p);
      b->p = NULL;
      done++;
    }
  }
  for (long i = 0; i < nbuf; i++)
    if (bs[i].p) {
      sum += check_buf(&bs[i], bs[i].len);
      free(bs[i].p);
    }
  double t1 = bench_now();
  free(bs);
  printf("reallocs=%llu buffers_done=%llu\n", (unsigned long long)reallocs,
         (unsigned long long)done);
  return bench_finish(sum, t1 - t0);
}
