#!/usr/bin/env bash
# CTest entry: counts the fast paths and compares with instructions.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bench=$1
lib=$2
command -v valgrind >/dev/null || { echo "valgrind not installed"; exit 1; }
measured=$("$here/count.sh" "$bench" "$lib" 32)
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
    echo "note: $fn takes $got instructions, below the recorded $limit: lower tests/fastpath/instructions.txt"
  fi
  if [ -n "$got" ] && [ "$got" -gt 30 ]; then echo "FAIL: $fn is over the 30-instruction budget"; status=1; fi
done < "$here/instructions.txt"
exit $status
