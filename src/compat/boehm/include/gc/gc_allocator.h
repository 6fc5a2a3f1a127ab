/*
 * gc_allocator.h for gomem's Boehm GC layer: standard-library allocators.
 *   gc_allocator<T>                 collected; pointer-free for scalar T
 *   gc_allocator_ignore_off_page<T> the same (gomem needs no hint)
 *   traceable_allocator<T>          uncollectable but scanned (a root)
 * and their <void> specializations (rebind only). An allocation that fails
 * throws std::bad_alloc (GC_abort_on_oom with GC_NEW_ABORTS_ON_OOM or
 * without exceptions).
 * Memory from gc_allocator is kept alive only by pointers the collector
 * sees: a container itself must live on a stack, in a global or in
 * collected or uncollectable memory, as with bdwgc.
 */
#ifndef GC_ALLOCATOR_H
#define GC_ALLOCATOR_H

#include <cstddef>
#include <new>
#include "gc.h"

#if defined(GC_NEW_ABORTS_ON_OOM) || defined(_LIBCPP_NO_EXCEPTIONS) || \
    !(defined(__cpp_exceptions) || defined(__EXCEPTIONS))
#define GC_ALLOCATOR_THROW_OR_ABORT() GC_abort_on_oom()
#else
#define GC_ALLOCATOR_THROW_OR_ABORT() throw std::bad_alloc()
#endif

struct GC_true_type {};
struct GC_false_type {};
template <class GC_tp>
struct GC_type_traits {
  GC_false_type GC_is_ptr_free;
};
#define GC_DECLARE_PTRFREE(T)    \
  template <>                    \
  struct GC_type_traits<T> {     \
    GC_true_type GC_is_ptr_free; \
  }
GC_DECLARE_PTRFREE(char);
GC_DECLARE_PTRFREE(signed char);
GC_DECLARE_PTRFREE(unsigned char);
GC_DECLARE_PTRFREE(signed short);
GC_DECLARE_PTRFREE(unsigned short);
GC_DECLARE_PTRFREE(signed int);
GC_DECLARE_PTRFREE(unsigned int);
GC_DECLARE_PTRFREE(signed long);
GC_DECLARE_PTRFREE(unsigned long);
GC_DECLARE_PTRFREE(float);
GC_DECLARE_PTRFREE(double);
GC_DECLARE_PTRFREE(long double);

template <class GC_Tp>
inline void* GC_selective_alloc(size_t n, GC_Tp, bool ignore_off_page) {
  void* obj = ignore_off_page ? GC_MALLOC_IGNORE_OFF_PAGE(n) : GC_MALLOC(n);
  if (n && !obj) GC_ALLOCATOR_THROW_OR_ABORT();
  return obj;
}
template <>
inline void* GC_selective_alloc<GC_true_type>(size_t n, GC_true_type, bool ignore_off_page) {
  void* obj = ignore_off_page ? GC_MALLOC_ATOMIC_IGNORE_OFF_PAGE(n) : GC_MALLOC_ATOMIC(n);
  if (n && !obj) GC_ALLOCATOR_THROW_OR_ABORT();
  return obj;
}

#define GC_ALLOCATOR_BODY(NAME, ALLOC_EXPR, FREE_EXPR)                              \
 public:                                                                            \
  typedef size_t size_type;                                                         \
  typedef ptrdiff_t difference_type;                                                \
  typedef GC_Tp* pointer;                                                           \
  typedef const GC_Tp* const_pointer;                                               \
  typedef GC_Tp& reference;                                                         \
  typedef const GC_Tp& const_reference;                                             \
  typedef GC_Tp value_type;                                                         \
  template <class GC_Tp1>                                                           \
  struct rebind {                                                                   \
    typedef NAME<GC_Tp1> other;                                                     \
  };                                                                                \
  NAME() noexcept {}                                                                \
  NAME(const NAME&) noexcept {}                                                     \
  template <class GC_Tp1>                                                           \
  NAME(const NAME<GC_Tp1>&)                                                         \
  noexcept {}                                                                       \
  ~NAME() noexcept {}                                                               \
  pointer address(reference GC_x) const { return &GC_x; }                           \
  const_pointer address(const_reference GC_x) const { return &GC_x; }               \
  GC_Tp* allocate(size_type GC_n, const void* = 0) { return (GC_Tp*)(ALLOC_EXPR); } \
  void deallocate(pointer p, size_type) noexcept { FREE_EXPR; }                     \
  size_type max_size() const noexcept { return size_t(-1) / sizeof(GC_Tp); }        \
  void construct(pointer p, const GC_Tp& val) { new (p) GC_Tp(val); }               \
  void destroy(pointer p) { p->~GC_Tp(); }

template <class GC_Tp>
class gc_allocator {
  GC_ALLOCATOR_BODY(gc_allocator,
                    GC_selective_alloc(GC_n * sizeof(GC_Tp), GC_type_traits<GC_Tp>().GC_is_ptr_free, false), GC_FREE(p))
};
template <class GC_Tp>
class gc_allocator_ignore_off_page {
  GC_ALLOCATOR_BODY(gc_allocator_ignore_off_page,
                    GC_selective_alloc(GC_n * sizeof(GC_Tp), GC_type_traits<GC_Tp>().GC_is_ptr_free, true), GC_FREE(p))
};
template <class GC_Tp>
class traceable_allocator {
  GC_ALLOCATOR_BODY(traceable_allocator, traceable_alloc(GC_n * sizeof(GC_Tp)), GC_FREE(p))

 private:
  static void* traceable_alloc(size_t n) {
    void* obj = GC_MALLOC_UNCOLLECTABLE(n);
    if (n && !obj) GC_ALLOCATOR_THROW_OR_ABORT();
    return obj;
  }
};

// NAME<void>: only the types and rebind, as in the standard's allocator<void>.
#define GC_ALLOCATOR_VOID(NAME)        \
  template <>                          \
  class NAME<void> {                   \
   public:                             \
    typedef size_t size_type;          \
    typedef ptrdiff_t difference_type; \
    typedef void* pointer;             \
    typedef const void* const_pointer; \
    typedef void value_type;           \
    template <class GC_Tp1>            \
    struct rebind {                    \
      typedef NAME<GC_Tp1> other;      \
    };                                 \
  };
GC_ALLOCATOR_VOID(gc_allocator)
GC_ALLOCATOR_VOID(gc_allocator_ignore_off_page)
GC_ALLOCATOR_VOID(traceable_allocator)

#define GC_ALLOCATOR_COMPARE(NAME)                                          \
  template <class GC_T1, class GC_T2>                                       \
  inline bool operator==(const NAME<GC_T1>&, const NAME<GC_T2>&) noexcept { \
    return true;                                                            \
  }                                                                         \
  template <class GC_T1, class GC_T2>                                       \
  inline bool operator!=(const NAME<GC_T1>&, const NAME<GC_T2>&) noexcept { \
    return false;                                                           \
  }
GC_ALLOCATOR_COMPARE(gc_allocator)
GC_ALLOCATOR_COMPARE(gc_allocator_ignore_off_page)
GC_ALLOCATOR_COMPARE(traceable_allocator)

#endif /* GC_ALLOCATOR_H */
