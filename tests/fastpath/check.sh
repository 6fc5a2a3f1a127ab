#!/usr/bin/env bash
# CTest entry: counts instructions and compares with a checked-in file.
#   check.sh BENCH LIB [FILE] malloc's and free's fast paths (count.sh,
#                             FILE: instructions.txt (the default; 30 at
#                             most each) or instructions_hardened.txt)
#   check.sh --stats BENCH    gomem_read_stats (stats_count.sh,
#                             stats_instructions.txt)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v valgrind >/dev/null || { echo "valgrind not installed"; exit 1; }
if [ "$1" = --stats ]; then
  measured=$("$here/stats_count.sh" "$2")
  file=$here/stats_instructions.txt
  budget=
else
  measured=$("$here/count.sh" "$1" "$2" 32)
  file=$here/${3:-instructions.txt}
  budget=
  if [ "${3:-instructions.txt}" = instructions.txt ]; then budget=30; fi
fi
echo "measured:"; echo "$measured"
status=0
while read -r fn limit; do
  case "$fn" in ''|'#'*) continue ;; esac
  got=$(awk -v f="$fn" '$1 == f { print $2 }' <<<"$measured")
  if [ -z "$got" ] || [ "$got" -eq 0 ]; then
    echo "FAIL: no count for $fn"; status=1
  elif [ "$got" -gt "$limit" ]; then
    echo "FAIL: $fn takes $got instructions, recorded limit is $limit"; status=1
  elif [ "$got" -lt "$limit" ]; then
    echo "note: $fn takes $got instructions, below the recorded $limit: lower $(basename "$file")"
  fi
  if [ -n "$budget" ] && [ -n "$got" ] && [ "$got" -gt "$budget" ]; then
    echo "FAIL: $fn is over the $budget-instruction budget"; status=1
  fi
done < "$file"
exit $status
