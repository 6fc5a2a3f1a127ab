/* gomem: runs a program on gomem (libgomem.so preloaded, or gomem's
 * libgc.so.1 for a Boehm GC program), the command-line face of the library.
 *
 * `gomem run [OPTIONS] [--] CMD [ARGS...]` only arranges the environment and
 * then replaces itself with CMD (execvp): CMD keeps gomem's process id, its
 * signals, its job control and its exit status, so a shell sees CMD's status
 * (128+N for a death by signal N) as if gomem were not there. Every option
 * sets an environment variable the library reads at start-up (see
 * kHelp's ENVIRONMENT), so `gomem run` is never needed: it spares the user
 * finding libgomem.so and spelling the variables. The statistics report
 * (--stats) is written by the library itself, also for programs that close
 * standard error or leave with _exit (runtime/stats.cc).
 *
 * Options are read up to the first word that does not start with '-' (or
 * up to "--"); what follows is CMD's, so `gomem run prog --stats` passes
 * --stats to prog. An unknown option, a missing or malformed option value,
 * or no CMD is a usage error: a message and the usage on standard error,
 * exit status 2 (the convention of coreutils and getopt users). The help
 * texts go to standard output with status 0.
 *
 * The library is looked up next to this executable (../lib/libgomem.so.0 for
 * an installed tree, or ./libgomem.so.0 in a build directory; the runtime
 * name, which a Debian install has without the -dev package's libgomem.so
 * link), or taken from $GOMEM_LIB.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef GOMEM_VERSION
#define GOMEM_VERSION "unknown"
#endif

/* Exit statuses of gomem itself, as env(1) and nohup(1) have them. */
enum {
  kExitUsage = 2,       /* a malformed command line */
  kExitFailed = 125,    /* gomem could not set CMD up (no libgomem.so) */
  kExitCannotRun = 126, /* CMD exists but could not be executed */
  kExitNotFound = 127,  /* CMD was not found */
};

/* Go's MemProfileRate: one sample per 512 KiB allocated, on average. */
#define DEFAULT_PROFILE_RATE "524288"

static const char kUsage[] =
    "usage: gomem run [--stats | --stats-file FILE] [--gctrace] [--libgc [--malloc]]\n"
    "                 [--heap-profile FILE [--profile-rate BYTES] [--heap-profile-every MB]]\n"
    "                 [--] CMD [ARGS...]\n"
    "       gomem --help | --version | help run\n";

