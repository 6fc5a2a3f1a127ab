// Sampled heap profiling: draws, stack walks and the bucket table (see
// profile.h). Built with frame pointers (CMakeLists.txt), like the slow
// paths that call it.
#include "heap/profile.h"

#include <cstring>

#include "platform/mutex.h"
#include "platform/os.h"
#include "platform/thread.h"

namespace gomem {
namespace prof {

GOMEM_META constinit std::atomic<uint64_t> g_rate{0};
GOMEM_META constinit std::atomic<uint64_t> g_active{0};

namespace {

constexpr size_t kTableSize = 1 << 14;        // hash chains (Go's buckHashSize is 179999)
constexpr size_t kChunkBytes = 256 * 1024;    // bucket memory taken from the OS at a time
constexpr uintptr_t kStackProbe = 64 * 1024;  // stack bytes checked readable at a time
constexpr uintptr_t kMaxStack = 64 << 20;     // frames further than this above sp are not followed
// A saved frame pointer further than this above its frame ends the walk: no
// real frame is that big, and without the bound a program built without
// frame pointers (whose rbp holds any value) had the walk probe the memory
// above its stack 64 KiB at a time up to kMaxStack, a process_vm_readv per
// step (mstress: 21,625 calls for 801 threads; abseil's unwinder bounds a
// frame at 100,000 bytes for the same reason).
constexpr uintptr_t kMaxFrameBytes = 256 * 1024;

// Under g_lock: the table (allocated on first use), the chunk buckets are
// carved from, and what is left of it.
GOMEM_META constinit Mutex g_lock;
GOMEM_META constinit Bucket** g_table = nullptr;
GOMEM_META constinit char* g_chunk = nullptr;
GOMEM_META constinit size_t g_chunk_left = 0;
// Every bucket, newest first: written under g_lock (release), read by the
// writer without it.
GOMEM_META constinit std::atomic<Bucket*> g_all{nullptr};
// The draws' generator (splitmix64 over a shared counter: one atomic add a
// draw; draws are rare, one per sample or large allocation).
GOMEM_META constinit std::atomic<uint64_t> g_seed{0};

// The part of the calling thread's stack found readable so far, [lo, hi);
// hi_final once hi is known to be the end. The thread's own state.
GOMEM_TLS uintptr_t t_stack_lo;
GOMEM_TLS uintptr_t t_stack_hi;
GOMEM_TLS bool t_stack_hi_final;

}  // namespace

uint64_t next_random() {
  uint64_t z = g_seed.fetch_add(0x9E3779B97F4A7C15ull, std::memory_order_relaxed);
  if (GOMEM_UNLIKELY(z == 0)) {  // first draw: start from a random point
    uint64_t s = os::random_u64() | 1;
    uint64_t zero = 0x9E3779B97F4A7C15ull;
    g_seed.compare_exchange_strong(zero, s, std::memory_order_relaxed);
    z = g_seed.fetch_add(0x9E3779B97F4A7C15ull, std::memory_order_relaxed);
  }
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

namespace {

// Makes [t_stack_lo, t_stack_hi) cover the page of sp and, if it can, the
// 16 bytes at fp: pages are checked as the walk needs them.
bool stack_covers(uintptr_t sp, uintptr_t fp) {
  if (sp < t_stack_lo || sp >= t_stack_hi) {
    t_stack_lo = sp & ~(os::kPhysPageSize - 1);
    size_t n = os::readable_prefix(t_stack_lo, kStackProbe);
    t_stack_hi = t_stack_lo + n;
    t_stack_hi_final = n < kStackProbe;
  }
  while (fp + 16 > t_stack_hi && !t_stack_hi_final && t_stack_hi - t_stack_lo < kMaxStack) {
    size_t n = os::readable_prefix(t_stack_hi, kStackProbe);
    t_stack_hi += n;
    t_stack_hi_final = n < kStackProbe;
  }
  return fp + 16 <= t_stack_hi;
}

// walk_frames, inlined into walk_stack: as a call it would be a tail call,
// and walk_stack's frame, where the walk starts, would be gone.
GOMEM_INLINE int walk_from(uintptr_t fp, uintptr_t sp, uintptr_t* pcs, int max) {
  int n = 0;
  while (n < max && fp >= sp && (fp & 7) == 0 && stack_covers(sp, fp)) {
    const uintptr_t* frame = reinterpret_cast<const uintptr_t*>(fp);
    uintptr_t next = frame[0], ret = frame[1];
    if (ret == 0) break;
    pcs[n++] = ret;
    if (next <= fp || next - fp > kMaxFrameBytes) break;
    fp = next;
  }
  return n;
}

}  // namespace

int walk_frames(uintptr_t fp, uintptr_t sp, uintptr_t* pcs, int max) { return walk_from(fp, sp, pcs, max); }

GOMEM_NOINLINE int walk_stack(uintptr_t* pcs, int max) {
  return walk_from(reinterpret_cast<uintptr_t>(__builtin_frame_address(0)), os::current_sp(), pcs, max);
}

namespace {

uint64_t hash_stack(const uintptr_t* pcs, int n, Heap heap) {
  uint64_t h = 0xcbf29ce484222325ull ^ static_cast<uint64_t>(heap);
  for (int i = 0; i < n; i++) h = (h ^ pcs[i]) * 0x100000001b3ull;
  return h ^ (h >> 29);
}

// Metadata memory for a bucket of `bytes` (under g_lock), or nullptr.
void* carve(size_t bytes) {
  bytes = (bytes + 15) & ~size_t{15};
  if (bytes > g_chunk_left) {
    void* c = linux_mem_os().alloc_meta(kChunkBytes);
    if (!c) return nullptr;
    g_chunk = static_cast<char*>(c);
    g_chunk_left = kChunkBytes;
  }
  void* p = g_chunk;
  g_chunk += bytes;
  g_chunk_left -= bytes;
  return p;
}

// The bucket of this stack, made if new (under g_lock), or nullptr.
Bucket* find_bucket(const uintptr_t* pcs, int n, Heap heap) {
  if (!g_table) {
    g_table = static_cast<Bucket**>(linux_mem_os().alloc_meta(kTableSize * sizeof(Bucket*)));
    if (!g_table) return nullptr;
  }
  uint64_t h = hash_stack(pcs, n, heap);
  Bucket** head = &g_table[h % kTableSize];
  for (Bucket* b = *head; b; b = b->chain)
    if (b->hash == h && b->heap == heap && b->depth == static_cast<uint32_t>(n) &&
        memcmp(b->pcs, pcs, static_cast<size_t>(n) * sizeof(uintptr_t)) == 0)
      return b;
  auto* b = static_cast<Bucket*>(carve(sizeof(Bucket) + static_cast<size_t>(n) * sizeof(uintptr_t)));
  if (!b) return nullptr;
  b->hash = h;
  b->depth = static_cast<uint32_t>(n);
  b->heap = heap;
  memcpy(b->pcs, pcs, static_cast<size_t>(n) * sizeof(uintptr_t));
  b->chain = *head;
  *head = b;
  b->all_next = g_all.load(std::memory_order_relaxed);
  g_all.store(b, std::memory_order_release);
  return b;
}

}  // namespace

void set_rate(uint64_t bytes) {
  g_rate.store(bytes, std::memory_order_relaxed);
  g_active.store(bytes | (g_active.load(std::memory_order_relaxed) & 1), std::memory_order_relaxed);
}

void set_guarded() { g_active.fetch_or(1, std::memory_order_relaxed); }

Bucket* all_buckets() { return g_all.load(std::memory_order_acquire); }

uint64_t draw_bytes(uint64_t rate) {
  // -ln(u) * rate with u uniform in (0, 1]: 53 random bits.
  double u = static_cast<double>((next_random() >> 11) + 1) * 0x1.0p-53;
  double r = -log_e(u) * static_cast<double>(rate);
  return r < 1 ? 1 : r > 0x1.0p62 ? uint64_t{1} << 62 : static_cast<uint64_t>(r);
}

void record(MSpan* s, uintptr_t bytes, Heap heap) {
  uintptr_t pcs[kMaxDepth];
  int n = walk_stack(pcs, kMaxDepth);
  // The span keeps elemsize - bytes in 32 bits (less than a page plus the
  // alignment's padding; a slack beyond 4 GiB is recorded as in use).
  uintptr_t slack = s->elemsize - bytes;
  if (slack > UINT32_MAX) slack = UINT32_MAX;
  bytes = s->elemsize - slack;
  MutexLock l(g_lock);
  Bucket* b = find_bucket(pcs, n, heap);
  if (!b) return;
  b->alloc_objects.fetch_add(1, std::memory_order_relaxed);
  b->alloc_bytes.fetch_add(bytes, std::memory_order_relaxed);
  s->prof_slack = static_cast<uint32_t>(slack);
  s->prof_bucket = b;
}

void charge_free_slow(MSpan* s) {
  Bucket* b = s->prof_bucket;
  s->prof_bucket = nullptr;
  b->free_objects.fetch_add(1, std::memory_order_relaxed);
  b->free_bytes.fetch_add(s->prof_bytes(), std::memory_order_relaxed);
}

void fork_prepare() { g_lock.lock(); }
void fork_parent() { g_lock.unlock(); }
void fork_child() { g_lock.reset(); }

// ln(x) for x > 0: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), then
// ln(m) = 2 atanh(t), t = (m - 1) / (m + 1), |t| < 0.172: seven terms give
// 1e-12 (libm is not linked).
double log_e(double x) {
  uint64_t b;
  memcpy(&b, &x, sizeof b);
  int e = static_cast<int>((b >> 52) & 0x7ff) - 1023;
  b = (b & ((uint64_t{1} << 52) - 1)) | (uint64_t{1023} << 52);
  double m;
  memcpy(&m, &b, sizeof m);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e++;
  }
  double t = (m - 1) / (m + 1), t2 = t * t;
  double s = 2.0 / 13;
  for (int k = 11; k >= 1; k -= 2) s = 2.0 / k + t2 * s;
  return t * s + e * 0.6931471805599453;
}

// e^x: x = k ln 2 + r with |r| <= ln 2 / 2, e^r by its series (14 terms).
double exp_e(double x) {
  if (x < -700) return 0;
  if (x > 700) return 0x1.0p1000;
  double kf = x * 1.4426950408889634;
  int k = static_cast<int>(kf < 0 ? kf - 0.5 : kf + 0.5);
  double r = x - k * 0.6931471805599453;
  double s = 1;
  for (int i = 14; i >= 1; i--) s = 1 + r * s / i;
  uint64_t b = static_cast<uint64_t>(k + 1023) << 52;
  double p;
  memcpy(&p, &b, sizeof p);
  return s * p;
}

}  // namespace prof
}  // namespace gomem
