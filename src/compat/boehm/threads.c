// Boehm GC layer: threads and stacks (group 3).
//
// gomem finds a thread's stack and static TLS itself and registers a thread
// on its first collected allocation; what bdwgc asks of programs is mostly
// done already. The layer adds what bdwgc promises beyond that:
//   - GC_pthread_create registers the new thread before it runs the
//     program's function, so a thread that only holds collected pointers is
//     scanned from its first instruction. The start routine and its argument
//     travel in an uncollectable block, so an argument that is the only
//     pointer to a collected object keeps it alive until the thread's stack
//     holds it.
//   - GC_register_my_thread / GC_unregister_my_thread are gomem's, and
//     report GC_DUPLICATE for a thread the layer saw registered.
//   - GC_pthread_sigmask never blocks gomem's stop signal (SIGPWR, or
//     GOMEM_SIG_SUSPEND), as bdwgc's never blocks its own.
//   - GC_do_blocking and GC_call_with_gc_active call the function directly:
//     gomem stops a thread blocked in a system call with a signal like any
//     other, and scans its whole stack, which is bdwgc's guarantee and more.
//   - GC_set_stackbottom is accepted and ignored (gomem follows stack
//     switches declared through gomem_fiber_start_switch instead).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "compat.h"

// Nonzero once the calling thread was registered through the layer (or
// initialized it). Thread-local, written by its own thread only.
static __thread int t_registered;

void compat_mark_thread_registered(void) { t_registered = 1; }

void GC_allow_register_threads(void) { compat_init(); }
void GC_use_threads_discovery(void) {}
void GC_start_mark_threads(void) {}

int GC_register_my_thread(const struct GC_stack_base* sb) {
  (void)sb;
  if (t_registered) return GC_DUPLICATE;
  compat_init();  // may register this thread (the first to use the layer)
  if (!t_registered) {
    gomem_register_thread();
    t_registered = 1;
  }
  return GC_SUCCESS;
}

int GC_unregister_my_thread(void) {
  gomem_unregister_thread();
  t_registered = 0;
  return GC_SUCCESS;
}

int GC_thread_is_registered(void) { return t_registered; }

void GC_register_altstack(void* stack, GC_word stack_size, void* altstack, GC_word altstack_size) {
  (void)stack;
  (void)stack_size;
  (void)altstack;
  (void)altstack_size;
}

// The stop signal, as gomem chooses it (gomem.h: GOMEM_SIG_SUSPEND or
// SIGPWR). The restart signal is the same one: gomem parks threads in the
// handler without a second signal.
int GC_get_suspend_signal(void) {
  const char* env = getenv("GOMEM_SIG_SUSPEND");
  int sig = env ? atoi(env) : 0;
  return sig > 0 && sig < NSIG ? sig : SIGPWR;
}
int GC_get_thr_restart_signal(void) { return GC_get_suspend_signal(); }
void GC_set_suspend_signal(int sig) { (void)sig; }
void GC_set_thr_restart_signal(int sig) { (void)sig; }

// The stack of the calling thread: [stackaddr, stackaddr + size), whose top
// is bdwgc's "base" on a stack growing down.
int GC_get_stack_base(struct GC_stack_base* sb) {
  pthread_attr_t attr;
  void* addr;
  size_t size;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return GC_UNIMPLEMENTED;
  int r = pthread_attr_getstack(&attr, &addr, &size);
  pthread_attr_destroy(&attr);
  if (r != 0) return GC_UNIMPLEMENTED;
  sb->mem_base = (char*)addr + size;
  return GC_SUCCESS;
}

void* GC_call_with_stack_base(GC_stack_base_func fn, void* arg) {
  struct GC_stack_base sb;
  if (GC_get_stack_base(&sb) != GC_SUCCESS) sb.mem_base = __builtin_frame_address(0);
  return fn(&sb, arg);
}

void* GC_get_my_stackbottom(struct GC_stack_base* sb) {
  GC_get_stack_base(sb);
  return (void*)pthread_self();
}
void GC_set_stackbottom(void* handle, const struct GC_stack_base* sb) {
  (void)handle;
  (void)sb;
}

void* GC_do_blocking(GC_fn_type fn, void* cd) { return fn(cd); }
void* GC_call_with_gc_active(GC_fn_type fn, void* cd) { return fn(cd); }

// Stopping the world from outside: gomem's collector stops it only for its
// own phases; a program's request is accepted as a collection barrier.
void GC_stop_world_external(void) {}
void GC_start_world_external(void) {}

// What GC_pthread_create hands the new thread: uncollectable, so that arg
// (maybe the only pointer to a collected object) is seen until the thread
// has it on its stack.
struct start_info {
  void* (*fn)(void*);
  void* arg;
};

static void* start_thread(void* p) {
  struct start_info* si = p;
  gomem_register_thread();
  t_registered = 1;
  void* (*fn)(void*) = si->fn;
  void* arg = si->arg;
  si->arg = NULL;  // gomem scans free slots of uncollectable spans too
  gomem_free(si);
  return fn(arg);
}

int GC_pthread_create(pthread_t* t, const pthread_attr_t* attr, void* (*fn)(void*), void* arg) {
  compat_init();
  struct start_info* si = gomem_malloc_uncollectable(sizeof *si);
  if (!si) return EAGAIN;
  si->fn = fn;
  si->arg = arg;
  int r = pthread_create(t, attr, start_thread, si);
  if (r != 0) gomem_free(si);
  return r;
}

int GC_pthread_join(pthread_t t, void** ret) { return pthread_join(t, ret); }
int GC_pthread_detach(pthread_t t) { return pthread_detach(t); }
int GC_pthread_cancel(pthread_t t) { return pthread_cancel(t); }
void GC_pthread_exit(void* ret) { pthread_exit(ret); }

int GC_pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  if (!set || how == SIG_UNBLOCK) return pthread_sigmask(how, set, old);
  sigset_t s = *set;
  sigdelset(&s, GC_get_suspend_signal());
  return pthread_sigmask(how, &s, old);
}

void* GC_dlopen(const char* path, int mode) { return dlopen(path, mode); }