static const char kRunOptions[] =
    "OPTIONS OF run\n"
    "  --stats               When each process of CMD exits (exit, return from main,\n"
    "                        _exit or _Exit, even after it closed standard error),\n"
    "                        write gomem's statistics to gomem's standard error:\n"
    "                        live heap, heap mapped and returned to the OS, objects\n"
    "                        allocated and freed, collections and pause time.\n"
    "                        Sets GOMEM_STATS=1. A process killed by a signal\n"
    "                        reports nothing.\n"
    "  --stats-file FILE     The same, appended to FILE (one block per process,\n"
    "                        headed by its pid). Sets GOMEM_STATS=/abs/FILE.\n"
    "  --gctrace             One line per collection on standard error, in Go's\n"
    "                        gctrace format, and a line per scavenger run. Adds\n"
    "                        gctrace=1 to GODEBUG.\n"
    "  --libgc               Run a program built for Boehm GC (linked with -lgc) on\n"
    "                        gomem's collector: gomem's libgc.so.1 (lib/gomem-gc)\n"
    "                        goes first in LD_LIBRARY_PATH and nothing is preloaded,\n"
    "                        so malloc stays the C library's, as with bdwgc.\n"
    "  --malloc              With --libgc: preload libgomem.so too, so that malloc\n"
    "                        and the collector share one heap.\n"
    "  --heap-profile FILE   Write a sampled heap profile (pprof's gzipped\n"
    "                        profile.proto) to FILE at exit, on SIGUSR2 and with\n"
    "                        --heap-profile-every; read it with\n"
    "                        `go tool pprof -top FILE`. Sets\n"
    "                        GOMEM_HEAP_PROFILE=/abs/FILE, and GOMEM_PROFILE_RATE\n"
    "                        to 524288 unless set.\n"
    "  --profile-rate BYTES  Sample one allocation per BYTES allocated, on average\n"
    "                        (Go's MemProfileRate; 0 turns sampling off). Sets\n"
    "                        GOMEM_PROFILE_RATE.\n"
    "  --heap-profile-every MB\n"
    "                        Also write the profile each time the heap has grown by\n"
    "                        MB mebibytes (like jemalloc's prof.gdump). Sets\n"
    "                        GOMEM_HEAP_PROFILE_EVERY_MB.\n"
    "  -h, --help            Print this help.\n"
    "  --                    End of gomem's options: what follows is CMD, even if\n"
    "                        it starts with '-'. Options are read up to CMD anyway:\n"
    "                        `gomem run prog --stats` passes --stats to prog.\n"
    "\n"
    "EXIT STATUS\n"
    "  gomem run replaces itself with CMD (same process id, signals and job\n"
    "  control), so its status is CMD's: a shell shows 128+N when CMD was killed\n"
    "  by signal N. Otherwise: 2 for a usage error, 125 when libgomem.so (or\n"
    "  gomem's libgc.so.1) cannot be found, 126 when CMD cannot be executed, 127\n"
    "  when CMD is not found.\n";

static const char kHelpHead[] =
    "NAME\n"
    "  gomem - run programs on gomem, Go's memory manager for C and C++\n"
    "\n"
    "SYNOPSIS\n"
    "  gomem run [OPTIONS] [--] CMD [ARGS...]\n"
    "  gomem --help | help [run]\n"
    "  gomem --version | version\n"
    "\n"
    "DESCRIPTION\n"
    "  gomem is Go's allocator (per-thread caches, size classes, a page heap\n"
    "  that returns memory to the OS) and Go's mark-sweep garbage collector,\n"
    "  as a C library. `gomem run` runs an unmodified program with\n"
    "  libgomem.so preloaded: its malloc, free, realloc, operator new and\n"
    "  delete are gomem's. With --libgc it runs a program built for Boehm GC\n"
    "  on gomem's collector instead. Programs can also link gomem directly\n"
    "  (pkg-config gomem, or CMake's find_package(gomem)): see\n"
    "  include/gomem/gomem.h.\n"
    "\n";

