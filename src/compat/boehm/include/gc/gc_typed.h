/*
 * gc_typed.h for gomem's Boehm GC layer. gomem has no per-object layouts:
 * an explicitly typed object is scanned conservatively, every word, so it
 * keeps alive everything its descriptor names as a pointer (and whatever its
 * other words happen to point to).
 */
#ifndef GC_TYPED_H
#define GC_TYPED_H

#include "gc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef GC_word* GC_bitmap;
#define GC_WORDSZ (8 * sizeof(GC_word))
#define GC_get_bit(bm, index) (((bm)[(index) / GC_WORDSZ] >> ((index) % GC_WORDSZ)) & 1)
#define GC_set_bit(bm, index) ((bm)[(index) / GC_WORDSZ] |= (GC_word)1 << ((index) % GC_WORDSZ))
#define GC_WORD_OFFSET(t, f) (offsetof(t, f) / sizeof(GC_word))
#define GC_WORD_LEN(t) (sizeof(t) / sizeof(GC_word))
#define GC_BITMAP_SIZE(t) ((GC_WORD_LEN(t) + GC_WORDSZ - 1) / GC_WORDSZ)

typedef GC_word GC_descr;
GC_API GC_descr GC_CALL GC_make_descriptor(const GC_word* /* GC_bitmap bm */, size_t /* len */);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void* GC_CALL
    GC_malloc_explicitly_typed(size_t /* size_in_bytes */, GC_descr /* d */);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void* GC_CALL
    GC_malloc_explicitly_typed_ignore_off_page(size_t /* size_in_bytes */, GC_descr /* d */);
GC_API GC_ATTR_MALLOC void* GC_CALL GC_calloc_explicitly_typed(size_t /* nelements */,
                                                               size_t /* element_size_in_bytes */, GC_descr /* d */);
#ifdef GC_DEBUG
#define GC_MALLOC_EXPLICITLY_TYPED(bytes, d) ((void)(d), GC_MALLOC(bytes))
#define GC_CALLOC_EXPLICITLY_TYPED(n, bytes, d) ((void)(d), GC_MALLOC((n) * (bytes)))
#else
#define GC_MALLOC_EXPLICITLY_TYPED(bytes, d) GC_malloc_explicitly_typed(bytes, d)
#define GC_CALLOC_EXPLICITLY_TYPED(n, bytes, d) GC_calloc_explicitly_typed(n, bytes, d)
#endif

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GC_TYPED_H */
