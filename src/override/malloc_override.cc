// The C allocation functions, defined here and nowhere else: thin shims over
// the runtime. Linking libgomem.so (or LD_PRELOADing it) makes these the
// process's malloc.
#include <errno.h>
#include <stddef.h>

#include "runtime/malloc.h"

using namespace gomem;

namespace gomem {
extern const char kSignalOverrideLinked;
}
// A static link that takes malloc from libgomem.a takes the signal-mask
// functions (signal_override.cc) with it: the collector needs them whenever
// it runs, whether or not the program itself calls one.
__attribute__((used)) static const char* const g_link_signal_override = &kSignalOverrideLinked;

extern "C" {

GOMEM_EXPORT void* malloc(size_t size) { return malloc_fast(size); }

GOMEM_EXPORT void free(void* p) { free_fast(p); }

GOMEM_EXPORT void* calloc(size_t count, size_t size) { return calloc_impl(count, size); }

GOMEM_EXPORT void* realloc(void* p, size_t size) { return realloc_impl(p, size); }

GOMEM_EXPORT void* reallocarray(void* p, size_t count, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(count, size, &bytes)) return out_of_memory();
  return realloc_impl(p, bytes);
}

GOMEM_EXPORT void* aligned_alloc(size_t alignment, size_t size) { return malloc_aligned(size, alignment); }

GOMEM_EXPORT void* memalign(size_t alignment, size_t size) { return malloc_aligned(size, alignment); }

GOMEM_EXPORT GOMEM_FRAME_POINTER int posix_memalign(void** out, size_t alignment, size_t size) {
  if (alignment < sizeof(void*) || !is_pow2(alignment)) return EINVAL;
  int saved = errno;  // posix_memalign reports through its result, not errno
  void* p = malloc_aligned(size, alignment);
  errno = saved;
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

GOMEM_EXPORT void* valloc(size_t size) { return malloc_aligned(size, os::kPhysPageSize); }

GOMEM_EXPORT void* pvalloc(size_t size) {
  size_t rounded = align_up(size ? size : 1, os::kPhysPageSize);
  if (rounded < size) return out_of_memory();
  return malloc_aligned(rounded, os::kPhysPageSize);
}

GOMEM_EXPORT size_t malloc_usable_size(void* p) { return usable_size(p); }

// C23.
GOMEM_EXPORT void free_sized(void* p, size_t) { free_fast(p); }
GOMEM_EXPORT void free_aligned_sized(void* p, size_t, size_t) { free_fast(p); }

// Obsolete aliases some programs still call.
GOMEM_EXPORT void cfree(void* p) { free_fast(p); }

}  // extern "C"
