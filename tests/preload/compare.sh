#!/usr/bin/env bash
# Runs a real program twice, without gomem and with LD_PRELOAD=libgomem.so,
# and checks that gomem changed nothing the program can see:
#   - both runs exit 0 (a crash or abort shows as a signal),
#   - both print the same stdout (the programs print deterministic checksums),
#   - the gomem run's stderr holds the statistics block (GOMEM_STATS=1) with a
#     nonzero malloc count, at least --min-mallocs, so gomem really served it,
#   - apart from that block, both runs print the same stderr (gomem printed no
#     warnings, and the program complained about nothing only under gomem).
# Wall time and peak RSS of both runs are printed for information only.
#
# Usage: compare.sh --lib PATH/libgomem.so [options] -- COMMAND [ARGS...]
#   --lib PATH        the library to preload (required)
#   --env VAR=VALUE   set in the environment of both runs (repeatable)
#   --stdin FILE      feed FILE to both runs on stdin (default: /dev/null)
#   --expect REGEX    stdout must also match REGEX (grep -E), e.g. a "done" line
#   --min-mallocs N   the gomem run must report at least N mallocs (default 1)
#   --keep            keep the scratch directory even when the test passes
# Each run starts in a fresh empty directory of its own, so a program may
# create files (e.g. a database) under relative names.
# gomem prints its statistics from a destructor at exit(): a program that
# leaves by _exit() or closes stderr first (coreutils do) cannot be checked.
# Exit status: 0 pass, 1 fail, 77 skip (COMMAND not installed).
set -u

lib='' stdin=/dev/null expect='' min_mallocs=1 keep=0
envs=()
while [ $# -gt 0 ]; do
  case $1 in
    --lib) lib=$2; shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --stdin) stdin=$2; shift 2 ;;
    --expect) expect=$2; shift 2 ;;
    --min-mallocs) min_mallocs=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --) shift; break ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ $# -eq 0 ] || [ -z "$lib" ]; then
  echo "usage: compare.sh --lib LIBGOMEM [--env V=X] [--stdin F] [--expect RE] [--min-mallocs N] -- CMD [ARGS...]" >&2
  exit 2
fi
if ! command -v "$1" >/dev/null 2>&1; then
  echo "SKIP: $1 is not installed"
  exit 77
fi
if [ ! -f "$lib" ]; then
  echo "FAIL: no library at $lib" >&2
  exit 1
fi
lib=$(readlink -f "$lib")
if [ "$stdin" != /dev/null ] && [ ! -r "$stdin" ]; then
  echo "FAIL: cannot read $stdin" >&2
  exit 1
fi
stdin=$(readlink -f "$stdin")

work=$(mktemp -d "${TMPDIR:-/tmp}/gomem-preload.XXXXXX") || exit 1
mkdir "$work/plain" "$work/gomem"
timer=
if [ -x /usr/bin/time ] && [ -z "${GOMEM_PRELOAD_NO_TIME:-}" ]; then timer=/usr/bin/time; fi

# run NAME [VAR=VALUE...]: runs the command in $work/NAME with the extra
# environment; leaves NAME.out, NAME.err, NAME.rc and NAME.time in $work.
run() {
  local name=$1; shift
  local dir=$work/$name
  local rc
  : >"$work/$name.out"; : >"$work/$name.err"; : >"$work/$name.time"
  # env -C starts the program in its directory; env execs it, so the timer's
  # %M is the program's peak RSS, and the timer itself runs outside the preload.
  local prog=(env -C "$dir" -u LD_PRELOAD -u GOMEM_STATS "${envs[@]}" "$@" "${cmd[@]}")
  if [ -n "$timer" ]; then
    "$timer" -f '%e s wall, %M KiB peak RSS' -o "$work/$name.time" "${prog[@]}" \
      <"$stdin" >"$work/$name.out" 2>"$work/$name.err"
    rc=$?
    # GNU time reports a signal death in its output file, exit status 128+N.
    sed -n 's/^Command terminated by signal \([0-9]*\).*/\1/p' "$work/$name.time" | head -1 >"$work/$name.sig"
  else
    local TIMEFORMAT='%R s wall (peak RSS unknown: no /usr/bin/time)'
    { time "${prog[@]}" <"$stdin" >"$work/$name.out" 2>"$work/$name.err"; } 2>"$work/$name.time"
    rc=$?
    if [ "$rc" -gt 128 ]; then echo $((rc - 128)) >"$work/$name.sig"; fi
  fi
  # Keep the timing line only (GNU time adds "Command exited with...", bash "Segmentation fault").
  sed -i -n '/ s wall/p' "$work/$name.time"
  echo "$rc" >"$work/$name.rc"
}

