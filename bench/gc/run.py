#!/usr/bin/python3
"""Driver of the gomem GC benchmarks (started by bench/gc/run; see README.md).

Builds bench/gc standalone with CMake, runs every (benchmark, variant) pair
round-robin for --reps repetitions, checks every run's output, measures wall
time, CPU time and peak RSS of each run with wait4(), and writes
  results/<stamp>-runs.csv      one row per run
  results/<stamp>-summary.md    medians per variant and benchmark, ratios to Boehm
  results/<stamp>-summary.png   bar charts (when matplotlib is available)
(--quick writes results/quick-latest.* instead). Exit status: 0 when every run
succeeded with the expected output, 1 otherwise. Timing is never asserted.
"""
import argparse
import collections
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import benchlib as B  # noqa: E402  (bench/lib: machine, runs, medians, report)

BENCHES = ["binary_trees", "gcbench", "lru_cache", "gc_threads"]
# The size parameter each program takes as its first argument (binary_trees,
# gcbench: tree depth; lru_cache: log2 of the cache's capacity; gc_threads:
# log2 of the number of jobs). The CSV and tables call it "depth".
DEFAULT_DEPTH = {"binary_trees": 21, "gcbench": 20, "lru_cache": 20, "gc_threads": 18}
QUICK_DEPTH = {"binary_trees": 12, "gcbench": 10, "lru_cache": 14, "gc_threads": 10}
SIZE_TITLE = {"binary_trees": "depth %d", "gcbench": "depth %d", "lru_cache": "capacity 2^%d",
              "gc_threads": "2^%d jobs, 8 threads"}

# Environment variables that change collector or allocator behaviour; removed
# so that every variant runs with its defaults (unless the variant sets one).
SCRUB_ENV = [
    "GC_MARKERS", "GC_NPROCS", "GC_INITIAL_HEAP_SIZE", "GC_MAXIMUM_HEAP_SIZE",
    "GC_FREE_SPACE_DIVISOR", "GC_ENABLE_INCREMENTAL", "GC_PAUSE_TIME_TARGET",
    "GC_DONT_GC", "GC_PRINT_STATS", "GC_FULL_FREQUENCY",
    "GOGC", "GOMAXPROCS", "GODEBUG", "GOMEMLIMIT", "GOMEM_GC", "GOMEM_GC_MARKERS",
    "GOMEM_SHARED_PS", "GOMEM_PROFILE_RATE", "GOMEM_GC_INTERIOR", "GOMEM_DIRTY",
    "LD_PRELOAD", "MALLOC_ARENA_MAX", "MALLOC_TOP_PAD_", "MALLOC_TRIM_THRESHOLD_",
]


class Variant:
    def __init__(self, name, label, exe_suffix, env=None, note=""):
        self.name = name          # column key, e.g. boehm_m1
        self.label = label        # column title
        self.exe_suffix = exe_suffix  # binary is <bench>_<exe_suffix>
        self.env = env or {}
        self.note = note


log = B.log


