// Registered threads and stopping the world.
//
// Stop: the collector bumps the stop generation and sends each registered
// thread the suspend signal (SIGPWR unless GOMEM_SIG_SUSPEND says otherwise,
// as Boehm GC's GC_SIG_SUSPEND). The handler copies the interrupted
// registers into the thread's record, records the stack pointer (less the
// red zone), counts itself parked and sleeps on a futex until the collector
// publishes the same generation as "started". A thread in a non-preemptible
// section only notes the request; it parks when it leaves the section
// (heap/preempt.h). The handler is installed with SA_RESTART and never
// allocates or locks.
//
// The registry lock is held by the collector from stop to start, so threads
// cannot register or leave mid-cycle; a thread blocked on it is still
// stopped by the signal like any other.
//
// A thread that blocks the signal cannot be stopped, so once the handler is
// installed the signal-mask functions keep it out of every mask a program
// sets or waits with (platform/signals.h, override/signal_override.cc). A
// thread can still block it behind their back, so no wait here is silent:
// every 100 ms the collector re-sends the signal to the threads that have
// not parked (a raw sigwait may have taken it), drops the records of
// threads that are gone (exited without unregistering, or whose tid now
// names a thread started at another time), and once the stop has waited
// GOMEM_STW_TIMEOUT_MS (1 s) it prints a line per late thread saying why,
// from /proc (the signal is blocked, or its scheduler state), then again at
// doubling intervals up to a minute, and goes on waiting: the thread may be
// a debugger's or may unblock the signal later, and marking without its
// stack would free what it holds.
//
// Thread exit. A thread is a root until it can no longer run program code:
// gomem's key destructor marks its record "exiting" in the last round
// (runtime/proc.cc) but leaves it registered, since the program's
// destructors that run after it in that round may hold collected pointers.
// After the last destructor glibc blocks every signal and the thread ends
// within microseconds, so a stop that finds an exiting thread not parked
// checks every millisecond (not every 100 ms) until it parks or is gone
// (tgkill: ESRCH). The record is dropped only then: its signal mask is no
// evidence (our own handler runs with the signal blocked before it parks,
// and qemu-user reports its host mask). Records of exiting threads that are
// gone are also pruned when threads register, so a program that starts
// many threads between collections does not pile them up.
#include <errno.h>

#include "base/fmt.h"
#include "gc/collector.h"
#include "gc/internal.h"
#include "heap/fault.h"
#include "heap/fixalloc.h"
#include "heap/heap.h"
#include "heap/preempt.h"
#include "platform/os.h"
#include "platform/signals.h"
#include "platform/thread.h"

