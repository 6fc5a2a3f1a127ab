#!/usr/bin/env python3
"""The convergence risk of pre-cleaning on binary-trees, measured.

For each depth and scan period, runs binary_trees_gomem REPS times with
dirty_probe.so preloaded and GODEBUG=gctrace=1, and prints medians over runs of:
  dirty   pages the program writes per ms of its own time (pauses excluded)
  mark    what the (stop-the-world, parallel) marker gets through: MB of live
          heap marked per ms of marker CPU, from gctrace (live after / mark cpu)
  ratio   dirty MB/ms / mark MB/ms: above 1, one marker cannot rescan dirty
          pages as fast as the program dirties them (pre-cleaning diverges)
Period 0 = one scan per collection: pages written between two cycles (what a
sticky-mark minor cycle would rescan) against heap_inuse and live.

  measure.py BUILD_DIR [DEPTHS=18,20] [PERIODS=1,10,100,0] [REPS=3]
The machine may be shared: figures are approximate.
"""
import os, re, statistics, subprocess, sys

build = sys.argv[1]
depths = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "18,20").split(",")]
periods = [int(x) for x in (sys.argv[3] if len(sys.argv) > 3 else "1,10,100,0").split(",")]
reps = int(sys.argv[4]) if len(sys.argv) > 4 else 3
exe = os.path.join(build, "bench/gc/binary_trees_gomem")
probe = os.path.join(build, "bench/dirty/dirty_probe.so")
GC = re.compile(r"^gc \d+ .*?: [\d.]+\+([\d.]+)\+[\d.]+ ms clock, [\d.]+\+[\d.]+/([\d.]+)/[\d.]+\+[\d.]+ ms cpu, "
                r"(\d+)->(\d+)->(\d+) MB", re.M)
med = statistics.median


def run(depth, period):
    env = dict(os.environ, GODEBUG="gctrace=1", DIRTY_PROBE_MS=str(period), LD_PRELOAD=probe)
    out = subprocess.run([exe, str(depth)], env=env, capture_output=True, text=True, timeout=900)
    text = out.stdout + out.stderr
    r = {"time": float(re.search(r"time_s=([\d.]+)", text).group(1))}
    rates = [int(live) / float(cpu) for _, cpu, _, _, live in GC.findall(text) if float(cpu) > 0 and int(live) > 0]
    r["mark"] = med(rates) if rates else 0
    m = re.search(r"per ms of program time: mean ([\d.]+), median ([\d.]+), p90 ([\d.]+)", text)
    r["dirty_mean"], r["dirty_med"], r["dirty_p90"] = (float(x) for x in m.groups())
    m = re.search(r"pages per interval: median (\d+), p90 (\d+), max (\d+); scan time per interval: median "
                  r"([\d.]+) ms, max ([\d.]+)", text)
    r["per_med"], r["per_p90"], r["per_max"], r["scan_med"], r["scan_max"] = (float(x) for x in m.groups())
    cyc = re.findall(r"cycle \d+: (\d+) pages .*heap_inuse ([\d.]+) MiB, live ([\d.]+) MiB", text)
    if cyc:
        frac = [int(p) * 4096 / 1048576 / float(inuse) for p, inuse, _ in cyc[1:] if float(inuse) > 0]
        r["cyc_mib"] = med([int(p) * 4096 / 1048576 for p, _, _ in cyc[1:]])
        r["cyc_frac"] = med(frac)
        r["cyc_live"] = med([float(l) for _, _, l in cyc[1:]])
    return r


for depth in depths:
    for period in periods:
        runs = [run(depth, period) for _ in range(reps)]
        g = lambda k: med([x[k] for x in runs])
        dirty_mb = g("dirty_mean") * 4096 / 1e6
        line = (f"depth {depth} period {period:>3} ms: time {g('time'):.2f} s, dirty {g('dirty_mean'):.0f} pages/ms "
                f"(median {g('dirty_med'):.0f}, p90 {g('dirty_p90'):.0f}) = {dirty_mb:.2f} MB/ms; "
                f"mark {g('mark'):.2f} MB/ms per marker CPU; ratio {dirty_mb / g('mark') if g('mark') else 0:.1f}; "
                f"pages/interval median {g('per_med'):.0f} max {g('per_max'):.0f}; scan {g('scan_med'):.3f} ms "
                f"(max {g('scan_max'):.3f})")
        if period == 0 and "cyc_mib" in runs[0]:
            line += (f"; per cycle: {g('cyc_mib'):.1f} MiB written = {100 * g('cyc_frac'):.0f}% of heap_inuse, "
                     f"live {g('cyc_live'):.1f} MiB")
        print(line, flush=True)
