// Finalizers, cleanups and weak pointers: Go's runtime.SetFinalizer,
// runtime.AddCleanup and weak.Pointer, plus Boehm GC's ignore-self and
// no-order finalizers.
//
// Records ("specials", Go's name) live in one off-heap hash table keyed by
// the start of their object, so that they never keep anything alive by
// themselves; an object may have one finalizer, any number of cleanups and
// one weak handle per address inside it. An explicit free (gomem_gc_free)
// drops them (remove_specials); otherwise each record leaves the table at
// the mark termination that finds its object unmarked, so no record ever
// names a freed slot. A finalizer queued there stays in the table as a
// kQueued record until it is popped, so that an explicit free of its object
// meanwhile (a no-order finalizer may free another object queued in the same
// cycle) finds it and drops it: the finalizer never runs on a freed object.
//
// During marking (scan_finalizer_roots, world stopped) a record is a root
// for what it must keep alive:
//   - a finalizer: its arg, and the object's contents but not the object
//     itself (Go's rule: what it points to must still be there when the
//     finalizer runs). kIgnoreSelf skips words that point into the object
//     itself, as Boehm's GC_ignore_self_finalize_mark_proc does, so a C++
//     object that points into itself (a short std::string's buffer, a
//     `this` member) can still die; kNoOrder scans nothing;
//   - a cleanup: its arg only (the object is never handed to it);
//   - a weak handle: the handle (a collected noscan word: marking it keeps
//     it from being freed and cannot keep the object alive).
// Queued records (below) keep their object and arg alive until they ran.
//
// Mark termination (queue_dead_specials, world stopped), in this order:
//   1. weak handles of unmarked objects are cleared: an object is dead for
//      weak pointers even if a finalizer resurrects it in step 2 (Go: "weak
//      pointers are cleared before finalizers are queued");
//   2. finalizers of unmarked objects are queued, and their objects marked
//      and traced (a second marking round), so that they and everything they
//      reach survive until the finalizer ran; a later cycle frees them if
//      they are still unreachable. No-order objects are traced only now, so
//      two of them that point to each other are both queued in one cycle;
//   3. cleanups of objects that are still unmarked are queued; those objects
//      are freed by this cycle's sweep.
// Because the world is stopped, weak_get (a non-preemptible section on a
// registered thread) sees either the object before its cycle decided it was
// dead or 0, never a slot the sweeper has freed.
//
// Consequences of Go's rule, as in Go: if A points to B and both have
// finalizers, A's runs first and B's a cycle later (B is reachable from A);
// a cycle of objects with finalizers (other than no-order ones) is never
// finalized and leaks. Cleanups do not mark their object, so objects in
// cycles with cleanups are collected.
//
// Queued finalizers and cleanups run in order on the finalizer thread
// (started at the first queueing) or on a thread calling
// gomem_gc_run_finalizers; a record is popped under the lock, so each runs
// exactly once.
#include <cstring>

#include "gc/internal.h"
#include "heap/fault.h"
#include "heap/preempt.h"
#include "platform/os.h"
#include "platform/thread.h"