# ---------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------
def build(build_dir, jobs):
    cfg = ["cmake", "-S", HERE, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release"]
    if os.environ.get("GOMEM_BUILD_DIR"):
        cfg.append("-DGOMEM_BUILD_DIR=" + os.environ["GOMEM_BUILD_DIR"])
    else:
        # Re-detect on every run (a libgomem.so may have appeared since).
        cfg.append("-UGOMEM_BUILD_DIR")
    log("+ " + " ".join(cfg))
    subprocess.run(cfg, check=True)
    b = ["cmake", "--build", build_dir, "-j", str(jobs)]
    log("+ " + " ".join(b))
    subprocess.run(b, check=True)


# ---------------------------------------------------------------------------
# Running one program: wall time, rusage, output.
# ---------------------------------------------------------------------------
def run_one(spawn, exe, args, env, timeout):
    """Runs exe under the gcb_spawn launcher, which wait4()s for it and reports
    its wall time, CPU time and peak RSS (see gcb_spawn.c for why a launcher)."""
    with tempfile.NamedTemporaryFile(prefix="gcb-", suffix=".rusage") as rep:
        busy0 = B.busy_cpu_s()
        r = B.run_process([spawn, rep.name, exe] + args, env, timeout, cwd=HERE)
        busy = B.busy_cpu_s() - busy0
        wall = r["wall_s"]
        rep.seek(0)
        ru = dict(kv.split("=", 1) for kv in rep.read().decode().split() if "=" in kv)
        own = float(ru.get("user_s", 0.0)) + float(ru.get("sys_s", 0.0))
        return {
            "rc": int(ru.get("status", r["exit"] if r["exit"] >= 0 else 128 - r["exit"])),
            "timed_out": r["timed_out"],
            "wall_s": float(ru.get("wall_s", wall)),
            "user_s": float(ru.get("user_s", 0.0)),
            "sys_s": float(ru.get("sys_s", 0.0)),
            "maxrss_mb": float(ru.get("maxrss_kb", 0)) / 1024.0,  # KiB on Linux
            # CPUs used on average by everything else during the run (noise).
            "other_load": max(0.0, busy - own) / wall if wall > 0 else 0.0,
            "stdout": r["stdout"],
            "stderr": r["stderr"],
        }


def wait_idle(max_wait, threshold=0.15):
    """Waits (up to max_wait s) until other processes use < threshold CPUs,
    sampled over 1 s. Returns the load last seen."""
    t_end = time.monotonic() + max_wait
    said = False
    while True:
        b0, t0 = B.busy_cpu_s(), time.monotonic()
        time.sleep(1.0)
        load = (B.busy_cpu_s() - b0) / (time.monotonic() - t0)
        if load < threshold or time.monotonic() >= t_end:
            if said:
                log("    machine %s (load %.2f CPUs)" % ("idle" if load < threshold else "still busy; running anyway", load))
            return load
        if not said:
            log("    waiting for the machine to go idle (other processes use %.2f CPUs) ..." % load)
            said = True
        time.sleep(2.0)


def parse_result(stdout):
    res = None
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            res = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
    return res


def program_output(stdout):
    return "\n".join(l for l in stdout.splitlines() if not l.startswith("RESULT "))


def expected_binary_trees(n):
    """The benchmarks-game output for depth n (node counts are closed-form)."""
    min_depth = 4
    max_depth = max(min_depth + 2, n)
    size = lambda d: (1 << (d + 1)) - 1
    lines = ["stretch tree of depth %d\t check: %d" % (max_depth + 1, size(max_depth + 1))]
    for d in range(min_depth, max_depth + 1, 2):
        iters = 1 << (max_depth - d + min_depth)
        lines.append("%d\t trees of depth %d\t check: %d" % (iters, d, iters * size(d)))
    lines.append("long lived tree of depth %d\t check: %d" % (max_depth, size(max_depth)))
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------
CSV_FIELDS = [
    "rep", "bench", "variant", "depth", "status", "rc", "wall_s", "user_s", "sys_s",
    "maxrss_mb", "other_load", "time_s", "gc_cycles", "pauses", "pauses_lost", "pause_p50_ms",
    "pause_p99_ms", "pause_max_ms", "pause_total_ms", "stall_p50_ms", "stall_p99_ms", "stall_max_ms",
    "heap_mb", "gc_cpu_pct",
]


def fmt(v, digits=2):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return ("%." + str(digits) + "f") % v


sh = B.sh


def machine_info():
    return {
        "cpu": B.cpu_model(), "cores": os.cpu_count(), "mem": "%.1f GiB" % B.mem_gib(),
        "kernel": platform.release(),
        "os": sh(". /etc/os-release 2>/dev/null && echo $PRETTY_NAME"),
        "cc": sh("cc --version | head -1"),
        "go": sh("go version"),
        "libgc": sh("dpkg-query -W -f='${Version}' libgc-dev 2>/dev/null"),
        "glibc": sh("ldd --version | head -1"),
    }


def summarize(rows, variants, benches, depths, args, info):
    by = {}
    for r in rows:
        by.setdefault((r["bench"], r["variant"]), []).append(r)
    med = {}
    for key, rs in by.items():
        ok = [r for r in rs if r["status"] == "ok"]
        m = {"runs": len(rs), "ok": len(ok)}
        for f in ["wall_s", "maxrss_mb", "time_s", "gc_cycles", "pause_p50_ms", "pause_p99_ms",
                  "pause_max_ms", "pause_total_ms", "stall_p99_ms", "stall_max_ms", "pauses_lost",
                  "heap_mb", "gc_cpu_pct"]:
            m[f] = B.median([r.get(f) for r in ok])
        m["cpu_s"] = B.median([r["user_s"] + r["sys_s"] for r in ok])
        m["other_load"] = max([r["other_load"] for r in ok] or [0.0])
        med[key] = m

    out = []
    out.append("# gomem GC benchmarks: %s\n" % datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))
    out.append("Machine: %s, %s cores, %s RAM; %s; kernel %s; %s; %s; Boehm GC (libgc-dev) %s; %s.\n"
               % (info["cpu"], info["cores"], info["mem"], info["os"], info["kernel"], info["cc"],
                  info["glibc"], info["libgc"] or "?", info["go"]))
    out.append("Medians of %d repetition(s), variants run round-robin. Wall time, CPU time (user+sys) "
               "and peak RSS are measured by the runner (wait4); GC cycles and pauses are reported "
               "by each program. A pause is one collection's stop-the-world time (Boehm: "
               "`GC_EVENT_PRE_STOP_WORLD`..`GC_EVENT_POST_START_WORLD`; Go: `MemStats.PauseNs`, both "
               "STW phases of a cycle; gomem: `gomem_stats.pause_ns`); percentiles are nearest-rank "
               "over all pauses of a run. A stall is the latency the program saw for one collection: "
               "its pause, or, when longer, the longest time one of its threads waited for a "
               "concurrent cycle it had outrun (gomem_stats.wait_ns, GOMEM_GC=concurrent: an "
               "allocation past the hard goal waits for the markers); Boehm, Go and malloc report "
               "their pauses as stalls (no separate wait). GC CPU share: Go's `GCCPUFraction` and gomem's "
               "`gc_cpu_fraction` (the collector's CPU time over all CPUs' time); Boehm reports none, so its "
               "stopped time over the run's time stands in (its collections run with the world stopped and "
               "every marker busy). Ratios are medians divided by the Boehm (default "
               "settings) median; \"Boehm M=1\" is Boehm with `GC_MARKERS=1`.\n" % args.reps)
    if info.get("gomem_lib"):
        out.append("Libraries: %s.\n" % info["gomem_lib"])
    for v in variants:
        if v.note:
            out.append("- **%s**: %s" % (v.label, v.note))
    out.append("")

    metrics = [
        ("wall time (s)", "wall_s", 2),
        ("× Boehm", "ratio_wall", 2),
        ("× Boehm M=1", "ratio_wall_m1", 2),
        ("CPU user+sys (s)", "cpu_s", 2),
        ("peak RSS (MB)", "maxrss_mb", 0),
        ("RSS × Boehm", "ratio_rss", 2),
        ("GC cycles", "gc_cycles", 0),
        ("pause p50 (ms)", "pause_p50_ms", 3),
        ("pause p99 (ms)", "pause_p99_ms", 3),
        ("pause max (ms)", "pause_max_ms", 3),
        ("pause total (ms)", "pause_total_ms", 1),
        ("stall p99 (ms)", "stall_p99_ms", 3),
        ("stall max (ms)", "stall_max_ms", 3),
        ("GC CPU share (%)", "gc_cpu_pct", 1),
        ("collector heap at exit (MB)", "heap_mb", 0),
        ("other load, max (CPUs)", "other_load", 2),
        ("runs ok", "runs_ok", 0),
    ]
    for b in benches:
        present = [v for v in variants if (b, v.name) in med]
        if not present:
            continue
        base = med.get((b, "boehm"), {})
        base1 = med.get((b, "boehm_m1"), {})
        out.append("## %s (%s)\n" % (b, SIZE_TITLE[b] % depths[b]))
        out.extend(B.table_head([""] + [v.label for v in present]))
        for title, key, digits in metrics:
            cells = []
            for v in present:
                m = med[(b, v.name)]
                if key == "ratio_wall":
                    val = m["wall_s"] / base["wall_s"] if base.get("wall_s") and m["wall_s"] else None
                elif key == "ratio_wall_m1":
                    val = m["wall_s"] / base1["wall_s"] if base1.get("wall_s") and m["wall_s"] else None
                elif key == "ratio_rss":
                    val = m["maxrss_mb"] / base["maxrss_mb"] if base.get("maxrss_mb") and m["maxrss_mb"] else None
                elif key == "runs_ok":
                    val = "%d/%d" % (m["ok"], m["runs"])
                else:
                    val = m.get(key)
                    if key.startswith(("pause", "stall", "gc_cpu")) and (v.exe_suffix == "malloc" or not m.get("gc_cycles")):
                        val = "–"
                if isinstance(val, float) and key in ("gc_cycles", "maxrss_mb", "heap_mb"):
                    cells.append("%.0f" % val)
                else:
                    cells.append(fmt(val, digits))
            out.append("| %s | %s |" % (title, " | ".join(cells)))
        busy = [v.label for v in present if med[(b, v.name)].get("other_load", 0) > 0.15]
        if busy:
            out.append("\n**Noisy**: other processes used CPU during some runs of %s (row \"other load\": "
                       "average CPUs busy outside the benchmark, max over runs); those times are inflated."
                       % ", ".join(busy))
        lost = [v.label for v in present if (med[(b, v.name)].get("pauses_lost") or 0) > 0]
        if lost:
            out.append("\nSome pauses were not observed (ring buffer overrun) for: %s." % ", ".join(lost))
        out.append("")
    return "\n".join(out) + "\n", med


