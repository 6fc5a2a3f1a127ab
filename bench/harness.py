#!/usr/bin/python3
"""Runs the gomem allocator benchmarks and writes CSV, markdown and PNG.

Normally started by bench/run, which installs the peers and builds the
workloads first; it can be run directly once they are built:

    /usr/bin/python3 bench/harness.py --bin-dir build-bench/bench [options]

Every workload runs under every allocator (glibc without preload, the others
through LD_PRELOAD), allocators interleaved round-robin inside each
repetition (the order rotates between repetitions), and the medians of the
repetitions are compared. Every run is validated: it must exit with status
0, print the same checksum as every other run of that workload (glibc's is
the reference), and report that its malloc really came from the allocator
under test. Any failure makes the exit status 1; timings are never asserted.
"""
import argparse
import csv
import os
import re
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from benchlib import (  # noqa: E402
    ALL_ALLOCS, COLORS, PYTHON, allocators_line, check_run, command_text, date_line, finish,
    fmt_kb, fmt_time, geomean, lib_built, load_runs, loadavg, loadavg_line, log, machine_line,
    make_env, now_iso, parse_tokens, preload_args, pyplot, report_files, repo_path, rotation,
    run_process, run_settings, select_allocs, short, table_head, tail, validation_lines,
    verify_checksums, write_csv)


class Workload:
    def __init__(self, name, argv, single, desc, env=None, exe=None, cg=None):
        self.name = name
        self.argv = argv          # list; "{bin}" is replaced by the binary dir
        self.single = single      # single-threaded: pinned with taskset -c 1
        self.desc = desc
        self.env = env or {}
        self.exe = exe            # file that must exist for the workload to run
        # (param, n1, n2): callgrind instructions per operation from two quick
        # runs with param=n1 and param=n2 (the program prints ops=...)
        self.cg = cg

    def command(self, bin_dir, preset):
        cmd = [a.replace("{bin}", bin_dir) for a in self.argv] + [preset]
        if self.single:
            cmd = ["taskset", "-c", "1"] + cmd
        return cmd

    def executable(self, bin_dir):
        return (self.exe or self.argv[0]).replace("{bin}", bin_dir)


PY_SCRIPT = os.path.join(HERE, "workloads", "py_alloc.py")
WORKLOADS = [
    Workload("churn", ["{bin}/churn"], True,
             "1 thread: alloc N / free random or LIFO, every size class 8 B..32 KiB"),
    Workload("exprtree", ["{bin}/exprtree"], True,
             "1 thread: symbolic differentiation, many small short-lived C++ objects"),
    Workload("larson", ["{bin}/larson"], False,
             "8 threads replace random slots; 25 % of objects freed by another thread"),
    Workload("xmalloc", ["{bin}/xmalloc"], False,
             "4 producer threads only allocate, 4 consumer threads only free"),
    Workload("cache_scratch", ["{bin}/cache_scratch"], False,
             "passive false sharing: workers reuse small objects from the main thread"),
    Workload("cache_thrash", ["{bin}/cache_thrash"], False,
             "active false sharing: threads allocate and write small objects"),
    Workload("mstress", ["{bin}/mstress"], False,
             "waves of short-lived threads; survivors freed by later threads"),
    Workload("large", ["{bin}/large"], True,
             "1 thread: blocks of 64 KiB..32 MiB, working set of 8, pages touched"),
    Workload("realloc_growth", ["{bin}/realloc_growth"], True,
             "1 thread: strings grown by exact realloc, vectors by doubling"),
    Workload("fragmentation", ["{bin}/fragmentation"], True,
             "1 thread: mixed working set, free 90 % at random, allocate other sizes"),
    Workload("random_replace", ["{bin}/random_replace"], True,
             "1 thread: replace random slots of 20,000 objects of 8..1024 B (fragmented steady state)",
             cg=("steps", 20000, 60000)),
    Workload("sqlite", ["{bin}/sqlite_bench"], True,
             "SQLite in memory: 100k inserts with indexes, queries, updates, deletes"),
    Workload("python", [PYTHON, PY_SCRIPT], True,
             "CPython script: dicts, lists, strings (pymalloc for objects <= 512 B)",
             env={"PYTHONHASHSEED": "0"}, exe=PYTHON),
    Workload("python_malloc", [PYTHON, PY_SCRIPT], True,
             "the same script with PYTHONMALLOC=malloc: every object from malloc",
             env={"PYTHONHASHSEED": "0", "PYTHONMALLOC": "malloc"}, exe=PYTHON),
    Workload("large_reuse", ["{bin}/large_reuse"], True,
             "1 thread: 16 blocks of N pages (1001; quick 70) freed and reallocated at random",
             env={"GOMEM_SCAVENGER": "0"}, cg=("steps", 20, 60)),
    Workload("bulk_mixed", ["{bin}/bulk_mixed"], True,
             "1 thread: allocate 100k mixed-size objects, then free them all; 20 rounds",
             cg=("rounds", 1, 2)),
    Workload("random_replace_mt", ["{bin}/random_replace_mt"], False,
             "8 threads replace random-size objects; 1/4 of frees sent to another thread"),
    Workload("threads1000", ["{bin}/threads1000"], False,
             "1,000 live threads, each keeping 2,560 small objects of 40 sizes: peak RSS"),
    Workload("tiny", ["{bin}/tiny"], True,
             "a short-lived program: 200 objects of 20 sizes and two buffers, then exit: peak RSS"),
    Workload("stl_containers", ["{bin}/stl_containers"], True,
             "1 thread: std::map/unordered_map of Zipf words, vectors, strings, shared_ptr; "
             "rebuilt each round", cg=("rounds", 1, 2)),
    Workload("server_mt", ["{bin}/server_mt"], False,
             "16 workers build requests (headers, 1-64 KiB body, realloc-grown response), "
             "4 writer threads free them"),
    Workload("arena_like", ["{bin}/arena_like"], True,
             "1 thread: compiler pass: bursts of 1k-20k linked nodes of 16-128 B freed together; "
             "5 % of every 10th kept", cg=("funcs", 20, 60)),
]
WORKLOAD_NAMES = [w.name for w in WORKLOADS]