namespace gomem {
namespace gc {

namespace {

// kQueued: a finalizer found dead and queued, not yet popped (so that
// gomem_gc_free finds it in the table, not by walking the queue).
enum class SpecialKind : uint8_t { kFinalizer, kCleanup, kWeak, kQueued };

struct Entry {
  uintptr_t obj;  // start of the object; 0 = empty slot, 1 = deleted
  SpecialKind kind;
  FinalizerOrder order;  // kFinalizer
  union {
    FinalizerFn fin;    // kFinalizer
    CleanupFn cleanup;  // kCleanup
  };
  void* arg;  // kFinalizer, kCleanup: the argument; kWeak: the handle; kQueued: its Queued
};

struct Queued {
  Queued* next;
  uintptr_t obj;  // a finalizer's object; 0 for a cleanup
  union {
    FinalizerFn fin;
    CleanupFn cleanup;
  };
  void* arg;
};

// The table, the queue and the record free list are written under `lock` by
// registered threads in non-preemptible sections (so no stopped thread holds
// it), and by the collector with the world stopped, without the lock. The
// atomics are the futex words and counters named below.
struct Specials {
  Mutex lock;
  Entry* table = nullptr;
  size_t cap = 0;   // power of two
  size_t used = 0;  // live + deleted slots
  size_t live = 0;
  Queued* queue = nullptr;  // to run, oldest first
  Queued* queue_tail = nullptr;
  Queued* free_recs = nullptr;
  bool runner_started = false;
  // Futex word of the finalizer thread: bumped when records are queued.
  std::atomic<uint32_t> queued{0};
  // Records popped whose function has not returned yet, on any thread
  // (incremented under the lock, decremented after the call); futex word of
  // gomem_gc_run_finalizers' wait.
  std::atomic<uint32_t> running{0};
  // Threads in gomem_gc_run_finalizers' wait on `running` (counted before
  // they read it): the call that brings `running` to 0 wakes them only if
  // there are any, not once per finalizer (a Boehm GC program runs one per
  // weak-table key that dies). Sequentially consistent, with `running`'s
  // decrement: a waiter that the waker does not count reads 0 and does not
  // wait.
  std::atomic<uint32_t> running_waiters{0};
  std::atomic<uint64_t> run{0};  // functions that returned
};
GOMEM_META constinit Specials g_fin;

// Finalizers and cleanups running on this thread (nested if one calls
// gomem_gc_run_finalizers).
GOMEM_TLS uint32_t t_running = 0;

// The table is indexed by the hash's low bits, and the low bits of a
// product depend only on the multiplier's input's low bits, which object
// addresses share (16-byte classes, page-aligned large objects): the high
// half is folded in, or objects of one alignment would all start their
// probes in a fraction of the slots and pile up in long clusters.
size_t hash(uintptr_t p) {
  uint64_t h = static_cast<uint64_t>(p) * 0x9E3779B97F4A7C15ull;
  return static_cast<size_t>(h ^ (h >> 32));
}

// Calls fn(e) for each record of the object at obj until fn returns true;
// returns that record or nullptr.
template <class F>
Entry* find_locked(uintptr_t obj, F fn) {
  if (!g_fin.cap) return nullptr;
  size_t mask = g_fin.cap - 1;
  for (size_t i = hash(obj) & mask;; i = (i + 1) & mask) {
    Entry& e = g_fin.table[i];
    if (e.obj == obj && fn(e)) return &e;
    if (e.obj == 0) return nullptr;
  }
}

void erase_locked(Entry& e) {
  e.obj = 1;
  g_fin.live--;
}

bool grow_locked() {
  size_t ncap = g_fin.cap ? g_fin.cap * 2 : 1024;
  if (g_fin.live * 4 < g_fin.cap) ncap = g_fin.cap;  // mostly deleted slots: rehash in place
  auto* nt = static_cast<Entry*>(g_heap.os().alloc_meta(ncap * sizeof(Entry)));
  if (!nt) return false;
  size_t mask = ncap - 1;
  for (size_t i = 0; i < g_fin.cap; i++) {
    Entry& e = g_fin.table[i];
    if (e.obj <= 1) continue;
    size_t j = hash(e.obj) & mask;
    while (nt[j].obj) j = (j + 1) & mask;
    nt[j] = e;
  }
  if (g_fin.table) g_heap.os().release(g_fin.table, g_fin.cap * sizeof(Entry));
  g_fin.table = nt;
  g_fin.cap = ncap;
  g_fin.used = g_fin.live;
  return true;
}

bool insert_locked(const Entry& e) {
  if ((g_fin.used + 1) * 4 > g_fin.cap * 3 && !grow_locked()) return false;
  size_t mask = g_fin.cap - 1;
  size_t i = hash(e.obj) & mask;
  while (g_fin.table[i].obj > 1) i = (i + 1) & mask;
  if (g_fin.table[i].obj == 0) g_fin.used++;
  g_fin.table[i] = e;
  g_fin.live++;
  return true;
}

template <class F>
void for_each_entry(F fn) {
  for (size_t i = 0; i < g_fin.cap; i++)
    if (g_fin.table[i].obj > 1) fn(g_fin.table[i]);
}

Queued* new_rec_locked() {
  if (Queued* q = g_fin.free_recs) {
    g_fin.free_recs = q->next;
    return q;
  }
  constexpr size_t kChunk = 64 * 1024;
  auto* mem = static_cast<Queued*>(g_heap.os().alloc_meta(kChunk));
  if (!mem) fatal("out of memory for finalizer records");
  size_t n = kChunk / sizeof(Queued);
  for (size_t i = 1; i < n; i++) {
    mem[i].next = g_fin.free_recs;
    g_fin.free_recs = &mem[i];
  }
  return &mem[0];
}

// Appends a record for e's function to the run queue and returns it.
Queued* enqueue_locked(const Entry& e) {
  Queued* q = new_rec_locked();
  q->next = nullptr;
  q->obj = e.kind == SpecialKind::kFinalizer ? e.obj : 0;
  if (q->obj)
    q->fin = e.fin;
  else
    q->cleanup = e.cleanup;
  q->arg = e.arg;
  if (g_fin.queue_tail)
    g_fin.queue_tail->next = q;
  else
    g_fin.queue = q;
  g_fin.queue_tail = q;
  return q;
}

// A queued finalizer whose object gomem_gc_free freed stays in the queue
// (unlinking it would take a walk) but runs nothing and is not counted.
void dropped(void*) {}

void drop_queued(Queued* q) {
  q->obj = 0;
  q->cleanup = dropped;
  q->arg = nullptr;
}

// Takes the oldest record that is not dropped off the queue (onto the free
// list: the caller copies it before it lets go of the lock); a finalizer's
// kQueued entry leaves the table. nullptr if there is none.
Queued* pop_locked() {
  Queued* q;
  do {
    q = g_fin.queue;
    if (!q) return nullptr;
    g_fin.queue = q->next;
    if (!g_fin.queue) g_fin.queue_tail = nullptr;
    q->next = g_fin.free_recs;
    g_fin.free_recs = q;
  } while (!q->obj && q->cleanup == dropped);
  if (q->obj)
    if (Entry* e = find_locked(q->obj, [q](Entry& x) { return x.kind == SpecialKind::kQueued && x.arg == q; }))
      erase_locked(*e);
  return q;
}

// The allocated collected object containing a: its span, and its start and
// size in *base, *size. nullptr if there is none, or if gomem_gc_free freed
// it early (its slot is reclaimed by the next sweep: a finalizer set now
// would run on the cleared memory; issue 13).
GOMEM_INLINE MSpan* collected_object(uintptr_t a, uintptr_t* base, uintptr_t* size) {
  MSpan* s = find_object(a, base);
  if (!s || !kind_is_gc(s->kind)) return nullptr;
  if (!s->large && bit_test(s->freed_bits(), s->obj_index(*base))) return nullptr;
  *size = s->elemsize;
  return s;
}

bool is_marked(uintptr_t obj) {
  MSpan* s = g_arena_index.span_or_empty(obj);
  return bit_test(s->gcmark_bits(), s->obj_index(obj));
}

// A finalizable object's contents, minus words that point into itself. A
// word just past its end (an end pointer into itself) is taken as a pointer
// into the object that starts there (obj + n + 1 lies inside that one only),
// so that it keeps that one alive, never this one, whatever the marker makes
// of end pointers. tracing: GOMEM_GC_TRACE_ROOT is on (every word into
// another object is then reported).
GOMEM_NO_TSAN void scan_ignoring_self(Marker& m, uintptr_t obj, uintptr_t n, bool tracing) {
  const uintptr_t* w = reinterpret_cast<const uintptr_t*>(obj);
  if (GOMEM_UNLIKELY(tracing) && g_trace_root.lo != obj) m.trace_words(w, n / sizeof(uintptr_t));
  for (uintptr_t i = 0; i < n / sizeof(uintptr_t); i++) {
    uintptr_t v = w[i];
    if (v - obj < n) continue;
    m.mark_candidate(v == obj + n ? v + 1 : v);
  }
  m.scanned_bytes += n;
}

// Pops one queued record and runs it on the calling (registered) thread.
// False if the queue is empty. Not inlined: the copies of the object live in
// this frame, dead once it returns, which the finalizer thread clears before
// it sleeps (its own frame never holds an object).
GOMEM_NOINLINE bool run_one() {
  // obj and arg must be on this thread's stack or registers before the
  // record stops being a root: copy them while the world cannot stop.
  void* volatile obj = nullptr;
  void* volatile arg = nullptr;
  Queued rec;
  {
    NoPreempt np;
    MutexLock l(g_fin.lock);
    Queued* q = pop_locked();
    if (!q) return false;
    rec = *q;
    obj = reinterpret_cast<void*>(q->obj);
    arg = q->arg;
    g_fin.running.fetch_add(1, std::memory_order_relaxed);
  }
  t_running++;
  if (obj)
    rec.fin(obj, arg);
  else
    rec.cleanup(arg);
  t_running--;
  g_fin.run.fetch_add(1, std::memory_order_relaxed);
  if (g_fin.running.fetch_sub(1, std::memory_order_seq_cst) == 1 && g_fin.running_waiters.load() != 0)
    os::futex_wake(reinterpret_cast<volatile uint32_t*>(&g_fin.running), 1 << 30);
  return true;
}

void* runner_main(void*) {
  register_current_thread();
  for (;;) {
    uint32_t v = g_fin.queued.load(std::memory_order_acquire);
    if (run_one()) continue;
    os::clear_dead_stack();        // the last record's copies (run_one)
    os::clear_vector_registers();  // scanned while it sleeps (platform/thread.h)
    os::futex_wait(reinterpret_cast<volatile uint32_t*>(&g_fin.queued), v);
  }
  return nullptr;
}

}  // namespace

// The callers are registered (runtime/gc_api.cc) and edit the table in a
// non-preemptible section: the collector reads and edits it with the world
// stopped, without the lock.
bool set_finalizer(void* p, FinalizerFn fn, void* arg, FinalizerOrder order) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  uintptr_t base, size;
  NoPreempt np;
  if (!collected_object(a, &base, &size) || base != a) return false;
  MutexLock l(g_fin.lock);
  Entry* e = find_locked(a, [](Entry& x) { return x.kind == SpecialKind::kFinalizer; });
  if (!fn) {
    if (e) erase_locked(*e);
    return true;
  }
  if (e) {
    e->fin = fn;
    e->arg = arg;
    e->order = order;
    return true;
  }
  Entry n{};
  n.obj = a;
  n.kind = SpecialKind::kFinalizer;
  n.order = order;
  n.fin = fn;
  n.arg = arg;
  return insert_locked(n);
}

bool add_cleanup(void* p, CleanupFn fn, void* arg) {
  uintptr_t base, size;
  NoPreempt np;
  if (!fn || !collected_object(reinterpret_cast<uintptr_t>(p), &base, &size)) return false;
  if (reinterpret_cast<uintptr_t>(arg) - base < size) return false;  // the object could never die
  Entry n{};
  n.obj = base;
  n.kind = SpecialKind::kCleanup;
  n.cleanup = fn;
  n.arg = arg;
  MutexLock l(g_fin.lock);
  return insert_locked(n);
}

std::atomic<uintptr_t>* weak_handle(void* p, std::atomic<uintptr_t>* fresh) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  uintptr_t base, size;
  NoPreempt np;
  if (!collected_object(a, &base, &size)) return nullptr;
  MutexLock l(g_fin.lock);
  Entry* e = find_locked(base, [a](Entry& x) {
    return x.kind == SpecialKind::kWeak &&
           static_cast<std::atomic<uintptr_t>*>(x.arg)->load(std::memory_order_relaxed) == a;
  });
  if (e) return static_cast<std::atomic<uintptr_t>*>(e->arg);
  fresh->store(a, std::memory_order_release);
  Entry n{};
  n.obj = base;
  n.kind = SpecialKind::kWeak;
  n.arg = fresh;
  return insert_locked(n) ? fresh : nullptr;
}

