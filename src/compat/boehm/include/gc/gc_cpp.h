/*
 * gc_cpp.h for gomem's Boehm GC layer: collectable C++ objects (bdwgc 8.2's
 * interface, written for gomem).
 *
 *   class A : public gc { ... };          new A: collected
 *   class B : public gc_cleanup { ... };  collected; the destructor runs as
 *                                         a finalizer once B is unreachable
 *   new (UseGC) int[10], new (GC) T       collected, any type
 *   new (NoGC) A                          uncollectable (delete it)
 *   new (PointerFreeGC) char[n]           collected, never scanned
 *   ::new (GC, cleanup_fn, data) T(...)   collected, cleanup_fn(obj, data)
 *                                         runs once it is unreachable
 *
 * Everything here is inline over gc.h. The global operator new and delete
 * (without placement) are not: libgccpp.so.1 (link with -lgccpp -lgc)
 * replaces them by uncollectable allocations that the collector scans, as
 * bdwgc's libgccpp does, so a plain `new` object may point to collected
 * ones, and `delete` takes objects from `new (NoGC)` too.
 *
 * Configuration macros, as in bdwgc: GC_NAMESPACE (everything in namespace
 * boehmgc), GC_NAME_CONFLICT (no `GC` placement), GC_NEW_ABORTS_ON_OOM
 * (GC_abort_on_oom instead of std::bad_alloc), GC_NO_OPERATOR_NEW_ARRAY,
 * GC_ATOMIC_UNCOLLECTABLE (accepted: PointerFreeNoGC always exists), and
 * GC_INCLUDE_NEW (accepted: <new> is always included). Without exceptions
 * an allocation that fails aborts (GC_abort_on_oom).
 */
#ifndef GC_CPP_H
#define GC_CPP_H

#include <new>
#include "gc.h"

#ifdef GC_NAMESPACE
#define GC_NS_QUALIFY(T) boehmgc::T
#else
#define GC_NS_QUALIFY(T) T
#endif
#define GC_cdecl GC_CALLBACK
#ifndef GC_NOEXCEPT
#define GC_NOEXCEPT noexcept
#endif
#ifndef GC_NO_OPERATOR_NEW_ARRAY
#define GC_OPERATOR_NEW_ARRAY 1
#endif
#define GC_PLACEMENT_DELETE 1

/* Throws std::bad_alloc (exported by libgccpp.so.1 and libgctba.so.1, for
 * programs compiled against bdwgc's own gc_cpp.h). */
GC_API void GC_CALL GC_throw_bad_alloc();

#if defined(GC_NEW_ABORTS_ON_OOM) || defined(_LIBCPP_NO_EXCEPTIONS) || \
    !(defined(__cpp_exceptions) || defined(__EXCEPTIONS))
#define GC_OP_NEW_OOM_CHECK(obj)   \
  do {                             \
    if (!(obj)) GC_abort_on_oom(); \
  } while (0)
#else
#define GC_OP_NEW_OOM_CHECK(obj)        \
  do {                                  \
    if (!(obj)) throw std::bad_alloc(); \
  } while (0)
#endif