static const char kHelpTail[] =
    "\n"
    "ENVIRONMENT\n"
    "  Read by the library once, at the first allocation (GOMEM_STATS at load),\n"
    "  whether gomem run set them or not. An empty value means unset; a\n"
    "  malformed one stops the program with \"gomem: NAME=VALUE: invalid: ...\".\n"
    "  GOGC=N|off               Collect when the heap has grown N % over the live\n"
    "                           heap of the last collection (Go's; default 100).\n"
    "  GOMEMLIMIT=BYTES|off     Soft memory limit, Go's syntax: 512MiB, 2GiB, a\n"
    "                           plain byte count; collections come sooner near it.\n"
    "  GODEBUG=gctrace=1        A line per collection and per scavenger run (what\n"
    "                           --gctrace sets; scavtrace=1 does the same). Other\n"
    "                           keys are Go's and left alone.\n"
    "  GOMEM_STATS=1|0|FILE     The statistics report at exit (--stats); a value\n"
    "                           with a '/' is a file to append to (--stats-file).\n"
    "  GOMEM_GC_MARKERS=N       Marker threads, at most 8 (0: one per CPU).\n"
    "  GOMEM_SIG_SUSPEND=SIG    The signal number that stops threads for marking\n"
    "                           (default 30, SIGPWR); not a fault signal.\n"
    "  GOMEM_STW_TIMEOUT_MS=MS  How long stopping the world waits for a thread\n"
    "                           before naming it on standard error (default 1000).\n"
    "  GOMEM_MADV=free|dontneed Give pages back with MADV_FREE instead of\n"
    "                           MADV_DONTNEED (the default).\n"
    "  GOMEM_SCAVENGER=0|1      0: no background thread returning idle memory.\n"
    "  GOMEM_SHARED_PS=PERCENT  A thread allocates a size class from its CPU's\n"
    "                           shared P until it has taken this percent of a\n"
    "                           span's objects (default 50, 0-1000; 0: off).\n"
    "  GOMEM_GC_INTERIOR=exact|past_end\n"
    "                           exact: a pointer one past the end of a collected\n"
    "                           object no longer keeps it alive (default past_end).\n"
    "  GOMEM_GC=stw|generational|concurrent\n"
    "                           generational: minor cycles mark only objects\n"
    "                           allocated since the last cycle, plus old objects\n"
    "                           on pages written since; concurrent: marking runs\n"
    "                           beside the program between two short stops\n"
    "                           (default stw).\n"
    "  GOMEM_DIRTY=on|off       off: no dirty-page tracking (userfaultfd); marking\n"
    "                           stays stop-the-world.\n"
    "  GOMEM_GC_TRACE_ROOT=ADDR Each collection prints every root and heap word\n"
    "                           that points into the object at ADDR (hex).\n"
    "  GOMEM_PROFILE_RATE=BYTES Heap profile sampling rate (--profile-rate;\n"
    "                           0 or unset: off).\n"
    "  GOMEM_HEAP_PROFILE=FILE  Where the heap profile goes (--heap-profile).\n"
    "  GOMEM_HEAP_PROFILE_EVERY_MB=MB\n"
    "                           Profile again per MB of growth\n"
    "                           (--heap-profile-every).\n"
    "  GOMEM_GUARDED_SAMPLE_RATE=N\n"
    "                           Guard about one malloc/new of 4 KiB or less in N:\n"
    "                           each on a page of its own between no-access\n"
    "                           pages, made no-access when freed: an overflow or\n"
    "                           use after free stops the program with its stacks\n"
    "                           (0 or unset: off; docs/security.md).\n"
    "  GOMEM_LIB=PATH           Read by gomem run: the libgomem.so to preload.\n"
    "\n"
    "FILES\n"
    "  PREFIX/lib/libgomem.so.0       the library (found next to bin/gomem)\n"
    "  PREFIX/lib/gomem-gc/libgc.so.1 Boehm GC's API on gomem (--libgc)\n"
    "  PREFIX/include/gomem/gomem.h   the C API; gomem.hpp the C++ one\n"
    "\n"
    "EXAMPLES\n"
    "  gomem run --stats -- python3 script.py\n"
    "  gomem run --stats-file /tmp/st --gctrace -- make -j8\n"
    "  GOGC=50 GOMEMLIMIT=1GiB gomem run -- ./server --port 8080\n"
    "  gomem run --heap-profile heap.pb.gz -- ./prog && go tool pprof -top heap.pb.gz\n"
    "  gomem run --libgc -- w3m -dump page.html\n"
    "  LD_PRELOAD=/usr/local/lib/libgomem.so GOMEM_STATS=1 prog   (no wrapper)\n"
    "\n"
    "SEE ALSO\n"
    "  README.md, docs/gc.md (roots, finalizers, signals), docs/libgc.md,\n"
    "  docs/benchmarks.md in gomem's sources.\n";

static void print_help(void) { printf("%s%s%s", kHelpHead, kRunOptions, kHelpTail); }

static void print_run_help(void) { printf("gomem run: run CMD on gomem\n\n%s\n%s", kUsage, kRunOptions); }

/* A usage error: the message, the usage, exit 2. */
__attribute__((noreturn)) static void usage_error(const char* fmt, const char* arg) {
  fputs("gomem: ", stderr);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n%sTry 'gomem --help' for more information.\n", kUsage);
  exit(kExitUsage);
}

