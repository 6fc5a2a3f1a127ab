// The guarded pool's reports (see guarded_report.h, heap/guarded.h).
//
// A fault in the pool: the SIGSEGV/SIGBUS handler, installed only when the
// pool is on, finds the slot the address belongs to (its page: a use after
// free; the guard page next to it: an overflow past its end or an
// underflow before its start, whichever object is nearer), prints
//
//   gomem: heap-buffer-overflow: access at 0x..., 3 bytes past the end of the 13-byte object 0x... (offset 16)
//     allocated by thread 1234:
//       #0 0x55... overflow_site+0x1c (/path/to/program)
//       ...
//
// (use-after-free adds "freed by thread N:" and that stack), then restores
// the default action and raises the signal again, so the process ends by
// the signal as it would have without gomem (a core dump where enabled).
// The hardened build installs the handler whether or not the pool is on,
// for the guard pages around large objects (heap/mheap.h): a fault in one
// prints
//
//   gomem: heap-buffer-overflow: access at 0x..., 0 bytes after the 40960-byte large object 0x... (a guard page)
//
// ("before" for the guard below it; "the freed ..." for a cached span),
// then ends the process the same way. That is all it knows: large objects
// keep no stacks.
// A fault anywhere else goes to the handler that was installed before
// (platform chain_fault), unchanged. A program that installs its own
// SIGSEGV handler later replaces this one (the interposed signal functions,
// override/signal_override.cc, handle masks only): its faults in the pool
// are then its own.
//
// The handler allocates nothing: the frames are named by a Symbols in
// memory mapped for the report (runtime/symbolize.h), the lines written
// from stack buffers. It reads the slot's records without a lock (the
// thread that faulted is the one using the object; another thread may be
// freeing it, and the report is then best effort).
#include "runtime/guarded_report.h"

#include <signal.h>

#include <cstring>

#include "base/fmt.h"
#include "heap/fault.h"
#include "heap/guarded.h"
#include "heap/heap.h"
#include "platform/os.h"
#include "platform/signals.h"
#include "platform/thread.h"
#include "runtime/malloc.h"
#include "runtime/symbolize.h"

