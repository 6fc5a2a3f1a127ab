// FixAlloc: an off-heap allocator for fixed-size metadata records (MSpan,
// MCache, finalizer records, mark bitmaps), like Go's fixalloc. Chunks come
// from the platform and are never given back; freed records go on a free
// list and are reused. Not synchronised: the caller's lock protects it.
//
// The chunk list is append-only and published with release stores, so the
// collector can walk every record ever made (the "allspans" of Go) without a
// lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "platform/os.h"

namespace gomem {

class FixAlloc {
 public:
  constexpr FixAlloc() = default;

  void init(MemOS* os, size_t size, size_t chunk_bytes = 64 * 1024);
  // A zeroed record, or nullptr if the OS refused memory.
  void* alloc();
  void free(void* p);

  size_t size() const { return size_; }
  // Read by statistics without the owner's lock.
  size_t inuse_bytes() const { return inuse_.load(std::memory_order_relaxed); }
  size_t sys_bytes() const { return sys_.load(std::memory_order_relaxed); }

  // Calls fn(record) for every record ever carved, allocated or not.
  template <class F>
  void for_each_record(F fn) const {
    for (Chunk* c = chunks_.load(std::memory_order_acquire); c; c = c->next) {
      uintptr_t p = reinterpret_cast<uintptr_t>(c) + header_bytes();
      uintptr_t end = p + c->carved.load(std::memory_order_acquire) * size_;
      for (; p < end; p += size_) fn(reinterpret_cast<void*>(p));
    }
  }

  // After fork in the child: nothing to do (state is consistent under the lock).

 private:
  struct Chunk {
    Chunk* next;
    std::atomic<size_t> carved;  // records handed out from this chunk so far
  };
  struct FreeRec {
    FreeRec* next;
  };
  size_t header_bytes() const { return (sizeof(Chunk) + align_ - 1) & ~(align_ - 1); }

  MemOS* os_ = nullptr;
  size_t size_ = 0;
  size_t align_ = 0;  // set by init(): zero until then, so a FixAlloc global can live in bss
  size_t chunk_bytes_ = 0;
  size_t per_chunk_ = 0;
  std::atomic<Chunk*> chunks_{nullptr};
  Chunk* cur_ = nullptr;
  FreeRec* free_ = nullptr;
  std::atomic<size_t> inuse_{0};  // written under the owner's lock
  std::atomic<size_t> sys_{0};    // written under the owner's lock
};

}  // namespace gomem
