// gomem for C++: collected objects with constructors and destructors,
// allocators for standard containers, and the manual heap's new/delete
// (which libgomem.so provides by replacing the global operators).
//
//   auto* t = gomem::gc_new<Tree>(args...);  // collected; ~Tree runs as a finalizer
//   std::vector<Node*, gomem::gc_allocator<Node*>> v;  // a buffer the collector scans
//   gomem::collect();                           // a full collection
//   gomem::keep_alive(p);                       // p stays reachable up to here
//
// What the collector sees is described in gomem.h: pointers to collected
// objects must live in registered threads' stacks (and fiber stacks they
// declared) or thread_local variables, globals, registered roots,
// uncollectable blocks, collected scan objects, or containers using
// gc_allocator. Memory from operator new / malloc is not scanned.
#ifndef GOMEM_GOMEM_HPP
#define GOMEM_GOMEM_HPP

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

#include "gomem/gomem.h"

namespace gomem {

// A full, blocking collection (like Go's runtime.GC()).
inline void collect() { gomem_gc_collect(); }

// Sets GOGC; returns the previous value (like debug.SetGCPercent).
inline int set_gc_percent(int percent) { return gomem_gc_set_percent(percent); }

// Keeps p reachable at least up to this call (like Go's runtime.KeepAlive):
// the compiler must have the pointer in a register or on the stack here.
template <class T>
inline void keep_alive(T* p) {
  __asm__ __volatile__("" : : "r"(p) : "memory");
}

namespace detail {
template <class T>
void run_destructor(void* p, void*) {
  static_cast<T*>(p)->~T();
}

// Memory for n objects of T from the collected heap: scanned unless T can
// hold no pointer (arithmetic types and enums), aligned for T.
template <class T>
void* gc_memory(std::size_t bytes) {
  constexpr bool noscan = std::is_arithmetic_v<T> || std::is_enum_v<T>;
  void* p = alignof(T) <= 8 ? (noscan ? gomem_gc_alloc_noscan(bytes) : gomem_gc_alloc(bytes))
                            : gomem_gc_alloc_aligned(alignof(T), bytes, noscan ? 0 : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace detail

// A collected T, constructed with args. Memory is zeroed before the
// constructor runs. If T is not trivially destructible, ~T runs as a
// finalizer once the object is unreachable (on the finalizer thread).
template <class T, class... Args>
T* gc_new(Args&&... args) {
  void* mem = detail::gc_memory<T>(sizeof(T));
  T* obj = ::new (mem) T(std::forward<Args>(args)...);
  if constexpr (!std::is_trivially_destructible_v<T>) gomem_gc_set_finalizer(obj, &detail::run_destructor<T>, nullptr);
  return obj;
}

// A standard allocator whose buffers are collected objects that the
// collector scans: use it for containers that hold pointers to collected
// objects. deallocate frees early (gomem_gc_free).
template <class T>
struct gc_allocator {
  using value_type = T;
  gc_allocator() noexcept = default;
  template <class U>
  gc_allocator(const gc_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_alloc();
    return static_cast<T*>(detail::gc_memory<T>(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t) noexcept { gomem_gc_free(p); }
  template <class U>
  bool operator==(const gc_allocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const gc_allocator<U>&) const noexcept {
    return false;
  }
};

// Statistics, as a value.
inline gomem_stats read_stats() {
  gomem_stats s;
  gomem_read_stats(&s);
  return s;
}

}  // namespace gomem

#endif  // GOMEM_GOMEM_HPP