def plot(path, med, variants, benches, depths):
    plt = B.pyplot()
    panels = [("wall time (s)", "wall_s", False), ("peak RSS (MB)", "maxrss_mb", False),
              ("max pause (ms, log)", "pause_max_ms", True)]
    bs = [b for b in benches if any((b, v.name) in med for v in variants)]
    fig, axes = plt.subplots(len(bs), len(panels), figsize=(4.5 * len(panels), 3.2 * len(bs)), squeeze=False)
    for i, b in enumerate(bs):
        present = [v for v in variants if (b, v.name) in med]
        for j, (title, key, logy) in enumerate(panels):
            ax = axes[i][j]
            vals = [med[(b, v.name)].get(key) or 0.0 for v in present]
            if key.startswith("pause"):
                vals = [x if v.exe_suffix != "malloc" else 0.0 for x, v in zip(vals, present)]
            ax.bar(range(len(present)), vals, color="C%d" % j)
            ax.set_xticks(range(len(present)))
            ax.set_xticklabels([v.label for v in present], rotation=30, ha="right", fontsize=8)
            ax.set_title("%s %s: %s" % (b, SIZE_TITLE[b] % depths[b], title), fontsize=9)
            if logy and any(x > 0 for x in vals):
                ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=None, help="repetitions per variant (default 3; --quick: 1)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: tiny sizes (binary_trees 12, gcbench 10, lru_cache 14, "
                         "gc_threads 10), 1 rep")
    ap.add_argument("--depth", type=int, help="size parameter for every benchmark")
    ap.add_argument("--bt-depth", type=int, help="binary_trees depth (default 21)")
    ap.add_argument("--gcbench-depth", type=int, help="gcbench depth (default 20)")
    ap.add_argument("--lru-depth", type=int, help="lru_cache: log2 of the capacity (default 20: 1 M entries)")
    ap.add_argument("--threads-depth", type=int, help="gc_threads: log2 of the number of jobs (default 18)")
    ap.add_argument("--bench", default=",".join(BENCHES), help="comma list (default: %(default)s)")
    ap.add_argument("--variants", default="gomem,boehm,boehm_m1,malloc,go",
                    help="comma list from gomem,gomem_gen,gomem_conc,boehm,boehm_m1,boehm_inc,malloc,go "
                         "(default: %(default)s)")
    ap.add_argument("--preload", action="append", default=[], metavar="NAME=LIB.so",
                    help="extra column: the malloc variant run with LD_PRELOAD=LIB.so "
                         "(NAME=gomem without a path uses the libgomem.so the build found)")
    ap.add_argument("--build-dir", default=os.path.join(HERE, "build"))
    ap.add_argument("--no-build", action="store_true", help="use the binaries already in --build-dir")
    ap.add_argument("--results-dir", default=os.path.join(HERE, "results"))
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per run before it is killed (default 900; --quick: 120)")
    ap.add_argument("--wait-idle", type=float, default=None, metavar="SECONDS",
                    help="before each run, wait up to SECONDS for other processes to use < 0.15 CPUs "
                         "(default 300; --quick: 0 = do not wait)")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()

    if args.reps is None:
        args.reps = 1 if args.quick else 3
    if args.wait_idle is None:
        args.wait_idle = 0.0 if args.quick else 300.0
    if args.timeout is None:
        args.timeout = 120.0 if args.quick else 900.0
    depths = dict(QUICK_DEPTH if args.quick else DEFAULT_DEPTH)
    if args.depth:
        depths = {b: args.depth for b in depths}
    if args.bt_depth:
        depths["binary_trees"] = args.bt_depth
    if args.gcbench_depth:
        depths["gcbench"] = args.gcbench_depth
    if args.lru_depth:
        depths["lru_cache"] = args.lru_depth
    if args.threads_depth:
        depths["gc_threads"] = args.threads_depth
    benches = [b for b in args.bench.split(",") if b]
    for b in benches:
        if b not in BENCHES:
            ap.error("unknown benchmark %r" % b)

    if not args.no_build:
        build(args.build_dir, args.jobs)

    all_variants = {
        "gomem": Variant("gomem", "gomem", "gomem"),
        "gomem_gen": Variant("gomem_gen", "gomem gen", "gomem", {"GOMEM_GC": "generational"},
                             note="gomem with `GOMEM_GC=generational` (sticky-mark minor cycles)"),
        "gomem_conc": Variant("gomem_conc", "gomem conc", "gomem", {"GOMEM_GC": "concurrent"},
                              note="gomem with `GOMEM_GC=concurrent` (mostly-concurrent marking)"),
        "boehm": Variant("boehm", "Boehm", "boehm"),
        "boehm_m1": Variant("boehm_m1", "Boehm M=1", "boehm", {"GC_MARKERS": "1"}),
        "boehm_inc": Variant("boehm_inc", "Boehm inc", "boehm", {"GC_ENABLE_INCREMENTAL": "1"},
                             note="Boehm with `GC_ENABLE_INCREMENTAL=1` (mprotect dirty bits)"),
        "malloc": Variant("malloc", "malloc (glibc)", "malloc"),
        "go": Variant("go", "Go", "go"),
    }
    variants = []
    for name in [v for v in args.variants.split(",") if v]:
        if name not in all_variants:
            ap.error("unknown variant %r" % name)
        v = all_variants[name]
        missing = [b for b in benches if not os.access(os.path.join(args.build_dir, "%s_%s" % (b, v.exe_suffix)), os.X_OK)]
        if missing:
            log("WARNING: variant %s not built (%s missing in %s); skipped"
                % (name, ", ".join("%s_%s" % (b, v.exe_suffix) for b in missing), args.build_dir))
            continue
        variants.append(v)
    for spec in args.preload:
        name, _, lib = spec.partition("=")
        if not lib and name == "gomem":
            lib = gomem_lib_from_cache(args.build_dir)
        if not lib or not os.path.exists(lib):
            log("WARNING: --preload %s: library %r not found; skipped" % (spec, lib))
            continue
        variants.append(Variant("malloc_" + name, "malloc+%s" % name, "malloc",
                                {"LD_PRELOAD": os.path.abspath(lib)},
                                note="the malloc variant with LD_PRELOAD=%s" % os.path.abspath(lib)))
    if not variants:
        log("no variant to run")
        return 1
    for v in variants:
        if v.name == "boehm_m1":
            v.note = "Boehm with `GC_MARKERS=1` (one marker thread: no parallel marking)"

    spawn = os.path.join(args.build_dir, "gcb_spawn")
    if not os.access(spawn, os.X_OK):
        log("missing %s (build first)" % spawn)
        return 1
    base_env = {k: v for k, v in os.environ.items() if k not in SCRUB_ENV}
    info = machine_info()
    info["gomem_lib"] = ""
    if any(v.exe_suffix == "gomem" for v in variants) or any("LD_PRELOAD" in v.env for v in variants):
        libs = []
        g = os.path.join(args.build_dir, "binary_trees_gomem")
        if os.path.exists(g):
            m = re.search(r"libgomem\S* => (\S+)", sh("ldd '%s'" % g))
            if m:
                # Relative to the repository: the doc names no one machine's paths.
                libs.append("gomem variant: " + os.path.relpath(os.path.realpath(m.group(1)), B.ROOT))
        libs += ["%s: %s" % (v.label, v.env["LD_PRELOAD"]) for v in variants if "LD_PRELOAD" in v.env]
        info["gomem_lib"] = "; ".join(libs)
    log("benchmarks %s, depths %s, variants %s, %d rep(s)"
        % (benches, depths, [v.name for v in variants], args.reps))

    rows = []
    outputs = []  # (row, program output) of every run
    failures = []
    reference = {}  # bench -> expected program output
    for b in benches:
        if b == "binary_trees":
            reference[b] = expected_binary_trees(depths[b])
    for rep in range(args.reps):
        for b in benches:
            # Round-robin, starting one variant later on every repetition.
            for v in B.rotation(variants, rep):
                exe = os.path.join(args.build_dir, "%s_%s" % (b, v.exe_suffix))
                env = dict(base_env)
                env.update(v.env)
                log("[rep %d/%d] %s %s %s ..." % (rep + 1, args.reps, b, v.name, SIZE_TITLE[b] % depths[b]))
                if args.wait_idle > 0:
                    wait_idle(args.wait_idle)
                r = run_one(spawn, exe, [str(depths[b])], env, args.timeout)
                res = parse_result(r["stdout"]) or {}
                output = program_output(r["stdout"])
                status = "ok"
                if r["timed_out"]:
                    status = "timeout"
                elif r["rc"] != 0:
                    status = "exit %d" % r["rc"]
                elif not res:
                    status = "no RESULT line"
                elif b in reference and output != reference[b]:
                    status = "output mismatch"
                if status != "ok":
                    failures.append("%s/%s rep %d: %s\n--- stderr ---\n%s" %
                                    (b, v.name, rep + 1, status, r["stderr"][-2000:]))
                    if status == "output mismatch":
                        failures[-1] += "\n--- output ---\n%s\n--- expected ---\n%s" % (output[-2000:], reference[b][-2000:])
                row = {"rep": rep + 1, "bench": b, "variant": v.name, "depth": depths[b],
                       "status": status, "rc": r["rc"], "wall_s": r["wall_s"], "user_s": r["user_s"],
                       "sys_s": r["sys_s"], "maxrss_mb": r["maxrss_mb"], "other_load": r["other_load"]}
                for f in CSV_FIELDS[CSV_FIELDS.index("time_s"):]:
                    try:
                        row[f] = float(res[f]) if f in res else None
                    except ValueError:
                        row[f] = None
                rows.append(row)
                outputs.append((row, output))
                log("    %s: wall %.2f s, RSS %.0f MB, cycles %s, pause p50 %s / max %s ms, stall max %s ms, "
                    "other load %.2f CPUs"
                    % (status, r["wall_s"], r["maxrss_mb"], res.get("gc_cycles", "?"), res.get("pause_p50_ms", "?"),
                       res.get("pause_max_ms", "?"), res.get("stall_max_ms", "?"), r["other_load"]))

    # Benchmarks without a closed-form expected output (all but binary_trees):
    # all variants must agree; the reference is the malloc variant's output (no collector
    # involved), else the most common one.
    for b in benches:
        if b == "binary_trees":
            continue
        ok = [(r, o) for r, o in outputs if r["bench"] == b and r["status"] == "ok"]
        if not ok:
            continue
        from_malloc = [o for r, o in ok if r["variant"] == "malloc"]
        ref = from_malloc[0] if from_malloc else collections.Counter(o for _, o in ok).most_common(1)[0][0]
        for r, o in ok:
            if o != ref:
                r["status"] = "output mismatch"
                failures.append("%s/%s rep %d: output mismatch\n--- output ---\n%s\n--- expected ---\n%s"
                                % (b, r["variant"], r["rep"], o[-2000:], ref[-2000:]))
                log("%s/%s rep %d: OUTPUT MISMATCH" % (b, r["variant"], r["rep"]))

    os.makedirs(args.results_dir, exist_ok=True)
    stamp = "quick-latest" if args.quick else datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    csv_path = os.path.join(args.results_dir, stamp + "-runs.csv")
    B.write_csv(csv_path, CSV_FIELDS, [{k: ("%.4f" % v if isinstance(v, float) else v)
                                        for k, v in r.items()} for r in rows])
    md, med = summarize(rows, variants, benches, depths, args, info)
    if failures:
        md += "\n**%d run(s) failed**: %s\n" % (len(failures), "; ".join(x.split("\n", 1)[0] for x in failures))
    return B.finish(md, os.path.join(args.results_dir, stamp + "-summary.md"), [csv_path],
                    os.path.join(args.results_dir, stamp + "-summary.png"),
                    lambda png: plot(png, med, variants, benches, depths), failures)


def gomem_lib_from_cache(build_dir):
    """The libgomem.so the CMake configure step found, if any."""
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
            cache = f.read()
    except OSError:
        cache = ""
    m = re.search(r"^GOMEM_BUILD_DIR:\w+=(.+)$", cache, re.M)
    cands = []
    if m:
        cands.append(os.path.join(m.group(1), "libgomem.so"))
    if os.environ.get("GOMEM_BUILD_DIR"):
        cands.append(os.path.join(os.environ["GOMEM_BUILD_DIR"], "libgomem.so"))
    import glob
    cands += sorted(glob.glob(os.path.join(B.ROOT, "build*", "libgomem.so")), key=os.path.getmtime, reverse=True)
    for c in cands:
        if os.path.exists(c):
            return c
    return ""


if __name__ == "__main__":
    sys.exit(main())