void remove_specials(uintptr_t base) {
  NoPreempt np;
  MutexLock l(g_fin.lock);
  find_locked(base, [](Entry& e) {
    if (e.kind == SpecialKind::kWeak) static_cast<std::atomic<uintptr_t>*>(e.arg)->store(0, std::memory_order_release);
    if (e.kind == SpecialKind::kQueued) drop_queued(static_cast<Queued*>(e.arg));
    erase_locked(e);
    return false;  // all of them
  });
}

size_t run_finalizers() {
  size_t n = 0;
  while (run_one()) n++;
  if (t_running) return n;  // called by a finalizer: the running ones include the caller
  // Wait for those other threads started (the finalizer thread, other
  // callers), so that every finalizer queued before this call has returned;
  // but not for one that runs longer than a second (it may wait for this
  // thread).
  int64_t deadline = os::nanotime() + 1000 * 1000 * 1000;
  uint32_t v;
  g_fin.running_waiters.fetch_add(1);
  while ((v = g_fin.running.load()) != 0 && os::nanotime() < deadline)
    os::futex_wait(reinterpret_cast<volatile uint32_t*>(&g_fin.running), v, 10 * 1000 * 1000);
  g_fin.running_waiters.fetch_sub(1, std::memory_order_relaxed);
  return n;
}