# Callgrind fast-path rows: (key, label, extra args, N1, N2) per mode.
FASTPATH = {
    "full": [("fastpath_pair", "fastpath: instructions per malloc+free pair (32 B)",
              ["size=32", "batch=1"], 100000, 1100000),
             ("fastpath_batch64", "fastpath: instructions per malloc+free, batches of 64 (32 B)",
              ["size=32", "batch=64"], 102400, 1100800)],
    "quick": [("fastpath_pair", "fastpath: instructions per malloc+free pair (32 B)",
               ["size=32", "batch=1"], 2000, 12000)],
}
FASTPATH_LABELS = {key: label for rows in FASTPATH.values() for key, label, *_ in rows}

CSV_FIELDS = ["mode", "kind", "timestamp", "rep", "workload", "allocator", "status", "wall_s", "peak_rss_kb",
              "maxrss_kb", "user_s", "sys_s", "exit", "checksum", "malloc_lib", "work_s", "metrics",
              "loadavg", "lib_built", "error", "command"]


def callgrind_count(cmd, env, timeout):
    """Total instructions of one run under callgrind, or None and an error."""
    full = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + cmd
    res = run_process(full, env, timeout)
    m = re.search(r"Collected\s*:\s*(\d+)", res["stderr"])
    if res["exit"] != 0 or not m:
        return None, f"exit {res['exit']}: {tail(res['stderr'], 3)}"
    return int(m.group(1)), ""


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    preload_args(ap, "directory with the built workloads", "its CSV (next to it, same stem)",
                 "tiny settings, 1 repetition, tiny callgrind: a CI smoke test", 5,
                 "CSV path; the .md and .png go next to it with the same stem "
                 "(default bench/results/latest.csv; quick: bench/results/quick.csv)",
                 (120.0, 600.0))
    ap.add_argument("--only", default="", help="comma-separated workloads (default: all)")
    ap.add_argument("--no-callgrind", action="store_true", help="skip the fast-path counts")
    ap.add_argument("--list", action="store_true", help="list workloads and exit")
    args = ap.parse_args()

    if args.list:
        for w in WORKLOADS:
            print(f"{w.name:16} {'1 thread, pinned' if w.single else 'multi-threaded':17} "
                  f"{w.desc}")
        return 0
    if args.from_csv:
        runs, meta = load_csv(args.from_csv)
        meta["no_plot"] = args.no_plot
        check_timed(runs)
        return report(runs, meta)
    mode, reps, timeout, bin_dir, out_csv = run_settings(ap, args, os.path.join(HERE, "results"))

    problems = []   # failures that make the exit status nonzero
    warnings = []   # reported, but not failures

    # Workloads.
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        bad = [n for n in names if n not in WORKLOAD_NAMES + ["fastpath"]]
        if bad:
            ap.error(f"unknown workload(s) {bad}; known: {WORKLOAD_NAMES + ['fastpath']}")
        workloads = [w for w in WORKLOADS if w.name in names]
        do_fastpath = "fastpath" in names and not args.no_callgrind
    else:
        workloads = list(WORKLOADS)
        do_fastpath = not args.no_callgrind
    for w in list(workloads):
        if not os.path.exists(w.executable(bin_dir)):
            problems.append(f"{w.name}: {w.executable(bin_dir)} does not exist (not built?)")
            workloads.remove(w)
    if do_fastpath and not shutil.which("valgrind"):
        warnings.append("valgrind not found: fast-path instruction counts skipped")
        do_fastpath = False
    if do_fastpath and not os.path.exists(os.path.join(bin_dir, "fastpath")):
        problems.append("fastpath executable missing")
        do_fastpath = False

    allocs = select_allocs(ap, args.allocs, args.gomem_so, problems, warnings, args.gomem_hardened_so)
    alloc_names = list(allocs)
    if not alloc_names or not workloads:
        log("nothing to run")
        return 1

    log(f"mode={mode} reps={reps} allocators={','.join(alloc_names)} "
        f"workloads={','.join(w.name for w in workloads)}")
    log(f"bin dir: {bin_dir}")
    if "gomem" in allocs:
        log(f"gomem: {allocs['gomem']} {args.gomem_note}")

    # ---------------------------------------------------------------- runs
    meta = {"mode": mode, "gomem_note": args.gomem_note, "problems": problems,
            "warnings": warnings, "out_csv": out_csv, "no_plot": args.no_plot,
            "quick": args.quick}
    runs = []   # CSV rows, one per run, in run order
    fcsv = open(out_csv, "w", newline="")
    writer = csv.DictWriter(fcsv, fieldnames=CSV_FIELDS)
    writer.writeheader()
    started = time.time()
    for rep in range(reps):
        order = rotation(alloc_names, rep)
        for w in workloads:
            for a in order:
                lib = allocs[a]
                cmd = w.command(bin_dir, mode)
                load = loadavg()
                res = run_process(cmd, make_env(lib, w.env), timeout)
                res["tokens"] = parse_tokens(res["stdout"])
                err = check_run(res, lib)
                tok = res["tokens"]
                # Peak RSS: the program's own VmHWM, read just before it exits. The
                # rusage maxrss of wait4 is kept in the CSV but not used: Linux carries
                # the forking parent's (this Python's) high-water mark across exec, so
                # it never reads below ~15 MiB.
                try:
                    peak = int(tok.get("vmhwm_kb", "0"))
                except ValueError:
                    peak = 0
                if peak <= 0:
                    peak = res["maxrss_kb"]
                metrics = {key: v for key, v in tok.items()
                           if key not in ("checksum", "malloc_lib", "work_s", "workload",
                                          "preset", "vmhwm_kb", "vmrss_kb")}
                r = {"mode": mode, "kind": "time",
                     "timestamp": now_iso(),
                     "rep": rep + 1, "workload": w.name, "allocator": a,
                     "status": "ok" if not err else "fail",
                     "wall_s": f"{res['wall_s']:.4f}", "peak_rss_kb": peak,
                     "maxrss_kb": res["maxrss_kb"],
                     "user_s": f"{res['user_s']:.3f}", "sys_s": f"{res['sys_s']:.3f}",
                     "exit": res["exit"], "checksum": tok.get("checksum", ""),
                     "malloc_lib": tok.get("malloc_lib", ""), "work_s": tok.get("work_s", ""),
                     "metrics": " ".join(f"{key}={v}" for key, v in metrics.items()),
                     "loadavg": f"{load:.2f}", "lib_built": lib_built(lib),
                     "error": err + (f" [stderr: {tail(res['stderr'])}]" if err else ""),
                     "command": command_text(lib, w.env, cmd)}
                writer.writerow(r)
                fcsv.flush()
                runs.append(r)
                log(f"[{rep + 1}/{reps}] {w.name:15} {a:9} {res['wall_s']:8.3f} s "
                    f"{fmt_kb(peak):>10}  {'ok' if not err else 'FAIL: ' + err}")

    # ----------------------------------------------------------- callgrind
    if do_fastpath:
        for key, label, extra, n1, n2 in FASTPATH[mode]:
            for a in alloc_names:
                env = make_env(allocs[a], {})
                base = [os.path.join(bin_dir, "fastpath"), mode] + extra
                i1, e1 = callgrind_count(base + [f"n={n1}"], env, timeout)
                i2, e2 = callgrind_count(base + [f"n={n2}"], env, timeout)
                r = {"mode": mode, "kind": "callgrind",
                     "timestamp": now_iso(),
                     "rep": 1, "workload": key, "allocator": a,
                     "lib_built": lib_built(allocs[a]),
                     "command": command_text(allocs[a], {}, ["valgrind", "--tool=callgrind"] +
                                             base + [f"n={n1}|{n2}"])}
                if i1 is None or i2 is None:
                    r.update(status="fail", error=e1 or e2)
                    log(f"WARNING: callgrind {key} under {a} failed: {r['error']}")
                else:
                    per = (i2 - i1) / (n2 - n1)
                    r.update(status="ok", metrics=f"instr_per_op={per:.2f} n1={n1} n2={n2} "
                                                  f"instr_n1={i1} instr_n2={i2}")
                    log(f"callgrind {a:9} {label}: {per:.1f}")
                writer.writerow(r)
                fcsv.flush()
                runs.append(r)
    if not args.no_callgrind and shutil.which("valgrind"):
        workload_callgrind(workloads, allocs, bin_dir, mode, timeout, writer, fcsv, runs)
    fcsv.close()
    meta["elapsed"] = time.time() - started

    check_timed(runs)
    write_csv(out_csv, CSV_FIELDS, runs)
    return report(runs, meta)


