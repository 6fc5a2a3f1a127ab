#include "heap/fixalloc.h"

#include <cstring>

namespace gomem {

void FixAlloc::init(MemOS* os, size_t size, size_t chunk_bytes) {
  os_ = os;
  align_ = size >= 64 ? 64 : 16;
  size_ = (size + align_ - 1) & ~(align_ - 1);
  chunk_bytes_ = chunk_bytes;
  while (chunk_bytes_ < header_bytes() + 16 * size_) chunk_bytes_ *= 2;
  per_chunk_ = (chunk_bytes_ - header_bytes()) / size_;
}

void* FixAlloc::alloc() {
  if (free_) {
    FreeRec* r = free_;
    free_ = r->next;
    memset(static_cast<void*>(r), 0, size_);
    inuse_.store(inuse_.load(std::memory_order_relaxed) + size_, std::memory_order_relaxed);
    return r;
  }
  if (!cur_ || cur_->carved.load(std::memory_order_relaxed) == per_chunk_) {
    void* mem = os_->alloc_meta(chunk_bytes_);
    if (!mem) return nullptr;
    sys_.store(sys_.load(std::memory_order_relaxed) + chunk_bytes_, std::memory_order_relaxed);
    Chunk* c = static_cast<Chunk*>(mem);
    c->carved.store(0, std::memory_order_relaxed);
    c->next = chunks_.load(std::memory_order_relaxed);
    chunks_.store(c, std::memory_order_release);
    cur_ = c;
  }
  size_t i = cur_->carved.load(std::memory_order_relaxed);
  void* p = reinterpret_cast<char*>(cur_) + header_bytes() + i * size_;
  // Fresh chunk memory is already zero. Publish the record only after the
  // caller initialised it? The walker checks each record's own state field,
  // which reads as "dead" (0) until the owner publishes it.
  cur_->carved.store(i + 1, std::memory_order_release);
  inuse_.store(inuse_.load(std::memory_order_relaxed) + size_, std::memory_order_relaxed);
  return p;
}

void FixAlloc::free(void* p) {
  FreeRec* r = static_cast<FreeRec*>(p);
  r->next = free_;
  free_ = r;
  inuse_.store(inuse_.load(std::memory_order_relaxed) - size_, std::memory_order_relaxed);
}

}  // namespace gomem
