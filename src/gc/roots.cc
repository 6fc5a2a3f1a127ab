// Roots: what the collector scans before it follows pointers.
//
//   - the writable data of every loaded object (dl_iterate_phdr, gathered
//     again each cycle before the world stops, so dlopen'ed libraries
//     count), minus gomem's own metadata sections;
//   - ranges added with gomem_add_roots;
//   - every uncollectable block;
//   - the referents of objects with finalizers (minus self pointers for
//     ignore-self ones, none for no-order ones), the arguments of
//     finalizers and cleanups, weak handles, and queued finalizers and
//     cleanups (finalizer.cc);
//   - the stacks, static TLS and saved registers of registered threads
//     (stw.cc, stacks.cc), and the collector's own;
//   - what root callbacks (gomem_gc_add_root_fn) name.
#include <link.h>

#include <cstring>

#include "base/fmt.h"
#include "gc/internal.h"
#include "heap/fault.h"
#include "heap/preempt.h"
#include "platform/os.h"
#include "platform/thread.h"

// Bounds of gomem's metadata sections, defined by the linker.
extern "C" char __start_gomem_meta[] __attribute__((weak, visibility("hidden")));
extern "C" char __stop_gomem_meta[] __attribute__((weak, visibility("hidden")));
extern "C" char __start_gomem_meta_bss[] __attribute__((weak, visibility("hidden")));
extern "C" char __stop_gomem_meta_bss[] __attribute__((weak, visibility("hidden")));

namespace gomem {
namespace gc {

namespace {

struct Range {
  uintptr_t lo, hi;
  const char* name;  // data segments: the module's path (the loader's string); else nullptr
};

// A growable array of ranges in metadata memory (never malloc).
struct RangeVec {
  Range* v = nullptr;
  size_t n = 0;
  size_t cap = 0;
  bool push(Range r) {
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 256;
      auto* nv = static_cast<Range*>(g_heap.os().alloc_meta(ncap * sizeof(Range)));
      if (!nv) return false;
      if (v) {
        memcpy(nv, v, n * sizeof(Range));
        g_heap.os().release(v, cap * sizeof(Range));
      }
      v = nv;
      cap = ncap;
    }
    v[n++] = r;
    return true;
  }
};

struct Roots {
  Mutex lock;  // user ranges; taken inside non-preemptible sections only
  RangeVec user;
  RangeVec segs;   // data segments, gathered before each stop (collector only)
  RangeVec usnap;  // snapshot of user ranges for the current cycle
};
GOMEM_META constinit Roots g_roots;

// Adds [lo, hi) of the module `name` to segs minus the metadata sections.
void add_segment(uintptr_t lo, uintptr_t hi, const char* name) {
  Range ex[2] = {
      {reinterpret_cast<uintptr_t>(__start_gomem_meta), reinterpret_cast<uintptr_t>(__stop_gomem_meta), nullptr},
      {reinterpret_cast<uintptr_t>(__start_gomem_meta_bss), reinterpret_cast<uintptr_t>(__stop_gomem_meta_bss),
       nullptr}};
  if (ex[0].lo > ex[1].lo) {
    Range t = ex[0];
    ex[0] = ex[1];
    ex[1] = t;
  }
  for (const Range& e : ex) {
    if (!e.lo || e.hi <= lo || e.lo >= hi) continue;
    if (e.lo > lo) g_roots.segs.push({lo, e.lo, name});
    lo = e.hi;
  }
  if (hi > lo) g_roots.segs.push({lo, hi, name});
}

int phdr_callback(struct dl_phdr_info* info, size_t, void*) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_W)) continue;
    uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    add_segment(lo, lo + ph.p_memsz, info->dlpi_name);
  }
  return 0;
}