uint64_t finalizers_run() { return g_fin.run.load(std::memory_order_relaxed); }

void scan_finalizer_roots(Marker& m) {
  const bool tracing = g_trace_root.hi != 0;  // GOMEM_GC_TRACE_ROOT: one branch per record
  for_each_entry([&](Entry& e) {
    if (GOMEM_UNLIKELY(tracing)) m.note(RootKind::kFinalizer, e.obj);
    if (e.kind == SpecialKind::kFinalizer && e.order != FinalizerOrder::kNoOrder) {
      MSpan* s = g_arena_index.span_or_empty(e.obj);
      if (s->kind == SpanKind::kScan) {
        // What it points to; not the object itself.
        if (e.order == FinalizerOrder::kIgnoreSelf)
          scan_ignoring_self(m, e.obj, s->elemsize, tracing);
        else
          m.scan_range(e.obj, e.obj + s->elemsize);
      }
    }
    if (GOMEM_UNLIKELY(tracing)) m.trace_words(reinterpret_cast<const uintptr_t*>(&e.arg), 1);
    m.mark_candidate(reinterpret_cast<uintptr_t>(e.arg));
  });
  m.note(RootKind::kQueued);
  for (Queued* q = g_fin.queue; q; q = q->next) {
    m.scan_words(&q->obj, 1);
    m.scan_words(reinterpret_cast<const uintptr_t*>(&q->arg), 1);
  }
}

