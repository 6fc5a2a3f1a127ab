// Fuzz target: the environment parser (src/platform/env.cc), built from
// source with AddressSanitizer so that a read past a value's end is a
// finding. The first byte picks the variable, the rest is its value.
// GOMEMLIMIT and GOGC are checked against reference parsers written
// differently (128-bit arithmetic, a regular grammar walked by hand); every
// knob must keep its default when its value is refused, touch no other
// field, and stay inside its documented range when accepted.
#include <csignal>
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_util.h"
#include "platform/env.h"

using gomem::os::EnvSettings;

namespace {

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// ^-?[0-9]+$ as a 128-bit value, saturated at 2^80 (past int64; a TiB shift still fits).
bool ref_int(const std::string& s, __int128* out) {
  bool neg = !s.empty() && s[0] == '-';
  std::string d = neg ? s.substr(1) : s;
  if (!all_digits(d)) return false;
  __int128 v = 0;
  for (char c : d) {
    v = v * 10 + (c - '0');
    if (v > (static_cast<__int128>(1) << 80)) v = static_cast<__int128>(1) << 80;  // still > 2^63, and << 40 fits
  }
  *out = neg ? -v : v;
  return true;
}

// Go's GOMEMLIMIT grammar: ^[0-9]+(([KMGT]i)?B)?$ with the result < 2^63.
bool ref_limit(const std::string& s, int64_t* out) {
  if (s == "off") {
    *out = INT64_MAX;
    return true;
  }
  std::string num = s;
  int shift = 0;
  static const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  bool unit = false;
  for (int i = 0; i < 4; i++) {
    size_t n = strlen(kUnits[i]);
    if (num.size() > n && num.compare(num.size() - n, n, kUnits[i]) == 0) {
      num.resize(num.size() - n);
      shift = 10 * (i + 1);
      unit = true;
      break;
    }
  }
  if (!unit && num.size() > 1 && num.back() == 'B') num.pop_back();
  __int128 v;
  if (!ref_int(num, &v) || v < 0) return false;
  v <<= shift;
  if (v > INT64_MAX) return false;
  *out = static_cast<int64_t>(v);
  return true;
}

// Field by field: the struct has padding.
bool same(const EnvSettings& a, const EnvSettings& b) {
  return a.memory_limit == b.memory_limit && a.gc_percent == b.gc_percent && a.markers == b.markers &&
         a.sig_suspend == b.sig_suspend && a.stw_timeout_ms == b.stw_timeout_ms && a.gctrace == b.gctrace &&
         a.scavenger == b.scavenger && a.madv_free == b.madv_free && a.print_stats == b.print_stats &&
         a.stats_file == b.stats_file;
}

[[noreturn]] void mismatch(const char* name, const std::string& v, const char* what) {
  fprintf(stderr, "fuzz: %s=%s: %s\n", name, v.c_str(), what);
  abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  int n = 0;
  while (gomem::os::kEnvNames[n]) n++;
  const char* name = gomem::os::kEnvNames[data[0] % n];
  std::string v(reinterpret_cast<const char*>(data + 1), size - 1);
  v = v.c_str();  // a value ends at its first NUL
  // An exact-size heap copy, so that ASan sees a read past the end.
  char* value = new char[v.size() + 1];
  memcpy(value, v.c_str(), v.size() + 1);
  EnvSettings def, s;
  const char* why = gomem::os::parse_env(name, value, &s);
  delete[] value;
  if (why && (why[0] == 0 || !same(s, def))) mismatch(name, v, "refused but changed the settings");
  if (v.empty() && (why || !same(s, def))) mismatch(name, v, "an empty value must mean unset");
  if (v.empty()) return 0;
  if (strcmp(name, "GOMEMLIMIT") == 0) {
    int64_t want;
    bool ok = ref_limit(v, &want);
    if (ok != !why) mismatch(name, v, ok ? "valid limit refused" : "invalid limit accepted");
    if (ok && s.memory_limit != want) mismatch(name, v, "wrong limit");
    EnvSettings t = s;
    t.memory_limit = def.memory_limit;
    if (!same(t, def)) mismatch(name, v, "touched another field");
  } else if (strcmp(name, "GOGC") == 0) {
    __int128 p;
    bool ok = v == "off" || (ref_int(v, &p) && p >= INT32_MIN && p <= INT32_MAX);
    if (ok != !why) mismatch(name, v, ok ? "valid GOGC refused" : "invalid GOGC accepted");
    int want = v == "off" || (ok && p < 0) ? -1 : ok ? static_cast<int>(p) : 100;
    if (s.gc_percent != want) mismatch(name, v, "wrong percent");
  } else if (strcmp(name, "GOMEM_SIG_SUSPEND") == 0) {
    int sig = s.sig_suspend;
    if (!why && (sig < 1 || sig > SIGRTMAX || sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
                 sig == SIGTRAP || sig == SIGSYS || sig == SIGABRT || sig == SIGKILL || sig == SIGSTOP ||
                 (sig > 31 && sig < SIGRTMIN)))
      mismatch(name, v, "accepted a signal that cannot stop threads");
  } else if (strcmp(name, "GOMEM_GC_MARKERS") == 0) {
    if (!why && (s.markers < 0 || s.markers > 1024)) mismatch(name, v, "markers out of range");
  } else if (strcmp(name, "GOMEM_STW_TIMEOUT_MS") == 0) {
    if (!why && s.stw_timeout_ms < 1) mismatch(name, v, "timeout out of range");
  }
  return 0;
}
