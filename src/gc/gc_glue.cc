// Placeholder glue until the collector lands (issue 4): collected objects
// cannot be allocated yet, so these hooks have nothing to do.
#include "gomem/gomem.h"
#include "heap/fault.h"
#include "runtime/runtime.h"

namespace gomem {
void gc_free_hook(void* p, MSpan* s) { fatal_fault(Fault::kInvalidFree, p, s, "collected object"); }
void fork_hook_prepare() {}
void fork_hook_parent() {}
void fork_hook_child() {}
void gc_init_hook() {}
void gc_fill_stats(gomem_stats*) {}
const char* gc_check_span(MSpan*) { return nullptr; }
}  // namespace gomem