#ifdef GC_NAMESPACE
namespace boehmgc {
#endif

enum GCPlacement {
  UseGC,
#ifndef GC_NAME_CONFLICT
  GC = UseGC,
#endif
  NoGC,
  PointerFreeGC,
  PointerFreeNoGC
};

/* The allocation each placement asks for; NULL when out of memory. */
inline void* gc_cpp_alloc(size_t size, GCPlacement gcp) {
  switch (gcp) {
    case UseGC:
      return GC_MALLOC(size);
    case PointerFreeGC:
      return GC_MALLOC_ATOMIC(size);
    case PointerFreeNoGC:
      return GC_MALLOC_ATOMIC_UNCOLLECTABLE(size);
    default:
      return GC_MALLOC_UNCOLLECTABLE(size);
  }
}

/* Instances of classes derived from gc are collected, unless placed with
 * NoGC. delete frees them at once (destructor first), whatever the kind. */
class gc {
 public:
  void* operator new(size_t size) {
    void* obj = GC_MALLOC(size);
    GC_OP_NEW_OOM_CHECK(obj);
    return obj;
  }
  void* operator new(size_t size, GCPlacement gcp) {
    void* obj = gc_cpp_alloc(size, gcp);
    GC_OP_NEW_OOM_CHECK(obj);
    return obj;
  }
  /* Redefined: the overloads above hide the global placement new. */
  void* operator new(size_t, void* p) GC_NOEXCEPT { return p; }
  void operator delete(void* obj) GC_NOEXCEPT { GC_FREE(obj); }
  /* Called when a constructor throws. */
  void operator delete(void* obj, GCPlacement) GC_NOEXCEPT { GC_FREE(obj); }
  void operator delete(void*, void*) GC_NOEXCEPT {}
#ifdef GC_OPERATOR_NEW_ARRAY
  void* operator new[](size_t size) { return gc::operator new(size); }
  void* operator new[](size_t size, GCPlacement gcp) { return gc::operator new(size, gcp); }
  void* operator new[](size_t, void* p) GC_NOEXCEPT { return p; }
  void operator delete[](void* obj) GC_NOEXCEPT { GC_FREE(obj); }
  void operator delete[](void* obj, GCPlacement) GC_NOEXCEPT { GC_FREE(obj); }
  void operator delete[](void*, void*) GC_NOEXCEPT {}
#endif
};

/* Instances of classes derived from gc_cleanup (or containing a member
 * derived from it) are collected, and their destructors run as the object's
 * finalizer (ignoring pointers into itself) once it is unreachable. The
 * finalizer is registered on the object's base with the offset of the
 * gc_cleanup part as client data, and unregistered by the destructor, so an
 * object deleted explicitly is not finalized again. */
class gc_cleanup : virtual public gc {
 public:
  gc_cleanup() {
    void* this_ptr = (void*)this;
    void* base = GC_base(this_ptr);
    if (base == 0) return; /* on a stack, in a global or in a plain new object */
    GC_finalization_proc old_proc = 0;
    void* old_data = 0;
    GC_register_finalizer_ignore_self(base, (GC_finalization_proc)cleanup, (void*)((char*)this_ptr - (char*)base),
                                      &old_proc, &old_data);
    /* A containing object registered its own cleanup first: it stays. */
    if (old_proc != 0) GC_register_finalizer_ignore_self(base, old_proc, old_data, 0, 0);
  }
  virtual ~gc_cleanup() {
    void* base = GC_base((void*)this);
    if (base != 0) GC_register_finalizer_ignore_self(base, 0, 0, 0, 0);
  }

 private:
  static void GC_cdecl cleanup(void* obj, void* displ) {
    ((gc_cleanup*)((char*)obj + (ptrdiff_t)displ))->~gc_cleanup();
  }
};

extern "C" {
typedef void(GC_CALLBACK* GCCleanUpFunc)(void* obj, void* clientData);
}

#ifdef GC_NAMESPACE
}
#endif

/* Allocates as gcp says; for a collected (UseGC) object, cleanup(obj,
 * clientData) runs once it is unreachable (the object's destructors do
 * not). cleanup is ignored for the other placements, as in bdwgc. */
inline void* operator new(size_t size, GC_NS_QUALIFY(GCPlacement) gcp, GC_NS_QUALIFY(GCCleanUpFunc) cleanup = 0,
                          void* clientData = 0) {
  void* obj = GC_NS_QUALIFY(gc_cpp_alloc)(size, gcp);
  if (cleanup != 0 && obj != 0 && gcp == GC_NS_QUALIFY(UseGC))
    GC_REGISTER_FINALIZER_IGNORE_SELF(obj, cleanup, clientData, 0, 0);
  GC_OP_NEW_OOM_CHECK(obj);
  return obj;
}
/* Called when a constructor throws. */
inline void operator delete(void* obj, GC_NS_QUALIFY(GCPlacement), GC_NS_QUALIFY(GCCleanUpFunc), void*) GC_NOEXCEPT {
  GC_FREE(obj);
}
#ifdef GC_OPERATOR_NEW_ARRAY
inline void* operator new[](size_t size, GC_NS_QUALIFY(GCPlacement) gcp, GC_NS_QUALIFY(GCCleanUpFunc) cleanup = 0,
                            void* clientData = 0) {
  return ::operator new(size, gcp, cleanup, clientData);
}
inline void operator delete[](void* obj, GC_NS_QUALIFY(GCPlacement), GC_NS_QUALIFY(GCCleanUpFunc), void*) GC_NOEXCEPT {
  GC_FREE(obj);
}
#endif

#endif /* GC_CPP_H */