def check_timed(runs):
    """The checksums of the timed runs agree, workload by workload."""
    verify_checksums([r for r in runs if r["kind"] == "time"], lambda r: r["workload"])


def workload_cg_labels():
    return {f"{w.name}_instr": f"{w.name}: instructions per operation" for w in WORKLOADS
            if w.single and w.cg}


def workload_callgrind(workloads, allocs, bin_dir, mode, timeout, writer, fcsv, runs):
    """Instructions per operation of the single-threaded workloads that name a
    parameter to vary (Workload.cg): two quick runs under callgrind per
    allocator, (I2 - I1) / (ops2 - ops1), so start-up costs cancel."""
    for w in workloads:
        if not (w.single and w.cg):
            continue
        param, n1, n2 = w.cg
        argv = [a.replace("{bin}", bin_dir) for a in w.argv] + ["quick"]
        for a, lib in allocs.items():
            env = make_env(lib, w.env)
            counts, err = [], ""
            for n in (n1, n2):
                full = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + \
                    argv + [f"{param}={n}"]
                res = run_process(full, env, timeout)
                m = re.search(r"Collected\s*:\s*(\d+)", res["stderr"])
                ops = parse_tokens(res["stdout"]).get("ops")
                if res["exit"] != 0 or not m or not ops:
                    err = f"exit {res['exit']}: {tail(res['stderr'], 3)}"
                    break
                counts.append((int(m.group(1)), int(ops)))
            r = {"mode": mode, "kind": "callgrind",
                 "timestamp": now_iso(),
                 "rep": 1, "workload": f"{w.name}_instr", "allocator": a,
                 "lib_built": lib_built(lib),
                 "command": command_text(lib, w.env, ["valgrind", "--tool=callgrind"] + argv +
                                         [f"{param}={n1}|{n2}"])}
            if err or counts[1][1] == counts[0][1]:
                r.update(status="fail", error=err or "ops did not change")
                log(f"WARNING: callgrind {w.name} under {a} failed: {r['error']}")
            else:
                per = (counts[1][0] - counts[0][0]) / (counts[1][1] - counts[0][1])
                r.update(status="ok", metrics=f"instr_per_op={per:.2f} {param}={n1}|{n2} "
                                              f"instr={counts[0][0]}|{counts[1][0]} "
                                              f"ops={counts[0][1]}|{counts[1][1]}")
                log(f"callgrind {a:9} {w.name}: {per:.1f} instructions per operation")
            writer.writerow(r)
            fcsv.flush()
            runs.append(r)


