// Every form of operator new and delete, defined here and nowhere else.
// new throws std::bad_alloc when memory runs out (after the new-handler, if
// one is installed, had its chances); the nothrow forms return nullptr.
#include <new>

#include "runtime/malloc.h"

using namespace gomem;

namespace {

GOMEM_NOINLINE void* new_slow(size_t size, size_t align) {
  for (;;) {
    void* p = align > 16 ? malloc_aligned(size, align) : malloc_fast(size);
    if (p) return p;
    std::new_handler h = std::get_new_handler();
    if (!h) throw std::bad_alloc();
    h();
  }
}

GOMEM_INLINE void* new_impl(size_t size) {
  void* p = malloc_fast(size);
  if (GOMEM_LIKELY(p != nullptr)) return p;
  return new_slow(size, 0);
}

GOMEM_INLINE void* new_aligned(size_t size, std::align_val_t al) {
  size_t a = static_cast<size_t>(al);
  void* p = malloc_aligned(size, a);
  if (GOMEM_LIKELY(p != nullptr)) return p;
  return new_slow(size, a);
}

void* new_nothrow(size_t size, size_t align) noexcept {
  try {
    return new_slow(size, align);
  } catch (...) {
    return nullptr;
  }
}

}  // namespace

GOMEM_EXPORT void* operator new(size_t size) { return new_impl(size); }
GOMEM_EXPORT void* operator new[](size_t size) { return new_impl(size); }
GOMEM_EXPORT void* operator new(size_t size, const std::nothrow_t&) noexcept {
  void* p = malloc_fast(size);
  return p ? p : new_nothrow(size, 0);
}
GOMEM_EXPORT void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  void* p = malloc_fast(size);
  return p ? p : new_nothrow(size, 0);
}
GOMEM_EXPORT void* operator new(size_t size, std::align_val_t al) { return new_aligned(size, al); }
GOMEM_EXPORT void* operator new[](size_t size, std::align_val_t al) { return new_aligned(size, al); }
GOMEM_EXPORT void* operator new(size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  void* p = malloc_aligned(size, static_cast<size_t>(al));
  return p ? p : new_nothrow(size, static_cast<size_t>(al));
}
GOMEM_EXPORT void* operator new[](size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  void* p = malloc_aligned(size, static_cast<size_t>(al));
  return p ? p : new_nothrow(size, static_cast<size_t>(al));
}

GOMEM_EXPORT void operator delete(void* p) noexcept { free_fast(p); }
GOMEM_EXPORT void operator delete[](void* p) noexcept { free_fast(p); }
GOMEM_EXPORT void operator delete(void* p, const std::nothrow_t&) noexcept { free_fast(p); }
GOMEM_EXPORT void operator delete[](void* p, const std::nothrow_t&) noexcept { free_fast(p); }
GOMEM_EXPORT void operator delete(void* p, size_t) noexcept { free_fast(p); }
GOMEM_EXPORT void operator delete[](void* p, size_t) noexcept { free_fast(p); }
GOMEM_EXPORT void operator delete(void* p, std::align_val_t) noexcept { free_fast(p); }
GOMEM_EXPORT void operator delete[](void* p, std::align_val_t) noexcept { free_fast(p); }
GOMEM_EXPORT void operator delete(void* p, size_t, std::align_val_t) noexcept { free_fast(p); }
GOMEM_EXPORT void operator delete[](void* p, size_t, std::align_val_t) noexcept { free_fast(p); }
GOMEM_EXPORT void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { free_fast(p); }
GOMEM_EXPORT void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { free_fast(p); }