namespace gomem {
namespace gc {

GOMEM_TLS GCThread* t_gcthread = nullptr;

namespace {

using ThreadList = IntrusiveList<GCThread, &GCThread::links>;

struct Registry {
  Mutex lock;
  ThreadList threads;
  FixAlloc alloc;
  bool alloc_ready = false;
  bool handler_installed = false;
  int sig = 0;
  uint32_t nexiting = 0;  // records marked exiting (mark_current_thread_exiting)
};
GOMEM_META constinit Registry g_reg;

GOMEM_META constinit std::atomic<uint32_t> g_stop_gen{0};   // bumped by each stop
GOMEM_META constinit std::atomic<uint32_t> g_start_gen{0};  // == g_stop_gen while the world runs
GOMEM_META constinit std::atomic<uint32_t> g_nparked{0};
GOMEM_META constinit std::atomic<bool> g_stopping{false};

// Per-thread saved registers (written by the thread itself when it parks).
struct SavedRegs {
  uintptr_t r[os::kMaxSavedRegisters];
  size_t n;
};
GOMEM_TLS SavedRegs* t_saved = nullptr;

GOMEM_NOINLINE void park(void* uctx) {
  GCThread* t = t_gcthread;
  uint32_t gen = g_stop_gen.load(std::memory_order_acquire);
  SavedRegs* r = t_saved;
  uintptr_t sp;
  if (uctx) {
    r->n = os::ucontext_registers(uctx, r->r, os::kMaxSavedRegisters, &sp);
  } else {
    r->n = os::spill_registers(r->r, os::kMaxSavedRegisters);
    sp = os::current_sp();
  }
  // The saved registers, alt_* and stop_sp reach the collector through the
  // release in the fetch_add below: it reads them only after its acquire
  // load of g_nparked counted this thread (every change of g_nparked after
  // the stop's reset is such a read-modify-write, so each thread's release
  // counts). Nothing here leans on x86's store ordering.
  t->stop_sp.store(stop_point(t, sp), std::memory_order_relaxed);
  t->parked_gen.store(gen, std::memory_order_release);
  g_nparked.fetch_add(1, std::memory_order_acq_rel);
  os::futex_wake(reinterpret_cast<volatile uint32_t*>(&g_nparked), 1);
  // Wait until the world is started again. "At least gen": a later stop can
  // interrupt this very wait (its signal parks the thread again, nested, and
  // returns only after that later start), after which start_gen is past gen.
  uint32_t v;
  while (static_cast<int32_t>((v = g_start_gen.load(std::memory_order_acquire)) - gen) < 0)
    os::futex_wait(reinterpret_cast<volatile uint32_t*>(&g_start_gen), v);
  t_preempt_pending = 0;
}

void suspend_handler(int, void*, void* uctx) {
  int saved_errno = errno;
  GCThread* t = t_gcthread;
  if (t && g_stopping.load(std::memory_order_acquire) &&
      t->parked_gen.load(std::memory_order_relaxed) != g_stop_gen.load(std::memory_order_acquire)) {
    if (t_nopreempt > 0)
      t_preempt_pending = 1;
    else
      park(uctx);
  }
  errno = saved_errno;
}

void park_pending() {
  if (!t_preempt_pending) return;
  GCThread* t = t_gcthread;
  if (t && g_stopping.load(std::memory_order_acquire) &&
      t->parked_gen.load(std::memory_order_relaxed) != g_stop_gen.load(std::memory_order_acquire)) {
    // Runs inside malloc, free and the collector's entry points, which must
    // leave errno alone (free never changes it); the futex wait may not.
    int saved_errno = errno;
    park(nullptr);
    errno = saved_errno;
  }
  t_preempt_pending = 0;
}

void install_handler_locked() {
  if (g_reg.handler_installed) return;
  g_reg.sig = g_gcsettings.sig_suspend ? g_gcsettings.sig_suspend : os::default_suspend_signal();
  if (!os::install_signal_handler(g_reg.sig, suspend_handler)) fatal("cannot install the world-stop signal handler");
  g_preempt_park = park_pending;
  g_reg.handler_installed = true;
  os::set_stop_signal(g_reg.sig);
}

// True if record t's thread no longer exists: no thread has its tid, or
// /proc says the one that has it is a zombie or started at another time
// (the tid was reused). /proc is believed only if it named the thread when
// it registered (t->start_time > 0): mounted from another PID namespace
// (unshare -p without a new /proc), it numbers threads differently, and a
// live thread would look gone.
bool thread_gone(const GCThread* t) {
  if (os::signal_tid(t->tid, 0) == ESRCH) return true;
  if (t->start_time <= 0) return false;
  int64_t start = os::thread_start_time(t->tid);
  return start == 0 || (start > 0 && start != t->start_time);
}

// Registry lock held: forgets record t, whose thread is gone or finished.
void drop_locked(GCThread* t) {
  if (t->exiting.load(std::memory_order_relaxed)) g_reg.nexiting--;
  g_reg.threads.remove(t);
  g_reg.alloc.free(t);
}

// Registry lock held: drops the records of exiting threads that are gone,
// once there are enough of them to matter.
void prune_exited_locked() {
  constexpr uint32_t kPruneAt = 32;
  if (g_reg.nexiting < kPruneAt) return;
  for (GCThread* t = g_reg.threads.front(); t;) {
    GCThread* next = ThreadList::next(t);
    if (t->exiting.load(std::memory_order_relaxed) && os::signal_tid(t->tid, 0) == ESRCH) drop_locked(t);
    t = next;
  }
}

// One line on standard error about a thread the world-stop is waiting for.
void report_late_thread(const GCThread* t, bool gone) {
  StackBuf<400> b;
  b.s("gomem: collection waiting for thread ").i(t->tid).s(" (pthread ").x(t->handle).s("): ");
  os::ThreadState st;
  if (gone) {
    b.s("thread is gone (exited without unregistering, or its tid was reused); dropped from the registry");
  } else if (!os::thread_state(t->tid, &st)) {
    b.s("not responding (its state cannot be read from /proc); still waiting");
  } else if (st.sigblk >> (g_reg.sig - 1) & 1) {
    b.s("suspend signal ").i(g_reg.sig).s(" is blocked (SigBlk: ").x(st.sigblk);
    b.s("; blocked outside pthread_sigmask, e.g. by a raw system call or a handler's sa_mask); still waiting");
  } else {
    b.s("not responding (State: ").s(st.state).s("); still waiting");
  }
  b.c('\n');
  os::write_stderr(b.str(), b.len());
}

// Waits until `expected` threads have parked for stop generation gen
// (see the header: bounded steps, re-sends, dropped records, reports).
void wait_parked(uint32_t gen, uint32_t expected) {
  constexpr int64_t kExitStepNs = 1000 * 1000;  // exiting threads (see the header)
  constexpr int64_t kStepNs = 100 * 1000 * 1000;
  constexpr int64_t kMaxReportGapNs = 60ll * 1000 * 1000 * 1000;
  GCThread* self = t_gcthread;
  int64_t now = os::nanotime();
  int64_t next_step = now + (g_reg.nexiting ? kExitStepNs : kStepNs);
  int64_t report_gap = int64_t{g_gcsettings.stw_timeout_ms} * 1000 * 1000;
  int64_t next_report = now + report_gap;
  for (;;) {
    uint32_t n = g_nparked.load(std::memory_order_acquire);
    if (n >= expected) return;
    now = os::nanotime();
    if (now < next_step) {
      os::futex_wait(reinterpret_cast<volatile uint32_t*>(&g_nparked), n, next_step - now);
      continue;
    }
    bool report = now >= next_report;
    bool exiting_late = false;
    for (GCThread* t = g_reg.threads.front(); t;) {
      GCThread* next = ThreadList::next(t);
      if (t != self && t->parked_gen.load(std::memory_order_acquire) != gen) {
        bool gone = thread_gone(t);
        if (report) report_late_thread(t, gone);
        if (gone) {
          drop_locked(t);
          expected--;
        } else {
          exiting_late |= t->exiting.load(std::memory_order_relaxed);
          os::signal_tid(t->tid, g_reg.sig);
        }
      }
      t = next;
    }
    if (report) {
      report_gap = report_gap * 2 < kMaxReportGapNs ? report_gap * 2 : kMaxReportGapNs;
      next_report = now + report_gap;
    }
    next_step = now + (exiting_late ? kExitStepNs : kStepNs);
  }
}

}  // namespace

bool register_current_thread() {
  if (t_gcthread) return true;
  uintptr_t lo = 0, hi = 0, tls_lo = 0, tls_hi = 0;
  if (!os::current_stack_bounds(&lo, &hi)) return false;  // may allocate: before the lock
  os::static_tls_bounds(&tls_lo, &tls_hi);                // the loader's lock: before ours too
  int tid = os::gettid();
  int64_t start_time = os::thread_start_time(tid);
  static_assert(sizeof(SavedRegs) + sizeof(GCThread) < 1024);
  MutexLock l(g_reg.lock);
  install_handler_locked();
  prune_exited_locked();
  if (!g_reg.alloc_ready) {
    g_reg.alloc.init(&g_heap.os(), sizeof(GCThread) + sizeof(SavedRegs), 64 * 1024);
    g_reg.alloc_ready = true;
  }
  void* mem = g_reg.alloc.alloc();
  if (!mem) return false;
  GCThread* t = new (mem) GCThread();
  t->handle = os::pthread_handle();
  t->own = t->stacks[0] = StackRange{lo, hi};
  t->tls = StackRange{tls_lo, tls_hi};
  t->tid = tid;
  t->start_time = start_time;
  t->parked_gen.store(g_stop_gen.load(std::memory_order_relaxed), std::memory_order_relaxed);
  t_saved = reinterpret_cast<SavedRegs*>(static_cast<char*>(mem) + sizeof(GCThread));
  g_reg.threads.push_back(t);
  t_gcthread = t;
  // A registered thread must be reachable by the world-stop signal.
  os::unblock_signal(g_reg.sig);
  // From now on its registers are roots: drop the vector registers it
  // inherited from the thread that created it (clone copies them). The
  // collector starts the finalizer runner and the sweeper with objects it
  // has just marked still in them, and any thread may idle for good without
  // overwriting them (gomem's own also clear them before each sleep).
  os::clear_vector_registers();
  return true;
}

void unregister_current_thread() {
  GCThread* t = t_gcthread;
  if (!t) return;
  MutexLock l(g_reg.lock);
  if (t->exiting.load(std::memory_order_relaxed)) g_reg.nexiting--;
  g_reg.threads.remove(t);
  t_gcthread = nullptr;
  t_saved = nullptr;
  t->~GCThread();
  g_reg.alloc.free(t);
}

void mark_current_thread_exiting() {
  GCThread* t = t_gcthread;
  if (!t || t->exiting.load(std::memory_order_relaxed)) return;
  MutexLock l(g_reg.lock);
  t->exiting.store(true, std::memory_order_release);
  g_reg.nexiting++;
}

void stop_the_world() {
  g_reg.lock.lock();
  uint32_t gen = g_stop_gen.load(std::memory_order_relaxed) + 1;
  g_nparked.store(0, std::memory_order_relaxed);
  g_stop_gen.store(gen, std::memory_order_release);
  g_stopping.store(true, std::memory_order_release);
  uint32_t expected = 0;
  GCThread* self = t_gcthread;
  for (GCThread* t = g_reg.threads.front(); t;) {
    GCThread* next = ThreadList::next(t);
    if (t != self) {
      if (os::signal_tid(t->tid, g_reg.sig) != ESRCH) {
        // Sent, or not yet: a real-time stop signal finds the queue full
        // (EAGAIN) while RLIMIT_SIGPENDING is used up; wait_parked re-sends.
        expected++;
      } else {
        // The thread is gone without unregistering (killed, or exited after
        // its destructors ran): it will never unregister, so drop it.
        drop_locked(t);
      }
    }
    t = next;
  }
  wait_parked(gen, expected);
}

void start_the_world() {
  g_stopping.store(false, std::memory_order_release);
  g_start_gen.store(g_stop_gen.load(std::memory_order_relaxed), std::memory_order_release);
  os::futex_wake(reinterpret_cast<volatile uint32_t*>(&g_start_gen), 1 << 30);
  g_reg.lock.unlock();
}

void scan_thread_roots(Marker& m) {
  GCThread* self = t_gcthread;
  for (GCThread* t = g_reg.threads.front(); t; t = ThreadList::next(t)) {
    if (t == self) continue;
    SavedRegs* r = reinterpret_cast<SavedRegs*>(reinterpret_cast<char*>(t) + sizeof(GCThread));
    m.note(RootKind::kRegisters, t->tid);
    m.scan_words(r->r, r->n);
    scan_thread_stacks(m, t, t->stop_sp.load(std::memory_order_acquire));
  }
}

void stw_fork_child() {
  g_reg.lock.reset();
  GCThread* self = t_gcthread;
  for (GCThread* t = g_reg.threads.front(); t;) {
    GCThread* next = ThreadList::next(t);
    if (t != self) drop_locked(t);
    t = next;
  }
  if (self) {
    self->handle = os::pthread_handle();
    self->tid = os::gettid();
    self->start_time = os::thread_start_time(self->tid);
  }
  g_stopping.store(false, std::memory_order_relaxed);
  g_start_gen.store(g_stop_gen.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

void stw_fork_prepare() { g_reg.lock.lock(); }
void stw_fork_parent() { g_reg.lock.unlock(); }

}  // namespace gc
}  // namespace gomem
