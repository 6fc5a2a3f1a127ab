// The collected heap's C API and the runtime's hooks into the collector.
//
// Pointers one past the end. C and C++ programs keep pointers just past an
// object (end() iterators, `p + n` loop bounds, buffers filled backwards from
// their end) and Boehm GC keeps such objects alive: it serves every request
// from a slot one byte larger. A slot-start test alone cannot tell "end of
// object k - 1" from "start of object k", so gomem had to choose how. Figures
// from bench/gc binary_trees (16-byte nodes, the worst case: an exact fit of
// the 16-byte class), heap_sys and peak RSS, GODEBUG=gctrace=1 mean live:
//
//                         depth 18                depth 20
//   exact (no padding)    36 MiB, 36 MB RSS       128 MiB, 138 MB RSS, live 31.8 MB
//   (a) pad by one byte   44 MiB, 49 MB RSS       192 MiB, 203 MB RSS, live 49.7 MB
//   (b) marker: a slot    36 MiB, 40 MB RSS       132 MiB, 143 MB RSS, live 32.7 MB
//       start also marks
//       the slot before
//
// (b) is cheaper here, but what it retains is unbounded: every pointer to an
// object keeps its memory neighbour alive and everything the neighbour
// reaches. A tree built bottom-up allocates its root last, so a long-lived
// result allocated right after a temporary tree keeps the whole tree; a cache
// of such results keeps every tree. It also needs a second span lookup for
// candidates at a span's first slot (the neighbour is the previous span's
// last object, or a large object ending at that page). (c), padding only
// where the class does not change, covers nothing: where base + size stays
// inside the slot it is already found. So gomem does (a), as Boehm GC does:
// the cost is bounded (one size-class step, only for sizes that fill their
// class exactly: 16 -> 24, 32 -> 48, 64 -> 80 bytes; a large object of whole
// pages takes one more page) and falls on memory, never on what survives.
// Boehm's 16-byte granules pay the same for binary_trees (16 + 1 -> 32).
// Noscan objects are padded too: a char* end pointer into a string or a
// buffer written backwards from its end (number formatting) is as common as
// an end() iterator. Programs that keep no such pointer turn it off with
// GOMEM_GC_INTERIOR=exact or gomem_gc_set_interior; the mode only decides how
// much memory the next allocations ask for, so it can change at any time.
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <atomic>

#include <atomic>

#include "base/fmt.h"
#include "gc/collector.h"
#include "gomem/gomem.h"
#include "heap/fault.h"
#include "heap/preempt.h"
#include "platform/env.h"
#include "platform/os.h"
#include "runtime/malloc.h"
#include "runtime/proc.h"
#include "runtime/runtime.h"

