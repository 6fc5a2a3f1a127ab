// _exit and _Exit, defined here so that the statistics report GOMEM_STATS
// asks for is written by programs that leave without running destructors
// (dash ends every run with _exit; so do children after a failed exec and
// programs that skip their own cleanup). Each writes the report
// (runtime/stats.cc says when it does not) and ends the process with
// exit_group, which is all the C library's _exit does. exit() itself calls
// the C library's _exit internally, after the destructors, not this one.
// Without GOMEM_STATS they do nothing else. With it, _exit is no longer
// entirely async-signal-safe: the report copies the collector's cycle
// figures under their small lock (gc::fill_stats), so a signal handler that
// calls _exit on a thread it interrupted inside that copy would wait for
// itself; gomem_read_stats from a handler has the same limit.
#include "base/compiler.h"
#include "platform/os.h"
#include "runtime/runtime.h"

extern "C" {

GOMEM_EXPORT GOMEM_NORETURN void _exit(int status) {
  gomem::report_stats_at_exit(/*fast_exit=*/true);
  gomem::os::exit_process(status);
}

GOMEM_EXPORT GOMEM_NORETURN void _Exit(int status) { _exit(status); }

}  // extern "C"