def parse_metrics(text):
    out = {}
    for tok in (text or "").split():
        k, _, v = tok.partition("=")
        try:
            out[k] = float(v)
        except ValueError:
            pass
    return out


def load_csv(path):
    """Rows of a CSV written by this harness, and the run's meta data."""
    runs, meta = load_runs(path)
    for r in runs:
        r["kind"] = r.get("kind") or "time"
    return runs, meta


def report(runs, meta):
    """Writes the markdown and the chart; prints the markdown; returns the
    exit status (1 if any run failed validation)."""
    mode, out_csv = meta["mode"], meta["out_csv"]
    problems, warnings, out_md, out_png = report_files(meta)
    timed = [r for r in runs if r["kind"] == "time"]
    for r in timed:
        r["_wall"] = float(r["wall_s"]) if r["wall_s"] else float("nan")
        r["_rss"] = int(float(r["peak_rss_kb"])) if r["peak_rss_kb"] else 0
        r["_metrics"] = parse_metrics(r.get("metrics"))
    alloc_names = [a for a in ALL_ALLOCS if any(r["allocator"] == a for r in runs)]
    present = set(r["workload"] for r in timed)
    workloads = [w for w in WORKLOADS if w.name in present]
    reps = max([int(r["rep"]) for r in timed] or [0])

    for r in timed:
        if r["status"] != "ok":
            problems.append(f"{r['workload']} under {r['allocator']} (rep {r['rep']}): "
                            f"{r['error']}")
    fast_rows = []  # (label, {alloc: value or None})
    for key, label in {**FASTPATH_LABELS, **workload_cg_labels()}.items():
        rs = [r for r in runs if r["kind"] == "callgrind" and r["workload"] == key]
        if not rs:
            continue
        vals = {}
        for a in alloc_names:
            ra = [r for r in rs if r["allocator"] == a]
            if ra and ra[0]["status"] == "ok":
                vals[a] = parse_metrics(ra[0]["metrics"]).get("instr_per_op")
            else:
                vals[a] = None
                if ra:
                    warnings.append(f"callgrind {key} under {a} failed: {ra[0]['error']}")
        fast_rows.append((label, vals))

    summary = {}  # (workload, alloc) -> dict
    for w in workloads:
        for a in alloc_names:
            rs = [r for r in timed if r["workload"] == w.name and r["allocator"] == a]
            bad = [r for r in rs if r["status"] != "ok"]
            ok = [r for r in rs if r["status"] == "ok"]
            s = {"n": len(ok), "fail": bad[0]["error"].split(" [stderr")[0] if bad else
                 ("not run" if not rs else "")}
            if ok and not bad:
                walls = [r["_wall"] for r in ok]
                s["time"] = statistics.median(walls)
                s["rss"] = statistics.median([r["_rss"] for r in ok])
                # Interquartile range / median: like the median, robust to a single
                # run disturbed by other work on the machine.
                if len(walls) >= 4:
                    q = statistics.quantiles(walls, n=4, method="inclusive")
                    s["spread"] = (q[2] - q[0]) / s["time"] if s["time"] > 0 else 0
                else:
                    s["spread"] = (max(walls) - min(walls)) / s["time"] if s["time"] > 0 else 0
                s["metrics"] = {}
                for key in ok[0]["_metrics"]:
                    vals = [r["_metrics"][key] for r in ok if key in r["_metrics"]]
                    if vals:
                        s["metrics"][key] = statistics.median(vals)
            summary[(w.name, a)] = s

    md = [f"# gomem allocator benchmarks ({mode})\n", date_line(meta),
          "- machine: " + machine_line(),
          f"- repetitions: {reps}, allocators interleaved round-robin (order rotated each "
          "repetition); medians shown",
          allocators_line(runs, alloc_names, meta)]
    load = loadavg_line(timed, "the harness itself adds up to 1 while a single-threaded run "
                        "goes, more for multi-threaded ones; much more than that means other "
                        "work was competing for the 2 cores")
    if load:
        md.append(load)
    md.append("- single-threaded workloads pinned with `taskset -c 1`; multi-threaded ones use "
              "both cores")
    md.append("")
    md.append("## Time and peak RSS\n")
    md.append("Each allocator cell is **time ratio / peak-RSS ratio**: the median over the "
              "repetitions divided by the best median on that row (1.00 = best; lower is "
              "better). Time is the wall time of the whole process; peak RSS is its VmHWM "
              "(read by the program itself just before exit). `best time` and `best RSS` are "
              "the absolute best medians. `spread` is the largest relative spread of the wall "
              "time among the allocators on the row (interquartile range / median with 4 or "
              "more repetitions, else (max-min) / median): time ratios closer to each other "
              "than that are within the noise.\n")
    header = ["workload", "best time", "best RSS"] + alloc_names + ["spread"]
    md.extend(table_head(header))
    ratios = {a: {"time": [], "rss": []} for a in alloc_names}
    complete = 0
    chart = []  # (workload, {alloc: time ratio or None}, {alloc: rss ratio})
    for w in workloads:
        cells = {a: summary[(w.name, a)] for a in alloc_names}
        okc = {a: c for a, c in cells.items() if "time" in c}
        if not okc:
            md.append(f"| {w.name} | – | – | " +
                      " | ".join(f"FAIL ({short(cells[a]['fail'])})" for a in alloc_names) +
                      " | |")
            continue
        bt = min(c["time"] for c in okc.values())
        br = min(c["rss"] for c in okc.values())
        row = [w.name, fmt_time(bt), fmt_kb(int(br))]
        tr, rr = {}, {}
        for a in alloc_names:
            c = cells[a]
            if "time" not in c:
                row.append(f"FAIL ({short(c['fail'])})")
                tr[a] = rr[a] = None
                continue
            tr[a], rr[a] = c["time"] / bt, c["rss"] / br
            t = f"{tr[a]:.2f}"
            if tr[a] == 1.0:
                t = f"**{t}**"
            m = f"{rr[a]:.2f}"
            if rr[a] == 1.0:
                m = f"**{m}**"
            row.append(f"{t} / {m}")
        if min(c["n"] for c in okc.values()) >= 2:
            row.append(f"{max(c['spread'] for c in okc.values()) * 100:.0f} %")
        else:
            row.append("–")
        md.append("| " + " | ".join(row) + " |")
        chart.append((w.name, tr, rr))
        if len(okc) == len(alloc_names):
            complete += 1
            for a in alloc_names:
                ratios[a]["time"].append(tr[a])
                ratios[a]["rss"].append(rr[a])
    if complete:
        md.append(f"| **geometric mean** ({complete} workloads) | | | " +
                  " | ".join(f"{geomean(ratios[a]['time']):.2f} / "
                             f"{geomean(ratios[a]['rss']):.2f}" for a in alloc_names) + " | |")
    for label, vals in fast_rows:
        good = [v for v in vals.values() if v is not None]
        best = f"{min(good):.1f}" if good else "–"
        md.append(f"| {label} | {best} | | " +
                  " | ".join(f"{vals[a]:.1f}" if vals[a] is not None else "n/a"
                             for a in alloc_names) + " | |")
    md.append("")
    fp_rows = [row for row in fast_rows if row[0] in FASTPATH_LABELS.values()]
    if fp_rows:
        md.append("The fast-path rows are absolute instruction counts from "
                  "`valgrind --tool=callgrind` (not ratios): (I(N2) - I(N1)) / (N2 - N1) for "
                  "two runs of `fastpath` with N1 and N2 iterations, so start-up costs cancel. "
                  "Each count includes 11 instructions of the benchmark's own loop and PLT "
                  "stubs, the same for every allocator. In the pair row the same object is "
                  "freed and reused every time (some allocators take a slower path when a page "
                  "becomes empty)" + ("; the batch row allocates 64 objects, then frees them"
                                     if len(fp_rows) > 1 else "") + ".\n")
    if len(fp_rows) < len(fast_rows):
        md.append("The rows `<workload>: instructions per operation` are callgrind counts too: "
                  "(I(N2) - I(N1)) / (ops(N2) - ops(N1)) for two quick runs of the workload, "
                  "ops as the program counts them (a malloc, a free, or a step), so they include "
                  "the workload's own work per operation, the same for every allocator.\n")

    # Fragmentation details from the program itself.
    if any(w.name == "fragmentation" for w in workloads):
        md.append("## fragmentation: the program's own RSS readings (medians)\n")
        md.append("`peak` = VmHWM, `after free` = VmRSS right after the last "
                  "free-90 % phase, `final` = VmRSS with the final working set still live, "
                  "`live` = bytes the program holds at the end. Lower is better; `final / "
                  "live` is the overhead factor.\n")
        md.append("| allocator | peak | after free | final | live | final / live |")
        md.append("|---|---:|---:|---:|---:|---:|")
        for a in alloc_names:
            c = summary[("fragmentation", a)]
            m = c.get("metrics") or {}
            live = m.get("live_final_kb", 0)
            if "rss_peak_kb" not in m or not live:
                md.append(f"| {a} | FAIL ({short(c['fail'])}) | | | | |")
                continue
            md.append(f"| {a} | {fmt_kb(int(m['rss_peak_kb']))} | "
                      f"{fmt_kb(int(m['rss_after_free_kb']))} | "
                      f"{fmt_kb(int(m['rss_final_kb']))} | {fmt_kb(int(live))} | "
                      f"{m['rss_final_kb'] / live:.2f} |")
        md.append("")

    # Page-heap placement under gomem (the program reads gomem's own stats).
    c = summary.get(("large_reuse", "gomem")) or {}
    m = c.get("metrics") or {}
    if "heap_sys_ratio" in m:
        md.append("## large_reuse: gomem's heap over the live bytes (median)\n")
        md.append(f"heap_sys / live = {m['heap_sys_ratio']:.3f}, (heap_sys - heap_released) / "
                  f"live = {m.get('retained_ratio', float('nan')):.3f} (scavenger off; "
                  "goal: heap_sys / live <= 1.15).\n")

    md.append("## Workloads\n")
    md.append("| workload | threads | what it models |")
    md.append("|---|---|---|")
    for w in workloads:
        md.append(f"| {w.name} | {'1 (pinned)' if w.single else 'several'} | {w.desc} |")
    md.append("")
    md += validation_lines(
        "Every run must exit 0, print the same checksum as glibc's run of that workload, "
        "and report (via dl_iterate_phdr/dladdr) that its malloc comes from the "
        "allocator under test.", problems, warnings,
        f"All {len(timed)} timed runs valid; checksums agree across allocators.")
    md.append(f"Raw results: `{repo_path(out_csv)}`. Reproduce: `bench/run"
              f"{' --quick' if meta['quick'] else ''} --reps {reps}`.")
    draw = None
    if not meta["no_plot"] and chart:
        def draw(png):
            plot(chart, alloc_names, png, mode, reps)
    return finish("\n".join(md) + "\n", out_md, [out_csv], out_png, draw, problems)


