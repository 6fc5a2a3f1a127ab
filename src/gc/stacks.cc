// The stacks and static TLS of a registered thread: which ranges are roots.
//
// A thread runs on its own stack (bounds from pthread at registration) or,
// once it declared a switch with gomem_fiber_start_switch and
// gomem_fiber_finish_switch, on a fiber's stack. For each registered thread
// the collector scans, conservatively:
//
//   - the stack it runs on, from where it stopped (its stack pointer less
//     the red zone) to the top;
//   - between start_switch and finish_switch, the same for the stack it is
//     switching to: the switch itself (swapcontext) happens somewhere in
//     between, so the stop stack pointer is in one of the two, and that
//     one is scanned from it;
//   - while it is away from its own stack: its own stack from the stack
//     pointer it left it at (saved by start_switch) to the top, since the
//     frames suspended there hold live pointers;
//   - stopped on none of its stacks (an alternate signal stack, or a fiber
//     it did not declare): the signal stack from the handler's frame, and
//     the whole mapped part of the declared stacks, since where the
//     interrupted code stood is unknown;
//   - its static TLS (platform: static_tls_bounds, at registration): the
//     __thread / thread_local variables of the modules loaded then.
//
// The stack of a suspended fiber (one no thread runs on) is not scanned: a
// program registers it with gomem_add_roots while it holds live pointers,
// as gomem.h says. A suspended context's registers are saved by
// swapcontext in its ucontext_t, which must lie in scanned memory.
//
// The fiber calls write the thread's own record; its stop handler may run
// between any two stores, so each store leaves a state the scan handles
// (signal fences keep the compiler from reordering them); the collector
// reads the record only while the thread is parked.
#include "gc/internal.h"
#include "platform/os.h"
#include "platform/thread.h"

namespace gomem {
namespace gc {

namespace {

// The lowest address from which [addr, hi) is entirely mapped (the main
// thread's stack only maps what it has grown into).
uintptr_t mapped_bottom(uintptr_t lo, uintptr_t hi) {
  uintptr_t good = hi;
  uintptr_t l = lo / os::kPhysPageSize, h = hi / os::kPhysPageSize;
  while (l < h) {
    uintptr_t mid = l + (h - l) / 2;
    if (os::is_mapped(mid * os::kPhysPageSize, hi - mid * os::kPhysPageSize)) {
      good = mid * os::kPhysPageSize;
      h = mid;
    } else {
      l = mid + 1;
    }
  }
  return good;
}

// The stacks the thread may be running on: one, or two while switching.
int current_stacks(const GCThread* t, StackRange out[2]) {
  out[0] = t->stacks[t->cur];
  if (!t->switching) return 1;
  out[1] = t->stacks[t->cur ^ 1];
  return 2;
}

void scan_from(Marker& m, uintptr_t sp, const StackRange& s) {
  if (s.holds(sp)) m.scan_range(sp, s.hi);
}

}  // namespace

uintptr_t stop_point(GCThread* t, uintptr_t sp) {
  StackRange s[2];
  int n = current_stacks(t, s);
  t->alt_sp = t->alt_hi = 0;
  for (int i = 0; i < n; i++)
    if (s[i].holds(sp)) return (sp > s[i].lo + os::kRedZone ? sp - os::kRedZone : s[i].lo) & ~uintptr_t{7};
  uintptr_t hi;
  uintptr_t here = os::current_sp();
  if (os::on_alt_stack(here, &hi)) {
    t->alt_sp = here & ~uintptr_t{7};
    t->alt_hi = hi;
  }
  return 0;
}

void scan_thread_stacks(Marker& m, const GCThread* t, uintptr_t sp) {
  m.note(RootKind::kStack, t->tid, sp);
  StackRange s[2];
  int n = current_stacks(t, s);
  for (int i = 0; i < n; i++) {
    if (sp)
      scan_from(m, sp, s[i]);
    else
      m.scan_range(mapped_bottom(s[i].lo, s[i].hi), s[i].hi);
  }
  if (t->alt_hi) m.scan_range(t->alt_sp, t->alt_hi);
  if (t->own_sp) scan_from(m, t->own_sp, t->own);
  m.note(RootKind::kTLS, t->tid);
  m.scan_range(t->tls.lo, t->tls.hi);
}

GOMEM_NOINLINE void fiber_start_switch(uintptr_t lo, uintptr_t hi) {
  GCThread* t = t_gcthread;
  if (!t) return;
  StackRange to = lo || hi ? StackRange{lo, hi} : t->own;
  bool to_own = to.lo == t->own.lo && to.hi == t->own.hi;
  if (!t->own_sp && !to_own) t->own_sp = os::current_sp() & ~uintptr_t{7};  // this frame and its callers stay
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t->switching = false;  // a start without a finish before: forget it
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t->stacks[t->cur ^ 1] = to;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t->switching = true;
}

void fiber_finish_switch() {
  GCThread* t = t_gcthread;
  if (!t || !t->switching) return;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t->cur ^= 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t->switching = false;
  const StackRange& now = t->stacks[t->cur];
  if (now.lo == t->own.lo && now.hi == t->own.hi) t->own_sp = 0;
}

}  // namespace gc
}  // namespace gomem
