// Marking: grey objects in work buffers, parallel markers, work stealing.
//
// Each marker keeps one work buffer of grey objects. A full buffer goes to a
// shared pool; a marker whose buffer runs dry takes a full one from the
// pool; a marker that sees idle peers while the pool is empty gives away half
// of its buffer (Go's gcWork.balance). Marking ends when every marker is
// idle and the pool is empty, which the pool lock makes exact: buffers are
// only added by markers that are not idle. An idle marker spins briefly,
// then sleeps on a futex until a buffer is added or the drain ends
// (idle_sleep): the peer it waits for may be one the scheduler has set
// aside (on a machine busy with other processes), and spinning or yielding
// against it only takes the CPU that peer needs.
//
// A concurrent cycle's drains beside the program (mark_parallel with
// assists open) also take program threads that would otherwise wait for
// the cycle (mark_assist, Go's mark assist): under the pool lock, while the
// drain is open and not done, the thread counts itself in nworkers (so the
// termination test above still counts every marker) and drains with its
// own Marker. mark_parallel returns only once every assist has left, so
// none is mid-drain when pre-cleaning goes on or the final stop begins. The
// final stop's drain and mark_serial stay closed to them.
//
// The proportional assists (mark_assist_n, concurrent.cc has the design)
// join the same way but leave after a bounded amount of work: a leaving
// assist hands back what it did not scan (a full buffer in the pool, which
// wakes idle markers) and, if that leaves every remaining marker idle with
// the pool empty, ends the drain itself, since none of them would look
// again. An assist never idles in the drain, so it is never counted in
// nwait and no drain ends while it holds work. Markers hold most of the work
// in their own buffers (a depth-first walk of a tree rarely fills one), so
// an assist that finds the pool empty sets want, and the markers give half
// of their buffer away as they do for idle peers (balance); the assist waits
// for that only briefly. While a cycle marks beside the program the markers
// also keep some work in the pool unasked, and only a quarter of them (at
// least one, round_helpers) take part: the program's assists do the rest.
#include <cstring>

#include "base/fmt.h"
#include "gc/internal.h"
#include "heap/fault.h"
#include "heap/fixalloc.h"
#include "heap/preempt.h"
#include "platform/os.h"
#include "platform/thread.h"

