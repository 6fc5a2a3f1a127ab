/*
 * rss_sample: runs a command and samples its resident memory from outside.
 *
 *   rss_sample [-i MS] [-l MS] [-t S] [-E NAME=VALUE]... -o SAMPLES.csv -- command [args...]
 *
 * Every -i milliseconds (default 10, on an absolute CLOCK_MONOTONIC schedule)
 * it reads /proc/<pid>/statm (the kernel's RSS counters: cheap, no page-table
 * walk, no mmap lock) and the live heap and phase the command publishes in
 * the page of rss_shared.h, and writes one CSV row:
 *   t,rss_kb,anon_kb,live_kb,phase,lazyfree_kb
 * t is CLOCK_MONOTONIC in seconds (the clock of the workload's timeline);
 * rss_kb is the resident set (anonymous + file + shmem pages), anon_kb its
 * anonymous part (rss minus statm's "shared"). With -l MS (default 0 =
 * never) it also reads LazyFree from /proc/<pid>/smaps_rollup every MS
 * milliseconds: pages an allocator gave back with MADV_FREE, which stay
 * counted in RSS until the kernel needs them (the column repeats the last
 * reading in between). Reading that file walks the command's page tables
 * under its mmap lock: with a 1 GiB heap it delays samples by up to ~0.2 s
 * and can stall the command's mmap/munmap, hence off by default.
 *
 * -E NAME=VALUE sets a variable in the command's environment only (e.g.
 * LD_PRELOAD, which must not apply to the sampler itself).
 *
 * Sampling starts once the command has written the magic of rss_shared.h
 * (before that, /proc/<pid> may still be the forked copy of this program)
 * and stops when it exits. The memory of the shared page is a memfd whose
 * descriptor is passed in RSS_LIVE_FD; a command that ignores it is sampled
 * all the same, with live_kb 0 and phase -1.
 *
 * The command's stdout and stderr are left alone. When it has exited, one
 * line goes to stdout:
 *   sampler_wall_s=.. sampler_t0=.. sampler_exit=.. sampler_signal=..
 *   sampler_user_s=.. sampler_sys_s=.. sampler_samples=.. sampler_max_gap_ms=..
 * (wall time from fork to reap; t0 = the CLOCK_MONOTONIC time of the fork;
 * max_gap = the longest interval between two samples.) The exit status is the
 * command's, or 128 + the signal that killed it; -t S kills it (SIGKILL)
 * after S seconds, status 124. Status 125 is an error of rss_sample itself.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "rss_shared.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void usage(void) {
  fprintf(stderr, "usage: rss_sample [-i MS] [-l MS] [-t S] [-E NAME=VALUE]... -o SAMPLES.csv "
                  "-- command [args...]\n");
  exit(125);
}

/* Reads a whole small /proc file into buf (NUL-terminated); -1 on error. */
static ssize_t read_proc(int fd, char *buf, size_t n) {
  ssize_t got = pread(fd, buf, n - 1, 0);
  if (got < 0) return -1;
  buf[got] = 0;
  return got;
}