namespace gomem {

void gc_free_from_any_thread(void* p, MSpan* s);
void gc_free_hook(void* p, MSpan* s) { gc_free_from_any_thread(p, s); }
void fork_hook_prepare() { gc::fork_prepare(); }
void fork_hook_parent() { gc::fork_parent(); }
void fork_hook_child() { gc::fork_child(t_mcache); }
void fork_hook_prepare_scavenge() { gc::fork_prepare_scavenge(); }
void fork_hook_parent_scavenge() { gc::fork_parent_scavenge(); }
void fork_hook_child_scavenge() { gc::fork_child_scavenge(); }
void fork_hook_release_p(MCache* c) { gc::release_p_spans_after_fork(c); }
void gc_init_hook(const os::EnvSettings& env) { gc::gc_init(env); }
void gc_heap_init_hook(const os::EnvSettings& env) {
  gc::gen_init(env);
  gc::conc_init(env);
}
void gc_fill_stats(gomem_stats* st) { gc::fill_stats(st); }

// A thread gives its P back: its collected spans go to mcentral.
void gc_release_thread(MCache* c) {
  if (c != &g_empty_mcache) gc::release_p_spans(c);
}

void gc_thread_exiting() { gc::mark_current_thread_exiting(); }

const char* gc_check_span(MSpan* s) {
  uint32_t allocated = 0;
  for (uint32_t i = 0; i < s->nelems; i++)
    if (i < s->freeindex || bit_test(s->alloc_bits(), i)) allocated++;
  if (allocated != s->alloc_count) return "collected span: allocation count disagrees with its bitmap";
  uint32_t sg = g_heap.sweepgen.load(std::memory_order_relaxed);
  uint32_t g = s->sweepgen.load(std::memory_order_relaxed);
  if (g != sg && g != sg - 2) return "collected span in an impossible sweep state";
  // A span marked current belongs to exactly one P's allocation slots (the
  // background sweeper never handles current spans; with no thread
  // allocating, none is between a P and mcentral). One held by no P would
  // never be swept or allocated from again: after fork(), the spans of the
  // threads that did not survive.
  if (s->current) {
    int holders = 0;
    for_each_p([&](MCache* c) {
      if (c->in_use && c->alloc[s->spanclass] == s) holders++;
    });
    if (holders != 1)
      return holders ? "collected span current in two Ps" : "collected span marked current but held by no P";
  }
  return nullptr;
}

namespace {

GOMEM_NOINLINE MCache* gc_ready_slow() {
  ensure_init();
  // Register first: registering may allocate (pthread_getattr_np), and an
  // exiting thread's allocation gives its P straight back.
  if (!gc::t_gcthread) {
    if (!gc::register_current_thread()) return nullptr;
    install_thread_exit_hook();
  }
  MCache* c = t_mcache;
  if (c == &g_empty_mcache) c = acquire_p();
  if (!c) return nullptr;
  gc::g_gc_used.store(true, std::memory_order_relaxed);
  return c;
}

// The calling thread, ready for collected allocation: it holds a P and is
// registered (so its stack is a root and the world-stop reaches it).
GOMEM_INLINE MCache* gc_ready() {
  MCache* c = t_mcache;
  if (GOMEM_LIKELY(c != &g_empty_mcache && gc::t_gcthread != nullptr)) return c;
  return gc_ready_slow();
}

// A call that needs the calling thread ready for collected work (gc_ready),
// and that gives the P back on its way out when the thread runs its exit
// destructors: gomem's key destructor may not run again to do it
// (runtime/proc.cc).
class GcCall {
 public:
  GcCall() : c_(gc_ready()) {}
  ~GcCall() {
    if (GOMEM_UNLIKELY(t_exiting)) release_p();
  }
  GcCall(const GcCall&) = delete;
  GcCall& operator=(const GcCall&) = delete;
  // The caller's P, or nullptr if it could not be made ready (no memory).
  MCache* mcache() const { return c_; }
  explicit operator bool() const { return c_ != nullptr; }

