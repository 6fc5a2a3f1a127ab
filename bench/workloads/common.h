/*
 * Shared helpers for the gomem benchmark workloads.
 *
 * Every workload uses only the plain malloc family (and new/delete in C++),
 * so that any allocator can be swapped in with LD_PRELOAD. This header gives:
 *   - a small deterministic PRNG (xoshiro256**, seeded with splitmix64);
 *   - self-describing test objects (fill on allocation, verify on free) whose
 *     hash goes into the checksum: the checksum depends only on the workload
 *     parameters, never on the allocator or the thread schedule;
 *   - "preset + key=value" argument parsing with documented quick/full values;
 *   - the report printed at the end (checksum, malloc provider, RSS).
 *
 * Output protocol (stdout, one "key=value" token list per line; the harness
 * bench/harness.py parses every token):
 *   workload=NAME preset=P param=V ...
 *   checksum=<16 hex digits>
 *   malloc_lib=<file that provides malloc> work_s=<seconds> ...
 * A workload that finds a corrupted object prints "CORRUPTION ..." on stderr
 * and exits with status 3.
 */
#ifndef GOMEM_BENCH_COMMON_H
#define GOMEM_BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define BENCH_UNUSED __attribute__((unused))
#define BENCH_NOINLINE __attribute__((noinline))
#else
#define BENCH_UNUSED
#define BENCH_NOINLINE
#endif

