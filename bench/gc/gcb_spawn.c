/*
 * gcb_spawn: runs a program and reports its resource usage, for run.py.
 *
 *   gcb_spawn REPORT_FILE PROGRAM [ARGS...]
 *
 * Forks, execs PROGRAM, waits with wait4() and writes one line to
 * REPORT_FILE:  "wall_s=<s> user_s=<s> sys_s=<s> maxrss_kb=<KiB> status=<n>"
 * where status is the exit code, or 128+signal. Exits with the same status.
 *
 * Why not measure from Python directly: Linux keeps in ru_maxrss the high-water
 * RSS of the memory image a process had before exec, so a child forked from
 * the Python runner starts with the runner's RSS (~15 MB) as its floor. This
 * launcher is small, so the floor it passes on is ~1 MB.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: gcb_spawn REPORT_FILE PROGRAM [ARGS...]\n");
    return 127;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) {
    perror("gcb_spawn: fork");
    return 127;
  }
  if (pid == 0) {
    execvp(argv[2], argv + 2);
    fprintf(stderr, "gcb_spawn: exec %s: %s\n", argv[2], strerror(errno));
    _exit(127);
  }
  int st = 0;
  struct rusage ru;
  while (wait4(pid, &st, 0, &ru) < 0) {
    if (errno != EINTR) {
      perror("gcb_spawn: wait4");
      return 127;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  FILE *f = fopen(argv[1], "w");
  if (!f) {
    perror("gcb_spawn: report file");
    return 127;
  }
  fprintf(f, "wall_s=%.6f user_s=%.6f sys_s=%.6f maxrss_kb=%ld status=%d\n",
          (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
          (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
          (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss, status);
  fclose(f);
  return status;
}
