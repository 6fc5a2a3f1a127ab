#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "base/fmt.h"
#include "platform/os.h"
#include "platform/signals.h"

namespace gomem {
namespace os {

namespace {

constinit std::atomic<int> g_stop_signal{0};

// The SIGSEGV and SIGBUS actions install_fault_handlers replaced: written
// once before its own handler is installed, read by chain_fault.
constinit struct sigaction g_prev_segv = {};
constinit struct sigaction g_prev_bus = {};

// Reads /proc/self/task/TID/<file> into buf (NUL-terminated): its length;
// 0 if the thread does not exist; -1 if the file cannot be read.
long read_task_file(int tid, const char* file, char* buf, size_t cap) {
  StackBuf<64> path;
  path.s("/proc/self/task/").i(tid).c('/').s(file);
  int fd = open(path.str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT || errno == ESRCH ? 0 : -1;
  size_t n = 0;
  while (n < cap - 1) {
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += static_cast<size_t>(r);
  }
  close(fd);
  buf[n] = 0;
  return n > 0 ? static_cast<long>(n) : -1;
}

// The value after `key` in a status file, or nullptr.
const char* field(const char* text, const char* key) {
  size_t klen = __builtin_strlen(key);
  for (const char* line = text; *line;) {
    if (__builtin_strncmp(line, key, klen) == 0) {
      const char* v = line + klen;
      while (*v == ' ' || *v == '\t') v++;
      return v;
    }
    while (*line && *line != '\n') line++;
    if (*line) line++;
  }
  return nullptr;
}

}  // namespace

void set_stop_signal(int sig) { g_stop_signal.store(sig, std::memory_order_release); }

int stop_signal() { return g_stop_signal.load(std::memory_order_acquire); }

const sigset_t* without_stop_signal(const sigset_t* set, sigset_t* copy) {
  int sig = stop_signal();
  if (!set || sig == 0 || sigismember(set, sig) != 1) return set;
  *copy = *set;
  sigdelset(copy, sig);
  return copy;
}

void* next_symbol(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (!f) {
    // Loaded after the C library (a dependency of libgc.so.1, say, not
    // preloaded): nothing follows this object in the lookup order, and the
    // program calls libc's functions, not these. Ask the C library itself.
    void* libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    if (libc) f = dlsym(libc, name);
  }
  return f;
}

namespace raw {
namespace {
// The kernel's sigset size (glibc's sigset_t is 128 bytes, the kernel's 8).
constexpr long kKernelSigsetBytes = _NSIG / 8;
// glibc's cancellation and setxid signals (SIGCANCEL and SIGSETXID, the
// first two real-time signals, which SIGRTMIN skips).
constexpr int kLibcInternalSignals[] = {32, 33};

}  // namespace

int sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  sigset_t copy;
  if (set && how != SIG_UNBLOCK) {
    copy = *set;
    for (int sig : kLibcInternalSignals) sigdelset(&copy, sig);
    set = &copy;
  }
  return static_cast<int>(syscall(SYS_rt_sigprocmask, how, set, old, kKernelSigsetBytes));
}

int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  return raw::sigprocmask(how, set, old) == 0 ? 0 : errno;
}

int sigsuspend(const sigset_t* mask) { return static_cast<int>(syscall(SYS_rt_sigsuspend, mask, kKernelSigsetBytes)); }

int sigtimedwait(const sigset_t* set, siginfo_t* info, const struct timespec* timeout) {
  return static_cast<int>(syscall(SYS_rt_sigtimedwait, set, info, timeout, kKernelSigsetBytes));
}

int sigwaitinfo(const sigset_t* set, siginfo_t* info) { return raw::sigtimedwait(set, info, nullptr); }

int sigwait(const sigset_t* set, int* sig) {
  int r;
  do r = raw::sigtimedwait(set, nullptr, nullptr);
  while (r < 0 && errno == EINTR);
  if (r < 0) return errno;
  *sig = r;
  return 0;
}

int ppoll(struct pollfd* fds, nfds_t n, const struct timespec* timeout, const sigset_t* mask) {
  struct timespec t, *tp = nullptr;  // the kernel writes back the time left: a copy, as libc's
  if (timeout) {
    t = *timeout;
    tp = &t;
  }
  return static_cast<int>(syscall(SYS_ppoll, fds, n, tp, mask, kKernelSigsetBytes));
}

int pselect(int n, fd_set* r, fd_set* w, fd_set* e, const struct timespec* timeout, const sigset_t* mask) {
  struct timespec t, *tp = nullptr;
  if (timeout) {
    t = *timeout;
    tp = &t;
  }
  struct {
    const sigset_t* set;
    long bytes;
  } m = {mask, kKernelSigsetBytes};
  return static_cast<int>(syscall(SYS_pselect6, n, r, w, e, tp, &m));
}

int epoll_pwait(int epfd, struct epoll_event* events, int max, int timeout, const sigset_t* mask) {
  return static_cast<int>(syscall(SYS_epoll_pwait, epfd, events, max, timeout, mask, kKernelSigsetBytes));
}

int epoll_pwait2(int epfd, struct epoll_event* events, int max, const struct timespec* timeout, const sigset_t* mask) {
  return static_cast<int>(syscall(SYS_epoll_pwait2, epfd, events, max, timeout, mask, kKernelSigsetBytes));
}

int signalfd(int fd, const sigset_t* mask, int flags) {
  return static_cast<int>(syscall(SYS_signalfd4, fd, mask, kKernelSigsetBytes, flags));
}
}  // namespace raw

int64_t thread_start_time(int tid) {
  char buf[1024];
  long n = read_task_file(tid, "stat", buf, sizeof buf);
  if (n <= 0) return n;
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
  // the fields are counted from the last ')'.
  const char* s = buf + n;
  while (s > buf && *s != ')') s--;
  if (*s != ')') return -1;
  s++;
  while (*s == ' ') s++;
  if (*s == 'Z' || *s == 'X') return 0;  // exited; its tid is not free yet
  for (int f = 3; f < 22 && *s; f++) {   // s is at field f
    while (*s && *s != ' ') s++;
    while (*s == ' ') s++;
  }
  int64_t v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
  return v > 0 ? v : -1;
}

bool thread_state(int tid, ThreadState* out) {
  char buf[4096];
  if (read_task_file(tid, "status", buf, sizeof buf) <= 0) return false;
  const char* st = field(buf, "State:");
  const char* blk = field(buf, "SigBlk:");
  if (!st || !blk) return false;
  size_t i = 0;
  while (st[i] && st[i] != '\n' && i < sizeof out->state - 1) {
    out->state[i] = st[i];
    i++;
  }
  out->state[i] = 0;
  out->sigblk = 0;
  for (; *blk && *blk != '\n'; blk++) {
    int d = *blk >= '0' && *blk <= '9' ? *blk - '0' : *blk >= 'a' && *blk <= 'f' ? *blk - 'a' + 10 : -1;
    if (d < 0) break;
    out->sigblk = out->sigblk << 4 | static_cast<uint64_t>(d);
  }
  return true;
}

bool install_fault_handlers(FaultAction fn) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = fn;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  return sigaction(SIGSEGV, &sa, &g_prev_segv) == 0 && sigaction(SIGBUS, &sa, &g_prev_bus) == 0;
}

void chain_fault(int sig, siginfo_t* info, void* uctx) {
  const struct sigaction& prev = sig == SIGBUS ? g_prev_bus : g_prev_segv;
  if (prev.sa_flags & SA_SIGINFO) return prev.sa_sigaction(sig, info, uctx);
  if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) return prev.sa_handler(sig);
  signal(sig, SIG_DFL);
}

void raise_default(int sig) {
  signal(sig, SIG_DFL);
  syscall(SYS_tgkill, getpid(), gettid(), sig);
}

}  // namespace os
}  // namespace gomem