void queue_dead_specials(Marker& m) {
  // 1. Weak handles of unreachable objects, and 2. their finalizers, in one
  // walk of the table (it may be large: Boehm GC programs give every weak
  // table key a record): nothing is marked before the walk ends, so a weak
  // handle is cleared even if its object's finalizer resurrects it below.
  // The finalizers are queued first, then their objects (and, for no-order
  // ones, only now, what those reach) kept for one more cycle.
  Queued* first = nullptr;
  bool have_cleanups = false;
  for_each_entry([&](Entry& e) {
    if (e.kind == SpecialKind::kCleanup) have_cleanups = true;
    if ((e.kind != SpecialKind::kWeak && e.kind != SpecialKind::kFinalizer) || is_marked(e.obj)) return;
    if (e.kind == SpecialKind::kWeak) {
      static_cast<std::atomic<uintptr_t>*>(e.arg)->store(0, std::memory_order_release);
      erase_locked(e);
      return;
    }
    Queued* q = enqueue_locked(e);
    if (!first) first = q;
    e.kind = SpecialKind::kQueued;
    e.arg = q;
  });
  m.note(RootKind::kQueued);
  for (Queued* q = first; q; q = q->next) m.scan_words(&q->obj, 1);
  if (first) mark_parallel(m, false);
  // 3. Cleanups of objects that stay unreachable (a walk only if there are
  // any).
  bool cleanups = false;
  if (have_cleanups)
    for_each_entry([&](Entry& e) {
      if (e.kind != SpecialKind::kCleanup || is_marked(e.obj)) return;
      enqueue_locked(e);
      erase_locked(e);
      cleanups = true;
    });
  if (first || cleanups) g_fin.queued.fetch_add(1, std::memory_order_release);
}

void wake_finalizer_thread() {
  bool pending;
  {
    NoPreempt np;
    MutexLock l(g_fin.lock);
    pending = g_fin.queue != nullptr;
    if (pending && !g_fin.runner_started) g_fin.runner_started = os::start_thread(runner_main, nullptr);
  }
  if (pending) os::futex_wake(reinterpret_cast<volatile uint32_t*>(&g_fin.queued), 1);
}

void finalizer_fork_prepare() { g_fin.lock.lock(); }
void finalizer_fork_parent() { g_fin.lock.unlock(); }

void finalizer_fork_child() {
  // The runner thread is gone (a finalizer it was running is lost with it,
  // and so are those other threads were running); a new one starts when the
  // next cycle queues finalizers.
  g_fin.lock.reset();
  g_fin.runner_started = false;
  g_fin.running.store(t_running, std::memory_order_relaxed);
  g_fin.running_waiters.store(0, std::memory_order_relaxed);
}

}  // namespace gc
}  // namespace gomem
