// The C API of the manual heap (include/gomem/gomem.h).
#include <errno.h>

#include "gomem/gomem.h"
#include "runtime/malloc.h"

using namespace gomem;

extern "C" {

GOMEM_EXPORT void* gomem_malloc(size_t size) { return malloc_fast(size); }

GOMEM_EXPORT void gomem_free(void* p) { free_fast(p); }

GOMEM_EXPORT void* gomem_calloc(size_t count, size_t size) { return calloc_impl(count, size); }

GOMEM_EXPORT void* gomem_realloc(void* p, size_t size) { return realloc_impl(p, size); }

GOMEM_EXPORT void* gomem_aligned_alloc(size_t alignment, size_t size) { return malloc_aligned(size, alignment); }

GOMEM_EXPORT size_t gomem_usable_size(const void* p) { return usable_size(p); }

GOMEM_EXPORT void* gomem_malloc_uncollectable(size_t size) { return malloc_uncollectable(size); }

}  // extern "C"
