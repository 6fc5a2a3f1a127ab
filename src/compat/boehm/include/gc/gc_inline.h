/*
 * gc_inline.h for gomem's Boehm GC layer. The macros keep bdwgc's shape (a
 * caller-owned free list refilled by GC_generic_malloc_many); the objects
 * come from gomem, one collected object each. Objects in such a list are
 * linked through their first word: keep the list head where collected
 * pointers must be (a stack, a global, a collected object). The layer
 * hands out every object of a list as a scanned object, so the links keep
 * the whole list alive whatever the kind.
 */
#ifndef GC_INLINE_H
#define GC_INLINE_H

#include "gc.h"
#include "gc_mark.h"
#include "gc_tiny_fl.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GC_EXPECT(expr, outcome) __builtin_expect(expr, outcome)
#define GC_ASSERT(expr) ((void)0)
#define GC_PREFETCH_FOR_WRITE(x) __builtin_prefetch((x), 1)

GC_API void GC_CALL GC_generic_malloc_many(size_t /* lb */, int /* k */, void** /* result */);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void* GC_CALL GC_malloc_kind(size_t /* lb */, int /* k */);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void* GC_CALL GC_malloc_kind_global(size_t /* lb */, int /* k */);

#define GC_I_PTRFREE 0
#define GC_I_NORMAL 1

#define GC_FAST_MALLOC_GRANS(result, granules, tiny_fl, num_direct, kind, default_expr, init)                        \
  do {                                                                                                               \
    void** my_fl = (tiny_fl) + (granules);                                                                           \
    void* my_entry = *my_fl;                                                                                         \
    if (!my_entry) {                                                                                                 \
      GC_generic_malloc_many(((granules) == 0 ? GC_GRANULE_BYTES : GC_RAW_BYTES_FROM_INDEX(granules)), kind, my_fl); \
      my_entry = *my_fl;                                                                                             \
    }                                                                                                                \
    if (!my_entry) {                                                                                                 \
      (result) = (void*)(default_expr);                                                                              \
      break;                                                                                                         \
    }                                                                                                                \
    *my_fl = *(void**)my_entry;                                                                                      \
    (result) = my_entry;                                                                                             \
    init;                                                                                                            \
    GC_PREFETCH_FOR_WRITE(*my_fl);                                                                                   \
  } while (0)

#define GC_MALLOC_WORDS_KIND(result, n, tiny_fl, kind, init)                                                          \
  do {                                                                                                                \
    size_t gc_grans = GC_WORDS_TO_WHOLE_GRANULES(n);                                                                  \
    GC_FAST_MALLOC_GRANS(result, gc_grans, tiny_fl, 0, kind, GC_malloc_kind(gc_grans* GC_GRANULE_BYTES, kind), init); \
  } while (0)
#define GC_MALLOC_WORDS(result, n, tiny_fl) GC_MALLOC_WORDS_KIND(result, n, tiny_fl, GC_I_NORMAL, *(void**)(result) = 0)
#define GC_MALLOC_ATOMIC_WORDS(result, n, tiny_fl) GC_MALLOC_WORDS_KIND(result, n, tiny_fl, GC_I_PTRFREE, (void)0)
#define GC_CONS(result, first, second, tiny_fl)                     \
  do {                                                              \
    void* gc_cons_l = (void*)(first);                               \
    void* gc_cons_r = (void*)(second);                              \
    GC_MALLOC_WORDS_KIND(result, 2, tiny_fl, GC_I_NORMAL, (void)0); \
    if ((result) != 0) {                                            \
      *(void**)(result) = gc_cons_l;                                \
      ((void**)(result))[1] = gc_cons_r;                            \
    }                                                               \
  } while (0)

GC_API void GC_CALL GC_print_free_list(int /* kind */, size_t /* sz_in_granules */);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GC_INLINE_H */