/* Keeps the compiler from eliding a malloc/free pair or a store. */
static inline void bench_escape(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

/* ------------------------------------------------------------------------ */
/* PRNG                                                                      */
/* ------------------------------------------------------------------------ */
static inline uint64_t bench_splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* A stateless 64-bit mixer (the splitmix64 finalizer). */
static inline uint64_t bench_mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

typedef struct rng {
  uint64_t s[4];
} rng_t;

static inline void rng_seed(rng_t *r, uint64_t seed) {
  uint64_t s = seed;
  for (int i = 0; i < 4; i++) r->s[i] = bench_splitmix64(&s);
}

static inline uint64_t rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_next(rng_t *r) {
  uint64_t *s = r->s;
  const uint64_t result = rng_rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rng_rotl(s[3], 45);
  return result;
}

/* Uniform in [0, n), n > 0 (Lemire's multiply-shift; the tiny bias is
 * irrelevant here and the result is deterministic). */
static inline uint64_t rng_below(rng_t *r, uint64_t n) {
  return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline uint64_t rng_range(rng_t *r, uint64_t lo, uint64_t hi) {
  return lo + rng_below(r, hi - lo + 1);
}

/* Log-uniform in [lo, hi] (lo >= 1): each power of two is equally likely.
 * Integer-only so that it is bit-identical everywhere. */
static inline uint64_t rng_logrange(rng_t *r, uint64_t lo, uint64_t hi) {
  int lo_b = 63 - __builtin_clzll(lo);
  int hi_b = 63 - __builtin_clzll(hi);
  for (;;) {
    int b = lo_b + (int)rng_below(r, (uint64_t)(hi_b - lo_b + 1));
    uint64_t base = 1ULL << b;
    uint64_t v = base + rng_below(r, base);
    if (v >= lo && v <= hi) return v;
  }
}

/* ------------------------------------------------------------------------ */
/* Test objects                                                              */
/*                                                                           */
/* An object of size >= 16 written by obj_fill holds its tag in word 0, its  */
/* size in word 1, a pattern derived from the tag in words 2..7 (as far as   */
/* the object reaches) and a check word in its last 8 bytes. obj_verify      */
/* re-derives all of it and returns the object's hash (tag, size), which     */
/* workloads add into their checksum. Only O(1) bytes are touched so the     */
/* benchmark measures the allocator, not memset.                             */
/* ------------------------------------------------------------------------ */
extern unsigned long bench_corruptions; /* defined by BENCH_MAIN_DEFS */

static inline uint64_t obj_hash(uint64_t tag, uint64_t size) {
  return bench_mix(tag * 31 + size);
}

static inline void obj_fill(void *p, size_t size, uint64_t tag) {
  unsigned char *b = (unsigned char *)p;
  uint64_t w[8];
  size_t words = size / 8 < 8 ? size / 8 : 8;
  w[0] = tag;
  w[1] = size;
  for (size_t i = 2; i < words; i++) w[i] = bench_mix(tag + i);
  memcpy(b, w, words * 8);
  if (size >= 72) { /* the tail word must not overlap words 0..7 */
    uint64_t t = tag ^ size ^ 0x5a5a5a5a5a5a5a5aULL;
    memcpy(b + size - 8, &t, 8);
  }
}

static BENCH_NOINLINE void obj_report_corruption(const void *p, size_t size, uint64_t tag,
                                                  const char *what) {
  __atomic_add_fetch(&bench_corruptions, 1, __ATOMIC_RELAXED);
  fprintf(stderr, "CORRUPTION: %s object %p size %zu tag %016llx\n", what, p, size,
          (unsigned long long)tag);
}

/* Verifies an object whose size and tag the caller knows, returns its hash. */
static inline uint64_t obj_verify_known(const void *p, size_t size, uint64_t tag) {
  const unsigned char *b = (const unsigned char *)p;
  uint64_t w[8];
  size_t words = size / 8 < 8 ? size / 8 : 8;
  memcpy(w, b, words * 8);
  int bad = (w[0] != tag) || (words > 1 && w[1] != size);
  for (size_t i = 2; i < words; i++) bad |= (w[i] != bench_mix(tag + i));
  if (size >= 72) {
    uint64_t t;
    memcpy(&t, b + size - 8, 8);
    bad |= (t != (tag ^ size ^ 0x5a5a5a5a5a5a5a5aULL));
  }
  if (bad) obj_report_corruption(p, size, tag, "verify");
  return obj_hash(tag, size);
}

/* Verifies a self-describing object (size >= 16), returns its hash and sets
 * *size_out to its size when size_out is not NULL. */
static inline uint64_t obj_verify(const void *p, size_t *size_out) {
  uint64_t hdr[2];
  memcpy(hdr, p, 16);
  if (size_out) *size_out = (size_t)hdr[1];
  if (hdr[1] < 16 || hdr[1] > ((uint64_t)1 << 40)) {
    obj_report_corruption(p, (size_t)hdr[1], hdr[0], "header");
    return 0;
  }
  return obj_verify_known(p, (size_t)hdr[1], hdr[0]);
}

/* Fills a fresh object from malloc (NULL means out of memory: fatal). */
static inline void *obj_new(size_t size, uint64_t tag) {
  void *p = malloc(size);
  if (!p) {
    fprintf(stderr, "malloc(%zu) failed\n", size);
    exit(4);
  }
  obj_fill(p, size, tag);
  return p;
}

/* Verifies and frees a self-describing object; returns its hash. */
static inline uint64_t obj_free(void *p) {
  uint64_t h = obj_verify(p, NULL);
  free(p);
  return h;
}

/* FNV-1a over a byte range. */
static inline uint64_t bench_fnv(uint64_t h, const void *data, size_t n) {
  const unsigned char *b = (const unsigned char *)data;
  if (h == 0) h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

/* ------------------------------------------------------------------------ */
/* Parameters: "prog [quick|full] [key=value ...]"                           */
/* ------------------------------------------------------------------------ */
typedef struct bench_param {
  const char *name;
  long quick;
  long full;
  const char *help;
  long value;
} bench_param_t;

static BENCH_UNUSED void bench_usage(const char *prog, const char *desc, const bench_param_t *ps,
                                     int n) {
  printf("usage: %s [quick|full] [key=value ...]\n\n%s\n\nparameters (quick / full):\n", prog,
         desc);
  for (int i = 0; i < n; i++)
    printf("  %-12s %10ld / %-10ld %s\n", ps[i].name, ps[i].quick, ps[i].full, ps[i].help);
  printf("\nThe last stdout lines carry checksum=... (the same for every allocator)\n");
}

static BENCH_UNUSED const char *bench_preset = "full";

/* Parses argv into ps[].value; prints the "workload=..." line. */
static BENCH_UNUSED void bench_params(const char *name, const char *desc, bench_param_t *ps,
                                      int n, int argc, char **argv) {
  int quick = 0;
  int i = 1;
  if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
    bench_usage(argv[0], desc, ps, n);
    exit(0);
  }
  if (argc > 1 && strchr(argv[1], '=') == NULL) {
    if (!strcmp(argv[1], "quick")) {
      quick = 1;
    } else if (strcmp(argv[1], "full") != 0) {
      fprintf(stderr, "%s: unknown preset '%s' (quick or full)\n", name, argv[1]);
      exit(2);
    }
    i = 2;
  }
  bench_preset = quick ? "quick" : "full";
  for (int k = 0; k < n; k++) ps[k].value = quick ? ps[k].quick : ps[k].full;
  for (; i < argc; i++) {
    const char *eq = strchr(argv[i], '=');
    int found = 0;
    if (eq) {
      for (int k = 0; k < n; k++) {
        if (strlen(ps[k].name) == (size_t)(eq - argv[i]) &&
            !strncmp(ps[k].name, argv[i], (size_t)(eq - argv[i]))) {
          char *end;
          ps[k].value = strtol(eq + 1, &end, 0);
          if (*end == 'k' || *end == 'K') ps[k].value <<= 10, end++;
          else if (*end == 'm' || *end == 'M') ps[k].value <<= 20, end++;
          if (*end != 0) {
            fprintf(stderr, "%s: bad value in '%s'\n", name, argv[i]);
            exit(2);
          }
          found = 1;
        }
      }
    }
    if (!found) {
      fprintf(stderr, "%s: unknown argument '%s'\n", name, argv[i]);
      bench_usage(argv[0], desc, ps, n);
      exit(2);
    }
  }
  printf("workload=%s preset=%s", name, bench_preset);
  for (int k = 0; k < n; k++) printf(" %s=%ld", ps[k].name, ps[k].value);
  printf("\n");
  fflush(stdout);
}

static BENCH_UNUSED long bench_get(const bench_param_t *ps, int n, const char *name) {
  for (int k = 0; k < n; k++)
    if (!strcmp(ps[k].name, name)) return ps[k].value;
  fprintf(stderr, "internal: no parameter %s\n", name);
  exit(2);
}

/* ------------------------------------------------------------------------ */
/* Time, RSS and the final report                                            */
/* ------------------------------------------------------------------------ */
static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Reads a "Key:   123 kB" line of /proc/self/status; -1 if absent. */
static BENCH_UNUSED long bench_status_kb(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t kl = strlen(key);
  if (!f) return -1;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, key, kl) && line[kl] == ':') {
      v = strtol(line + kl + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

/* Which loaded object provides the malloc that the program's calls bind to:
 * the first object after the executable, in load order (LD_PRELOAD objects
 * come first), that defines malloc itself. Catches a preload that silently
 * did not take effect. */
struct bench_malloc_lib_search {
  int index;
  const char *found;
};

static BENCH_UNUSED int bench_malloc_lib_cb(struct dl_phdr_info *info, size_t sz, void *data) {
  struct bench_malloc_lib_search *s = (struct bench_malloc_lib_search *)data;
  (void)sz;
  if (s->index++ == 0 || !info->dlpi_name || !info->dlpi_name[0]) return 0;
  void *h = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
  if (!h) return 0;
  void *sym = dlsym(h, "malloc");
  Dl_info di;
  int found = sym && dladdr(sym, &di) && di.dli_fname && !strcmp(di.dli_fname, info->dlpi_name);
  dlclose(h);
  if (found) {
    s->found = info->dlpi_name;
    return 1;
  }
  return 0;
}

static BENCH_UNUSED const char *bench_malloc_lib(void) {
  struct bench_malloc_lib_search s = {0, "unknown"};
  dl_iterate_phdr(bench_malloc_lib_cb, &s);
  return s.found;
}

/* Prints the closing lines and returns the exit status for main. */
static BENCH_UNUSED int bench_finish(uint64_t checksum, double work_s) {
  printf("checksum=%016llx\n", (unsigned long long)checksum);
  printf("malloc_lib=%s work_s=%.4f vmhwm_kb=%ld vmrss_kb=%ld\n", bench_malloc_lib(), work_s,
         bench_status_kb("VmHWM"), bench_status_kb("VmRSS"));
  fflush(stdout);
  if (bench_corruptions) {
    fprintf(stderr, "CORRUPTION: %lu corrupted objects found\n", bench_corruptions);
    return 3;
  }
  return 0;
}

#define BENCH_MAIN_DEFS unsigned long bench_corruptions = 0;
#define BENCH_NPARAMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

#ifdef __cplusplus
}
#endif

#endif /* GOMEM_BENCH_COMMON_H */
