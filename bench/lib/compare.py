#!/usr/bin/python3
"""Side-by-side figures that say how far to trust them (scripts/demo).

    compare.py [--reps N] [--same-output] [--show REGEX] LABEL CMD [LABEL CMD ...]

Runs every shell command CMD --reps times (default 3), the commands
interleaved round-robin with the order rotated between repetitions, and
prints for each its median wall time with the range over the repetitions,
its time over the first command's (the median of the per-repetition ratios,
with their range) and its median peak RSS. Then how busy the machine was:
the 1-minute load average before and after, and the CPUs that other
processes kept busy on average while the commands ran (from /proc/stat, less
the commands' own CPU time). When the machine was busy (a load average above
the number of CPUs before the runs, which the runs themselves do not raise,
or other processes using half a CPU or more while they ran), or when the
repetitions disagree on which command is faster, it says so: a newcomer on a
loaded machine should not be told that one side lost when it was noise.

--same-output checks that every run printed the same standard output;
--show REGEX prints the lines of each command's last output that match.
Exit status 1 if a command failed (the figures are printed anyway).
"""
import argparse
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def run(cmd):
    """One run of a shell command under /usr/bin/time: wall time, peak RSS
    (KiB), CPU seconds, exit status, standard output."""
    with tempfile.NamedTemporaryFile(prefix="gomem-compare-") as tf:
        r = B.run_process(["/usr/bin/time", "-f", "%M %U %S", "-o", tf.name, "sh", "-c", cmd],
                          dict(os.environ), 3600)
        try:
            kib, user, sys_s = open(tf.name).read().split()[-3:]
            r.update(rss_kb=int(kib), cpu_s=float(user) + float(sys_s))
        except (OSError, ValueError):
            r.update(rss_kb=0, cpu_s=r["user_s"] + r["sys_s"])
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    ap.add_argument("--same-output", action="store_true",
                    help="check that every run printed the same standard output")
    ap.add_argument("--show", metavar="REGEX", help="print the matching lines of each output")
    ap.add_argument("pairs", nargs="+", metavar="LABEL CMD")
    args = ap.parse_args()
    if len(args.pairs) % 2 or args.reps < 1:
        ap.error("give LABEL CMD pairs and --reps of 1 or more")
    labels = args.pairs[0::2]
    cmds = dict(zip(labels, args.pairs[1::2]))

    runs = {a: [] for a in labels}
    load0, busy0, t0 = B.loadavg(), B.busy_cpu_s(), time.perf_counter()
    for rep in range(args.reps):
        for a in B.rotation(labels, rep):
            runs[a].append(run(cmds[a]))
    elapsed = time.perf_counter() - t0
    own = sum(r["cpu_s"] for rs in runs.values() for r in rs)
    others = max(0.0, B.busy_cpu_s() - busy0 - own) / elapsed if elapsed > 0 else 0.0
    load1 = B.loadavg()

    failed = [(a, i + 1, r) for a, rs in runs.items() for i, r in enumerate(rs) if r["exit"]]
    base = runs[labels[0]]
    disagree = False
    for a in labels:
        walls = [r["wall_s"] for r in runs[a]]
        line = (f"  {a:34} {B.median(walls):7.2f} s ({min(walls):.2f}–{max(walls):.2f})")
        if a != labels[0]:
            ratios = [r["wall_s"] / b["wall_s"] for r, b in zip(runs[a], base)]
            line += f"  × {B.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"
            disagree |= min(ratios) < 1 < max(ratios)
        else:
            line += " " * 20
        line += f"   peak RSS {B.median([r['rss_kb'] for r in runs[a]]) / 1024:7.1f} MiB"
        print(line)
        if args.show:
            for out in runs[a][-1]["stdout"].splitlines():
                if re.search(args.show, out):
                    print("    " + out)
    n = len(runs[labels[0]])
    print(f"  (median of {n} interleaved runs, (min–max); × is the time over the first line's "
          "in the same repetition)")
    if args.same_output:
        outs = {r["stdout"] for rs in runs.values() for r in rs if not r["exit"]}
        print("  (same output from every run)" if len(outs) == 1 else
              "  OUTPUT DIFFERS between runs")
    cores = os.cpu_count() or 1
    print(f"  machine: load average {load0:.2f} before, {load1:.2f} after these runs ({cores} "
          f"CPUs); other processes kept {others:.2f} CPUs busy while these ran")
    if load0 > cores or others >= 0.5:
        print("  ! The machine was busy: these figures say little about gomem. Run again on an "
              "idle machine (bench/gc/run waits for one).")
    elif disagree:
        print("  ! The repetitions disagree on which is faster: the difference is within the "
              "noise.")
    for a, i, r in failed:
        print(f"  {a}: run {i} FAILED (exit {r['exit']}): {B.tail(r['stderr'], 3)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
