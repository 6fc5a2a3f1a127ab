// libgccpp.so.1 on gomem: bdwgc's C++ support library (Debian ships it in
// libgc1 beside libgc.so.1).
//
// It replaces the global operator new and delete, as bdwgc's does: every
// plain `new` is an uncollectable block of the collected heap
// (GC_malloc_uncollectable), which the collector scans, so an object made
// with plain new keeps the collected objects it points to alive; `delete`
// is GC_free, so objects placed with `new (NoGC)` (gc_cpp.h) are deleted
// like any other. Linked before libstdc++ (`-lgccpp -lgc`), these
// definitions come first in the lookup order and libstdc++'s nothrow and
// sized variants, which call them, follow. The aligned variants
// (align_val_t) stay libstdc++'s, as with bdwgc.
//
// The exported set is Debian's libgccpp.so.1's: new, new[], delete,
// delete[], the sized deletes, and GC_throw_bad_alloc (badalloc.cc). An
// allocation that fails throws std::bad_alloc; bdwgc calls no new-handler,
// and neither does this.
#include <gc/gc.h>
#include <gc/gc_cpp.h>

#define GCCPP_EXPORT __attribute__((visibility("default")))

GCCPP_EXPORT void* operator new(size_t size) {
  void* obj = GC_malloc_uncollectable(size);
  if (!obj) GC_throw_bad_alloc();
  return obj;
}
GCCPP_EXPORT void* operator new[](size_t size) { return ::operator new(size); }
GCCPP_EXPORT void operator delete(void* obj) noexcept { GC_free(obj); }
GCCPP_EXPORT void operator delete[](void* obj) noexcept { GC_free(obj); }
GCCPP_EXPORT void operator delete(void* obj, size_t) noexcept { GC_free(obj); }
GCCPP_EXPORT void operator delete[](void* obj, size_t) noexcept { GC_free(obj); }
