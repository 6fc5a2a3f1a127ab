/*
 * gc_mark.h for gomem's Boehm GC layer: custom kinds and mark procedures
 * (what Guile and ECL use). gomem has no per-object mark procedures: an
 * object of a custom kind is scanned conservatively, every word, so it keeps
 * alive at least what its mark procedure would have marked (and perhaps
 * more). Mark procedures are accepted and never called. See docs/libgc.md.
 */
#ifndef GC_MARK_H
#define GC_MARK_H

#include "gc.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GC_PROC_BYTES 100
struct GC_ms_entry {
  void* mse_start;
  GC_word mse_descr;
};
typedef struct GC_ms_entry* (*GC_mark_proc)(GC_word* /* addr */, struct GC_ms_entry* /* mark_stack_ptr */,
                                            struct GC_ms_entry* /* mark_stack_limit */, GC_word /* env */);
#define GC_LOG_MAX_MARK_PROCS 6
#define GC_MAX_MARK_PROCS (1 << GC_LOG_MAX_MARK_PROCS)
#define GC_RESERVED_MARK_PROCS 8
#define GC_GCJ_RESERVED_MARK_PROC_INDEX 0

#define GC_DS_TAG_BITS 2
#define GC_DS_TAGS ((1 << GC_DS_TAG_BITS) - 1)
#define GC_DS_LENGTH 0
#define GC_DS_BITMAP 1
#define GC_DS_PROC 2
#define GC_MAKE_PROC(proc_index, env) \
  (((((env) << GC_LOG_MAX_MARK_PROCS) | (proc_index)) << GC_DS_TAG_BITS) | GC_DS_PROC)
#define GC_DS_PER_OBJECT 3
#define GC_INDIR_PER_OBJ_BIAS 0x10

GC_API void* GC_least_plausible_heap_addr;
GC_API void* GC_greatest_plausible_heap_addr;

GC_API struct GC_ms_entry* GC_CALL GC_mark_and_push(void* /* obj */, struct GC_ms_entry* /* mark_stack_ptr */,
                                                    struct GC_ms_entry* /* mark_stack_limit */, void** /* src */);
#define GC_MARK_AND_PUSH(obj, msp, lim, src)                          \
  ((GC_word)(obj) >= (GC_word)GC_least_plausible_heap_addr &&         \
           (GC_word)(obj) <= (GC_word)GC_greatest_plausible_heap_addr \
       ? GC_mark_and_push(obj, msp, lim, src)                         \
       : (msp))

GC_API GC_ATTR_CONST size_t GC_CALL GC_get_debug_header_size(void);
#define GC_USR_PTR_FROM_BASE(p) ((void*)((char*)(p) + GC_get_debug_header_size()))
GC_API size_t GC_debug_header_size;

GC_API void** GC_CALL GC_new_free_list(void);
GC_API void** GC_CALL GC_new_free_list_inner(void);
GC_API unsigned GC_CALL GC_new_kind(void** /* free_list */, GC_word /* mark_descriptor_template */,
                                    int /* add_size_to_descriptor */, int /* clear_new_objects */) GC_ATTR_NONNULL(1);
GC_API unsigned GC_CALL GC_new_kind_inner(void** /* free_list */, GC_word /* mark_descriptor_template */,
                                          int /* add_size_to_descriptor */, int /* clear_new_objects */);
GC_API unsigned GC_CALL GC_new_proc(GC_mark_proc);
GC_API unsigned GC_CALL GC_new_proc_inner(GC_mark_proc);
GC_API void GC_CALL GC_init_gcj_malloc_mp(unsigned /* mp_index */, GC_mark_proc /* mp */);

GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void* GC_CALL GC_generic_malloc(size_t /* lb */, int /* knd */);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void* GC_CALL
    GC_generic_malloc_ignore_off_page(size_t /* lb */, int /* knd */);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void* GC_CALL
    GC_generic_malloc_uncollectable(size_t /* lb */, int /* knd */);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void* GC_CALL GC_generic_or_special_malloc(size_t /* lb */, int /* knd */);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void* GC_CALL
    GC_debug_generic_or_special_malloc(size_t, int, GC_EXTRA_PARAMS);
#ifdef GC_DEBUG
#define GC_GENERIC_OR_SPECIAL_MALLOC(sz, knd) GC_debug_generic_or_special_malloc(sz, knd, GC_EXTRAS)
#else
#define GC_GENERIC_OR_SPECIAL_MALLOC(sz, knd) GC_generic_or_special_malloc(sz, knd)
#endif

GC_API int GC_CALL GC_get_kind_and_size(const void*, size_t* /* psize */) GC_ATTR_NONNULL(1);

typedef void(GC_CALLBACK* GC_describe_type_fn)(void* /* p */, char* /* out_buf */);
#define GC_TYPE_DESCR_LEN 40
GC_API void GC_CALL GC_register_describe_type_fn(int /* kind */, GC_describe_type_fn);
GC_API void* GC_CALL GC_clear_stack(void*);

typedef void(GC_CALLBACK* GC_start_callback_proc)(void);
GC_API void GC_CALL GC_set_start_callback(GC_start_callback_proc);
GC_API GC_start_callback_proc GC_CALL GC_get_start_callback(void);
GC_API int GC_CALL GC_is_marked(const void*) GC_ATTR_NONNULL(1);
GC_API void GC_CALL GC_clear_mark_bit(const void*) GC_ATTR_NONNULL(1);
GC_API void GC_CALL GC_set_mark_bit(const void*) GC_ATTR_NONNULL(1);
GC_API void GC_CALL GC_push_all(void* /* bottom */, void* /* top */);
GC_API void GC_CALL GC_push_all_eager(void* /* bottom */, void* /* top */);
GC_API void GC_CALL GC_push_conditional(void* /* bottom */, void* /* top */, int /* bool all */);
GC_API void GC_CALL GC_push_finalizer_structures(void);
typedef void(GC_CALLBACK* GC_push_other_roots_proc)(void);
GC_API void GC_CALL GC_set_push_other_roots(GC_push_other_roots_proc);
GC_API GC_push_other_roots_proc GC_CALL GC_get_push_other_roots(void);
typedef void(GC_CALLBACK* GC_reachable_object_proc)(void* /* obj */, size_t /* bytes */, void* /* client_data */);
GC_API void GC_CALL GC_enumerate_reachable_objects_inner(GC_reachable_object_proc, void* /* client_data */)
    GC_ATTR_NONNULL(1);
GC_API int GC_CALL GC_is_tmp_root(void*);
GC_API void GC_CALL GC_print_trace(GC_word /* gc_no */);
GC_API void GC_CALL GC_print_trace_inner(GC_word /* gc_no */);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GC_MARK_H */
