// gomem for C++: collected objects with constructors and destructors,
// allocators for standard containers, and the manual heap's new/delete
// (which libgomem.so provides by replacing the global operators).
//
//   auto* t = gomem::gc_new<Tree>(args...);  // collected; ~Tree runs as a finalizer
//   gomem::weak_ptr<Tree> w(t);                 // w.get(): t, or nullptr once t is unreachable
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
// A minor collection with GOMEM_GC=generational (gomem_gc_collect_minor).
inline void collect_minor() { gomem_gc_collect_minor(); }

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
// finalizer once the object is unreachable: on the finalizer thread, or in
// gomem_gc_run_finalizers(); the memory is freed by a later cycle. The
// finalizer ignores pointers from the object into itself
// (gomem_gc_set_finalizer_ignore_self), so an object with a `this` member or
// a short std::string (whose characters sit inside the object) is destroyed
// like any other. Otherwise Go's rules hold (gomem.h): if A points to B and
// both have destructors, ~A runs first and ~B a cycle later; objects with
// destructors that point to each other, directly or through other objects,
// are never destroyed nor freed (break such cycles, or keep the
// back-pointers in gomem::weak_ptr). Beware of members that are containers
// with gc_allocator whose nodes point back into the container (std::list,
// std::map, std::set, std::unordered_map): that is such a cycle.
template <class T, class... Args>
T* gc_new(Args&&... args) {
  void* mem = detail::gc_memory<T>(sizeof(T));
  T* obj = ::new (mem) T(std::forward<Args>(args)...);
  if constexpr (!std::is_trivially_destructible_v<T>)
    gomem_gc_set_finalizer_ignore_self(obj, &detail::run_destructor<T>, nullptr);
  return obj;
}

// Runs the queued finalizers (destructors of gc_new objects) and cleanups on
// this thread; returns how many ran (gomem_gc_run_finalizers).
inline std::size_t run_finalizers() { return gomem_gc_run_finalizers(); }

// A weak pointer to a collected T (Go's weak.Pointer): get() returns the
// pointer while the object is reachable and nullptr from the collection
// that finds it unreachable on, even if a finalizer (~T) resurrects it.
// Copyable; two weak_ptrs made from the same pointer compare equal. It holds
// a gomem_weak handle, itself a collected object: keep weak_ptrs where
// collected pointers must be (stack, globals, collected objects, containers
// using gc_allocator), not only in malloc memory (gomem.h, gomem_weak_make).
template <class T>
class weak_ptr {
 public:
  weak_ptr() noexcept = default;
  // p == nullptr, or not inside a collected object: an empty weak_ptr.
  explicit weak_ptr(T* p) noexcept
      : h_(p ? gomem_weak_make(const_cast<void*>(static_cast<const void*>(p))) : nullptr) {}
  T* get() const noexcept { return static_cast<T*>(gomem_weak_get(h_)); }
  bool operator==(const weak_ptr& o) const noexcept { return h_ == o.h_; }
  bool operator!=(const weak_ptr& o) const noexcept { return h_ != o.h_; }

 private:
  gomem_weak* h_ = nullptr;  // a collected object
};

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