namespace gomem {
namespace gc {

GOMEM_META constinit HeapRange g_range;
GOMEM_META constinit TraceRoot g_trace_root;
GOMEM_META constinit std::atomic<ConcHook> g_conc_scan_hook{nullptr};

namespace {

struct Pool {
  Mutex lock;
  WorkBuf* full = nullptr;
  WorkBuf* empty = nullptr;
  std::atomic<uint32_t> nfull{0};
  std::atomic<int> nwait{0};
  // Idle markers asleep (idle_sleep: atomic adds by each) and the word they
  // sleep on, bumped (then a futex wake) by whoever adds a full buffer or
  // ends the drain while one sleeps (wake_idle).
  std::atomic<uint32_t> nsleep{0};
  std::atomic<uint32_t> wake_seq{0};
  int nworkers = 1;  // under the lock (the drain's owner sets it, assists add themselves)
  std::atomic<bool> done{false};
  // Assists: open is set under the lock by mark_parallel while assists may
  // join its drain; assisting counts those in it (added under the lock,
  // removed by each assist as it leaves, then a futex wake for the owner).
  bool open = false;
  std::atomic<uint32_t> assisting{0};
  // Set by an assist that found the pool empty, cleared by the marker that
  // gives it work (balance).
  std::atomic<bool> want{false};
  // What the proportional assists scanned and marked in the current drain
  // (under the lock; mark_parallel adds it to the drain's owner).
  Marker* assisted = nullptr;
  // Helper markers. round: a marking round's number times kRoundOne plus
  // the number of helpers that join it (helpers 0 .. n-1; the others sit
  // it out), in one word so that a helper reads both at once; bumped by
  // mark_parallel (then a futex wake) to start a round.
  std::atomic<uint32_t> round{0};
  std::atomic<uint32_t> finished{0};  // helpers done with the round
  int nhelpers = 0;
  bool helpers_started = false;
  Marker* root_marker = nullptr;
};
GOMEM_META constinit Pool g_pool;

// round's low bits count the helpers of the round (at most 7: num_markers).
constexpr uint32_t kRoundOne = 16;
// A marker adds its scan work to the cycle's figures once it has this many
// bytes unflushed (Go's gcCreditSlack, in bytes here).
constexpr uint64_t kCreditSlack = 64 * 1024;
// An assist waits this many spins for a marker to give it work.
constexpr int kWantSpins = 1000;
// An idle marker spins this many times for work, then sleeps (idle_sleep).
constexpr int kIdleSpins = 1000;
// While a cycle marks beside the program, a marker with this much work
// puts half of it in an empty pool for the assists.
constexpr uint32_t kKeepShared = 8;

// A full buffer was added or the drain is done: wakes the idle markers
// asleep. The seq_cst fence pairs with idle_sleep's: either it sees the
// sleeper counted, or the sleeper sees the buffer (or done).
void wake_idle() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (g_pool.nsleep.load(std::memory_order_relaxed) == 0) return;
  g_pool.wake_seq.fetch_add(1, std::memory_order_release);
  os::futex_wake(reinterpret_cast<volatile uint32_t*>(&g_pool.wake_seq), 1 << 30);
}

// An idle marker that spun kIdleSpins times without finding work: sleeps
// until a buffer is added or the drain is done, rather than spin or yield
// against a peer that the scheduler has set aside (the peer holding the
// last work, or the one that would end the drain). The bound only
// re-checks, in case a wake was lost.
void idle_sleep() {
  constexpr int64_t kRecheckNs = 10 * 1000 * 1000;
  uint32_t seq = g_pool.wake_seq.load(std::memory_order_acquire);
  g_pool.nsleep.fetch_add(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (g_pool.nfull.load(std::memory_order_relaxed) == 0 && !g_pool.done.load(std::memory_order_relaxed))
    os::futex_wait(reinterpret_cast<volatile uint32_t*>(&g_pool.wake_seq), seq, kRecheckNs);
  g_pool.nsleep.fetch_sub(1, std::memory_order_relaxed);
}

WorkBuf* new_buf() {
  {
    MutexLock l(g_pool.lock);
    if (WorkBuf* b = g_pool.empty) {
      g_pool.empty = b->next;
      b->n = 0;
      return b;
    }
  }
  // Work buffers are never freed: the pool holds at most what the largest
  // mark needed.
  constexpr size_t kChunk = 64 * sizeof(WorkBuf);
  char* mem = static_cast<char*>(g_heap.os().alloc_meta(kChunk));
  if (!mem) fatal("out of memory for mark work buffers");
  MutexLock l(g_pool.lock);
  for (size_t i = 1; i < 64; i++) {
    WorkBuf* b = reinterpret_cast<WorkBuf*>(mem + i * sizeof(WorkBuf));
    b->next = g_pool.empty;
    g_pool.empty = b;
  }
  WorkBuf* b = reinterpret_cast<WorkBuf*>(mem);
  b->n = 0;
  return b;
}

void put_empty(WorkBuf* b) {
  MutexLock l(g_pool.lock);
  b->next = g_pool.empty;
  g_pool.empty = b;
}

// Drains with a Marker of the calling thread's own (a helper marker or an
// assist) and adds its figures to the drain owner's (root_marker, which
// waits for it). Returns the bytes it scanned.
uint64_t drain_for_root(bool assist) {
  Marker m;
  m.init();
  m.assist = assist;
  m.drain();
  m.flush_credit();
  {
    MutexLock l(g_pool.lock);
    g_pool.root_marker->absorb(m);
  }
  m.release();
  return m.scanned_bytes;
}

// arg: the helper's index times 2^32 plus the round when it was started
// (rounds are only started after start_markers returns, under the
// collection lock). Not 0: in a forked child the count goes on from the
// parent's, and a helper that took the parent's last round for a new one
// would mark with nobody waiting for it and write into the parent's
// collector's Marker through a stale root_marker.
void* helper_main(void* arg) {
  uintptr_t a = reinterpret_cast<uintptr_t>(arg);
  uint32_t seen = static_cast<uint32_t>(a);
  uint32_t index = static_cast<uint32_t>(a >> 32);
  for (;;) {
    uint32_t r;
    while ((r = g_pool.round.load(std::memory_order_acquire)) == seen)
      os::futex_wait(reinterpret_cast<volatile uint32_t*>(&g_pool.round), r);
    seen = r;
    if (index >= r % kRoundOne) continue;  // not one of this round's
    drain_for_root(false);
    g_pool.finished.fetch_add(1, std::memory_order_acq_rel);
    os::futex_wake(reinterpret_cast<volatile uint32_t*>(&g_pool.finished), 1);
  }
  return nullptr;
}

}  // namespace

int num_markers() {
  int n = g_gcsettings.markers;
  if (n <= 0) n = os::num_cpus();
  if (n > 8) n = 8;
  return n < 1 ? 1 : n;
}

int idle_markers() { return g_pool.nwait.load(std::memory_order_acquire); }

void Marker::init() { buf_ = new_buf(); }

void Marker::release() {
  if (buf_) put_empty(buf_);
  buf_ = nullptr;
}

namespace {

// Puts full buffer b in the pool and wakes the idle markers asleep.
void push_full(WorkBuf* b) {
  {
    MutexLock l(g_pool.lock);
    b->next = g_pool.full;
    g_pool.full = b;
    g_pool.nfull.fetch_add(1, std::memory_order_release);
  }
  wake_idle();
}

}  // namespace

void Marker::flush_full() {
  push_full(buf_);
  buf_ = new_buf();
}

void Marker::share() {
  if (buf_->n == 0) return;
  flush_full();
}

bool Marker::refill() {
  MutexLock l(g_pool.lock);
  WorkBuf* b = g_pool.full;
  if (!b) return false;
  g_pool.full = b->next;
  g_pool.nfull.fetch_sub(1, std::memory_order_relaxed);
  buf_->next = g_pool.empty;  // buf_ is empty here
  g_pool.empty = buf_;
  buf_ = b;
  return true;
}

void Marker::absorb(const Marker& o) {
  scanned_bytes += o.scanned_bytes;
  marked_bytes += o.marked_bytes;
  flushed_ += o.scanned_bytes;
}

void Marker::balance() {
  // Peers are idle (or an assist wants work) and there is nothing to take:
  // give them half (the oldest half: in a depth-first walk those are the
  // biggest subgraphs). While a cycle marks beside the program, keep some
  // work in the pool anyway: an assist must not depend on a marker the
  // scheduler has set aside.
  if (buf_->n < 2 || g_pool.nfull.load(std::memory_order_relaxed) != 0) return;
  if (g_pool.nwait.load(std::memory_order_relaxed) == 0 && !g_pool.want.load(std::memory_order_relaxed) &&
      (buf_->n < kKeepShared || !g_conc.marking.load(std::memory_order_relaxed)))
    return;
  g_pool.want.store(false, std::memory_order_relaxed);
  WorkBuf* b = new_buf();
  uint32_t half = buf_->n / 2;
  memcpy(b->obj, buf_->obj, half * sizeof(uintptr_t));
  memmove(buf_->obj, buf_->obj + half, (buf_->n - half) * sizeof(uintptr_t));
  b->n = half;
  buf_->n -= half;
  push_full(b);
}

void find_trace_root() {
  uintptr_t a = g_gcsettings.trace_root;
  g_trace_root = TraceRoot{};
  if (!a || a - g_range.lo >= g_range.span) return;
  MSpan* s = g_arena_index.span_of(a);
  if (!s || s->state.load(std::memory_order_acquire) != SpanState::kInUse) return;
  uintptr_t idx = s->obj_index(a);
  if (idx >= s->nelems) return;
  g_trace_root.lo = s->base + idx * s->elemsize;
  g_trace_root.hi = g_trace_root.lo + s->elemsize;
}

// Off the marking path: only runs when a scanned range was found to hold the
// traced object. Never allocates (the world is stopped).
GOMEM_NO_TSAN GOMEM_NOINLINE void Marker::trace_words(const uintptr_t* w, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (w[i] - g_trace_root.lo >= g_trace_root.hi - g_trace_root.lo) continue;
    StackBuf<512> b;
    b.s("gomem: GOMEM_GC_TRACE_ROOT: object ").x(g_trace_root.lo).s(" (").u(g_trace_root.hi - g_trace_root.lo);
    b.s(" B) is pointed to by the word ").x(w[i]);
    switch (where_) {
      case RootKind::kHeapObject:
        b.s(" at ").p(w + i).s(" in the heap object ").x(where_a_);
        break;
      case RootKind::kStack:
        b.s(" at ").p(w + i).s(" on the stack of thread ").u(where_a_).s(" (stopped at ").x(where_b_).c(')');
        break;
      case RootKind::kRegisters:
        b.s(" in saved register ").u(i).s(" of thread ").u(where_a_);
        break;
      case RootKind::kTLS:
        b.s(" at ").p(w + i).s(" in the static TLS of thread ").u(where_a_);
        break;
      case RootKind::kData:
        b.s(" at ")
            .p(w + i)
            .s(" in the data segment of ")
            .s(where_name_ && *where_name_ ? where_name_ : "the main program");
        break;
      case RootKind::kUser:
        b.s(" at ").p(w + i).s(" in the registered range ").x(where_a_).c('-').x(where_b_);
        break;
      case RootKind::kUncollectable:
        b.s(" at ").p(w + i).s(" in the uncollectable span at ").x(where_a_);
        break;
      case RootKind::kFinalizer:
        b.s(" at ").p(w + i).s(", a finalizer root of the object ").x(where_a_);
        break;
      case RootKind::kQueued:
        b.s(" at ").p(w + i).s(" in the finalizer and cleanup queue");
        break;
      case RootKind::kCallback:
        b.s(" at ").p(w + i).s(" in the range ").x(where_a_).c('-').x(where_b_).s(" a root callback named");
        break;
    }
    b.c('\n');
    os::write_stderr(b.str(), b.len());
  }
}

GOMEM_NO_TSAN void Marker::scan_words(const uintptr_t* w, size_t n) {
  if (GOMEM_UNLIKELY(g_trace_root.hi != 0)) trace_words(w, n);
  for (size_t i = 0; i < n; i++) mark_candidate(w[i]);
}

GOMEM_NO_TSAN void Marker::scan_range(uintptr_t lo, uintptr_t hi) { scan_block(lo, hi, 0); }

GOMEM_NO_TSAN GOMEM_INLINE void Marker::scan_block(uintptr_t lo, uintptr_t hi, uintptr_t obj) {
  lo = align_up(lo, sizeof(uintptr_t));
  hi = align_down(hi, sizeof(uintptr_t));
  if (hi <= lo) return;
  scanned_bytes += hi - lo;
  const uintptr_t* p = reinterpret_cast<const uintptr_t*>(lo);
  const uintptr_t* e = reinterpret_cast<const uintptr_t*>(hi);
  if (GOMEM_UNLIKELY(g_trace_root.hi != 0)) {
    if (obj) note(RootKind::kHeapObject, obj);
    trace_words(p, static_cast<size_t>(e - p));
  }
  for (; p < e; p++) mark_candidate(*p);
}

void Marker::scan_object(uintptr_t b) {
  MSpan* s = g_arena_index.span_or_empty(b);
  uintptr_t n = s->elemsize;
  if (s->large) {
    uintptr_t end = s->base + n;
    if (b == s->base && n > kObletBytes) {
      for (uintptr_t o = b + kObletBytes; o < end; o += kObletBytes) push(o);
      n = kObletBytes;
    } else if (b != s->base) {
      n = end - b < kObletBytes ? end - b : kObletBytes;
    }
  }
  scan_block(b, b + n, s->large ? s->base : b);
}

void Marker::drain() {
  // Objects wait in a small FIFO after they leave the work buffer, with a
  // prefetch issued as they enter, so that scanning one overlaps fetching
  // the next few (the objects are scattered: nearly every one is a miss).
  constexpr uint32_t kAhead = 8;
  uintptr_t ring[kAhead];
  uint32_t head = 0, count = 0;
  uint32_t since_balance = 0;
  for (;;) {
    while (count < kAhead && buf_->n > 0) {
      uintptr_t b = buf_->obj[--buf_->n];
      __builtin_prefetch(reinterpret_cast<const void*>(b));
      ring[(head + count) % kAhead] = b;
      count++;
    }
    if (count > 0) {
      uintptr_t b = ring[head];
      head = (head + 1) % kAhead;
      count--;
      scan_object(b);
      if (GOMEM_UNLIKELY(g_conc_scan_hook.load(std::memory_order_relaxed) != nullptr))
        g_conc_scan_hook.load(std::memory_order_relaxed)(static_cast<intptr_t>(b));
      if (++since_balance == 16) {
        since_balance = 0;
        balance();
        if (scanned_bytes - flushed_ >= kCreditSlack) flush_credit();
      }
      continue;
    }
    if (refill()) continue;
    // Idle. Decide under the lock whether marking is over.
    {
      MutexLock l(g_pool.lock);
      if (g_pool.full) continue;
      if (g_pool.nwait.fetch_add(1, std::memory_order_acq_rel) + 1 == g_pool.nworkers) {
        g_pool.done.store(true, std::memory_order_release);
        wake_idle();
        return;
      }
    }
    int spins = 0;
    for (;;) {
      if (g_pool.done.load(std::memory_order_acquire)) return;
      if (g_pool.nfull.load(std::memory_order_acquire) != 0) {
        MutexLock l(g_pool.lock);
        if (g_pool.done.load(std::memory_order_relaxed)) return;
        g_pool.nwait.fetch_sub(1, std::memory_order_acq_rel);
        break;
      }
      if (++spins < kIdleSpins)
        cpu_relax();
      else
        idle_sleep();
    }
  }
}

// An assist found the pool empty: asks the markers for work and waits for
// it a little (they look every 16 objects).
bool Marker::wait_for_work() {
  g_pool.want.store(true, std::memory_order_relaxed);
  for (int i = 0; i < kWantSpins; i++) {
    if (g_pool.nfull.load(std::memory_order_acquire) != 0) return refill();
    if (g_pool.done.load(std::memory_order_relaxed)) return false;
    cpu_relax();
  }
  return refill();
}

uint64_t Marker::drain_n(uint64_t budget) {
  uint64_t start = scanned_bytes;
  uint32_t since_balance = 0;
  while (scanned_bytes - start < budget) {
    if (buf_->n == 0 && !refill() && !wait_for_work()) break;
    scan_object(buf_->obj[--buf_->n]);
    if (++since_balance == 16) {
      since_balance = 0;
      balance();
    }
  }
  flush_credit();
  return scanned_bytes - start;
}

void start_markers() {
  int n = num_markers();
  if (n > 1 && !g_pool.helpers_started) {
    uintptr_t round = g_pool.round.load(std::memory_order_relaxed);
    for (int i = 0; i < n - 1; i++)
      if (os::start_thread(helper_main, reinterpret_cast<void*>(round | uintptr_t(g_pool.nhelpers) << 32)))
        g_pool.nhelpers++;
    g_pool.helpers_started = true;
  }
}

namespace {

// Beside the program, the markers take a quarter of the CPUs, at least
// one (Go's gcBackgroundUtilization; the program's assists make up the
// rest); with the world stopped, all of them.
uint32_t round_helpers(bool beside) {
  int n = num_markers() / 4 - 1;
  if (!beside || n > g_pool.nhelpers) n = g_pool.nhelpers;
  return n < 0 ? 0 : static_cast<uint32_t>(n);
}

}  // namespace

int conc_markers() { return 1 + static_cast<int>(round_helpers(true)); }

void mark_parallel(Marker& m, bool assists) {
  Marker assisted;  // what the proportional assists scan in this drain
  uint32_t helpers = round_helpers(assists);
  {
    MutexLock l(g_pool.lock);
    g_pool.assisted = &assisted;
    g_pool.nworkers = 1 + static_cast<int>(helpers);
    g_pool.nwait.store(0, std::memory_order_relaxed);
    g_pool.done.store(false, std::memory_order_relaxed);
    g_pool.finished.store(0, std::memory_order_relaxed);
    g_pool.root_marker = &m;
    g_pool.open = assists;
  }
  if (assists) {
    m.share();
    conc_wake_assists();
    if (ConcHook h = g_conc_hooks.opened) h(-1);
  }
  if (helpers) {
    uint32_t r = g_pool.round.load(std::memory_order_relaxed);
    g_pool.round.store((r / kRoundOne + 1) * kRoundOne + helpers, std::memory_order_release);
    os::futex_wake(reinterpret_cast<volatile uint32_t*>(&g_pool.round), 1 << 30);
  }
  m.drain();
  uint32_t f;
  while ((f = g_pool.finished.load(std::memory_order_acquire)) < helpers)
    os::futex_wait(reinterpret_cast<volatile uint32_t*>(&g_pool.finished), f);
  // Done is set: no assist joins any more. Wait for those in the drain to
  // leave: each sees done at its next check (drain's idle loop) and only
  // adds its figures to m before leaving, so the wait is bounded by that.
  while ((f = g_pool.assisting.load(std::memory_order_acquire)) != 0)
    os::futex_wait(reinterpret_cast<volatile uint32_t*>(&g_pool.assisting), f);
  MutexLock l(g_pool.lock);
  g_pool.open = false;
  g_pool.assisted = nullptr;
  m.absorb(assisted);
}

// An assist is a non-preemptible section: a world-stop must not find it
// holding the pool's lock (which the collector takes with the world
// stopped). No drain is open across a stop, so the stop is deferred at most
// for the join test below.
GOMEM_NOINLINE bool mark_assist() {
  NoPreempt np;
  {
    MutexLock l(g_pool.lock);
    if (!g_pool.open || g_pool.done.load(std::memory_order_relaxed)) return false;
    g_pool.nworkers++;
    g_pool.assisting.fetch_add(1, std::memory_order_relaxed);
  }
  g_conc.assist_scanned.fetch_add(drain_for_root(true), std::memory_order_relaxed);
  g_pool.assisting.fetch_sub(1, std::memory_order_acq_rel);
  os::futex_wake(reinterpret_cast<volatile uint32_t*>(&g_pool.assisting), 1);
  return true;
}

uint64_t mark_assist_n(uint64_t budget) {
  NoPreempt np;  // as mark_assist
  {
    MutexLock l(g_pool.lock);
    if (!g_pool.open || g_pool.done.load(std::memory_order_relaxed)) return 0;
    g_pool.nworkers++;
    g_pool.assisting.fetch_add(1, std::memory_order_relaxed);
  }
  Marker m;
  m.init();
  m.assist = true;
  uint64_t n = m.drain_n(budget);
  m.share();  // what it did not scan, back in the pool
  {
    MutexLock l(g_pool.lock);
    g_pool.nworkers--;
    // The markers left idle would not look again: the drain is over.
    if (!g_pool.full && g_pool.nwait.load(std::memory_order_relaxed) == g_pool.nworkers)
      g_pool.done.store(true, std::memory_order_release);
    g_pool.assisted->absorb(m);
  }
  wake_idle();
  m.release();
  g_pool.assisting.fetch_sub(1, std::memory_order_acq_rel);
  os::futex_wake(reinterpret_cast<volatile uint32_t*>(&g_pool.assisting), 1);
  if (n) g_conc.assist_scanned.fetch_add(n, std::memory_order_relaxed);
  return n;
}

void mark_serial(Marker& m) {
  {
    MutexLock l(g_pool.lock);
    g_pool.nworkers = 1;
    g_pool.nwait.store(0, std::memory_order_relaxed);
    g_pool.done.store(false, std::memory_order_relaxed);
  }
  m.drain();
}

void helpers_fork_child() {
  // The helper threads did not survive the fork; start new ones on demand
  // (they start from the current round, see helper_main). No cycle runs
  // across a fork (the collection lock), so every work buffer is back in the
  // pool.
  g_pool.lock.reset();
  g_pool.helpers_started = false;
  g_pool.nhelpers = 0;
  g_pool.finished.store(0, std::memory_order_relaxed);
}

}  // namespace gc
}  // namespace gomem