/* Adds value to the variable name, before (first) or after what it holds,
 * with sep between; or sets it if it is unset or empty. */
static void setenv_add(const char* name, const char* value, char sep, int first) {
  const char* old = getenv(name);
  if (!old || !*old) {
    setenv(name, value, 1);
    return;
  }
  size_t n = strlen(old) + strlen(value) + 2;
  char* both = malloc(n);
  if (!both) return;
  snprintf(both, n, "%s%c%s", first ? value : old, sep, first ? old : value);
  setenv(name, both, 1);
  free(both);
}

static int find_lib(char* out, size_t n) {
  const char* env = getenv("GOMEM_LIB");
  if (env && *env) {
    snprintf(out, n, "%s", env);
    return access(out, R_OK) == 0;
  }
  char self[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len < 0) return 0;
  self[len] = 0;
  char* dir = dirname(self);
  const char* candidates[] = {"%s/libgomem.so.0", "%s/../lib/libgomem.so.0", "%s/../lib64/libgomem.so.0",
                              "%s/../lib/x86_64-linux-gnu/libgomem.so.0"};
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
static int use_libgc(const char* lib) {
  char dir[PATH_MAX], path[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", lib);
  char* libdir = dirname(dir);
  snprintf(path, sizeof path, "%s/gomem-gc/libgc.so.1", libdir);
  if (access(path, R_OK) != 0) {
    fprintf(stderr, "gomem: cannot find %s\n", path);
    return 0;
  }
  setenv_add("LD_LIBRARY_PATH", dirname(path), ':', /*first=*/1);
  return 1;
}

/* What `gomem run` was asked for. */
struct RunOptions {
  int stats, gctrace, libgc, malloc_too;
  const char *stats_file, *heap_profile, *profile_rate, *profile_every;
};

/* Sets name to path made absolute (CMD may change directory). */
static void setenv_path(const char* name, const char* path) {
  char abs[PATH_MAX + 1];
  char cwd[PATH_MAX];
  if (path[0] == '/' || !getcwd(cwd, sizeof cwd))
    snprintf(abs, sizeof abs, "%s", path);
  else
    snprintf(abs, sizeof abs, "%s/%s", cwd, path);
  setenv(name, abs, 1);
}

/* A decimal number of at most 19 digits, or a usage error naming option. */
static const char* number(const char* option, const char* v, int positive) {
  size_t n = strspn(v, "0123456789");
  if (n == 0 || v[n] || n > 19 || (positive && strspn(v, "0") == n)) {
    char what[128];
    snprintf(what, sizeof what, "%s wants %s, not '%%s'", option,
             positive ? "a whole number above 0" : "a whole number (0 or more)");
    usage_error(what, v);
  }
  return v;
}

/* The value of option argv[*i] ("--opt VALUE" or "--opt=VALUE") if argv[*i]
 * is that option, else NULL. */
static const char* option_value(const char* option, int argc, char** argv, int* i) {
  size_t n = strlen(option);
  if (strncmp(argv[*i], option, n) != 0) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n] != 0) return NULL;
  if (*i + 1 >= argc) usage_error("%s wants a value", option);
  return argv[++*i];
}

/* Reads run's options from argv[2]; returns the index of CMD. */
static int parse_run(int argc, char** argv, struct RunOptions* o) {
  int i = 2;
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *a = argv[i], *v;
    if (strcmp(a, "--") == 0) return i + 1;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      print_run_help();
      exit(0);
    }
    if (strcmp(a, "--stats") == 0)
      o->stats = 1;
    else if (strcmp(a, "--gctrace") == 0)
      o->gctrace = 1;
    else if (strcmp(a, "--libgc") == 0)
      o->libgc = 1;
    else if (strcmp(a, "--malloc") == 0)
      o->malloc_too = 1;
    else if ((v = option_value("--stats-file", argc, argv, &i)))
      o->stats_file = v;
    else if ((v = option_value("--heap-profile-every", argc, argv, &i)))
      o->profile_every = number("--heap-profile-every", v, 1);
    else if ((v = option_value("--heap-profile", argc, argv, &i)))
      o->heap_profile = v;
    else if ((v = option_value("--profile-rate", argc, argv, &i)))
      o->profile_rate = number("--profile-rate", v, 0);
    else
      usage_error("run: unknown option '%s'", a);
  }
  return i;
}

