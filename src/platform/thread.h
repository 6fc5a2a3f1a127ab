// Threads: identity, exit hooks, fork hooks, stacks and signals.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/compiler.h"

namespace gomem {
namespace os {

// A value unique to the calling thread among live threads, readable in one
// instruction: the thread pointer (the TCB address on x86-64 and AArch64
// glibc). Spans record their owner's key so that free() can tell "mine"
// from "someone else's" without touching thread-local storage.
GOMEM_INLINE uintptr_t thread_key() {
#if defined(__x86_64__)
  uintptr_t t;
  __asm__("mov %%fs:0, %0" : "=r"(t));
  return t;
#else
  return reinterpret_cast<uintptr_t>(__builtin_thread_pointer());
#endif
}

// Runs fn(arg) when the calling thread exits, where arg is the value last
// given to set_thread_exit_value (nothing runs while it is null). Backed by a
// pthread key created on first use.
bool set_thread_exit_value(void (*fn)(void*), void* arg);
// The C library runs key destructors in rounds at thread exit, another round
// only if a destructor set a key again, at most this many
// (PTHREAD_DESTRUCTOR_ITERATIONS).
constexpr int kThreadExitRounds = 4;

// Registers fork handlers (pthread_atfork).
void register_atfork(void (*prepare)(), void (*parent)(), void (*child)());

// Bounds of the calling thread's stack: [*lo, *hi). False if unknown.
bool current_stack_bounds(uintptr_t* lo, uintptr_t* hi);

// Bounds of the calling thread's static TLS, [*lo, *hi): the blocks of the
// modules loaded so far whose TLS the loader placed at a fixed offset from
// the thread pointer. False if unknown. Found as LLVM's sanitizers find it:
// dl_iterate_phdr gives each module's block for the calling thread
// (dlpi_tls_data) and its size (PT_TLS); module 1 is always static, and the
// loader packs static blocks next to each other (a gap smaller than the next
// block's alignment), so the run of neighbours around module 1 is the static
// area. Not among them: dynamic TLS of modules dlopen'ed with the general
// dynamic model (blocks glibc allocates with malloc when a thread first
// touches them). Same code on x86-64 (blocks below the thread pointer) and
// AArch64 (above it). Does not allocate.
bool static_tls_bounds(uintptr_t* lo, uintptr_t* hi);

// The stack pointer register: the lowest address of the caller's frame, so
// that the words below its frame address (on x86-64, the callers' values of
// registers the caller saved in its prologue) are included from here up.
GOMEM_INLINE uintptr_t current_sp() {
  uintptr_t sp;
#if defined(__x86_64__)
  __asm__ __volatile__("mov %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
  __asm__ __volatile__("mov %0, sp" : "=r"(sp));
#else
#error "gomem: current_sp has no port for this architecture"
#endif
  return sp;
}

// Signals used to stop the world. install_stop_handler installs handler for
// signal `sig` with SA_RESTART | SA_SIGINFO and every other signal blocked
// during it except `unblocked`.
using SignalHandler = void (*)(int, void* info, void* ucontext);
bool install_signal_handler(int sig, SignalHandler handler);
// Sends signal sig to the thread with pthread handle `thread`; 0 on success.
int signal_thread(uintptr_t pthread_handle, int sig);
// Sends signal sig to the thread with kernel id tid; 0 on success, ESRCH if
// it no longer exists (unlike pthread_kill, which succeeds for an exited,
// unjoined thread).
int signal_tid(int tid, int sig);
// The calling thread's alternate signal stack, if it is running on it:
// true and its top in *hi.
bool on_alt_stack(uintptr_t sp, uintptr_t* hi);
uintptr_t pthread_handle();

// Registers saved by the kernel for an interrupted thread: copies the
// general-purpose and the vector registers from a signal handler's ucontext
// into out (returns how many words) and returns the interrupted stack
// pointer in *sp. x86-64: 23 + 32 words, AArch64: 31 + 64.
size_t ucontext_registers(void* ucontext, uintptr_t* out, size_t max, uintptr_t* sp);
// Stores the caller's callee-saved registers into out (returns how many
// words: x86-64 6, AArch64 19), which must live until they have been
// scanned: values living only in registers are then found in memory.
size_t spill_registers(uintptr_t* out, size_t max);
constexpr size_t kMaxSavedRegisters = 96;
// Zeroes the vector registers a call may clobber (x86-64: xmm0-15; AArch64:
// v0-v7, v16-v31 and the upper halves of v8-v15). A new thread starts with
// its creator's, and the collector scans a stopped thread's
// (ucontext_registers): every thread calls this when it registers, and
// gomem's own registered threads again before they sleep, so that no stale
// pointer there keeps an object alive.
void clear_vector_registers();
// Zeroes the kDeadStackBytes below the caller's frame (the dead frames of
// the functions it called) and the general registers a call may clobber,
// for the same reason: a sleeping thread's stack is scanned from where it
// stopped, so a pointer its last work left there stays a root until
// overwritten. The stack must have that much room.
void clear_dead_stack();
constexpr size_t kDeadStackBytes = 16 * 1024;
// Bytes below the stack pointer that a leaf function may use without moving
// it (the SysV x86-64 red zone; AArch64 has none, and keeps the margin).
constexpr uintptr_t kRedZone = 128;

// Signals that mean a thread is going away under us.
int default_suspend_signal();

// Lets signal sig reach the calling thread (helpers start with every signal
// blocked).
void unblock_signal(int sig);

// Starts a detached helper thread running fn(arg); false on failure.
bool start_thread(void* (*fn)(void*), void* arg);

}  // namespace os
}  // namespace gomem
