"""What the three benchmark suites share: bench/harness.py (allocators),
bench/gc/run.py (collectors) and bench/rss/rss.py (RSS over time).

A suite runs every program under every allocator or collector it compares,
interleaved round-robin inside each repetition with the order rotated between
repetitions (`rotation`), so that slow drift of the machine (other work, heat)
falls on every column alike; it compares medians (`median`) and says how far
apart the repetitions lie (`spread`). Every run is validated (exit status,
checksum, and for preloaded allocators which library really served malloc:
`check_run`, `verify_checksums`); failures set the exit status, timings are
never asserted. The report is a markdown file next to the CSV of the runs,
headed by the machine (`machine_line`), the allocators' versions
(`allocators_line`) and how busy the machine was (`loadavg_line`), and a PNG
chart (`pyplot`); `finish` writes them and returns the exit status.

The suites import it as `benchlib` after putting this directory on sys.path;
it imports nothing outside the standard library (matplotlib only when a chart
is drawn).
"""
import csv
import datetime
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

LIB = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(LIB)
ROOT = os.path.dirname(BENCH)
LIBDIR = "/usr/lib/x86_64-linux-gnu"
PYTHON = "/usr/bin/python3"

# name -> library to preload (None = the C library's own malloc).
PEERS = {
    "glibc": None,
    "jemalloc": f"{LIBDIR}/libjemalloc.so.2",
    "tcmalloc": f"{LIBDIR}/libtcmalloc_minimal.so.4",
    "mimalloc": f"{LIBDIR}/libmimalloc.so.2",
}
ALL_ALLOCS = ["glibc", "jemalloc", "tcmalloc", "mimalloc", "gomem", "gomem_hardened"]
# gomem built with -DGOMEM_HARDENED=ON (--gomem-hardened-so): run only when
# given, so that the default table compares gomem with its peers.
OPTIONAL_ALLOCS = ["gomem_hardened"]
DEB_PACKAGES = {
    "glibc": "libc6",
    "jemalloc": "libjemalloc2",
    "tcmalloc": "libgoogle-perftools4",
    "mimalloc": "libmimalloc2.0",
}
COLORS = {"glibc": "#7f7f7f", "jemalloc": "#1f77b4", "tcmalloc": "#2ca02c",
          "mimalloc": "#ff7f0e", "gomem": "#d62728", "gomem_hardened": "#9467bd"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------
def loadavg():
    """The 1-minute load average (other work on the machine skews timings)."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError):
        return float("nan")


def busy_cpu_s():
    """CPU seconds the whole machine has spent busy (all CPUs, incl. steal)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    return busy / float(os.sysconf("SC_CLK_TCK"))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def mem_gib():
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def machine_line():
    """'CPU model, N cores, M GiB, kernel K' for a report's header."""
    return (f"{cpu_model()}, {os.cpu_count()} cores, {mem_gib():.0f} GiB, "
            f"kernel {platform.release()}")


def sh(cmd):
    """A shell command's output, '' if it fails."""
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=20).stdout.strip()
    except Exception:
        return ""


def pkg_version(pkg):
    return sh(f"dpkg-query -W -f='${{Version}}' {pkg} 2>/dev/null") or "?"


# ---------------------------------------------------------------------------
# Running a program
# ---------------------------------------------------------------------------
def rotation(items, rep):
    """The round-robin order of repetition rep: one item later every time."""
    k = rep % len(items) if items else 0
    return items[k:] + items[:k]


def preload_args(ap, bin_dir, from_csv, quick, reps_full, out, timeouts):
    """Adds the options of a suite that preloads every allocator in turn:
    --bin-dir (help bin_dir), --from-csv (what is rewritten from it), --quick,
    --reps, --allocs, --out, --gomem-so, --gomem-note, --timeout, --no-plot."""
    ap.add_argument("--bin-dir", help=bin_dir)
    ap.add_argument("--from-csv", metavar="CSV",
                    help="run nothing: rewrite the markdown and chart of an earlier run from "
                         + from_csv)
    ap.add_argument("--quick", action="store_true", help=quick)
    ap.add_argument("--reps", type=int, default=None,
                    help=f"repetitions (default {reps_full}; quick: 1)")
    ap.add_argument("--allocs", default="", help="comma-separated allocators (default: all)")
    ap.add_argument("--out", default=None, help=out)
    ap.add_argument("--gomem-so", default=os.environ.get("GOMEM_SO", ""),
                    help="libgomem.so to preload for gomem")
    ap.add_argument("--gomem-hardened-so", default=os.environ.get("GOMEM_HARDENED_SO", ""),
                    help="libgomem.so built with -DGOMEM_HARDENED=ON: adds the column gomem_hardened")
    ap.add_argument("--gomem-note", default="", help="a note about the gomem build (from run)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds before a run is killed (default %.0f; quick: %.0f)"
                         % (timeouts[1], timeouts[0]))
    ap.add_argument("--no-plot", action="store_true", help="skip the PNG chart")
    ap.set_defaults(reps_full=reps_full, timeouts=timeouts)


