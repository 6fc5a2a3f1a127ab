#!/usr/bin/env bash
# Counts the instructions of gomem_read_stats with valgrind --tool=callgrind:
# its inclusive cost in runs of stats_bench of N1 and N2 calls, the
# difference divided by the difference in calls, with one P and the
# collector never used ("read_stats"), then after a collection
# ("read_stats_gc"; its threads run at moments that depend on the machine's
# load, and the count varies by a few percent from run to run).
#
#   stats_count.sh BENCH     prints "read_stats N" and "read_stats_gc N"
set -euo pipefail
bench=$1
n1=2000
n2=12000
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cpu=$(taskset -pc $$ | sed 's/.*: //; s/[,-].*//')  # the first CPU this shell may use
cost() {  # inclusive Ir of gomem_read_stats in a run of $1 calls, collector $2
  local out=$tmp/cg.$1.$2
  # No background scavenger: woken by time, it would run inside the loop at
  # a moment that depends on the machine's load.
  # On one CPU: a thread that moved would make a second shared P
  # (runtime/shared_p.h), whose counters read_stats then sums too.
  GOMEM_SCAVENGER=0 taskset -c "$cpu" valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" "$1" "$2" >/dev/null 2>&1
  callgrind_annotate --inclusive=yes --threshold=100 "$out" 2>/dev/null |
    awk '/:gomem_read_stats / && !n { gsub(",", "", $1); n = $1 } END { print n + 0 }'
}
for gc in 0 1; do
  c1=$(cost $n1 $gc)
  c2=$(cost $n2 $gc)
  name=read_stats; [ $gc = 1 ] && name=read_stats_gc
  echo "$name $(( (c2 - c1 + (n2 - n1) / 2) / (n2 - n1) ))"
done
