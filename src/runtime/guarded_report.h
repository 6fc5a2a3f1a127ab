// The guarded pool's runtime side (heap/guarded.h): turning it on, frees
// and reallocs of its objects, and what is printed when one is misused.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gomem {

// Turns the pool on at `rate` (GOMEM_GUARDED_SAMPLE_RATE; 0: off) and
// installs the SIGSEGV/SIGBUS handler that reports faults in it (and, in
// the hardened build, whatever the rate, in large objects' guard pages).
// At initialisation, once.
void guarded_init(uint64_t rate);

// free() of a pointer in the pool: checks it (double free, interior or
// stray pointer, writes into the slack or before the object) and
// quarantines its slot; a bad one is reported with the object's stacks,
// then abort.
void guarded_free(void* p);
// realloc() of a pointer in the pool: the object always moves.
void* guarded_realloc(void* p, size_t size);

}  // namespace gomem
