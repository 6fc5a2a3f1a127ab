// The environment knobs (see env.h).
#include "platform/env.h"

#include <signal.h>

#include <cstring>

#include "base/fmt.h"
#include "platform/os.h"

namespace gomem {
namespace os {

// clang-format off
const char* const kEnvNames[] = {"GOMEMLIMIT",
                                 "GOGC",
                                 "GOMEM_GC_MARKERS",
                                 "GOMEM_SIG_SUSPEND",
                                 "GOMEM_STW_TIMEOUT_MS",
                                 "GODEBUG",
                                 "GOMEM_SCAVENGER",
                                 "GOMEM_MADV",
                                 "GOMEM_STATS",
                                 "GOMEM_GC_INTERIOR",
                                 "GOMEM_DIRTY",
                                 "GOMEM_GC_TRACE_ROOT",
                                 "GOMEM_SHARED_PS",
                                 "GOMEM_GC",
                                 "GOMEM_PROFILE_RATE",
                                 "GOMEM_HEAP_PROFILE",
                                 "GOMEM_HEAP_PROFILE_EVERY_MB",
                                 "GOMEM_GUARDED_SAMPLE_RATE",
                                 nullptr};
// clang-format on

namespace {

// Go's atoi64: an optional '-', then decimal digits, nothing else; false on
// overflow. The first n bytes of s (n < 0: up to its NUL).
bool atoi64(const char* s, long n, int64_t* out) {
  if (n < 0) n = static_cast<long>(strlen(s));
  bool neg = n > 0 && s[0] == '-';
  long i = neg ? 1 : 0;
  if (i == n) return false;
  uint64_t v = 0;
  for (; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (v > (uint64_t{1} << 63) / 10 || v * 10 > (uint64_t{1} << 63) - d) return false;
    v = v * 10 + d;
  }
  if (!neg && v > static_cast<uint64_t>(INT64_MAX)) return false;
  *out = neg ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
  return true;
}

// An integer in [lo, hi], or why not.
const char* parse_int(const char* v, int64_t lo, int64_t hi, const char* want, int* out) {
  int64_t n;
  if (!atoi64(v, -1, &n) || n < lo || n > hi) return want;
  *out = static_cast<int>(n);
  return nullptr;
}

// One of two spellings.
const char* parse_choice(const char* v, const char* yes, const char* no, const char* want, bool* out) {
  if (strcmp(v, yes) == 0)
    *out = true;
  else if (strcmp(v, no) == 0)
    *out = false;
  else
    return want;
  return nullptr;
}

// GOMEM_GC: stw (every cycle stops the world for its whole mark),
// generational or concurrent.
const char* parse_gc_mode(const char* v, EnvSettings* out) {
  bool gen = strcmp(v, "generational") == 0, conc = strcmp(v, "concurrent") == 0;
  if (!gen && !conc && strcmp(v, "stw") != 0) return "want stw, generational or concurrent";
  out->generational = gen;
  out->concurrent = conc;
  return nullptr;
}

constexpr const char* kWantLimit =
    "want a byte count below 2^63 (8 EiB) with an optional B, KiB, MiB, GiB or TiB suffix, or off";

// Go's parseByteCount: ^[0-9]+(([KMGT]i)?B)?$, at most INT64_MAX; or "off".
const char* parse_limit(const char* v, int64_t* out) {
  if (strcmp(v, "off") == 0) {
    *out = INT64_MAX;
    return nullptr;
  }
  long n = static_cast<long>(strlen(v));
  int power = 0;
  if (n >= 4 && v[n - 1] == 'B' && v[n - 2] == 'i') {
    const char* p = strchr("KMGT", v[n - 3]);
    if (!p) return kWantLimit;
    power = static_cast<int>(p - "KMGT") + 1;
    n -= 3;
  } else if (n >= 2 && v[n - 1] == 'B') {
    n -= 1;
  }
  int64_t count;
  if (!atoi64(v, n, &count) || count < 0) return kWantLimit;
  uint64_t c = static_cast<uint64_t>(count);
  if (c > static_cast<uint64_t>(INT64_MAX) >> (10 * power)) return kWantLimit;
  *out = static_cast<int64_t>(c << (10 * power));
  return nullptr;
}

// Go's readGOGC: "off", or an int32 (negative = off).
const char* parse_gogc(const char* v, int* out) {
  if (strcmp(v, "off") == 0) {
    *out = -1;
    return nullptr;
  }
  const char* why = parse_int(v, INT32_MIN, INT32_MAX, "want a percentage (an integer; negative = off) or off", out);
  if (!why && *out < 0) *out = -1;
  return why;
}

// Why `sig` cannot stop threads, or nullptr if it can.
const char* bad_suspend_signal(int sig) {
  switch (sig) {
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
    case SIGTRAP:
    case SIGSYS:
      return "a synchronous fault signal cannot stop threads: a crash would be taken for a stop request "
             "and retried forever; pick a free signal such as SIGPWR (30) or SIGXCPU (24)";
    case SIGABRT:
      return "SIGABRT is abort()'s: a failed assertion would stop the thread instead of the program";
    case SIGKILL:
    case SIGSTOP:
      return "SIGKILL and SIGSTOP cannot be caught";
    default:
      break;
  }
  if (sig > 0 && sig < 32) return nullptr;
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) return nullptr;
  return "want a signal number from 1 to 31 or from SIGRTMIN to SIGRTMAX (32 and 33 are glibc's own), "
         "not a fault signal";
}

// An address in hexadecimal, with or without 0x, not 0.
const char* parse_address(const char* v, uintptr_t* out) {
  constexpr const char* kWant = "want an address in hexadecimal such as 0xc000012340";
  if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) v += 2;
  uintptr_t a = 0;
  int digits = 0;
  for (; *v; v++, digits++) {
    int d = *v >= '0' && *v <= '9' ? *v - '0' : (*v | 0x20) >= 'a' && (*v | 0x20) <= 'f' ? (*v | 0x20) - 'a' + 10 : -1;
    if (d < 0 || digits == 16) return kWant;
    a = a << 4 | static_cast<uintptr_t>(d);
  }
  if (digits == 0 || a == 0) return kWant;
  *out = a;
  return nullptr;
}

// Bytes per heap-profile sample: 0 (off) to 2^40.
const char* parse_profile_rate(const char* v, int64_t* out) {
  int64_t n;
  if (!atoi64(v, -1, &n) || n < 0 || n > (int64_t{1} << 40))
    return "want bytes per sample from 0 (off) to 1099511627776 (Go's default is 524288)";
  *out = n;
  return nullptr;
}

// Allocations per guarded sample: 0 (off) to 2^40.
const char* parse_guarded_rate(const char* v, int64_t* out) {
  int64_t n;
  if (!atoi64(v, -1, &n) || n < 0 || n > (int64_t{1} << 40))
    return "want one sample per N allocations, N from 0 (off) to 1099511627776";
  *out = n;
  return nullptr;
}

const char* parse_signal(const char* v, int* out) {
  int sig;
  if (const char* why = parse_int(v, 1, 1024, "want a signal number such as 30 (SIGPWR)", &sig)) return why;
  if (const char* why = bad_suspend_signal(sig)) return why;
  *out = sig;
  return nullptr;
}

// GOMEM_STATS: 0, 1 (the report on standard error) or a file to append the
// report to. A file is told by its '/', so that a mistyped choice ("yes")
// is refused rather than taken for a file name.
const char* parse_stats(const char* v, EnvSettings* out) {
  if (strchr(v, '/')) {
    out->print_stats = true;
    out->stats_file = v;
    return nullptr;
  }
  const char* why =
      parse_choice(v, "1", "0", "want 0 or 1, or a file to append to (a path with a /, such as ./gomem-stats.txt)",
                   &out->print_stats);
  if (!why) out->stats_file = nullptr;
  return why;
}

// GODEBUG: comma-separated key=value pairs; gomem reads gctrace and
// scavtrace (an integer, > 0 turns the trace on), later pairs win as in Go.
// Other keys belong to Go and are left alone.
const char* parse_godebug(const char* v, bool* out) {
  bool gctrace = *out, scavtrace = *out;
  while (*v) {
    const char* end = strchr(v, ',');
    long len = end ? end - v : static_cast<long>(strlen(v));
    const char* eq = static_cast<const char*>(memchr(v, '=', static_cast<size_t>(len)));
    if (eq) {
      long klen = eq - v;
      bool* which = klen == 7 && strncmp(v, "gctrace", 7) == 0     ? &gctrace
                    : klen == 9 && strncmp(v, "scavtrace", 9) == 0 ? &scavtrace
                                                                   : nullptr;
      int64_t n;
      if (which && !atoi64(eq + 1, len - klen - 1, &n)) return "want gctrace=N and scavtrace=N with N an integer";
      if (which) *which = n > 0;
    }
    v += len;
    if (*v == ',') v++;
  }
  *out = gctrace || scavtrace;
  return nullptr;
}

}  // namespace

