// Sampled guarded allocations (GWP-ASan's design; issue 13).
//
// With GOMEM_GUARDED_SAMPLE_RATE=N (0 or unset: off, the default) about one
// manual allocation in N of 4 KiB or less (malloc, calloc, realloc,
// memalign and kin, operator new; not uncollectable blocks, which the
// collector scans, nor anything larger) is served from a pool of its own:
// one 4 KiB OS page per object, each slot page between two no-access guard
// pages,
//
//   [guard][slot 0][guard][slot 1][guard] ... [slot n-1][guard]
//
// the object placed against the end of its slot page. An access past the
// object's end (beyond the alignment slack, below) or before its slot page
// lands on a guard page and faults at once; a freed slot's page is made
// no-access and its memory given back, so a use after free faults at once
// too. The fault handler (runtime/guarded_report.cc) prints what the pool
// recorded: the object, its size, the access's offset, the stacks of the
// allocation and of the free.
//
// Alignment and the slack. The object starts at the highest address that
// leaves room for it and keeps the alignment malloc must give (16 bytes,
// glibc's MALLOC_ALIGNMENT on 64-bit, or the requested one if larger), so
// up to 15 bytes after its end still lie in its slot page: malloc(13) ends 3
// bytes before the guard page. GWP-ASan's default is the same (its
// "perfectly right aligned" mode gives up the alignment). Those bytes are
// filled with kSlackByte when the object is handed out, and the bytes of
// the slot page before the object are zero; free checks both, so a write
// into the slack (malloc(13)'s p[13]) or below the object is reported at
// the free as a heap-buffer-overflow (or underflow) with both stacks. A
// read of the slack is not detected.
//
// Quarantine. Free slots wait in a FIFO: a freed slot goes to its tail,
// allocation takes the head, so a freed slot comes back only after every
// other free slot was used (with kSlots = 512, at least 512 - live sampled
// allocations later), and a use after free within that window faults.
// When every slot is live, a sampled allocation is served normally.
//
// Sampling (the decision is the heap profiler's mechanism, heap/profile.h):
// a per-P, per-size-class countdown in objects, MCache::prof.guarded_next,
// drawn uniformly from [1, 2N - 1] (mean N); the P's current span's free
// list is cut just before the sampled object (MCache::prof_cut takes the
// nearer of the profile's and the pool's samples), so malloc's fast path
// runs dry there and malloc_slow takes the sample. Nothing is added to the
// fast paths, nor to the slow paths' test: they load prof::g_active, the
// profile's rate with bit 0 set while the pool is on.
//
// Recognising pool pointers. The pool is one reservation, outside the
// heap's arenas: the arena index maps none of its pages, so free's fast
// path finds the empty span and falls to free_slow, which, like realloc
// and malloc_usable_size, tests contains() only where the arena index has
// no span: a cost only for pointers that are not the heap's. The heap
// check (gomem_check_heap) checks the FIFO against the slots' states.
//
// Metadata: a Slot record per slot and the FIFO, in memory from the OS
// (MemOS::alloc_meta), never from malloc. A slot's state is an atomic:
// free moves it kLive -> kFreed with one compare-and-swap, so of two frees
// of the same object exactly one wins and the other is the double free. The
// FIFO is under g_lock (a leaf lock: nothing is taken under it), taken by
// fork_prepare. The records are read without a lock by the fault handler,
// which only prints.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/compiler.h"
#include "heap/profile.h"
#include "platform/os.h"

namespace gomem {
namespace guarded {

constexpr uintptr_t kSlotSize = os::kPhysPageSize;  // largest object sampled, bytes
constexpr uint32_t kSlots = 512;
constexpr uint8_t kSlackByte = 0xa5;
constexpr int kStackDepth = 32;

enum class State : uint8_t { kUnused = 0, kLive = 1, kFreed = 2 };

// One slot's last object. ptr, size, alloc_* are written by the allocating
// thread before it publishes kLive (release); free_* by the freeing thread
// after its kLive -> kFreed CAS and before the slot goes back on the FIFO.
struct Slot {
  std::atomic<State> state;
  bool stale;     // the page may hold old bytes (given back without zeroing)
  uint32_t size;  // bytes asked for
  uintptr_t ptr;  // the object (0: never used)
  int alloc_tid, free_tid;
  int alloc_depth, free_depth;
  uintptr_t alloc_pcs[kStackDepth];
  uintptr_t free_pcs[kStackDepth];
};

// Set once by init, before the pool is used: the reservation [g_base,
// g_base + g_bytes) (0 bytes: no pool) and the sampling rate (0: off).
extern uintptr_t g_base;
extern uintptr_t g_bytes;
extern uint64_t g_rate;

GOMEM_INLINE bool contains(uintptr_t p) { return p - g_base < g_bytes; }
GOMEM_INLINE uint64_t rate() { return g_rate; }

// Maps the pool and turns sampling on at `rate` (> 0), setting bit 0 of
// prof::g_active. False (sampling stays off) if the OS refuses the memory.
bool init(uint64_t rate);

// Objects of a sampled class to skip before its next guarded sample.
GOMEM_INLINE uint64_t objects_before_sample() { return prof::next_random() % (2 * g_rate - 1); }

// A guarded object of `size` bytes (at most kSlotSize) aligned to `align`
// (a power of two up to kSlotSize; 16 at least is given), or nullptr when
// every slot is live or the OS refuses (the caller allocates normally).
void* alloc(size_t size, size_t align);

// The slot whose page, or the guard page next to it that addr is nearest
// to, holds addr (a pool address); nullptr for the pool's first and last
// guard pages where no slot was ever used next to them.
Slot* slot_near(uintptr_t addr);
// The slot of a slot page address, or nullptr for a guard page.
Slot* slot_of(uintptr_t addr);

// What free found wrong with a pool pointer, or kOk (the slot is then
// kFreed: release() must follow).
enum class FreeError { kOk, kNotAnObject, kInterior, kDoubleFree, kOverflow, kUnderflow };
FreeError begin_free(uintptr_t p, Slot** slot, uintptr_t* bad);
// Records the free's stack, protects the slot and queues it.
void release(Slot* s);

// Whether p (any address) starts a live object of the pool, and its size (the size asked
// for: malloc_usable_size's answer) in *size.
bool live_size(uintptr_t p, size_t* size);

// gomem_check_heap: the FIFO holds every slot that is not live, once.
// nullptr, or what is wrong.
const char* check();

void fork_prepare();
void fork_parent();
void fork_child();

}  // namespace guarded
}  // namespace gomem
