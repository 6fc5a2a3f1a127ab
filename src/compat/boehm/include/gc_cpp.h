/* Boehm GC layout: <gc_cpp.h> is <gc/gc_cpp.h>. */
#include "gc/gc_cpp.h"