const char* parse_env(const char* name, const char* v, EnvSettings* out) {
  if (!*v) return nullptr;
  if (strcmp(name, "GOMEMLIMIT") == 0) return parse_limit(v, &out->memory_limit);
  if (strcmp(name, "GOGC") == 0) return parse_gogc(v, &out->gc_percent);
  if (strcmp(name, "GOMEM_GC_MARKERS") == 0)
    return parse_int(v, 0, 1024, "want a number of marker threads from 0 (one per CPU) to 1024", &out->markers);
  if (strcmp(name, "GOMEM_SIG_SUSPEND") == 0) return parse_signal(v, &out->sig_suspend);
  if (strcmp(name, "GOMEM_STW_TIMEOUT_MS") == 0)
    return parse_int(v, 1, 3600 * 1000, "want milliseconds from 1 to 3600000", &out->stw_timeout_ms);
  if (strcmp(name, "GODEBUG") == 0) return parse_godebug(v, &out->gctrace);
  if (strcmp(name, "GOMEM_SCAVENGER") == 0) return parse_choice(v, "1", "0", "want 0 or 1", &out->scavenger);
  if (strcmp(name, "GOMEM_MADV") == 0)
    return parse_choice(v, "free", "dontneed", "want free or dontneed", &out->madv_free);
  if (strcmp(name, "GOMEM_STATS") == 0) return parse_stats(v, out);
  if (strcmp(name, "GOMEM_GC_INTERIOR") == 0)
    return parse_choice(v, "exact", "past_end", "want exact or past_end", &out->interior_exact);
  if (strcmp(name, "GOMEM_DIRTY") == 0) return parse_choice(v, "on", "off", "want on or off", &out->dirty_tracking);
  if (strcmp(name, "GOMEM_GC_TRACE_ROOT") == 0) return parse_address(v, &out->trace_root);
  if (strcmp(name, "GOMEM_SHARED_PS") == 0)
    return parse_int(v, 0, 1000, "want a percentage of a span from 0 (no shared Ps) to 1000", &out->shared_ps);
  if (strcmp(name, "GOMEM_GC") == 0) return parse_gc_mode(v, out);
  if (strcmp(name, "GOMEM_PROFILE_RATE") == 0) return parse_profile_rate(v, &out->profile_rate);
  if (strcmp(name, "GOMEM_GUARDED_SAMPLE_RATE") == 0) return parse_guarded_rate(v, &out->guarded_sample_rate);
  if (strcmp(name, "GOMEM_HEAP_PROFILE") == 0) {
    out->heap_profile = v;
    return nullptr;
  }
  if (strcmp(name, "GOMEM_HEAP_PROFILE_EVERY_MB") == 0)
    return parse_int(v, 0, 1 << 20, "want megabytes of heap growth from 0 (never) to 1048576",
                     &out->heap_profile_every_mb);
  return nullptr;
}

void read_env(EnvSettings* out) {
  for (const char* const* name = kEnvNames; *name; name++) {
    const char* v = getenv(*name);
    if (!v) continue;
    const char* why = parse_env(*name, v, out);
    if (!why) continue;
    StackBuf<512> b;
    b.s("gomem: ").s(*name).c('=').s(v).s(": invalid: ").s(why).c('\n');
    write_stderr(b.str(), b.len());
    abort_process();
  }
}

}  // namespace os
}  // namespace gomem
