/*
 * gc_gcj.h for gomem's Boehm GC layer: gcj-style objects, whose first word
 * points to a vtable with bdwgc's mark descriptor in its second word
 * (MARK_DESCR_OFFSET). On gomem such an object is scanned conservatively,
 * every word: the descriptor is not needed, and never consulted.
 */
#ifndef GC_GCJ_H
#define GC_GCJ_H

#include "gc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Call once before GC_gcj_malloc; mp_index and mp as in bdwgc (the mark
 * procedure is recorded; gomem does not need it). */
GC_API void GC_CALL GC_init_gcj_malloc(int /* mp_index */, void* /* mp */);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void* GC_CALL GC_gcj_malloc(size_t /* lb */, void* /* vtable */);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void* GC_CALL
    GC_debug_gcj_malloc(size_t /* lb */, void* /* vtable */, GC_EXTRA_PARAMS);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void* GC_CALL
    GC_gcj_malloc_ignore_off_page(size_t /* lb */, void* /* vtable */);
/* The kinds of gcj objects (the normal kind on gomem, once initialized). */
GC_API int GC_gcj_kind;
GC_API int GC_gcj_debug_kind;

#ifdef GC_DEBUG
#define GC_GCJ_MALLOC(s, d) GC_debug_gcj_malloc(s, d, GC_EXTRAS)
#define GC_GCJ_MALLOC_IGNORE_OFF_PAGE(s, d) GC_debug_gcj_malloc(s, d, GC_EXTRAS)
#else
#define GC_GCJ_MALLOC(s, d) GC_gcj_malloc(s, d)
#define GC_GCJ_MALLOC_IGNORE_OFF_PAGE(s, d) GC_gcj_malloc_ignore_off_page(s, d)
#endif

#ifdef __cplusplus
}
#endif

#endif /* GC_GCJ_H */
