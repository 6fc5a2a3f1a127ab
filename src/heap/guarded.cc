// The guarded pool: slots, quarantine FIFO, free-time checks (see guarded.h).
// Built with frame pointers (CMakeLists.txt), like profile.cc, so that
// walk_stack finds its way out to the program.
#include "heap/guarded.h"

#include <cstring>

#include "platform/mutex.h"
#include "platform/thread.h"

namespace gomem {
namespace guarded {

GOMEM_META constinit uintptr_t g_base = 0;
GOMEM_META constinit uintptr_t g_bytes = 0;
GOMEM_META constinit uint64_t g_rate = 0;

namespace {

constexpr uintptr_t kMallocAlign = 16;  // what malloc gives every object (glibc's MALLOC_ALIGNMENT)

// The records (set once by init) and the FIFO of slots not live, oldest
// freed first: g_fifo[(g_head + i) % kSlots] for i < g_nfree, under g_lock.
GOMEM_META constinit Slot* g_slots = nullptr;
GOMEM_META constinit uint32_t* g_fifo = nullptr;
GOMEM_META constinit uint32_t g_head = 0;
GOMEM_META constinit uint32_t g_nfree = 0;
GOMEM_META constinit Mutex g_lock;

GOMEM_INLINE uintptr_t slot_page(uint32_t i) { return g_base + (2 * uintptr_t{i} + 1) * kSlotSize; }
GOMEM_INLINE uintptr_t slot_end(uint32_t i) { return slot_page(i) + kSlotSize; }
GOMEM_INLINE uint32_t index_of(const Slot* s) { return static_cast<uint32_t>(s - g_slots); }

void push_free(uint32_t i) {
  MutexLock l(g_lock);
  g_fifo[(g_head + g_nfree) % kSlots] = i;
  g_nfree++;
}

bool pop_free(uint32_t* i) {
  MutexLock l(g_lock);
  if (g_nfree == 0) return false;
  *i = g_fifo[g_head];
  g_head = (g_head + 1) % kSlots;
  g_nfree--;
  return true;
}

}  // namespace

bool init(uint64_t rate) {
  size_t bytes = (2 * uintptr_t{kSlots} + 1) * kSlotSize;
  void* base = linux_mem_os().reserve(nullptr, bytes);
  auto* slots = static_cast<Slot*>(linux_mem_os().alloc_meta(kSlots * sizeof(Slot)));
  auto* fifo = static_cast<uint32_t*>(linux_mem_os().alloc_meta(kSlots * sizeof(uint32_t)));
  if (!base || !slots || !fifo) return false;  // (what was mapped stays: address space, once)
  for (uint32_t i = 0; i < kSlots; i++) fifo[i] = i;
  g_slots = slots;
  g_fifo = fifo;
  g_nfree = kSlots;
  g_base = reinterpret_cast<uintptr_t>(base);
  g_bytes = bytes;
  g_rate = rate;
  prof::set_guarded();
  return true;
}

GOMEM_NOINLINE void* alloc(size_t size, size_t align) {
  uint32_t i;
  if (size > kSlotSize || align > kSlotSize || !pop_free(&i)) return nullptr;
  Slot& s = g_slots[i];
  auto* page = reinterpret_cast<char*>(slot_page(i));
  if (!os::protect(page, kSlotSize, true)) {  // out of kernel mappings
    push_free(i);
    return nullptr;
  }
  // A reused page may still hold its last object (given back with
  // MADV_FREE): zero it.
  if (s.stale) memset(page, 0, kSlotSize);
  if (align < kMallocAlign) align = kMallocAlign;
  uintptr_t end = slot_end(i);
  uintptr_t p = (end - (size ? size : 1)) & ~(align - 1);
  memset(reinterpret_cast<void*>(p + size), kSlackByte, end - (p + size));
  s.ptr = p;
  s.size = static_cast<uint32_t>(size);
  s.alloc_tid = os::gettid();
  s.alloc_depth = prof::walk_stack(s.alloc_pcs, kStackDepth);
  s.free_depth = 0;
  s.state.store(State::kLive, std::memory_order_release);
  return reinterpret_cast<void*>(p);
}

Slot* slot_of(uintptr_t addr) {
  uintptr_t page = (addr - g_base) / kSlotSize;
  return page & 1 ? &g_slots[page / 2] : nullptr;
}

Slot* slot_near(uintptr_t addr) {
  if (Slot* s = slot_of(addr)) return s;
  // A guard page: between slot k-1 (addr is past its object) and slot k
  // (addr is before it). The nearer object that ever was wins.
  uint32_t k = static_cast<uint32_t>((addr - g_base) / kSlotSize / 2);
  Slot* left = k > 0 ? &g_slots[k - 1] : nullptr;
  Slot* right = k < kSlots ? &g_slots[k] : nullptr;
  if (left && !left->ptr) left = nullptr;
  if (right && !right->ptr) right = nullptr;
  if (left && right) return addr - (left->ptr + left->size) <= right->ptr - addr ? left : right;
  return left ? left : right;
}

FreeError begin_free(uintptr_t p, Slot** slot, uintptr_t* bad) {
  Slot* s = slot_of(p);
  *slot = s;
  if (!s || !s->ptr) return FreeError::kNotAnObject;
  if (p != s->ptr) return FreeError::kInterior;
  State live = State::kLive;
  if (!s->state.compare_exchange_strong(live, State::kFreed, std::memory_order_acquire)) return FreeError::kDoubleFree;
  uint32_t i = index_of(s);
  // The bytes before the object: whole words (p is 16-byte aligned).
  for (uintptr_t a = slot_page(i); a < p; a += 8)
    if (*reinterpret_cast<const uint64_t*>(a) != 0) {
      while (*reinterpret_cast<const uint8_t*>(a) == 0) a++;
      *bad = a;
      return FreeError::kUnderflow;
    }
  for (uintptr_t a = p + s->size; a < slot_end(i); a++)
    if (*reinterpret_cast<const uint8_t*>(a) != kSlackByte) {
      *bad = a;
      return FreeError::kOverflow;
    }
  return FreeError::kOk;
}

GOMEM_NOINLINE void release(Slot* s) {
  s->free_tid = os::gettid();
  s->free_depth = prof::walk_stack(s->free_pcs, kStackDepth);
  void* page = reinterpret_cast<void*>(slot_page(index_of(s)));
  // Closed first, so that a racing use after free faults rather than dirty
  // the page after it was given back. Left accessible if the kernel refuses
  // (out of mappings): the slot is then no quarantine, but still reused
  // last, and zeroed when reused.
  bool closed = os::protect(page, kSlotSize, false);
  s->stale = !linux_mem_os().decommit(page, kSlotSize) || !closed;
  push_free(index_of(s));
}

bool live_size(uintptr_t p, size_t* size) {
  if (!contains(p)) return false;
  Slot* s = slot_of(p);
  if (!s || s->ptr != p || s->state.load(std::memory_order_acquire) != State::kLive) return false;
  *size = s->size;
  return true;
}

const char* check() {
  if (!g_bytes) return nullptr;
  MutexLock l(g_lock);
  uint32_t live = 0;
  for (uint32_t i = 0; i < kSlots; i++) live += g_slots[i].state.load(std::memory_order_acquire) == State::kLive;
  if (live + g_nfree > kSlots) return "guarded pool: more live and free slots than slots";
  for (uint32_t k = 0; k < g_nfree; k++) {
    uint32_t i = g_fifo[(g_head + k) % kSlots];
    if (i >= kSlots) return "guarded pool: a free-slot entry out of range";
    if (g_slots[i].state.load(std::memory_order_acquire) == State::kLive)
      return "guarded pool: a live slot on the free FIFO";
  }
  return nullptr;
}

void fork_prepare() { g_lock.lock(); }
void fork_parent() { g_lock.unlock(); }
void fork_child() { g_lock.reset(); }

}  // namespace guarded
}  // namespace gomem