 private:
  MCache* const c_;
};

// Where the out-of-memory diagnostic goes: gomem_set_warn_fn's callback, or
// stderr when it is null. Written by any thread through gomem_set_warn_fn,
// read by the thread that warns; an atomic pointer, nothing else to order.
// (Warnings raised with the world stopped, heap/fault.h's warn, stay on
// stderr: a program's callback could wait for a stopped thread's lock.)
std::atomic<gomem_warn_fn> g_warn_fn{nullptr};

void warn_to_hook(const Buf& b) {
  gomem_warn_fn fn = g_warn_fn.load(std::memory_order_acquire);
  if (fn)
    fn(b.str());
  else
    os::write_stderr(b.str(), b.len());
}

GOMEM_NOINLINE void* gc_out_of_memory(size_t size) {
  gomem_stats st;
  gomem_read_stats(&st);
  StackBuf<512> b;
  b.s("gomem: out of memory: collected allocation of ").u(size).s(" bytes failed (heap_sys ");
  b.bytes(st.heap_sys).s(", heap_alloc ").bytes(st.heap_alloc).s(", gc_heap_live ").bytes(st.gc_heap_live);
  b.s(", next_gc ").bytes(st.next_gc).s(")\n");
  warn_to_hook(b);
  return out_of_memory();
}

// The interior mode (GOMEM_GC_INTERIOR_*): -1 until the environment or
// gomem_gc_set_interior sets it. Written by those two (an exchange, so the
// API call made before the first use wins over the environment), read by
// every collected allocation.
GOMEM_META constinit std::atomic<int> g_interior{-1};

int interior_mode() {
  int m = g_interior.load(std::memory_order_relaxed);
  if (GOMEM_LIKELY(m >= 0)) return m;
  os::EnvSettings env;  // checked at initialisation (os::read_env)
  if (const char* v = os::getenv("GOMEM_GC_INTERIOR")) os::parse_env("GOMEM_GC_INTERIOR", v, &env);
  m = env.interior_exact ? GOMEM_GC_INTERIOR_EXACT : GOMEM_GC_INTERIOR_PAST_END;
  int unset = -1;
  if (!g_interior.compare_exchange_strong(unset, m, std::memory_order_relaxed)) m = unset;
  return m;
}

// The size to ask the heap for: one byte more in the past-end mode, so that
// base + size lies inside the object (see the essay above).
GOMEM_INLINE size_t padded(size_t size) {
  return size + static_cast<size_t>(interior_mode() == GOMEM_GC_INTERIOR_PAST_END && size < SIZE_MAX);
}

// size is what the heap hands out (padded already).
void* gc_alloc(size_t size, SpanKind kind) {
  GcCall call;
  MCache* c = call.mcache();
  if (GOMEM_UNLIKELY(!c)) return out_of_memory();
  for (int attempt = 0; attempt < 2; attempt++) {
    uintptr_t v;
    if (GOMEM_LIKELY(size <= kMaxSmallSize))
      v = gc::alloc_small(c, make_span_class(kGCClasses.class_of(size ? size : 1), kind));
    else
      v = gc::alloc_large(size, kind);
    if (GOMEM_LIKELY(v != 0)) {
      if (GOMEM_UNLIKELY(gc::g_scavenger_requested.load(std::memory_order_relaxed))) gc::start_scavenger_requested();
      return reinterpret_cast<void*>(v);
    }
    if (size > kMaxAllocBytes) break;
    gc::collect(gc::Trigger::kForced);  // out of memory: collect once and retry
  }
  return gc_out_of_memory(size);
}

int set_finalizer_registered(void* p, gomem_finalizer_fn fn, void* arg, gc::FinalizerOrder order) {
  GcCall call;
  if (!call) return -1;
  return gc::set_finalizer(p, fn, arg, order) ? 0 : -1;
}

MSpan* collected_span(void* p) {
  MSpan* s = g_arena_index.span_of(reinterpret_cast<uintptr_t>(p));
  if (!s || s->state.load(std::memory_order_acquire) != SpanState::kInUse) return nullptr;
  return kind_is_gc(s->kind) ? s : nullptr;
}

// gomem_gc_free of no allocated collected object. On a free run of pages
// it is most likely a second free of a large object (gc_free gave its span
// back at once): a double free, as free() says of a free page (both cannot
// tell it from a pointer into pages never handed out).
GOMEM_NORETURN GOMEM_COLD void bad_gc_free(void* p) {
  MSpan* s = g_arena_index.span_of(reinterpret_cast<uintptr_t>(p));
  if (s && s->state.load(std::memory_order_acquire) == SpanState::kFree)
    fatal_fault(Fault::kDoubleFree, p, nullptr, "the page is free");
  fatal_fault(Fault::kInvalidFree, p, s, "not a collected object");
}

}  // namespace

// An early free (gomem_gc_free, or free() of a collected object) from any
// thread. The thread is registered first, as for an allocation: the free runs
// in a non-preemptible section, which only holds a world-stop back in a
// thread the world-stop signals; and from then on the thread's stack is a
// root.
void gc_free_from_any_thread(void* p, MSpan* s) {
  GcCall call;
  if (GOMEM_UNLIKELY(!call)) return;  // cannot register (no memory): the collector will reclaim it
  gc::gc_free(p, s);
}

}  // namespace gomem

using namespace gomem;

