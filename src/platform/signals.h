// Signal masks and thread state, for the world-stop signal.
//
// The collector stops a registered thread with a signal (gc/stw.cc), so a
// thread that blocks that signal, or waits for it with sigwait, would stop
// every collection. Boehm GC's answer, taken here: once the collector is in
// use (set_stop_signal), the libc functions that set or wait with a signal
// mask are interposed (override/signal_override.cc) and call libc's own with
// the stop signal taken out of the mask. Until then they pass every mask
// through untouched, so a program that never collects sees libc unchanged.
//
// A thread can still block the signal behind the interposers' back (a raw
// rt_sigprocmask system call, a handler whose sa_mask holds it), so the
// collector also reads the thread's state from /proc to say why it waits.
// These readers use a buffer on the stack and never allocate: they run with
// the world half stopped.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include <cstdint>

namespace gomem {
namespace os {

// The signal the interposers keep out of masks: 0 until the collector
// installs its handler, then its stop signal. Written once, read anywhere.
void set_stop_signal(int sig);
int stop_signal();

// The mask a program asked for, minus the stop signal: set itself when
// there is nothing to take out, else a copy in *copy.
const sigset_t* without_stop_signal(const sigset_t* set, sigset_t* copy);

// libc's definition of `name`, the one after this object's in the lookup
// order (dlsym RTLD_NEXT), or the C library's own when this object comes
// after it (loaded as a dependency, not preloaded); nullptr when there is
// none: a fully static executable, whose libc.a definitions are weak aliases
// that this object's own replace (then the callers use the system-call
// versions below). dlsym does not allocate when it finds the symbol.
void* next_symbol(const char* name);

// The same functions as system calls, for a static executable: what libc
// does minus cancellation (a thread cancelled while it waits in one of these
// is cancelled at the next cancellation point instead). The mask changes
// keep libc's two internal signals (cancellation, setxid) unblocked, as
// libc's own do.
namespace raw {
int pthread_sigmask(int how, const sigset_t* set, sigset_t* old);  // an error number
int sigprocmask(int how, const sigset_t* set, sigset_t* old);      // -1 and errno
int sigsuspend(const sigset_t* mask);
int sigwait(const sigset_t* set, int* sig);  // an error number
int sigwaitinfo(const sigset_t* set, siginfo_t* info);
int sigtimedwait(const sigset_t* set, siginfo_t* info, const struct timespec* timeout);
int ppoll(struct pollfd* fds, nfds_t n, const struct timespec* timeout, const sigset_t* mask);
int pselect(int n, fd_set* r, fd_set* w, fd_set* e, const struct timespec* timeout, const sigset_t* mask);
int epoll_pwait(int epfd, struct epoll_event* events, int max, int timeout, const sigset_t* mask);
int epoll_pwait2(int epfd, struct epoll_event* events, int max, const struct timespec* timeout, const sigset_t* mask);
int signalfd(int fd, const sigset_t* mask, int flags);
}  // namespace raw

// Synchronous faults, for the guarded pool's report (heap/guarded.h,
// runtime/guarded_report.cc). install_fault_handlers installs fn for SIGSEGV
// and SIGBUS (SA_SIGINFO | SA_ONSTACK, so a thread with an alternate signal
// stack reports a stack overflow there) and keeps the actions it replaced.
// Nothing here allocates.
using FaultAction = void (*)(int sig, siginfo_t* info, void* uctx);
bool install_fault_handlers(FaultAction fn);
// Hands a fault on to the action install_fault_handlers replaced: calls its
// handler; for SIG_DFL or SIG_IGN, which cannot ignore a fault, restores the
// default action so that the faulting access, run again when the handler
// returns, ends the process as it would have without gomem.
void chain_fault(int sig, siginfo_t* info, void* uctx);
// Restores sig's default action and raises it on the calling thread: from
// a handler that blocks sig, it arrives when the handler returns.
void raise_default(int sig);

// Start time of thread tid of this process, in clock ticks since boot
// (field 22 of /proc/self/task/TID/stat), which tells a thread from a later
// one given the same tid: > 0 for a live thread; 0 if there is no such
// thread or it is a zombie; -1 if it cannot be read (no /proc, no descriptor
// left).
int64_t thread_start_time(int tid);

// What /proc/self/task/TID/status says of a thread: its State line
// ("S (sleeping)") and its blocked signals (SigBlk, bit sig-1). False if it
// cannot be read.
struct ThreadState {
  char state[32];
  uint64_t sigblk;
};
bool thread_state(int tid, ThreadState* out);

}  // namespace os
}  // namespace gomem
