#!/usr/bin/env bash
# The gomem command as a user meets it (tools/gomem.c): help, version, usage
# errors, `--`, exit statuses, the environment each option sets, and the
# statistics report of --stats from programs that close standard error
# (coreutils' ls), leave with _exit (dash, exit_helper) or reuse the
# report's descriptor.
#   check.sh GOMEM_COMMAND EXIT_HELPER ENV_CC
# ENV_CC is src/platform/env.cc: every knob it reads must be in --help.
set -uo pipefail
gomem=$(realpath "$1")
helper=$(realpath "$2")
env_cc=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
# expect STATUS LABEL CMD...: runs CMD, stdout to $tmp/out, stderr to $tmp/err.
expect() {
  local want=$1 label=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  [ "$got" -eq "$want" ] || fail "$label: exit status $got, want $want; stderr: $(head -3 "$tmp/err")"
}
has() {  # has FILE REGEX LABEL
  grep -qE -- "$2" "$1" || fail "$3: no '$2' in $(basename "$1"): $(head -3 "$1")"
}
empty() {  # empty FILE LABEL
  [ ! -s "$1" ] || fail "$2: $(basename "$1") not empty: $(head -3 "$1")"
}
stats_blocks() { grep -c '^gomem statistics (pid [0-9]*)$' "$1"; }

# Help and version: standard output, status 0, nothing on standard error.
for h in --help -h help; do
  expect 0 "gomem $h" "$gomem" $h
  has "$tmp/out" "^SYNOPSIS" "gomem $h"
  has "$tmp/out" "^ENVIRONMENT" "gomem $h"
  has "$tmp/out" "^EXIT STATUS" "gomem $h"
  empty "$tmp/err" "gomem $h"
done
"$gomem" --help >"$tmp/help"
for opt in --stats --stats-file --gctrace --libgc --malloc --heap-profile --profile-rate --heap-profile-every; do
  has "$tmp/help" "^  $opt( |$)" "--help explains $opt"
done
knobs=$(sed -n '/kEnvNames\[\] = {/,/nullptr/p' "$env_cc" | grep -oE '"[A-Z_]+"' | tr -d '"')
[ -n "$knobs" ] || fail "no knobs found in $env_cc"
for k in $knobs GOMEM_PROFILE_RATE GOMEM_HEAP_PROFILE GOMEM_HEAP_PROFILE_EVERY_MB GOMEM_LIB; do
  has "$tmp/help" "^  $k[=:]" "--help lists the knob $k"
done
for h in "run --help" "run -h" "help run"; do
  # run --help must print run's help, not try to run a program named --help.
  expect 0 "gomem $h" "$gomem" $h
  has "$tmp/out" "^OPTIONS OF run" "gomem $h"
  empty "$tmp/err" "gomem $h"
done
for v in --version version; do
  expect 0 "gomem $v" "$gomem" $v
  has "$tmp/out" "^gomem [0-9]+\.[0-9]+\.[0-9]+$" "gomem $v"
done

# Usage errors: a message naming the fault, the usage, on standard error; status 2.
usage_error() {  # usage_error REGEX ARGS...
  local want=$1
  shift
  expect 2 "gomem $*" "$gomem" "$@"
  has "$tmp/err" "$want" "gomem $*"
  has "$tmp/err" "^usage: gomem run" "gomem $*"
  empty "$tmp/out" "gomem $*"
}
usage_error "no command given"
usage_error "unknown command 'frob'" frob
usage_error "unknown option '--frob'" --frob
usage_error "unknown option '--frob'" run --frob -- true
usage_error "unknown option '-x'" run -x true
usage_error "no command given" run
usage_error "no command given" run --stats --
usage_error "--stats-file wants a value" run --stats-file
usage_error "--profile-rate wants a whole number" run --profile-rate 1k -- true
usage_error "--profile-rate wants a whole number" run --profile-rate=-5 -- true
usage_error "--heap-profile-every wants a whole number above 0" run --heap-profile-every 0 -- true
usage_error "--malloc goes with --libgc" run --malloc -- true

# `--` and options after CMD belong to CMD.
expect 0 "options after CMD" "$gomem" run sh -c 'printf "%s\n" "$@"' sh --stats --help
[ "$(cat "$tmp/out")" = $'--stats\n--help' ] || fail "options after CMD: got $(cat "$tmp/out")"
empty "$tmp/err" "options after CMD are CMD's (no statistics)"
expect 127 "a CMD named --help after --" "$gomem" run -- --help
has "$tmp/err" "cannot run --help" "a CMD named --help after --"

