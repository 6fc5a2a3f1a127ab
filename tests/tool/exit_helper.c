/* A program for tests/tool/check.sh: it allocates, then leaves the way its
 * first argument says.
 *   _exit N       _exit(N): no atexit handlers, no destructors
 *   _Exit N       _Exit(N)
 *   reuse FILE    closes every descriptor from 3 to 255 and opens FILE on
 *                 each of them (as a program that tidies its descriptors and
 *                 then opens many files would), then returns from main: a
 *                 report must not land in FILE. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  char* volatile p = malloc(100);
  p[0] = 1;
  free(p);
  if (strcmp(argv[1], "_exit") == 0) _exit(atoi(argv[2]));
  if (strcmp(argv[1], "_Exit") == 0) _Exit(atoi(argv[2]));
  if (strcmp(argv[1], "reuse") != 0) return 2;
  for (int fd = 3; fd < 256; fd++) close(fd);
  int f = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (f < 0) return 3;
  for (int fd = 3; fd < 256; fd++)
    if (fd != f) dup2(f, fd);
  return 0;
}