// Adds user range r to the snapshot, less any page that is no longer
// readable (the program unmapped or protected it without
// gomem_remove_roots): those are dropped with one warning naming the range,
// instead of a fault with the world stopped. True if r was trimmed.
bool snapshot_user_range(Range r) {
  size_t ok = os::readable_prefix(r.lo, r.hi - r.lo);
  if (ok == r.hi - r.lo) {
    g_roots.usnap.push(r);
    return false;
  }
  StackBuf<256> b;
  b.s("root range [").x(r.lo).s(", ").x(r.hi).s(") is no longer mapped readable from ").x(r.lo + ok);
  b.s(": its unreadable pages are dropped (call gomem_remove_roots before unmapping)");
  warn(b.str());
  uintptr_t a = r.lo;
  while (a < r.hi) {
    if (ok) g_roots.usnap.push({a, a + ok});
    a += ok;
    while (a < r.hi && os::readable_prefix(a, 1) == 0) a = (a & ~uintptr_t{os::kPhysPageSize - 1}) + os::kPhysPageSize;
    ok = a < r.hi ? os::readable_prefix(a, r.hi - a) : 0;
  }
  return true;
}

// Root callbacks: appended by any thread (entry written, then the count
// published with release), read by the collector with the world stopped.
constexpr int kMaxRootFns = 16;
struct RootFn {
  void (*fn)(void*);
  void* arg;
};
RootFn g_root_fns[kMaxRootFns];
std::atomic<int> g_num_root_fns{0};
// The marker of the root callback running now, or null: written and read
// by the collecting thread only (the world is stopped).
Marker* g_root_fn_marker;

void scan_root_fns(Marker& m) {
  int n = g_num_root_fns.load(std::memory_order_acquire);
  g_root_fn_marker = &m;
  for (int i = 0; i < n; i++) g_root_fns[i].fn(g_root_fns[i].arg);
  g_root_fn_marker = nullptr;
}

}  // namespace

bool add_root_fn(void (*fn)(void*), void* arg) {
  NoPreempt np;
  MutexLock l(g_roots.lock);
  int n = g_num_root_fns.load(std::memory_order_relaxed);
  if (n == kMaxRootFns) return false;
  g_root_fns[n] = {fn, arg};
  g_num_root_fns.store(n + 1, std::memory_order_release);
  return true;
}

void mark_range_from_root_fn(uintptr_t lo, uintptr_t hi) {
  if (!g_root_fn_marker) {
    StackBuf<160> b;
    b.s("gomem: gomem_gc_mark_range(").x(lo).s(", ").x(hi).s(") outside a root callback\n");
    os::write_stderr(b.str(), b.len());
    os::abort_process();
  }
  if (hi <= lo) return;
  g_root_fn_marker->note(RootKind::kCallback, lo, hi);
  g_root_fn_marker->scan_range(lo, hi);
}

// A root range must be readable when it is added (else the next cycle
// would fault in the middle of a stop, with no word of why) and stay so
// until it is removed. One that is unmapped or protected later is trimmed
// at the next snapshot, with a warning (snapshot_user_range).
void add_roots(uintptr_t lo, uintptr_t hi) {
  if (hi <= lo) return;
  size_t ok = os::readable_prefix(lo, hi - lo);
  if (ok < hi - lo) {
    StackBuf<256> b;
    b.s("gomem_add_roots of [").x(lo).s(", ").x(hi).s("): the memory at ").x(lo + ok);
    b.s(" is not mapped readable; a root range must stay readable until gomem_remove_roots");
    fatal(b.str());
  }
  NoPreempt np;
  MutexLock l(g_roots.lock);
  if (!g_roots.user.push({lo, hi, nullptr})) fatal("out of memory for the root set");
}

void remove_roots(uintptr_t lo, uintptr_t hi) {
  NoPreempt np;
  MutexLock l(g_roots.lock);
  size_t k = 0;
  for (size_t i = 0; i < g_roots.user.n; i++) {
    Range r = g_roots.user.v[i];
    if (r.lo >= lo && r.hi <= hi) continue;  // Boehm's rule: drop ranges inside [lo, hi)
    g_roots.user.v[k++] = r;
  }
  g_roots.user.n = k;
}