# Exit statuses: CMD's own (gomem execs it), 128+N for signal N as the shell sees it.
expect 3 "CMD's status" "$gomem" run -- sh -c 'exit 3'
expect 143 "killed by SIGTERM" "$gomem" run -- sh -c 'kill -TERM $$'
expect 127 "CMD not found" "$gomem" run -- "$tmp/no such program"
expect 126 "CMD not executable" "$gomem" run -- "$tmp"
expect 125 "no library" env GOMEM_LIB="$tmp/none.so" "$gomem" run -- true
# An installed tree with the runtime library alone (Debian's libgomem0
# without libgomem-dev: libgomem.so.0, no libgomem.so): gomem finds it.
mkdir -p "$tmp/inst/bin" "$tmp/inst/lib"
cp "$gomem" "$tmp/inst/bin/gomem"
cp -L "$(dirname "$gomem")/libgomem.so.0" "$tmp/inst/lib/libgomem.so.0"
env -u GOMEM_LIB "$tmp/inst/bin/gomem" run -- env >"$tmp/env" 2>&1 || fail "gomem run with libgomem.so.0 alone"
has "$tmp/env" "^LD_PRELOAD=$tmp/inst/lib/libgomem\.so\.0$" "gomem run preloads ../lib/libgomem.so.0"

# The environment each option sets (paths made absolute: CMD may change directory).
(cd "$tmp" && GODEBUG=madvdontneed=1 GOMEM_PROFILE_RATE= "$gomem" run --gctrace --heap-profile h.pb.gz \
  --heap-profile-every=64 -- env) >"$tmp/env" 2>&1 || fail "env under gomem run"
has "$tmp/env" "^GODEBUG=madvdontneed=1,gctrace=1$" "--gctrace keeps GODEBUG's other keys"
has "$tmp/env" "^GOMEM_HEAP_PROFILE=$tmp/h.pb.gz$" "--heap-profile"
has "$tmp/env" "^GOMEM_PROFILE_RATE=524288$" "--heap-profile's default rate"
has "$tmp/env" "^GOMEM_HEAP_PROFILE_EVERY_MB=64$" "--heap-profile-every"
has "$tmp/env" "^LD_PRELOAD=/.*libgomem\.so" "gomem run preloads libgomem.so"
LD_PRELOAD=libm.so.6 "$gomem" run --profile-rate 4096 -- env >"$tmp/env" 2>&1
has "$tmp/env" "^LD_PRELOAD=/[^:]*libgomem\.so[^:]*:libm\.so\.6$" "libgomem.so goes before the user's LD_PRELOAD"
has "$tmp/env" "^GOMEM_PROFILE_RATE=4096$" "--profile-rate"

# --stats: a report for every way of leaving.
stats() {  # stats LABEL CMD...: status 0 or the helper's, one report on stderr
  local label=$1
  shift
  "$gomem" run --stats -- "$@" >"$tmp/out" 2>"$tmp/err"
  echo $? >"$tmp/status"
  [ "$(stats_blocks "$tmp/err")" -ge 1 ] || fail "--stats -- $label: no statistics on stderr: $(head -3 "$tmp/err")"
}
stats "ls / (closes stderr at exit)" ls /
has "$tmp/out" "^(usr|etc)$" "ls / ran"
stats "sh -c 'exec 2>&-; true' (closes stderr)" sh -c 'exec 2>&-; true'
stats "sh -c true (dash leaves with _exit)" sh -c true
stats "_exit(7)" "$helper" _exit 7
[ "$(cat "$tmp/status")" = 7 ] || fail "_exit(7): status $(cat "$tmp/status")"
[ "$(stats_blocks "$tmp/err")" -eq 1 ] || fail "_exit(7): $(stats_blocks "$tmp/err") reports, want 1"
stats "_Exit(9)" "$helper" _Exit 9
[ "$(cat "$tmp/status")" = 9 ] || fail "_Exit(9): status $(cat "$tmp/status")"
# A program that closes every descriptor and reuses the report's number for
# a file of its own: the file stays clean (the report is dropped).
"$gomem" run --stats -- "$helper" reuse "$tmp/own" 2>"$tmp/err" || fail "reuse: status $?"
[ -e "$tmp/own" ] && ! grep -q "gomem statistics" "$tmp/own" || fail "reuse: the report was written into the program's file"
# --stats-file: appended, one block per process, nothing on stderr.
mkdir "$tmp/d"
(cd "$tmp/d" && "$gomem" run --stats-file st -- sh -c 'cd / && ls >/dev/null; ls >/dev/null') 2>"$tmp/err" ||
  fail "--stats-file: status $?"
n=$(stats_blocks "$tmp/d/st" 2>/dev/null)
[ "${n:-0}" -ge 2 ] || fail "--stats-file: want a report per process (sh, ls, ls) in the file, got ${n:-none}"
empty "$tmp/err" "--stats-file leaves stderr alone"

if [ "$failures" -gt 0 ]; then
  echo "$failures failures"
  exit 1
fi
echo "gomem command: ok"
