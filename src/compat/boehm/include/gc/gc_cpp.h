/*
 * gc_cpp.h for gomem's Boehm GC layer: collectable C++ objects.
 *
 *   class A : public gc { ... };          // new A: collected
 *   class B : public gc_cleanup { ... };  // collected, destructor run as a finalizer
 *   new (UseGC) int[10];                  // collected, any type
 *   new (GC, cleanup_fn, data) T(...);    // collected, with a finalizer
 *
 * Everything here is inline over gc.h. bdwgc's libgccpp (which replaces the
 * global operator new by an uncollectable allocation) has no counterpart:
 * plain `new` stays the C++ runtime's.
 */
#ifndef GC_CPP_H
#define GC_CPP_H

#include <new>
#include "gc.h"

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define GC_OP_NEW_OOM_CHECK(obj)        \
  do {                                  \
    if (!(obj)) throw std::bad_alloc(); \
  } while (0)
#else
#define GC_OP_NEW_OOM_CHECK(obj)  \
  do {                            \
    if (!(obj)) __builtin_trap(); \
  } while (0)
#endif
#define GC_NOEXCEPT noexcept
#define GC_NS_QUALIFY(T) T

enum GCPlacement {
  UseGC,
#ifndef GC_NAME_CONFLICT
  GC = UseGC,
#endif
  NoGC,
  PointerFreeGC,
  PointerFreeNoGC = NoGC + 2
};

inline void* gc_cpp_alloc(size_t size, GCPlacement gcp) {
  void* obj;
  switch (gcp) {
    case UseGC:
      obj = GC_MALLOC(size);
      break;
    case PointerFreeGC:
      obj = GC_MALLOC_ATOMIC(size);
      break;
    case PointerFreeNoGC:
      obj = GC_MALLOC_ATOMIC_UNCOLLECTABLE(size);
      break;
    default:
      obj = GC_MALLOC_UNCOLLECTABLE(size);
      break;
  }
  GC_OP_NEW_OOM_CHECK(obj);
  return obj;
}

class gc {
 public:
  void* operator new(size_t size) { return gc_cpp_alloc(size, UseGC); }
  void* operator new(size_t size, GCPlacement gcp) { return gc_cpp_alloc(size, gcp); }
  void* operator new(size_t, void* p) GC_NOEXCEPT { return p; }
  void operator delete(void* obj) GC_NOEXCEPT { GC_FREE(obj); }
  void operator delete(void*, GCPlacement) GC_NOEXCEPT {}
  void operator delete(void*, void*) GC_NOEXCEPT {}
  void* operator new[](size_t size) { return gc_cpp_alloc(size, UseGC); }
  void* operator new[](size_t size, GCPlacement gcp) { return gc_cpp_alloc(size, gcp); }
  void* operator new[](size_t, void* p) GC_NOEXCEPT { return p; }
  void operator delete[](void* obj) GC_NOEXCEPT { GC_FREE(obj); }
  void operator delete[](void*, GCPlacement) GC_NOEXCEPT {}
  void operator delete[](void*, void*) GC_NOEXCEPT {}
};

class gc_cleanup : virtual public gc {
 public:
  gc_cleanup() {
    void* this_ptr = (void*)this;
    void* base = GC_base(this_ptr);
    if (base != 0) {
      /* The object's base and the adjustment to `this`, as bdwgc does. */
      GC_finalization_proc oldProc = 0;
      void* oldData = 0;
      GC_REGISTER_FINALIZER_IGNORE_SELF(base, (GC_finalization_proc)cleanup, (void*)((char*)this_ptr - (char*)base),
                                        &oldProc, &oldData);
      if (oldProc != 0) GC_REGISTER_FINALIZER_IGNORE_SELF(base, oldProc, oldData, 0, 0);
    }
  }
  virtual ~gc_cleanup() {
    void* base = GC_base((void*)this);
    if (base != 0) GC_REGISTER_FINALIZER_IGNORE_SELF(base, 0, 0, 0, 0);
  }

 private:
  static void cleanup(void* obj, void* displ) { ((gc_cleanup*)((char*)obj + (ptrdiff_t)displ))->~gc_cleanup(); }
};

extern "C" {
typedef void (*GCCleanUpFunc)(void* obj, void* clientData);
}

inline void* operator new(size_t size, GCPlacement gcp, GCCleanUpFunc cleanup = 0, void* clientData = 0) {
  void* obj = gc_cpp_alloc(size, gcp);
  if (cleanup != 0 && (gcp == UseGC || gcp == PointerFreeGC))
    GC_REGISTER_FINALIZER_IGNORE_SELF(obj, cleanup, clientData, 0, 0);
  return obj;
}
inline void operator delete(void* obj, GCPlacement, GCCleanUpFunc, void*) GC_NOEXCEPT { GC_FREE(obj); }
inline void* operator new[](size_t size, GCPlacement gcp, GCCleanUpFunc cleanup = 0, void* clientData = 0) {
  return ::operator new(size, gcp, cleanup, clientData);
}
inline void operator delete[](void* obj, GCPlacement, GCCleanUpFunc, void*) GC_NOEXCEPT { GC_FREE(obj); }

#endif /* GC_CPP_H */
