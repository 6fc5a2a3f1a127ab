#!/usr/bin/env bash
# Regenerates docs/benchmarks.md from the latest full runs of the three
# benchmark suites (bench/run, bench/gc/run, bench/rss/run), copying their
# charts to docs/img/. Run it after the benchmarks; it measures nothing itself.
set -euo pipefail
cd "$(dirname "$0")/.."
alloc=bench/results/latest
gc=$(ls -t bench/gc/results/*-summary.md 2>/dev/null | grep -v quick | head -1)
rss=bench/rss/results/latest
cp "$alloc.png" docs/img/allocators.png
[ -n "$gc" ] && cp "${gc%.md}.png" docs/img/gc.png
cp "$rss.png" docs/img/rss.png
# Drop a file's first line (its own title) and demote its headings one level.
body() { tail -n +2 "$1" | sed -e 's/^## /### /' -e 's/^# /## /'; }
{
  cat docs/benchmarks.head.md
  echo
  echo "## 1. Allocators: glibc, jemalloc, tcmalloc, mimalloc, gomem"
  echo
  echo "Command: \`GOMEM_HARDENED_SO=build-hardened/libgomem.so bench/run --reps 3\` (default 5 repetitions; \`bench/run --quick\` is CI's smoke run)."
  echo
  echo "![time and RSS ratios](img/allocators.png)"
  echo
  body "$alloc.md"
  echo
  echo "## 2. Garbage collectors: gomem, Boehm GC, Go, and malloc/free"
  echo
  echo "Command: \`bench/gc/run --reps 3 --variants gomem,gomem_gen,gomem_conc,boehm,boehm_inc,go\`."
  echo
  echo "![GC benchmarks](img/gc.png)"
  echo
  body "$gc"
  echo
  echo "## 3. RSS over time: three phases"
  echo
  echo "Command: \`bench/rss/run\`."
  echo
  echo "![RSS over time](img/rss.png)"
  echo
  body "$rss.md"
} > docs/benchmarks.md
echo "wrote docs/benchmarks.md"
