// The libc functions that set a thread's signal mask or wait with one,
// defined here so that the collector's stop signal stays deliverable (see
// platform/signals.h, and Boehm GC's GC_pthread_sigmask). Each calls libc's
// own function (found with dlsym RTLD_NEXT, so cancellation points stay
// cancellation points) with the stop signal taken out of the mask it is
// given; until the collector is in use the mask goes through untouched.
//
// Covered:
//   pthread_sigmask, sigprocmask   SIG_BLOCK and SIG_SETMASK never block it;
//                                  the old mask they report is the real one,
//                                  so the signal shows as unblocked there.
//   sigsuspend, ppoll, pselect,    the temporary mask leaves it deliverable:
//   epoll_pwait, epoll_pwait2      a collection during the wait returns EINTR,
//                                  as a signal the program catches would.
//   sigwait, sigwaitinfo,          it is never waited for, so never stolen from
//   sigtimedwait, signalfd         the collector (sigwait retries EINTR itself;
//                                  the other two return EINTR).
// Not covered: the sa_mask of sigaction (a program's handler that blocks for
// long with it), masks restored by siglongjmp, setcontext and swapcontext
// (saved from a mask that was filtered, unless saved before the collector
// was in use), the obsolete sighold/sigpause/sigblock/sigsetmask, and raw
// system calls. For those the collector names the thread and its blocked
// signals on standard error (gc/stw.cc).
//
// The real functions are looked up on first use and once more at load time
// (a constructor), so that a first call from a signal handler, where dlsym
// is not safe, does not happen in practice. A fully static executable has
// no libc function left to find (libc.a's are weak aliases, which these
// replace): there the platform's system calls stand in for them, without
// cancellation points (platform/signals.h).
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/signalfd.h>

#include <atomic>

#include "base/compiler.h"
#include "platform/signals.h"

using namespace gomem;

namespace {

// libc's definition of one function, looked up once; in a static
// executable, which has none to find, the platform's system-call version.
template <typename Fn>
class Real {
 public:
  constexpr Real(const char* name, Fn fallback) : name_(name), fallback_(fallback) {}
  Fn get() {
    void* f = fn_.load(std::memory_order_relaxed);
    if (GOMEM_UNLIKELY(!f)) {
      f = os::next_symbol(name_);
      if (!f) f = reinterpret_cast<void*>(fallback_);
      fn_.store(f, std::memory_order_relaxed);
    }
    return reinterpret_cast<Fn>(f);
  }

 private:
  const char* name_;
  Fn fallback_;
  std::atomic<void*> fn_{nullptr};  // written by whoever looks it up first; every lookup finds the same
};

// Their types, spelled out: decltype(&::sigwait) would carry libc's
// nonnull attributes, which a template argument drops with a warning.
using MaskFn = int (*)(int, const sigset_t*, sigset_t*);
using WaitFn = int (*)(const sigset_t*, int*);
using WaitInfoFn = int (*)(const sigset_t*, siginfo_t*);
using TimedWaitFn = int (*)(const sigset_t*, siginfo_t*, const struct timespec*);
using PpollFn = int (*)(struct pollfd*, nfds_t, const struct timespec*, const sigset_t*);
using PselectFn = int (*)(int, fd_set*, fd_set*, fd_set*, const struct timespec*, const sigset_t*);
using EpollPwaitFn = int (*)(int, struct epoll_event*, int, int, const sigset_t*);
using EpollPwait2Fn = int (*)(int, struct epoll_event*, int, const struct timespec*, const sigset_t*);

constinit Real<MaskFn> real_pthread_sigmask{"pthread_sigmask", os::raw::pthread_sigmask};
constinit Real<MaskFn> real_sigprocmask{"sigprocmask", os::raw::sigprocmask};
constinit Real<int (*)(const sigset_t*)> real_sigsuspend{"sigsuspend", os::raw::sigsuspend};
constinit Real<WaitFn> real_sigwait{"sigwait", os::raw::sigwait};
constinit Real<WaitInfoFn> real_sigwaitinfo{"sigwaitinfo", os::raw::sigwaitinfo};
constinit Real<TimedWaitFn> real_sigtimedwait{"sigtimedwait", os::raw::sigtimedwait};
constinit Real<PpollFn> real_ppoll{"ppoll", os::raw::ppoll};
constinit Real<PselectFn> real_pselect{"pselect", os::raw::pselect};
constinit Real<EpollPwaitFn> real_epoll_pwait{"epoll_pwait", os::raw::epoll_pwait};
constinit Real<EpollPwait2Fn> real_epoll_pwait2{"epoll_pwait2", os::raw::epoll_pwait2};
constinit Real<int (*)(int, const sigset_t*, int)> real_signalfd{"signalfd", os::raw::signalfd};

__attribute__((constructor)) void look_up_mask_functions() {
  real_pthread_sigmask.get();
  real_sigprocmask.get();
  real_sigsuspend.get();
  real_sigwait.get();
  real_sigwaitinfo.get();
  real_sigtimedwait.get();
  real_ppoll.get();
  real_pselect.get();
  real_epoll_pwait.get();
  real_signalfd.get();
  // epoll_pwait2 is newer (glibc 2.35): looked up when first called.
}

// The mask for a call that changes the thread's mask with `how`.
const sigset_t* mask_for(int how, const sigset_t* set, sigset_t* copy) {
  return how == SIG_UNBLOCK ? set : os::without_stop_signal(set, copy);
}

}  // namespace

