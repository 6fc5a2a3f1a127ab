// Fatal error reports (heap layer: they describe spans): one line naming the fault, the pointer and what gomem
// knows about it, then abort. Never allocates.
#pragma once

#include <cstdint>

#include "base/compiler.h"

namespace gomem {

struct MSpan;

enum class Fault {
  kDoubleFree,
  kInvalidFree,   // a pointer gomem never handed out
  kInteriorFree,  // a pointer inside an object, not at its start
  kCorrupt,       // metadata that contradicts itself
  kOutOfMemory,
  kBadAlignment,
  kCheckFailed,  // an invariant check failed
};

// Prints "gomem: <fault> of <ptr> (<span details>)[: detail]" and aborts.
GOMEM_NORETURN GOMEM_COLD void fatal_fault(Fault f, const void* p, const MSpan* s, const char* detail = nullptr);
GOMEM_NORETURN GOMEM_COLD void fatal(const char* msg);
// Prints a warning line (rate-unlimited; for rare events).
GOMEM_COLD void warn(const char* msg);

}  // namespace gomem