/* Checks the combination and sets the environment CMD will see. Returns
 * an exit status if gomem cannot go on, else 0. */
static int set_up(const struct RunOptions* o) {
  if (o->malloc_too && !o->libgc) usage_error("%s goes with --libgc (without it malloc is gomem's anyway)", "--malloc");
  if (o->stats && o->stats_file) usage_error("%s: choose one", "--stats and --stats-file");
  if (o->stats_file && !*o->stats_file) usage_error("%s wants a file name", "--stats-file");
  if (o->heap_profile && !*o->heap_profile) usage_error("%s wants a file name", "--heap-profile");
  char lib[PATH_MAX];
  if (!find_lib(lib, sizeof lib)) {
    fprintf(stderr, "gomem: cannot find libgomem.so (set GOMEM_LIB)\n");
    return kExitFailed;
  }
  if (o->libgc && !use_libgc(lib)) return kExitFailed;
  if (!o->libgc || o->malloc_too) setenv_add("LD_PRELOAD", lib, ':', /*first=*/1);  // before the user's: gomem's malloc
  if (o->stats) setenv("GOMEM_STATS", "1", 1);
  if (o->stats_file) setenv_path("GOMEM_STATS", o->stats_file);
  if (o->gctrace) setenv_add("GODEBUG", "gctrace=1", ',', /*first=*/0);  // later keys win, as in Go
  if (o->heap_profile) {
    setenv_path("GOMEM_HEAP_PROFILE", o->heap_profile);
    const char* rate = getenv("GOMEM_PROFILE_RATE");
    if (!rate || !*rate) setenv("GOMEM_PROFILE_RATE", DEFAULT_PROFILE_RATE, 1);
  }
  if (o->profile_rate) setenv("GOMEM_PROFILE_RATE", o->profile_rate, 1);
  if (o->profile_every) setenv("GOMEM_HEAP_PROFILE_EVERY_MB", o->profile_every, 1);
  return 0;
}

static int run(int argc, char** argv) {
  struct RunOptions o = {0};
  int cmd = parse_run(argc, argv, &o);
  if (cmd >= argc) usage_error("run: no command given%s", "");
  int status = set_up(&o);
  if (status) return status;
  execvp(argv[cmd], argv + cmd);
  int err = errno;
  fprintf(stderr, "gomem: cannot run %s: %s\n", argv[cmd], strerror(err));
  return err == ENOENT || err == ENOTDIR ? kExitNotFound : kExitCannotRun;
}

int main(int argc, char** argv) {
  if (argc < 2) usage_error("no command given (run, help or version)%s", "");
  const char* c = argv[1];
  if (strcmp(c, "run") == 0) return run(argc, argv);
  if (strcmp(c, "--version") == 0 || strcmp(c, "version") == 0) {
    char lib[PATH_MAX];
    printf("gomem %s\n", GOMEM_VERSION);
    printf("library: %s\n", find_lib(lib, sizeof lib) ? lib : "not found (set GOMEM_LIB)");
    return 0;
  }
  if (strcmp(c, "-h") == 0 || strcmp(c, "--help") == 0 || strcmp(c, "help") == 0) {
    if (argc > 2 && strcmp(argv[2], "run") == 0)
      print_run_help();
    else
      print_help();
    return 0;
  }
  usage_error(c[0] == '-' ? "unknown option '%s'" : "unknown command '%s'", c);
}