def run_settings(ap, args, results_dir):
    """(mode, repetitions, timeout, bin dir, runs CSV) from preload_args'
    options; makes the CSV's directory."""
    if not args.bin_dir:
        ap.error("--bin-dir is required (or --from-csv)")
    mode = "quick" if args.quick else "full"
    reps = args.reps if args.reps is not None else (1 if args.quick else args.reps_full)
    timeout = args.timeout if args.timeout is not None else args.timeouts[0 if args.quick else 1]
    out_csv = os.path.abspath(args.out or os.path.join(
        results_dir, "quick.csv" if args.quick else "latest.csv"))
    os.makedirs(os.path.dirname(out_csv), exist_ok=True)
    return mode, reps, timeout, os.path.abspath(args.bin_dir), out_csv


def make_env(lib, extra):
    """The environment of a run: the caller's, without allocator tuning that
    would skew results, with lib preloaded (None: none) and extra set."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    for k in list(env):
        if k.startswith(("MALLOC_", "GLIBC_TUNABLES", "MIMALLOC_", "JE_MALLOC", "MALLOC_CONF",
                         "TCMALLOC_", "GOMEM_", "PYTHONMALLOC")):
            env.pop(k)
    env["LC_ALL"] = "C"
    if lib:
        env["LD_PRELOAD"] = lib
    env.update(extra)
    return env


def run_process(cmd, env, timeout, cwd=None):
    """Runs cmd; returns dict with wall time, rusage, exit status and output."""
    with tempfile.TemporaryFile() as fout, tempfile.TemporaryFile() as ferr:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, env=env, stdout=fout, stderr=ferr, stdin=subprocess.DEVNULL,
                             cwd=cwd, start_new_session=True)
        timed_out = []

        def kill():
            timed_out.append(True)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            while True:
                try:
                    _, status, ru = os.wait4(p.pid, 0)
                    break
                except InterruptedError:
                    continue
        finally:
            timer.cancel()
        t1 = time.perf_counter()
        p.returncode = os.waitstatus_to_exitcode(status)  # already reaped
        fout.seek(0)
        ferr.seek(0)
        out = fout.read().decode("utf-8", "replace")
        err = ferr.read().decode("utf-8", "replace")
    return {"wall_s": t1 - t0, "maxrss_kb": ru.ru_maxrss, "user_s": ru.ru_utime,
            "sys_s": ru.ru_stime, "exit": p.returncode, "timed_out": bool(timed_out),
            "stdout": out, "stderr": err}


def parse_tokens(text):
    """Every key=value token of the output (later ones win)."""
    out = {}
    for line in text.splitlines():
        for tok in line.split():
            if "=" in tok:
                k, _, v = tok.partition("=")
                if k and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k):
                    out[k] = v
    return out


def same_file(a, b):
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except OSError:
        return False


def check_run(res, lib):
    """Returns '' if the run is valid (checksum compared later), else why not."""
    if res["timed_out"]:
        return "timeout"
    if res["exit"] < 0:
        return f"killed by signal {-res['exit']} ({signal.Signals(-res['exit']).name})"
    if "cannot be preloaded" in res["stderr"]:
        return "LD_PRELOAD failed: " + res["stderr"].strip().splitlines()[0]
    if res["exit"] != 0:
        if "CORRUPTION" in res["stderr"]:
            return f"exit {res['exit']}: memory corruption detected"
        return f"exit {res['exit']}"
    tok = res["tokens"]
    if "checksum" not in tok:
        return "no checksum printed"
    ml = tok.get("malloc_lib", "unknown")
    if lib is None:
        if not os.path.basename(ml).startswith("libc.so"):
            return f"malloc came from {ml}, expected the C library"
    elif not same_file(ml, lib):
        return f"malloc came from {ml}, not from the preloaded {lib}"
    return ""


def verify_checksums(runs, group=lambda r: ""):
    """Every valid run of a group (a workload) must print the same checksum
    as glibc's runs (or, without glibc, as the most common one)."""
    for key in dict.fromkeys(group(r) for r in runs):
        ok = [r for r in runs if group(r) == key and r["status"] == "ok"]
        if not ok:
            continue
        ref_runs = [r for r in ok if r["allocator"] == "glibc"] or ok
        ref = statistics.mode([r["checksum"] for r in ref_runs])
        for r in ok:
            if r["checksum"] != ref:
                r["status"] = "fail"
                r["error"] = f"checksum {r['checksum']} differs from {ref}"


