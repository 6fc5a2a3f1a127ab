// GC_throw_bad_alloc: what bdwgc's gc_cpp.h calls when a collected
// allocation fails (unless GC_NEW_ABORTS_ON_OOM). Exported by both
// libgccpp.so.1 and libgctba.so.1 (the latter for programs that want it
// without the replaced global operator new), as Debian's libgc1 does: this
// file is compiled into both.
#include <new>

#include <gc/gc_cpp.h>

__attribute__((visibility("default"))) void GC_throw_bad_alloc() { throw std::bad_alloc(); }