cmd=("$@")
quoted=$(printf ' %q' "${envs[@]}" "${cmd[@]}")
quoted=${quoted# }
echo "command: $quoted <$stdin"
echo "library: $lib"
run plain
run gomem LD_PRELOAD="$lib" GOMEM_STATS=1

fail=0
failure() { echo "FAIL: $*"; fail=1; }
show() {  # show FILE LABEL: the first lines of a file, indented
  echo "--- $2 ($(wc -l <"$1") lines) ---"
  head -n 40 "$1" | sed 's/^/  | /'
}

rc_plain=$(cat "$work/plain.rc") rc_gomem=$(cat "$work/gomem.rc")
echo "plain run: exit $rc_plain, $(cat "$work/plain.time")"
echo "gomem run: exit $rc_gomem, $(cat "$work/gomem.time")"
for name in plain gomem; do
  rc=$(cat "$work/$name.rc")
  if [ "$rc" != 0 ]; then
    if [ -s "$work/$name.sig" ]; then
      failure "$name run killed by signal $(cat "$work/$name.sig") (exit $rc)"
    else
      failure "$name run exited with status $rc"
    fi
  fi
done

# The statistics block: "gomem statistics (pid N)" then "  mallocs   N ...".
# A program that forks may print several; the biggest malloc count counts.
mallocs=$(awk '$1 == "mallocs" && $2 ~ /^[0-9]+$/ { if ($2 + 0 > m) m = $2 + 0 } END { print m + 0 }' "$work/gomem.err")
if ! grep -q '^gomem statistics' "$work/gomem.err"; then
  failure "the gomem run printed no statistics block: was libgomem.so loaded?"
elif [ "$mallocs" -lt 1 ] || [ "$mallocs" -lt "$min_mallocs" ]; then
  failure "the gomem run reports $mallocs mallocs, expected at least $min_mallocs"
else
  echo "gomem served $mallocs mallocs"
fi
if grep -q '^gomem statistics' "$work/plain.err"; then
  failure "the plain run printed a gomem statistics block: gomem was loaded without LD_PRELOAD"
fi

if ! cmp -s "$work/plain.out" "$work/gomem.out"; then
  failure "stdout differs between the plain and the gomem run"
  diff -u --label plain "$work/plain.out" --label gomem "$work/gomem.out" | head -n 60
fi
if [ ! -s "$work/plain.out" ]; then
  failure "the program printed nothing"
fi
if [ -n "$expect" ] && ! grep -Eq -- "$expect" "$work/plain.out"; then
  failure "stdout does not match '$expect'"
fi

# stderr without the statistics block (the header and the indented lines after it).
awk '/^gomem statistics/ { skip = 1; next } skip && /^  / { next } { skip = 0; print }' \
  "$work/gomem.err" >"$work/gomem.err.program"
if ! cmp -s "$work/plain.err" "$work/gomem.err.program"; then
  failure "stderr differs between the plain and the gomem run (statistics block aside)"
  diff -u --label plain "$work/plain.err" --label gomem "$work/gomem.err.program" | head -n 60
fi

if [ $fail -ne 0 ]; then
  show "$work/plain.out" "plain stdout"
  show "$work/gomem.out" "gomem stdout"
  show "$work/plain.err" "plain stderr"
  show "$work/gomem.err" "gomem stderr"
  echo "reproduce: cd \$(mktemp -d) && env LD_PRELOAD=$lib GOMEM_STATS=1 $quoted <$stdin"
  echo "scratch directory kept: $work"
  exit 1
fi
echo "--- stdout (identical in both runs) ---"
head -n 40 "$work/plain.out" | sed 's/^/  | /'
echo "--- gomem statistics ---"
grep -A 12 '^gomem statistics' "$work/gomem.err" | head -n 14 | sed 's/^/  | /'
if [ $keep -eq 1 ]; then echo "scratch directory kept: $work"; else rm -rf "$work"; fi
echo "PASS"
