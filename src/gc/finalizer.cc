// Finalizers, with Go's semantics (runtime.SetFinalizer).
//
// Records live in an off-heap hash table keyed by object address, so that
// they never keep anything alive by themselves. During marking, each
// object with a finalizer has its contents scanned (what it points to stays
// alive) but is not marked itself. After marking, an object with a
// finalizer that nobody marked is unreachable: it is marked now (it and
// everything it points to survive this cycle), its record leaves the table
// and joins the run queue, and the finalizer thread calls fn(obj, arg).
// Queued records are roots until their finalizer has run; if the object is
// still unreachable at the next cycle, it is freed like any other. So a
// finalizer runs once, on the finalizer thread, after its object became
// unreachable. As in Go, if A points to B and both have finalizers, only A's
// runs first (B is reachable from A); cycles of finalizable objects leak.
#include <cstring>

#include "gc/internal.h"
#include "heap/fault.h"
#include "heap/preempt.h"
#include "platform/os.h"
#include "platform/thread.h"

namespace gomem {
namespace gc {

namespace {

struct Entry {
  uintptr_t obj;  // 0 = empty, 1 = deleted
  void (*fn)(void*, void*);
  void* arg;
};

struct Queued {
  Queued* next;
  uintptr_t obj;
  void (*fn)(void*, void*);
  void* arg;
};

struct Finalizers {
  Mutex lock;  // taken inside non-preemptible sections only
  Entry* table = nullptr;
  size_t cap = 0;   // power of two
  size_t used = 0;  // live + deleted slots
  size_t live = 0;
  Queued* queue = nullptr;  // to run, newest first
  Queued* queue_tail = nullptr;
  Queued* free_recs = nullptr;
  std::atomic<uint32_t> queued{0};  // futex word for the runner
  std::atomic<uint64_t> run{0};
  bool runner_started = false;
};
GOMEM_META constinit Finalizers g_fin;

size_t hash(uintptr_t p) { return static_cast<size_t>((p >> 3) * 0x9E3779B97F4A7C15ull); }

Entry* find_locked(uintptr_t obj) {
  if (!g_fin.cap) return nullptr;
  size_t mask = g_fin.cap - 1;
  for (size_t i = hash(obj) & mask;; i = (i + 1) & mask) {
    Entry& e = g_fin.table[i];
    if (e.obj == obj) return &e;
    if (e.obj == 0) return nullptr;
  }
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

void* runner_main(void*) {
  register_current_thread(/*helper=*/true);
  for (;;) {
    uint32_t v = g_fin.queued.load(std::memory_order_acquire);
    // obj and arg must be on this (registered) thread's stack or registers
    // before the record stops being a root: copy them while the world
    // cannot stop, then give the record back.
    void* volatile obj = nullptr;
    void* volatile arg = nullptr;
    void (*fn)(void*, void*) = nullptr;
    {
      NoPreempt np;
      MutexLock l(g_fin.lock);
      if (Queued* q = g_fin.queue) {
        g_fin.queue = q->next;
        if (!g_fin.queue) g_fin.queue_tail = nullptr;
        obj = reinterpret_cast<void*>(q->obj);
        arg = q->arg;
        fn = q->fn;
        q->next = g_fin.free_recs;
        g_fin.free_recs = q;
      }
    }
    if (!fn) {
      os::futex_wait(reinterpret_cast<volatile uint32_t*>(&g_fin.queued), v);
      continue;
    }
    fn(obj, arg);
    g_fin.run.fetch_add(1, std::memory_order_relaxed);
  }
  return nullptr;
}

}  // namespace

// The caller is registered (runtime/gc_api.cc), and the whole call is one
// non-preemptible section: the collector reads and edits the table with the
// world stopped, without the lock.
bool set_finalizer(void* p, void (*fn)(void*, void*), void* arg) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  NoPreempt np;
  MSpan* s = g_arena_index.span_of(a);
  if (!s || s->state.load(std::memory_order_acquire) != SpanState::kInUse || !kind_is_gc(s->kind)) return false;
  if (s->large ? a != s->base : !s->is_slot_start(a)) return false;
  MutexLock l(g_fin.lock);
  Entry* e = find_locked(a);
  if (!fn) {
    if (e) {
      e->obj = 1;
      g_fin.live--;
    }
    return true;
  }
  if (e) {
    e->fn = fn;
    e->arg = arg;
    return true;
  }
  if ((g_fin.used + 1) * 4 > g_fin.cap * 3 && !grow_locked()) return false;
  size_t mask = g_fin.cap - 1;
  size_t i = hash(a) & mask;
  while (g_fin.table[i].obj > 1) i = (i + 1) & mask;
  if (g_fin.table[i].obj == 0) g_fin.used++;
  g_fin.table[i] = Entry{a, fn, arg};
  g_fin.live++;
  return true;
}

void remove_finalizer(uintptr_t a) {
  NoPreempt np;
  MutexLock l(g_fin.lock);
  if (Entry* e = find_locked(a)) {
    e->obj = 1;
    g_fin.live--;
  }
}

uint64_t finalizers_run() { return g_fin.run.load(std::memory_order_relaxed); }

void scan_finalizer_roots(Marker& m) {
  // World stopped: no one holds the lock.
  for (size_t i = 0; i < g_fin.cap; i++) {
    Entry& e = g_fin.table[i];
    if (e.obj <= 1) continue;
    MSpan* s = g_arena_index.span_of(e.obj);
    if (s && s->kind == SpanKind::kScan) {
      uintptr_t n = s->large ? s->bytes() : s->elemsize;
      m.scan_range(e.obj, e.obj + n);  // what it points to; not the object itself
    }
    m.mark_candidate(reinterpret_cast<uintptr_t>(e.arg));
  }
  for (Queued* q = g_fin.queue; q; q = q->next) {
    m.mark_candidate(q->obj);
    m.mark_candidate(reinterpret_cast<uintptr_t>(q->arg));
  }
}

void queue_dead_finalizers(Marker& m) {
  bool any = false;
  for (size_t i = 0; i < g_fin.cap; i++) {
    Entry& e = g_fin.table[i];
    if (e.obj <= 1) continue;
    MSpan* s = g_arena_index.span_of(e.obj);
    if (!s) continue;
    uintptr_t idx = s->large ? 0 : s->obj_index(e.obj);
    if (bit_test(s->gcmark_bits(), idx)) continue;  // still reachable
    // Unreachable: keep it (and, already marked, what it points to) one more
    // cycle and queue its finalizer.
    bit_set(s->gcmark_bits(), idx);
    m.marked_bytes += s->elemsize;
    Queued* q = new_rec_locked();
    q->next = nullptr;
    q->obj = e.obj;
    q->fn = e.fn;
    q->arg = e.arg;
    if (g_fin.queue_tail) g_fin.queue_tail->next = q;
    else g_fin.queue = q;
    g_fin.queue_tail = q;
    e.obj = 1;
    g_fin.live--;
    any = true;
  }
  if (any) g_fin.queued.fetch_add(1, std::memory_order_release);
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
  // The runner thread is gone (a finalizer it was running is lost with it);
  // a new one starts when the next cycle queues finalizers.
  g_fin.lock.reset();
  g_fin.runner_started = false;
}

}  // namespace gc
}  // namespace gomem
