#include <pthread.h>
#include <signal.h>
#include <string.h>

#include <atomic>

#include "platform/thread.h"

namespace gomem {
namespace os {

namespace {
pthread_key_t g_exit_key;
std::atomic<void (*)(void*)> g_exit_fn{nullptr};
pthread_once_t g_exit_once = PTHREAD_ONCE_INIT;
bool g_exit_key_ok = false;

void exit_trampoline(void* arg) {
  if (auto fn = g_exit_fn.load(std::memory_order_acquire)) fn(arg);
}

void make_exit_key() { g_exit_key_ok = pthread_key_create(&g_exit_key, exit_trampoline) == 0; }
}  // namespace

bool set_thread_exit_value(void (*fn)(void*), void* arg) {
  g_exit_fn.store(fn, std::memory_order_release);
  pthread_once(&g_exit_once, make_exit_key);
  if (!g_exit_key_ok) return false;
  return pthread_setspecific(g_exit_key, arg) == 0;
}

void register_atfork(void (*prepare)(), void (*parent)(), void (*child)()) {
  pthread_atfork(prepare, parent, child);
}

bool current_stack_bounds(uintptr_t* lo, uintptr_t* hi) {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return false;
  void* addr = nullptr;
  size_t size = 0;
  int r = pthread_attr_getstack(&attr, &addr, &size);
  pthread_attr_destroy(&attr);
  if (r != 0 || !addr) return false;
  *lo = reinterpret_cast<uintptr_t>(addr);
  *hi = *lo + size;
  return true;
}

bool install_signal_handler(int sig, SignalHandler handler) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = reinterpret_cast<void (*)(int, siginfo_t*, void*)>(handler);
  sa.sa_flags = SA_RESTART | SA_SIGINFO;
  sigfillset(&sa.sa_mask);
  // Leave synchronous fault signals deliverable inside the handler.
  sigdelset(&sa.sa_mask, SIGSEGV);
  sigdelset(&sa.sa_mask, SIGBUS);
  sigdelset(&sa.sa_mask, SIGILL);
  sigdelset(&sa.sa_mask, SIGFPE);
  sigdelset(&sa.sa_mask, SIGABRT);
  return sigaction(sig, &sa, nullptr) == 0;
}

int signal_thread(uintptr_t h, int sig) { return pthread_kill(static_cast<pthread_t>(h), sig); }

uintptr_t pthread_handle() { return static_cast<uintptr_t>(pthread_self()); }

bool start_thread(void* (*fn)(void*), void* arg) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  // Block every signal in the helper so the world-stop signals and the
  // program's own signals never land on it.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  int r = pthread_create(&t, &attr, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  return r == 0;
}

}  // namespace os
}  // namespace gomem
