// The environment knobs: every variable gomem reads, parsed and checked in
// one place, once, at initialisation.
//
// Go stops at startup on a malformed GOMEMLIMIT ("malformed GOMEMLIMIT") and
// silently takes 100 for a malformed GOGC. gomem stops on every malformed
// knob, GOGC included: a value that wraps (GOMEMLIMIT=16777216TiB read as 0
// made the program collect forever) or a signal that cannot work
// (GOMEM_SIG_SUSPEND=11 turned a crash into a hang) is worse than a clear
// stop with "gomem: NAME=VALUE: invalid: why". An unset or empty variable
// keeps its default. GODEBUG is shared with Go programs, so only the keys
// gomem reads (gctrace, scavtrace) are checked; the others are Go's.
//
// GOMEM_GC_INTERIOR and GOMEM_DIRTY are read again where they are used
// (their owners re-read them at run time), through parse_env too.
//
// The parser (parse_env) is a pure function of its strings, so tests and
// the environment fuzzer (fuzz/env) call it directly.
#pragma once

#include <cstdint>

namespace gomem {
namespace os {

// What the knobs say. Written by read_env (initialisation, under the init
// lock) or by a caller's own parse_env; read-only afterwards.
struct EnvSettings {
  int64_t memory_limit = INT64_MAX;  // GOMEMLIMIT, bytes (INT64_MAX = off, Go's "no limit")
  int gc_percent = 100;              // GOGC (-1 = off; any negative value means off, as in Go)
  int markers = 0;                   // GOMEM_GC_MARKERS (0 = one per CPU)
  int sig_suspend = 0;               // GOMEM_SIG_SUSPEND (0 = the default, SIGPWR)
  int stw_timeout_ms = 1000;         // GOMEM_STW_TIMEOUT_MS
  bool gctrace = false;              // GODEBUG gctrace=N or scavtrace=N with N > 0
  bool scavenger = true;             // GOMEM_SCAVENGER=0 turns it off
  bool madv_free = false;            // GOMEM_MADV=free (dontneed is the default)
  bool print_stats = false;          // GOMEM_STATS=1 or GOMEM_STATS=FILE
  const char* stats_file = nullptr;  // GOMEM_STATS=FILE (a path with a '/'): the value itself
  bool interior_exact = false;       // GOMEM_GC_INTERIOR=exact (past_end is the default)
  bool dirty_tracking = true;        // GOMEM_DIRTY=off: marking stays stop-the-world
  uintptr_t trace_root = 0;          // GOMEM_GC_TRACE_ROOT: print what keeps this object alive
  // GOMEM_SHARED_PS: a thread allocates this percentage of a span's objects
  // of a size class from the shared per-CPU Ps before its own P takes a
  // span of that class (runtime/shared_p.h); 0 = no shared Ps.
  int shared_ps = 50;
  bool generational = false;           // GOMEM_GC=generational (stw, the default: every cycle full)
  bool concurrent = false;             // GOMEM_GC=concurrent (mostly-concurrent marking: gc/concurrent.cc)
  int64_t profile_rate = -1;           // GOMEM_PROFILE_RATE: bytes per heap-profile sample (0 = off, -1 = unset)
  const char* heap_profile = nullptr;  // GOMEM_HEAP_PROFILE: where to write the heap profile (the environment's string)
  int heap_profile_every_mb = 0;       // GOMEM_HEAP_PROFILE_EVERY_MB: also write one per N MB of heap growth (0 = no)
  int64_t guarded_sample_rate = 0;     // GOMEM_GUARDED_SAMPLE_RATE: one manual allocation in N guarded (0 = off)
};

// The knobs' names, null-terminated.
extern const char* const kEnvNames[];

// Parses `value` as the knob `name` into *out. Returns nullptr if the value
// is valid (or empty, or name is no knob), else why it is not: a static
// string that says what the knob wants.
const char* parse_env(const char* name, const char* value, EnvSettings* out);

// Reads every knob from the environment. A malformed one stops the process
// with "gomem: NAME=VALUE: invalid: why". Never allocates.
void read_env(EnvSettings* out);

}  // namespace os
}  // namespace gomem
