/* Group 2: warnings and out-of-memory go through the program's callbacks,
 * not to standard error. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>

#include "compat_test.h"

static int warnings;
static char last_warning[1024];
static void warn_proc(char* msg, GC_word arg) {
  warnings++;
  snprintf(last_warning, sizeof last_warning, msg, arg);
}

static size_t oom_size;
static char oom_buffer[64];
static void* oom_fn(size_t n) {
  oom_size = n;
  return oom_buffer;
}

int main(void) {
  GC_INIT();
  CHECK(GC_get_warn_proc() != NULL);
  GC_set_warn_proc(warn_proc);
  CHECK(GC_get_warn_proc() == warn_proc);
  GC_set_oom_fn(oom_fn);
  CHECK(GC_get_oom_fn() == oom_fn);

  /* Standard error goes to a file that must stay empty. */
  char path[] = "/tmp/gomem_compat_warnXXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  int saved = dup(2);
  dup2(fd, 2);

  size_t huge = (size_t)1 << 50;
  /* Through volatile: the compiler may assume a malloc-like result never
   * equals another object's address. */
  volatile uintptr_t p = (uintptr_t)GC_MALLOC(huge);
  volatile uintptr_t q = (uintptr_t)GC_MALLOC_ATOMIC(huge);

  dup2(saved, 2);
  off_t len = lseek(fd, 0, SEEK_END);
  close(fd);
  unlink(path);
  CHECK(p == (uintptr_t)oom_buffer && q == (uintptr_t)oom_buffer);
  CHECK(oom_size == huge);
  CHECK(len == 0);
  CHECK(warnings >= 1);
  CHECK(strstr(last_warning, "GC Warning:") == last_warning);
  CHECK(strcasestr(last_warning, "out of memory") != NULL);

  GC_set_warn_proc(GC_ignore_warn_proc);
  GC_MALLOC(huge);
  printf("test_warn: ok\n");
  return 0;
}