def plot(chart, alloc_names, out_png, mode, reps):
    plt = pyplot()
    cap = 4.0
    names = [c[0] for c in chart]
    fig, axes = plt.subplots(2, 1, figsize=(max(10, 1.1 * len(names) + 2), 9), sharex=True)
    width = 0.8 / len(alloc_names)
    for ax, idx, title in ((axes[0], 1, "time"), (axes[1], 2, "peak RSS")):
        for j, a in enumerate(alloc_names):
            xs, ys, labels = [], [], []
            for i, c in enumerate(chart):
                v = c[idx].get(a)
                if v is None:
                    continue
                xs.append(i + (j - (len(alloc_names) - 1) / 2) * width)
                ys.append(min(v, cap))
                labels.append(v)
            ax.bar(xs, ys, width, label=a, color=COLORS.get(a))
            for x, y, v in zip(xs, ys, labels):
                if v > cap:
                    ax.text(x, cap * 0.98, f"{v:.1f}", ha="center", va="top", fontsize=7,
                            rotation=90, color="white", fontweight="bold")
            for i, c in enumerate(chart):
                if c[idx].get(a) is None and a in c[idx]:
                    ax.text(i + (j - (len(alloc_names) - 1) / 2) * width, 0.05, "FAIL",
                            ha="center", va="bottom", fontsize=7, rotation=90, color="red")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_ylim(0, cap * 1.12)
        ax.set_ylabel(f"{title} / best (lower is better)")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(ncol=len(alloc_names), loc="upper left")
    axes[0].set_title(f"gomem allocator benchmarks ({mode}, median of {reps}); "
                      f"bars capped at {cap:.0f}x")
    axes[1].set_xticks(range(len(names)))
    axes[1].set_xticklabels(names, rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
