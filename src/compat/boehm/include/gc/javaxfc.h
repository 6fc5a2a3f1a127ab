/*
 * javaxfc.h for gomem's Boehm GC layer: Java-style finalization at exit.
 */
#ifndef GC_JAVAXFC_H
#define GC_JAVAXFC_H

#include "gc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Runs every registered finalizer now, on the calling thread, whether its
 * object is reachable or not (the registrations are dropped first; a
 * finalizer registered meanwhile runs too), as bdwgc's does. For use just
 * before exit: objects finalized this way may still be in use. */
GC_API void GC_CALL GC_finalize_all(void);

#ifdef __cplusplus
}
#endif

#endif /* GC_JAVAXFC_H */
