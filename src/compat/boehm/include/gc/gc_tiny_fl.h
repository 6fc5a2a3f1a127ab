/* gc_tiny_fl.h for gomem's Boehm GC layer: bdwgc's granule geometry on
 * 64-bit Linux (16-byte granules), used by gc_inline.h. */
#ifndef GC_TINY_FL_H
#define GC_TINY_FL_H
#define GC_GRANULE_BYTES 16
#define GC_GRANULE_WORDS 2
#define GC_TINY_FREELISTS 25
#define GC_RAW_BYTES_FROM_INDEX(i) ((i)*GC_GRANULE_BYTES)
#define GC_WORDS_TO_GRANULES(n) ((n) * sizeof(void*) / GC_GRANULE_BYTES)
#define GC_WORDS_TO_WHOLE_GRANULES(n) GC_WORDS_TO_GRANULES((n) + GC_GRANULE_WORDS - 1)
#endif
