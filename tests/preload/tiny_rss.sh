#!/usr/bin/env bash
# tiny_rss.sh LIBGOMEM PROGRAM MAX_EXTRA_KIB
#
# Runs PROGRAM (tiny_program.c) under glibc's malloc and under gomem
# (LD_PRELOAD) and fails if gomem adds more than MAX_EXTRA_KIB of anonymous
# memory: the fixed cost of gomem's metadata, first reservations and data
# section in a program that allocates almost nothing. The figure
# is exact (pages written), not a timing; both runs go through env, whose
# page faults count in the program's (rusage survives exec). Exit 77 (skip) without
# /proc/self/smaps_rollup.
set -euo pipefail
lib=$1 prog=$2 max=$3
field() { sed -n "s/.*\\b$1=\\([0-9-]*\\).*/\\1/p" <<<"$2"; }
set +e
plain=$(env -u LD_PRELOAD "$prog"); rc1=$?
gomem=$(env LD_PRELOAD="$lib" "$prog"); rc2=$?
set -e
if [ $rc1 -eq 77 ] || [ $rc2 -eq 77 ]; then echo "no /proc/self/smaps_rollup: skipped"; exit 77; fi
[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] || { echo "tiny program failed ($rc1, $rc2)"; exit 1; }
[ "$(field gomem "$plain")" = 0 ] && [ "$(field gomem "$gomem")" = 1 ] ||
  { echo "expected glibc's malloc, then gomem's: '$plain' / '$gomem'"; exit 1; }
a=$(field anon_kb "$plain") b=$(field anon_kb "$gomem")
echo "tiny program: anonymous memory $a KiB with glibc, $b KiB with gomem (+$((b - a)) KiB, bound $max);" \
  "minor faults $(field minflt "$plain") and $(field minflt "$gomem")"
[ $((b - a)) -le "$max" ]