int main(int argc, char **argv) {
  long interval_ms = 10, lazy_ms = 0;
  char *cmd_env[64];
  int n_env = 0;
  double timeout_s = 0;
  const char *out = NULL;
  int opt;
  while ((opt = getopt(argc, argv, "+i:l:t:o:E:h")) != -1) {
    switch (opt) {
      case 'E':
        if (!strchr(optarg, '=') || n_env == 64) usage();
        cmd_env[n_env++] = optarg;
        break;
      case 'i': interval_ms = atol(optarg); break;
      case 'l': lazy_ms = atol(optarg); break;
      case 't': timeout_s = atof(optarg); break;
      case 'o': out = optarg; break;
      default: usage();
    }
  }
  if (!out || optind >= argc || interval_ms < 1) usage();
  char **cmd = argv + optind;

  FILE *f = fopen(out, "w");
  if (!f) {
    fprintf(stderr, "rss_sample: %s: %s\n", out, strerror(errno));
    return 125;
  }
  static char fbuf[1 << 16];
  setvbuf(f, fbuf, _IOFBF, sizeof fbuf);
  fprintf(f, "t,rss_kb,anon_kb,live_kb,phase,lazyfree_kb\n");

  int mfd = memfd_create("rss_live", 0); /* inherited across exec */
  if (mfd < 0 || ftruncate(mfd, sizeof(struct rss_shared)) != 0) {
    fprintf(stderr, "rss_sample: memfd: %s\n", strerror(errno));
    return 125;
  }
  volatile struct rss_shared *shm = (volatile struct rss_shared *)mmap(
      NULL, sizeof(struct rss_shared), PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  if ((void *)shm == MAP_FAILED) {
    fprintf(stderr, "rss_sample: mmap: %s\n", strerror(errno));
    return 125;
  }
  char fdnum[16];
  snprintf(fdnum, sizeof fdnum, "%d", mfd);
  setenv(RSS_LIVE_FD_ENV, fdnum, 1);
  long page_kb = sysconf(_SC_PAGESIZE) / 1024;

  /* SIGCHLD is blocked and waited for with sigtimedwait between ticks, so
   * the end of the command is seen at once (wall time to the microsecond). */
  sigset_t chld, old;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &old);

  fflush(stdout);
  long long t0 = now_ns();
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "rss_sample: fork: %s\n", strerror(errno));
    return 125;
  }
  if (pid == 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    for (int i = 0; i < n_env; i++) putenv(cmd_env[i]);
    execvp(cmd[0], cmd);
    fprintf(stderr, "rss_sample: %s: %s\n", cmd[0], strerror(errno));
    _exit(127);
  }
  close(mfd);

  int statm = -1, rollup = -1;
  char path[64], buf[4096];
  long long next = t0, last_sample = 0, max_gap = 0, last_lazy = 0;
  long long deadline = timeout_s > 0 ? t0 + (long long)(timeout_s * 1e9) : 0;
  long samples = 0, lazy_kb = 0;
  int status = 0, timed_out = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  for (;;) {
    pid_t r = wait4(pid, &status, WNOHANG, &ru);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      fprintf(stderr, "rss_sample: wait4: %s\n", strerror(errno));
      return 125;
    }
    long long t = now_ns();
    if (deadline && t > deadline && !timed_out) {
      kill(pid, SIGKILL);
      timed_out = 1;
    }
    if (statm < 0 && __atomic_load_n(&shm->magic, __ATOMIC_ACQUIRE) == RSS_SHARED_MAGIC) {
      snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
      statm = open(path, O_RDONLY | O_CLOEXEC);
      snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
      if (lazy_ms > 0) rollup = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (statm >= 0) {
      long size = 0, resident = 0, shared = 0;
      if (lazy_ms > 0 && rollup >= 0 && (last_lazy == 0 || t - last_lazy >= lazy_ms * 1000000LL)) {
        last_lazy = t;
        if (read_proc(rollup, buf, sizeof buf) > 0) {
          char *p = strstr(buf, "\nLazyFree:");
          if (p) lazy_kb = strtol(p + 10, NULL, 10);
        }
      }
      long long ts = now_ns();
      int64_t live = rss_live_sum(shm);
      int64_t phase = __atomic_load_n(&shm->phase, __ATOMIC_ACQUIRE);
      if (read_proc(statm, buf, sizeof buf) > 0 &&
          sscanf(buf, "%ld %ld %ld", &size, &resident, &shared) == 3 && resident > 0) {
        fprintf(f, "%.6f,%ld,%ld,%lld,%lld,%ld\n", (double)ts * 1e-9, resident * page_kb,
                (resident - shared) * page_kb, (long long)(live / 1024), (long long)phase,
                lazy_kb);
        if (last_sample && ts - last_sample > max_gap) max_gap = ts - last_sample;
        last_sample = ts;
        samples++;
      }
    }
    /* The next tick on the absolute schedule; skip ticks that are past. */
    next += interval_ms * 1000000LL;
    long long tn = now_ns();
    if (next < tn) next = tn + interval_ms * 1000000LL - (tn - next) % (interval_ms * 1000000LL);
    long long rel = next - now_ns();
    if (rel > 0) {
      struct timespec sl = {(time_t)(rel / 1000000000LL), (long)(rel % 1000000000LL)};
      sigtimedwait(&chld, NULL, &sl); /* SIGCHLD, a timeout or EINTR: all fine */
    }
  }
  long long t1 = now_ns();
  if (fclose(f) != 0) {
    fprintf(stderr, "rss_sample: writing %s: %s\n", out, strerror(errno));
    return 125;
  }
  int code = 0, sig = 0;
  if (WIFEXITED(status)) code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) sig = WTERMSIG(status), code = 128 + sig;
  if (timed_out) code = 124;
  printf("sampler_wall_s=%.4f sampler_t0=%.6f sampler_exit=%d sampler_signal=%d "
         "sampler_timeout=%d sampler_user_s=%.3f sampler_sys_s=%.3f sampler_samples=%ld "
         "sampler_max_gap_ms=%.1f\n",
         (double)(t1 - t0) * 1e-9, (double)t0 * 1e-9, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
         sig, timed_out, (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6,
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6, samples, (double)max_gap * 1e-6);
  fflush(stdout);
  return code;
}