namespace gomem {

namespace {

using guarded::Slot;

void put(const Buf& b) { os::write_stderr(b.str(), b.len()); }

// "  <what> by thread <tid>:" and one line per frame outside gomem.
void print_stack(Symbols* y, const char* what, int tid, const uintptr_t* pcs, int depth) {
  StackBuf<128> h;
  h.s("  ").s(what).s(" by thread ").i(tid).s(":\n");
  put(h);
  uint32_t n = static_cast<uint32_t>(depth);
  uint32_t first = y ? y->internal_depth(pcs, n) : 0;
  for (uint32_t i = first; i < n; i++) {
    StackBuf<1280> b;
    b.s("    #").u(i - first).s(" ").x(pcs[i]);
    Object* ob = nullptr;
    const Sym* sym = y ? y->symbol(pcs[i] - 1, &ob) : nullptr;
    if (sym) b.s(" ").s(sym->name).s("+").x(pcs[i] - sym->addr);
    if (ob) b.s(" (").s(ob->path).s(")");
    b.c('\n');
    put(b);
  }
}

// The slot's stacks: its allocation's, and its free's once freed; then the
// current one (a free found at fault), if given.
void print_stacks(const Slot* s, const char* now, const uintptr_t* pcs, int depth) {
  auto* y = static_cast<Symbols*>(linux_mem_os().alloc_meta(sizeof(Symbols)));
  if (y) {
    new (y) Symbols();
    y->load();
  }
  print_stack(y, "allocated", s->alloc_tid, s->alloc_pcs, s->alloc_depth);
  if (s->state.load(std::memory_order_acquire) == guarded::State::kFreed && s->free_depth)
    print_stack(y, "freed", s->free_tid, s->free_pcs, s->free_depth);
  if (now) print_stack(y, now, os::gettid(), pcs, depth);
  if (y) {
    y->free_all();
    linux_mem_os().release(y, sizeof(Symbols));
  }
}

// Where addr lies relative to s's object, as AddressSanitizer says it:
// "<n> bytes after the 13-byte object 0x...", "<n> bytes before ...",
// "offset <n> in ..." (with "freed" before the size once freed).
void where(Buf& b, const Slot* s, uintptr_t addr) {
  if (addr >= s->ptr + s->size)
    b.u(addr - (s->ptr + s->size)).s(" bytes after");
  else if (addr < s->ptr)
    b.u(s->ptr - addr).s(" bytes before");
  else
    b.s("offset ").u(addr - s->ptr).s(" in");
  bool freed = s->state.load(std::memory_order_acquire) != guarded::State::kLive;
  b.s(freed ? " the freed " : " the ").u(s->size).s("-byte object ").x(s->ptr);
}

// A fault in a guard page of large span s (heap/mheap.h).
void report_large_guard(const MSpan* s, uintptr_t addr) {
  uintptr_t obj = large_object(s), n = large_object_bytes(s);
  StackBuf<256> b;
  b.s("gomem: heap-buffer-overflow: access at ").x(addr).s(", ");
  if (addr < obj)
    b.u(obj - addr).s(" bytes before");
  else
    b.u(addr - (obj + n)).s(" bytes after");
  b.s(s->alloc_count.read_racy() == 0 ? " the freed " : " the ").u(n).s("-byte large object ").x(obj);
  b.s(" (a guard page)\n");
  put(b);
}

void on_fault(int sig, siginfo_t* info, void* uctx) {
  uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
  if (!guarded::contains(addr)) {
    const MSpan* s = large_guard_at(addr);
    if (!s) return os::chain_fault(sig, info, uctx);
    report_large_guard(s, addr);
    return os::raise_default(sig);
  }
  const Slot* s = guarded::slot_near(addr);
  StackBuf<512> b;
  if (!s) {
    b.s("gomem: wild access at ").x(addr).s(" in the guarded pool, near no object\n");
    put(b);
  } else {
    bool in_object_page = guarded::slot_of(addr) == s;
    bool freed = s->state.load(std::memory_order_acquire) != guarded::State::kLive;
    b.s(in_object_page && freed ? "gomem: use-after-free" : "gomem: heap-buffer-overflow").s(": access at ").x(addr);
    b.s(", ");
    where(b, s, addr);
    if (!in_object_page) b.s(" (offset ").i(static_cast<int64_t>(addr - s->ptr)).s(")");
    b.c('\n');
    put(b);
    print_stacks(s, nullptr, nullptr, 0);
  }
  os::raise_default(sig);
}

}  // namespace

void guarded_init(uint64_t rate) {
  if (rate != 0 && !guarded::init(rate)) {
    warn("GOMEM_GUARDED_SAMPLE_RATE: no memory for the guarded pool; sampling is off");
    rate = 0;
  }
  if ((rate != 0 || kLargeGuardPages != 0) && !os::install_fault_handlers(on_fault))
    warn("could not install the fault handler for guard pages");
}

GOMEM_NOINLINE void guarded_free(void* ptr) {
  uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
  Slot* s;
  uintptr_t bad = 0;
  guarded::FreeError e = guarded::begin_free(p, &s, &bad);
  if (GOMEM_LIKELY(e == guarded::FreeError::kOk)) return guarded::release(s);
  if (e == guarded::FreeError::kNotAnObject)
    fatal_fault(Fault::kInvalidFree, ptr, nullptr, "in the guarded pool, where no object starts");
  if (e == guarded::FreeError::kInterior) fatal_fault(Fault::kInteriorFree, ptr, nullptr, "inside a guarded object");
  StackBuf<512> b;
  if (e == guarded::FreeError::kDoubleFree) {
    b.s("gomem: double free of ").p(ptr).s(" (a guarded ").u(s->size).s("-byte object, already freed)\n");
  } else {
    b.s("gomem: heap-buffer-overflow of ").p(ptr).s(" found at its free: the byte at ").x(bad).s(", ");
    where(b, s, bad);
    b.s(", was written (")
        .s(e == guarded::FreeError::kOverflow ? "alignment slack after it" : "unused bytes before it");
    b.s(")\n");
  }
  put(b);
  uintptr_t pcs[guarded::kStackDepth];
  int n = prof::walk_stack(pcs, guarded::kStackDepth);
  print_stacks(s, e == guarded::FreeError::kDoubleFree ? "freed again" : "freed", pcs, n);
  os::abort_process();
}

void* guarded_realloc(void* ptr, size_t size) {
  size_t old;
  if (!guarded::live_size(reinterpret_cast<uintptr_t>(ptr), &old)) guarded_free(ptr);  // reports, aborts
  void* q = malloc_fast(size);
  if (!q) return nullptr;
  memcpy(q, ptr, size < old ? size : old);
  guarded_free(ptr);
  return q;
}

}  // namespace gomem