def select_allocs(ap, spec, gomem_so, problems, warnings, hardened_so=""):
    """{allocator: library to preload or None} from a comma list (empty: all,
    gomem_hardened only when hardened_so is given); a gomem build is skipped
    with a warning when its library does not exist, a missing peer is a
    problem."""
    wanted = [a.strip() for a in spec.split(",") if a.strip()] or [
        a for a in ALL_ALLOCS if a not in OPTIONAL_ALLOCS or hardened_so]
    bad = [a for a in wanted if a not in ALL_ALLOCS]
    if bad:
        ap.error(f"unknown allocator(s) {bad}; known: {ALL_ALLOCS}")
    allocs = {}
    for a in ALL_ALLOCS:
        if a not in wanted:
            continue
        gomem_libs = {"gomem": gomem_so, "gomem_hardened": hardened_so}
        lib = gomem_libs[a] or None if a in gomem_libs else PEERS.get(a)
        if a in gomem_libs:
            if not lib or not os.path.exists(lib):
                warnings.append(f"{a}: {lib or 'libgomem.so'} does not exist; {a} is skipped")
                log(f"WARNING: {warnings[-1]}")
                continue
            lib = os.path.abspath(lib)
        elif lib and not os.path.exists(lib):
            problems.append(f"{a}: {lib} does not exist (install it or drop it with --allocs)")
            log(f"ERROR: {problems[-1]}")
            continue
        allocs[a] = lib
    return allocs


def lib_built(lib):
    """Modification time of the preloaded library (when it was built)."""
    if not lib or not os.path.exists(lib):
        return ""
    t = datetime.datetime.fromtimestamp(os.path.getmtime(lib))
    return t.isoformat(timespec="seconds")


def command_text(lib, env, cmd):
    return (("LD_PRELOAD=" + lib + " " if lib else "") +
            "".join(f"{k}={v} " for k, v in env.items()) + " ".join(cmd))


def now_iso():
    return datetime.datetime.now().isoformat(timespec="seconds")


# ---------------------------------------------------------------------------
# Figures and text
# ---------------------------------------------------------------------------
def median(vals):
    """The median of the values that are not None (None if there are none)."""
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def spread(xs):
    """(max - min) / median: how far apart the repetitions lie."""
    m = statistics.median(xs)
    return (max(xs) - min(xs)) / m if m > 0 and len(xs) > 1 else 0.0


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def tail(text, n=6):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return " | ".join(lines[-n:])


def short(text, n=48):
    """Failure text short enough for a table cell (the full text is listed below it)."""
    return text if len(text) <= n else text[:n - 1] + "…"


def fmt_time(s):
    if s >= 100:
        return f"{s:.0f} s"
    if s >= 1:
        return f"{s:.2f} s"
    return f"{s * 1000:.0f} ms"


def fmt_kb(kb):
    if kb >= 1024 * 1024:
        return f"{kb / 1048576:.2f} GiB"
    if kb >= 1024:
        return f"{kb / 1024:.1f} MiB"
    return f"{kb} KiB"


def repo_path(path):
    """path relative to the repository when inside it (reports name no one
    machine's directories)."""
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + "/") else path


def table_head(header):
    """The first two lines of a markdown table: first column left-aligned,
    the others right-aligned."""
    return ["| " + " | ".join(header) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]


# ---------------------------------------------------------------------------
# CSV files
# ---------------------------------------------------------------------------
def write_csv(path, fields, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)


