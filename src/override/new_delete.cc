// Every form of operator new and delete, defined here and nowhere else.
// new throws std::bad_alloc when memory runs out (after the new-handler, if
// one is installed, had its chances); the nothrow forms return nullptr.
#include <new>

#include "heap/fault.h"
#include "runtime/malloc.h"

// libgomem.so links nothing but libc. Throwing std::bad_alloc and asking for
// the new-handler need the C++ runtime, so these references are weak: a
// program that calls operator new is a C++ program, its libstdc++ is loaded,
// and the dynamic linker binds them to it. (A C program never gets here.)
// (An assembler directive: #pragma weak does not reach the references the
// compiler makes for a throw expression.)
__asm__(
    ".weak __cxa_allocate_exception\n"
    ".weak __cxa_throw\n"
    ".weak __cxa_begin_catch\n"
    ".weak __cxa_end_catch\n"
    ".weak __gxx_personality_v0\n"
    ".weak _Unwind_Resume\n"
    ".weak _ZNSt9bad_allocD1Ev\n"
    ".weak _ZSt15get_new_handlerv\n"
    ".weak _ZTISt9bad_alloc\n"
    ".weak _ZTVSt9bad_alloc\n");

using namespace gomem;

// Declared weak here too, so the compiler does not assume it is present.
extern "C" void* __cxa_allocate_exception(size_t) noexcept __attribute__((weak));

namespace {

// False only in a C program that dlopen()ed C++ code after start-up (the weak
// references stayed unbound): then running out of memory in new is fatal.
bool cxx_runtime_bound() { return __cxa_allocate_exception != nullptr; }

// With a frame pointer: the heap profile's stack walk passes through here
// (heap/profile.h); operator new tail-calls it.
GOMEM_NOINLINE GOMEM_FRAME_POINTER void* new_slow(size_t size, size_t align) {
  for (;;) {
    void* p = align > 16 ? malloc_aligned(size, align) : malloc_fast(size);
    if (p) return p;
    if (!cxx_runtime_bound()) fatal("out of memory in operator new (and no C++ runtime bound to throw std::bad_alloc)");
    std::new_handler h = std::get_new_handler();
    if (!h) throw std::bad_alloc();
    h();
  }
}

// malloc's fast path, and on a miss new_slow (a tail call: the slow path
// runs in new_slow's frame, not in one without a frame pointer here).
GOMEM_INLINE void* new_impl(size_t size) {
  void* p = malloc_fast_only(size);
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