extern "C" {

GOMEM_EXPORT void* gomem_gc_alloc(size_t size) { return gc_alloc(padded(size), SpanKind::kScan); }

GOMEM_EXPORT void* gomem_gc_alloc_noscan(size_t size) { return gc_alloc(padded(size), SpanKind::kNoscan); }

GOMEM_EXPORT void* gomem_gc_alloc_aligned(size_t alignment, size_t size, int scan) {
  SpanKind kind = scan ? SpanKind::kScan : SpanKind::kNoscan;
  if (alignment <= 8) return gc_alloc(padded(size), kind);
  if (!is_pow2(alignment)) {
    errno = EINVAL;
    return nullptr;
  }
  size_t want = size < alignment ? alignment : padded(size);
  if (alignment <= kPageSize && want <= kMaxSmallSize) {
    // The smallest class whose objects all have this alignment.
    for (uint32_t cl = kGCClasses.class_of(want); cl < static_cast<uint32_t>(kGCClasses.count); cl++)
      if (kGCClasses.cls[cl].size % alignment == 0) return gc_alloc(kGCClasses.cls[cl].size, kind);
  }
  if (alignment <= kPageSize) return gc_alloc(want > kMaxSmallSize ? want : kMaxSmallSize + 1, kind);
  errno = EINVAL;  // more than page alignment is not supported for collected objects
  return nullptr;
}

GOMEM_EXPORT void gomem_gc_free(void* p) {
  if (!p) return;
  MSpan* s = collected_span(p);
  if (!s) bad_gc_free(p);
  gc_free_from_any_thread(p, s);
}

GOMEM_EXPORT int gomem_gc_set_interior(int mode) {
  if (mode != GOMEM_GC_INTERIOR_EXACT && mode != GOMEM_GC_INTERIOR_PAST_END) return -1;
  interior_mode();  // the environment's choice first, so that it is what is returned
  return g_interior.exchange(mode, std::memory_order_relaxed);
}

GOMEM_EXPORT void gomem_gc_collect(void) {
  ensure_init();
  GcCall call;
  if (!call) return;
  gc::collect(gc::Trigger::kForced);
}

GOMEM_EXPORT void gomem_gc_collect_minor(void) {
  ensure_init();
  if (!gc_ready()) return;
  gc::collect(gc::Trigger::kMinor);
  if (GOMEM_UNLIKELY(t_exiting)) release_p();
}

GOMEM_EXPORT int gomem_gc_set_percent(int percent) {
  ensure_init();
  return gc::set_gc_percent(percent);
}

// The finalizer, cleanup and weak-pointer calls register the caller first:
// the table is the collector's while the world is stopped, so a caller must
// be one the world-stop waits for (and weak_get's result must be on a stack
// the collector scans).
GOMEM_EXPORT int gomem_gc_set_finalizer(void* p, gomem_finalizer_fn fn, void* arg) {
  return set_finalizer_registered(p, fn, arg, gc::FinalizerOrder::kGo);
}

GOMEM_EXPORT int gomem_gc_set_finalizer_ignore_self(void* p, gomem_finalizer_fn fn, void* arg) {
  return set_finalizer_registered(p, fn, arg, gc::FinalizerOrder::kIgnoreSelf);
}

GOMEM_EXPORT int gomem_gc_set_finalizer_no_order(void* p, gomem_finalizer_fn fn, void* arg) {
  return set_finalizer_registered(p, fn, arg, gc::FinalizerOrder::kNoOrder);
}

GOMEM_EXPORT int gomem_gc_add_cleanup(void* p, void (*fn)(void* arg), void* arg) {
  GcCall call;
  if (!call) return -1;
  return gc::add_cleanup(p, fn, arg) ? 0 : -1;
}

GOMEM_EXPORT size_t gomem_gc_run_finalizers(void) {
  GcCall call;
  if (!call) return 0;
  return gc::run_finalizers();
}

GOMEM_EXPORT gomem_weak* gomem_weak_make(void* p) {
  if (!p) return nullptr;
  GcCall call;
  // The handle first (an allocation may collect; p is on this stack).
  auto* fresh = static_cast<std::atomic<uintptr_t>*>(gc_alloc(sizeof(uintptr_t), SpanKind::kNoscan));
  if (!fresh) return nullptr;
  return reinterpret_cast<gomem_weak*>(gc::weak_handle(p, fresh));
}

GOMEM_EXPORT void* gomem_weak_get(gomem_weak* w) {
  if (!w) return nullptr;
  GcCall call;
  if (!call) return nullptr;
  // The collector clears handles with the world stopped: inside the section
  // the handle still holds the object or 0, and the object is on this
  // thread's stack or registers before the next world-stop.
  NoPreempt np;
  return reinterpret_cast<void*>(reinterpret_cast<std::atomic<uintptr_t>*>(w)->load(std::memory_order_acquire));
}

GOMEM_EXPORT void* gomem_gc_base(const void* p) {
  uintptr_t base;
  return find_object(reinterpret_cast<uintptr_t>(p), &base) ? reinterpret_cast<void*>(base) : nullptr;
}

GOMEM_EXPORT int gomem_kind(const void* p) {
  uintptr_t base;
  MSpan* s = find_object(reinterpret_cast<uintptr_t>(p), &base);
  if (!s) return GOMEM_KIND_NONE;
  switch (s->kind) {
    case SpanKind::kManual:
      return GOMEM_KIND_MANUAL;
    case SpanKind::kUncollectable:
      return GOMEM_KIND_UNCOLLECTABLE;
    case SpanKind::kScan:
      return GOMEM_KIND_GC_SCAN;
    case SpanKind::kNoscan:
      return GOMEM_KIND_GC_NOSCAN;
  }
  return GOMEM_KIND_NONE;
}

GOMEM_EXPORT void gomem_add_roots(void* begin, void* end) {
  ensure_init();
  gc::add_roots(reinterpret_cast<uintptr_t>(begin), reinterpret_cast<uintptr_t>(end));
}

GOMEM_EXPORT void gomem_remove_roots(void* begin, void* end) {
  ensure_init();
  gc::remove_roots(reinterpret_cast<uintptr_t>(begin), reinterpret_cast<uintptr_t>(end));
}

GOMEM_EXPORT int gomem_register_thread(void) {
  ensure_init();
  if (gc::t_gcthread) return 0;
  if (!gc::register_current_thread()) return -1;
  install_thread_exit_hook();  // unregistered again when the thread exits
  return 0;
}

GOMEM_EXPORT int gomem_unregister_thread(void) {
  if (t_mcache != &g_empty_mcache) gc::release_p_spans(t_mcache);
  gc::unregister_current_thread();
  return 0;
}

GOMEM_EXPORT void gomem_fiber_start_switch(void* stack_lo, size_t size) {
  uintptr_t lo = reinterpret_cast<uintptr_t>(stack_lo);
  if (lo + size < lo || (!lo && size)) {
    StackBuf<256> b;
    b.s("gomem: gomem_fiber_start_switch: not a stack: ").x(lo).s(", size ").u(size).c('\n');
    os::write_stderr(b.str(), b.len());
    os::abort_process();
  }
  gc::fiber_start_switch(lo, lo + size);
}

GOMEM_EXPORT void gomem_fiber_finish_switch(void) { gc::fiber_finish_switch(); }

GOMEM_EXPORT int gomem_gc_add_root_fn(gomem_root_fn fn, void* arg) {
  ensure_init();
  return fn && gc::add_root_fn(fn, arg) ? 0 : -1;
}

GOMEM_EXPORT gomem_cycle_start_fn gomem_gc_set_cycle_start_fn(gomem_cycle_start_fn fn) {
  return gc::set_cycle_start_fn(fn);
}

GOMEM_EXPORT void gomem_gc_mark_range(const void* lo, const void* hi) {
  gc::mark_range_from_root_fn(reinterpret_cast<uintptr_t>(lo), reinterpret_cast<uintptr_t>(hi));
}

GOMEM_EXPORT gomem_warn_fn gomem_set_warn_fn(gomem_warn_fn fn) {
  return g_warn_fn.exchange(fn, std::memory_order_acq_rel);
}

GOMEM_EXPORT void gomem_free_os_memory(void) {
  ensure_init();
  if (!gc::g_gc_used.load(std::memory_order_relaxed)) return gc::free_os_memory();
  GcCall call;  // a collection may run: the caller must be one it can stop
  gc::free_os_memory();
}

GOMEM_EXPORT int64_t gomem_set_memory_limit(int64_t bytes) {
  ensure_init();
  if (bytes < 0) return static_cast<int64_t>(gc::g_pacer.memory_limit.load());
  return static_cast<int64_t>(gc::set_memory_limit(static_cast<uint64_t>(bytes)));
}

}  // extern "C"