def load_runs(path):
    """The rows of a runs CSV and what its report needs to know of the run
    (mode, date, elapsed time), for --from-csv."""
    with open(path, newline="") as f:
        runs = list(csv.DictReader(f))
    if not runs:
        raise SystemExit(f"{path}: no rows")
    stamps = sorted(r["timestamp"] for r in runs if r.get("timestamp"))
    elapsed = 0.0
    if stamps:
        elapsed = (datetime.datetime.fromisoformat(stamps[-1]) -
                   datetime.datetime.fromisoformat(stamps[0])).total_seconds()
    mode = runs[0].get("mode") or "full"
    meta = {"mode": mode, "gomem_note": "", "problems": [], "warnings": [],
            "out_csv": os.path.abspath(path), "elapsed": elapsed, "quick": mode == "quick",
            "date": stamps[-1].replace("T", " ")[:16] if stamps else None}
    return runs, meta


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------
def report_files(meta):
    """(problems, warnings, markdown path, chart path) of a report: copies of
    the run's lists, to which the report adds; files named after its CSV."""
    stem = os.path.splitext(meta["out_csv"])[0]
    return list(meta["problems"]), list(meta["warnings"]), stem + ".md", stem + ".png"


def date_line(meta):
    now = meta.get("date") or datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"- date: {now}; total run time {meta.get('elapsed', 0) / 60:.1f} min"


def allocators_line(runs, names, meta):
    """'- allocators: ...': the gomem library (and when it was built), the
    peers' Debian versions."""
    vers = []
    for a in names:
        if a not in ("gomem", "gomem_hardened"):
            vers.append(f"{a} {pkg_version(DEB_PACKAGES[a])}")
            continue
        lib = "?"
        for r in runs:
            m = re.match(r"LD_PRELOAD=(\S+) ", r.get("command") or "")
            if r["allocator"] == a and m:
                lib = m.group(1)
                break
        stamps = sorted(r.get("lib_built") or "" for r in runs if r["allocator"] == a)
        stamps = [x for x in stamps if x]
        built = ""
        if stamps:
            built = "built " + stamps[0].replace("T", " ")[:16]
            if stamps[-1] != stamps[0]:  # rebuilt during the run
                built += " .. " + stamps[-1].replace("T", " ")[:16]
        note = "; ".join(x for x in (built, meta.get("gomem_note")) if x)
        vers.append(f"gomem = {repo_path(lib)}" + (f" ({note})" if note else ""))
    return "- allocators: " + "; ".join(vers)


def loadavg_line(runs, note):
    """'- 1-minute load average before each run: ...' from the runs' loadavg
    column (None if no run has one)."""
    loads = []
    for r in runs:
        try:
            loads.append(float(r.get("loadavg") or "nan"))
        except ValueError:
            pass
    loads = sorted(x for x in loads if not math.isnan(x))
    if not loads:
        return None
    return (f"- 1-minute load average before each run: min {loads[0]:.2f}, median "
            f"{statistics.median(loads):.2f}, max {loads[-1]:.2f} ({note})")


def validation_lines(rule, problems, warnings, ok_text):
    md = ["## Validation\n", rule + "\n"]
    if problems:
        md.append("**FAILURES:**\n")
        md.extend(f"- {p}" for p in problems)
    else:
        md.append(ok_text)
    if warnings:
        md.append("\nWarnings:\n")
        md.extend(f"- {w}" for w in warnings)
    md.append("")
    return md


def pyplot():
    """matplotlib.pyplot drawing into files (no display)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def finish(text, out_md, written, png=None, draw=None, problems=()):
    """Writes the markdown to out_md and the chart (draw(png), when given;
    a failed chart is a warning: the numbers matter more than the picture),
    prints the markdown, lists the files and the problems on stderr, and
    returns the exit status: 1 if there were problems."""
    with open(out_md, "w") as f:
        f.write(text)
    written = list(written) + [out_md]
    if draw:
        try:
            draw(png)
            written.append(png)
        except Exception as e:
            log(f"WARNING: chart not written: {e}")
    print(text)
    log("wrote " + ", ".join(written))
    if problems:
        log(f"{len(problems)} problem(s):")
        for p in problems:
            log(f"  - {p}")
        return 1
    return 0
