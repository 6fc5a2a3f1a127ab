/* Boehm GC layout: <gc.h> is <gc/gc.h>. */
#include "gc/gc.h"
