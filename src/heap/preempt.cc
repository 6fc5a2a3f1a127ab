#include "heap/preempt.h"

namespace gomem {

GOMEM_TLS uint32_t t_nopreempt = 0;
GOMEM_TLS uint32_t t_preempt_pending = 0;

namespace {
void no_park() { t_preempt_pending = 0; }
}  // namespace

void (*g_preempt_park)() = no_park;

}  // namespace gomem