namespace gomem {
// Referenced from malloc_override.cc, so that a static link which takes
// malloc from libgomem.a takes these functions too.
extern const char kSignalOverrideLinked = 1;
}  // namespace gomem

extern "C" {

GOMEM_EXPORT int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  sigset_t copy;
  return real_pthread_sigmask.get()(how, mask_for(how, set, &copy), old);
}

GOMEM_EXPORT int sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  sigset_t copy;
  return real_sigprocmask.get()(how, mask_for(how, set, &copy), old);
}

GOMEM_EXPORT int sigsuspend(const sigset_t* mask) {
  sigset_t copy;
  return real_sigsuspend.get()(os::without_stop_signal(mask, &copy));
}

GOMEM_EXPORT int sigwait(const sigset_t* set, int* sig) {
  sigset_t copy;
  return real_sigwait.get()(os::without_stop_signal(set, &copy), sig);
}

GOMEM_EXPORT int sigwaitinfo(const sigset_t* set, siginfo_t* info) {
  sigset_t copy;
  return real_sigwaitinfo.get()(os::without_stop_signal(set, &copy), info);
}

GOMEM_EXPORT int sigtimedwait(const sigset_t* set, siginfo_t* info, const struct timespec* timeout) {
  sigset_t copy;
  return real_sigtimedwait.get()(os::without_stop_signal(set, &copy), info, timeout);
}

GOMEM_EXPORT int ppoll(struct pollfd* fds, nfds_t n, const struct timespec* timeout, const sigset_t* mask) {
  sigset_t copy;
  return real_ppoll.get()(fds, n, timeout, os::without_stop_signal(mask, &copy));
}

GOMEM_EXPORT int pselect(int n, fd_set* r, fd_set* w, fd_set* e, const struct timespec* timeout, const sigset_t* mask) {
  sigset_t copy;
  return real_pselect.get()(n, r, w, e, timeout, os::without_stop_signal(mask, &copy));
}

GOMEM_EXPORT int epoll_pwait(int epfd, struct epoll_event* events, int max, int timeout, const sigset_t* mask) {
  sigset_t copy;
  return real_epoll_pwait.get()(epfd, events, max, timeout, os::without_stop_signal(mask, &copy));
}

GOMEM_EXPORT int epoll_pwait2(int epfd, struct epoll_event* events, int max, const struct timespec* timeout,
                              const sigset_t* mask) {
  sigset_t copy;
  return real_epoll_pwait2.get()(epfd, events, max, timeout, os::without_stop_signal(mask, &copy));
}

GOMEM_EXPORT int signalfd(int fd, const sigset_t* mask, int flags) {
  sigset_t copy;
  return real_signalfd.get()(fd, os::without_stop_signal(mask, &copy), flags);
}

}  // extern "C"
