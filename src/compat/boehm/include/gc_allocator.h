/* Boehm GC layout: <gc_allocator.h> is <gc/gc_allocator.h>. */
#include "gc/gc_allocator.h"