// The loaded objects' writable segments are listed before the world stops:
// dl_iterate_phdr takes the loader's lock, which a stopped thread may hold
// (C++ exception unwinding calls dl_iterate_phdr). A library dlclose'd
// between the listing and the stop is dropped again once the world is
// stopped (snapshot_roots), so the collector never reads unmapped memory.
void collect_data_segments() {
  g_roots.segs.n = 0;
  dl_iterate_phdr(phdr_callback, nullptr);
}

void snapshot_roots() {
  // World stopped. Registered threads hold the roots lock only inside
  // non-preemptible sections, so none of them holds it now; a thread that is
  // not registered (and not stopped) may, while it adds a range: wait for it.
  {
    MutexLock l(g_roots.lock);
    g_roots.usnap.n = 0;
    bool trimmed = false;
    for (size_t i = 0; i < g_roots.user.n; i++) trimmed |= snapshot_user_range(g_roots.user.v[i]);
    if (trimmed) {  // keep the readable pieces only, so the warning is said once
      g_roots.user.n = 0;
      for (size_t i = 0; i < g_roots.usnap.n; i++) g_roots.user.push(g_roots.usnap.v[i]);
    }
  }
  size_t k = 0;
  for (size_t i = 0; i < g_roots.segs.n; i++) {
    Range r = g_roots.segs.v[i];
    if (os::is_mapped(r.lo, r.hi - r.lo)) g_roots.segs.v[k++] = r;
  }
  g_roots.segs.n = k;
}

void roots_fork_prepare() { g_roots.lock.lock(); }
void roots_fork_parent() { g_roots.lock.unlock(); }
void roots_fork_child() { g_roots.lock.reset(); }

// The collector's own stack is scanned from here: first (and with the dead
// stack below cleared by the caller of scan_roots), so that what the other
// scans and the collector's earlier work (sweep, world-stop) left in dead
// frames below, or in the unused part of regs, is not taken for a root.
GOMEM_NOINLINE void scan_self(Marker& m) {
  uintptr_t regs[os::kMaxSavedRegisters] = {};
  size_t n = os::spill_registers(regs, os::kMaxSavedRegisters);
  GCThread* t = t_gcthread;
  m.note(RootKind::kRegisters, t ? t->tid : 0);
  m.scan_words(regs, n);
  if (t) scan_thread_stacks(m, t, stop_point(t, os::current_sp()));
}

void scan_roots(Marker& m) {
  scan_self(m);
  for (size_t i = 0; i < g_roots.segs.n; i++) {
    m.note(RootKind::kData, 0, 0, g_roots.segs.v[i].name);
    m.scan_range(g_roots.segs.v[i].lo, g_roots.segs.v[i].hi);
  }
  for (size_t i = 0; i < g_roots.usnap.n; i++) {
    m.note(RootKind::kUser, g_roots.usnap.v[i].lo, g_roots.usnap.v[i].hi);
    m.scan_range(g_roots.usnap.v[i].lo, g_roots.usnap.v[i].hi);
  }
  g_heap.for_each_span_record([&](MSpan* s) {
    if (s->state.load(std::memory_order_acquire) != SpanState::kInUse || s->kind != SpanKind::kUncollectable) return;
    // A span half re-cut for another class (see MCache::reuse_empty) would
    // send the scan past its end.
    if (!s->large && s->limit() > s->end())
      fatal_fault(Fault::kCorrupt, reinterpret_cast<void*>(s->base), s,
                  "uncollectable span scanned with a mixed geometry");
    m.note(RootKind::kUncollectable, s->base);
    // A large one's object only: the hardened build's guards around it are
    // no-access (heap/mheap.h).
    if (s->large)
      m.scan_range(large_object(s), large_object(s) + large_object_bytes(s));
    else
      m.scan_range(s->base, s->limit());
  });
  scan_finalizer_roots(m);
  scan_thread_roots(m);
  scan_root_fns(m);
}

}  // namespace gc
}  // namespace gomem
