/* gomem: runs a program with libgomem.so preloaded.
 *
 *   gomem run [--stats] [--gctrace] [--libgc [--malloc]] -- CMD ARGS...
 *   gomem version
 *
 * --libgc runs a program built for Boehm GC (linked with -lgc) on gomem:
 * gomem's libgc.so.1 (lib/gomem-gc, or gomem-gc/ in a build directory) goes
 * first in LD_LIBRARY_PATH, and nothing is preloaded, so malloc stays the C
 * library's as with bdwgc; --malloc preloads libgomem.so as well (one heap
 * for both).
 *
 * The library is looked up next to this executable (../lib/libgomem.so for
 * an installed tree, or ./libgomem.so in a build directory), or taken from
 * $GOMEM_LIB. --stats prints gomem's statistics when the program exits
 * (GOMEM_STATS=1); --gctrace prints a line per collection (GODEBUG=gctrace=1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(void) {
  fprintf(stderr,
          "usage: gomem run [--stats] [--gctrace] [--libgc [--malloc]] -- CMD ARGS...\n"
          "       gomem version\n");
  exit(2);
}

static int find_lib(char *out, size_t n) {
  const char *env = getenv("GOMEM_LIB");
  if (env && *env) {
    snprintf(out, n, "%s", env);
    return access(out, R_OK) == 0;
  }
  char self[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len < 0) return 0;
  self[len] = 0;
  char *dir = dirname(self);
  const char *candidates[] = {"%s/libgomem.so", "%s/../lib/libgomem.so", "%s/../lib64/libgomem.so",
                              "%s/../lib/x86_64-linux-gnu/libgomem.so"};
  for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
    snprintf(out, n, candidates[i], dir);
    if (access(out, R_OK) == 0) {
      char real[PATH_MAX];
      if (realpath(out, real)) snprintf(out, n, "%s", real);
      return 1;
    }
  }
  return 0;
}

/* Puts the directory of gomem's libgc.so.1 (next to libgomem.so: lib/gomem-gc
 * or, in a build directory, gomem-gc) first in LD_LIBRARY_PATH. */
static int use_libgc(const char *lib) {
  char dir[PATH_MAX], path[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", lib);
  char *libdir = dirname(dir);
  snprintf(path, sizeof path, "%s/gomem-gc/libgc.so.1", libdir);
  if (access(path, R_OK) != 0) {
    fprintf(stderr, "gomem: cannot find %s\n", path);
    return 0;
  }
  char *gcdir = dirname(path);
  const char *old = getenv("LD_LIBRARY_PATH");
  char value[3 * PATH_MAX];
  if (old && *old) snprintf(value, sizeof value, "%s:%s", gcdir, old);
  else snprintf(value, sizeof value, "%s", gcdir);
  setenv("LD_LIBRARY_PATH", value, 1);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  if (strcmp(argv[1], "version") == 0) {
    printf("gomem 0.1.0\n");
    return 0;
  }
  if (strcmp(argv[1], "run") != 0) usage();
  int i = 2;
  int stats = 0, gctrace = 0, libgc = 0, malloc_too = 0;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--stats") == 0) stats = 1;
    else if (strcmp(argv[i], "--gctrace") == 0) gctrace = 1;
    else if (strcmp(argv[i], "--libgc") == 0) libgc = 1;
    else if (strcmp(argv[i], "--malloc") == 0) malloc_too = 1;
    else if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    } else break;
  }
  if (i >= argc) usage();
  char lib[PATH_MAX];
  if (!find_lib(lib, sizeof lib)) {
    fprintf(stderr, "gomem: cannot find libgomem.so (set GOMEM_LIB)\n");
    return 127;
  }
  if (libgc && !use_libgc(lib)) return 127;
  if (!libgc || malloc_too) {
    const char *old = getenv("LD_PRELOAD");
    char preload[2 * PATH_MAX];
    if (old && *old) snprintf(preload, sizeof preload, "%s:%s", lib, old);
    else snprintf(preload, sizeof preload, "%s", lib);
    setenv("LD_PRELOAD", preload, 1);
  }
  if (stats) setenv("GOMEM_STATS", "1", 1);
  if (gctrace) setenv("GODEBUG", "gctrace=1", 1);
  execvp(argv[i], argv + i);
  fprintf(stderr, "gomem: cannot run %s: %s\n", argv[i], strerror(errno));
  return 127;
}
