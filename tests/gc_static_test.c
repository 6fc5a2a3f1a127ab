/*
 * A fully static executable (libgomem.a, libc.a): libc's signal-mask and
 * wait functions are weak aliases there, which gomem's interposers replace,
 * so dlsym finds no libc function to call and gomem uses its own system
 * calls (platform/signals.h). This program used to stop at start-up
 * ("gomem: libc's pthread_sigmask not found").
 *
 * Checked: every thread (more than cores) blocks every signal and still
 * answers the collector's stop signal while it allocates, collects and
 * keeps a list intact; each replacement does what libc's does (a blocked
 * SIGUSR1 is seen by sigtimedwait, sigwait and a signalfd; ppoll, pselect
 * and sigtimedwait time out; sigsuspend returns for a handled signal).
 * Exits 0 when all hold, else prints what failed and exits 1.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "gomem/gomem.h"

enum { kThreads = 6, kNodes = 2000, kRounds = 30 };

static int g_failures;
#define EXPECT(c)                                                     \
  do {                                                                \
    if (!(c)) {                                                       \
      fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #c); \
      __atomic_add_fetch(&g_failures, 1, __ATOMIC_RELAXED);           \
    }                                                                 \
  } while (0)

struct node {
  struct node* next;
  long value;
};

static void block_everything(void) {
  sigset_t all;
  sigfillset(&all);
  EXPECT(pthread_sigmask(SIG_BLOCK, &all, NULL) == 0);
}

/* A list of kNodes collected nodes, held only by this thread's stack. */
static void* worker(void* arg) {
  long seed = (long)(size_t)arg;
  block_everything();
  for (int round = 0; round < kRounds; round++) {
    struct node* head = NULL;
    for (long i = 0; i < kNodes; i++) {
      struct node* n = gomem_gc_alloc(sizeof *n);
      n->next = head;
      n->value = seed * 1000000 + i;
      head = n;
      if (i % 500 == 0) gomem_gc_collect();
    }
    long i = kNodes - 1, bad = 0;
    for (struct node* n = head; n; n = n->next, i--) bad += n->value != seed * 1000000 + i;
    EXPECT(bad == 0 && i == -1);
  }
  return NULL;
}

static volatile sig_atomic_t g_handled;
static void on_usr2(int sig) { g_handled = sig; }

static void check_waits(void) {
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  block_everything();
  struct timespec zero = {0, 0}, ms = {0, 1000000};
  siginfo_t info;
  EXPECT(sigtimedwait(&usr1, &info, &zero) == -1 && errno == EAGAIN);
  EXPECT(ppoll(NULL, 0, &ms, &usr1) == 0);
  EXPECT(pselect(0, NULL, NULL, NULL, &ms, &usr1) == 0);

  EXPECT(pthread_kill(pthread_self(), SIGUSR1) == 0);
  EXPECT(sigtimedwait(&usr1, &info, &zero) == SIGUSR1 && info.si_signo == SIGUSR1);
  EXPECT(pthread_kill(pthread_self(), SIGUSR1) == 0);
  int sig = 0;
  EXPECT(sigwait(&usr1, &sig) == 0 && sig == SIGUSR1);

  int fd = signalfd(-1, &usr1, SFD_CLOEXEC);
  EXPECT(fd >= 0);
  EXPECT(pthread_kill(pthread_self(), SIGUSR1) == 0);
  struct signalfd_siginfo si;
  EXPECT(read(fd, &si, sizeof si) == (ssize_t)sizeof si && si.ssi_signo == SIGUSR1);
  close(fd);

  /* sigsuspend with a mask that lets SIGUSR2 in returns once it is handled. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr2;
  sigaction(SIGUSR2, &sa, NULL);
  sigset_t old, all_but_usr2;
  EXPECT(sigprocmask(SIG_BLOCK, NULL, &old) == 0 && sigismember(&old, SIGUSR2) == 1);
  sigfillset(&all_but_usr2);
  sigdelset(&all_but_usr2, SIGUSR2);
  EXPECT(pthread_kill(pthread_self(), SIGUSR2) == 0);
  EXPECT(sigsuspend(&all_but_usr2) == -1 && errno == EINTR && g_handled == SIGUSR2);
}

int main(void) {
  gomem_gc_collect(); /* the collector in use: its stop signal is now kept out of masks */
  check_waits();
  pthread_t t[kThreads];
  for (long i = 0; i < kThreads; i++) EXPECT(pthread_create(&t[i], NULL, worker, (void*)(size_t)(i + 1)) == 0);
  for (int i = 0; i < kThreads; i++) pthread_join(t[i], NULL);
  gomem_gc_collect();
  if (g_failures) return 1;
  puts("static executable: signal functions and collections work");
  return 0;
}
