#!/usr/bin/python3
"""RSS over time of a three-phase workload under every allocator.

Normally started by bench/rss/run, which builds the programs first; it can be
run directly once they are built:

    /usr/bin/python3 bench/rss/rss.py --bin-dir build-bench/bench/rss [options]

Every allocator (glibc without preload, the others through LD_PRELOAD of the
workload only) runs `phases` under `rss_sample`, which records the process's
RSS and the workload's own live heap every 10 ms. Allocators are interleaved
round-robin inside each repetition (the order rotates between repetitions);
medians of the repetitions are compared. Every run is validated like the
runs of bench/harness.py: exit status 0, the same checksum as glibc's run,
and malloc really provided by the allocator under test. Any failure makes the
exit status 1; timings and RSS are never asserted.
"""
import argparse
import csv
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import benchlib as B  # noqa: E402  (bench/lib: peers, environment, validation, report)

PHASES = ["start", "ramp", "hold", "free", "quiet", "regrow", "refree", "tail", "teardown", "end"]
# Times of phase starts kept in the runs CSV, relative to the start of the ramp.
EVENT_COLS = [f"t_{p}" for p in PHASES[2:]]

RUN_FIELDS = (["mode", "timestamp", "rep", "allocator", "status", "wall_s", "work_s",
               "peak_rss_kb", "rss_free1s_kb", "rss_quiet_end_kb", "rss_end_kb",
               "live_peak_kb", "live_free1s_kb", "live_quiet_end_kb", "live_end_kb",
               "excess_avg_kb", "rss_avg_kb", "live_avg_kb", "lazyfree_max_kb", "samples",
               "max_gap_ms", "user_s", "sys_s", "exit", "checksum", "malloc_lib",
               "phase_times", "loadavg", "lib_built", "note", "interval_ms", "lazyfree_ms", "error",
               "command"] + EVENT_COLS)
SAMPLE_FIELDS = ["rep", "allocator", "t", "rss_kb", "anon_kb", "live_kb", "phase", "lazyfree_kb"]

log = B.log


def fmt_kb(kb):
    """kB as text ('–' for a missing figure)."""
    return "–" if kb is None or (isinstance(kb, float) and math.isnan(kb)) else B.fmt_kb(int(kb))


def parse_events(text):
    """{phase name: (CLOCK_MONOTONIC seconds, live bytes)} from 'event' lines."""
    ev = {}
    for line in text.splitlines():
        if not line.startswith("event "):
            continue
        tok = dict(t.partition("=")[::2] for t in line.split()[1:])
        try:
            ev[tok["phase"]] = (float(tok["t"]), int(tok["live"]))
        except (KeyError, ValueError):
            pass
    return ev


def read_samples(path):
    rows = []
    try:
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                rows.append((float(r["t"]), int(r["rss_kb"]), int(r["anon_kb"]),
                             int(r["live_kb"]), int(r["phase"]), int(r["lazyfree_kb"])))
    except (OSError, ValueError, KeyError):
        pass
    return rows


def value_at(samples, t, idx):
    """Field idx of the last sample taken at or before t (None if none)."""
    best = None
    for s in samples:
        if s[0] > t:
            break
        best = s[idx]
    return best


def time_average(samples, t0, t1, f):
    """Time average of f(sample) over [t0, t1] (trapezoids between samples)."""
    pts = [(s[0], f(s)) for s in samples if t0 <= s[0] <= t1]
    if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
        return float("nan")
    area = sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in zip(pts, pts[1:]))
    return area / (pts[-1][0] - pts[0][0])


def measure(samples, ev):
    """Per-run figures (kB and s) from the samples and the phase events."""
    t_ramp = ev["ramp"][0]
    t_quiet = ev["quiet"][0]
    t_regrow = ev["regrow"][0]
    t_tear = ev["teardown"][0]
    m = {}
    # One second into the quiet phase (its end, if it is shorter: quick mode).
    for key, t in (("free1s", min(t_quiet + 1.0, t_regrow)), ("quiet_end", t_regrow),
                   ("end", t_tear)):
        m[f"rss_{key}_kb"] = value_at(samples, t, 1)
        m[f"live_{key}_kb"] = value_at(samples, t, 3)
    m["live_peak_kb"] = max((s[3] for s in samples), default=0)
    m["excess_avg_kb"] = time_average(samples, t_ramp, t_tear, lambda s: s[1] - s[3])
    m["rss_avg_kb"] = time_average(samples, t_ramp, t_tear, lambda s: s[1])
    m["live_avg_kb"] = time_average(samples, t_ramp, t_tear, lambda s: s[3])
    m["lazyfree_max_kb"] = max((s[5] for s in samples), default=0)
    for p in PHASES[2:]:
        if p in ev:
            m[f"t_{p}"] = ev[p][0] - t_ramp
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    B.preload_args(ap, "directory with phases and rss_sample",
                   "its runs CSV (and the -samples.csv next to it)",
                   "tiny workload, 1 repetition: a CI smoke test", 3,
                   "runs CSV path; -samples.csv, .md and .png go next to it "
                   "(default bench/rss/results/latest.csv; quick: .../quick.csv)", (60.0, 300.0))
    ap.add_argument("--params", default="",
                    help="extra key=value parameters for phases, e.g. 'peak_mb=512 quiet_ms=5000' "
                         "(see phases --help)")
    ap.add_argument("--interval-ms", type=int, default=10, help="sampling interval (default 10)")
    ap.add_argument("--lazyfree-ms", type=int, default=0,
                    help="also read LazyFree (MADV_FREE'd pages still in RSS) from smaps_rollup "
                         "every N ms (default 0 = never: it perturbs the workload)")
    args = ap.parse_args()

    if args.from_csv:
        runs, samples, meta = load_csv(args.from_csv)
        meta["no_plot"] = args.no_plot
        return report(runs, samples, meta)
    mode, reps, timeout, bin_dir, out_csv = B.run_settings(ap, args,
                                                           os.path.join(HERE, "results"))
    problems, warnings = [], []

    phases = os.path.join(bin_dir, "phases")
    sampler = os.path.join(bin_dir, "rss_sample")
    for exe in (phases, sampler):
        if not os.access(exe, os.X_OK):
            log(f"ERROR: {exe} does not exist (not built?)")
            return 1

    allocs = B.select_allocs(ap, args.allocs, args.gomem_so, problems, warnings, args.gomem_hardened_so)
    names = list(allocs)
    if not names:
        log("nothing to run")
        return 1
    extra = args.params.split()
    log(f"mode={mode} reps={reps} allocators={','.join(names)} params={' '.join(extra) or '-'}")
    if "gomem" in allocs:
        log(f"gomem: {allocs['gomem']} {args.gomem_note}")

    meta = {"mode": mode, "gomem_note": args.gomem_note, "problems": problems,
            "warnings": warnings, "out_csv": out_csv, "no_plot": args.no_plot,
            "quick": args.quick, "params": " ".join(extra), "interval_ms": args.interval_ms,
            "lazyfree_ms": args.lazyfree_ms}
    runs, samples = [], {}
    started = time.time()
    raw_dir = tempfile.mkdtemp(prefix="gomem-rss-")  # the sampler's files, merged at the end
    try:
        run_all(reps, names, allocs, raw_dir, phases, sampler, mode, extra, args, timeout,
                runs, samples)
    finally:
        shutil.rmtree(raw_dir, ignore_errors=True)
    meta["elapsed"] = time.time() - started
    B.verify_checksums(runs)
    write_csvs(out_csv, runs, samples)
    return report(runs, samples, meta)


def run_all(reps, names, allocs, raw_dir, phases, sampler, mode, extra, args, timeout, runs,
            samples):
    for rep in range(reps):
        for a in B.rotation(names, rep):
            lib = allocs[a]
            raw = os.path.join(raw_dir, f"{a}-{rep + 1}.csv")
            wcmd = [phases, mode] + extra
            cmd = [sampler, "-i", str(args.interval_ms), "-l", str(args.lazyfree_ms),
                   "-t", str(timeout), "-o", raw]
            if lib:
                cmd += ["-E", f"LD_PRELOAD={lib}"]
            cmd += ["--"] + wcmd
            load = B.loadavg()
            res = B.run_process(cmd, B.make_env(None, {}), timeout + 30)
            tok = B.parse_tokens(res["stdout"])
            res["tokens"] = tok
            # The sampler exits with the workload's status (128 + signal if killed).
            if tok.get("sampler_timeout") == "1":
                res["timed_out"] = True
            if tok.get("sampler_signal", "0") not in ("0", ""):
                res["exit"] = -int(tok["sampler_signal"])
            elif "sampler_exit" in tok:
                res["exit"] = int(tok["sampler_exit"])
            err = B.check_run(res, lib)
            ev = parse_events(res["stdout"])
            smp = read_samples(raw)
            m = {}
            if not err:
                missing = [p for p in PHASES if p not in ev]
                if missing:
                    err = f"phases missing from the timeline: {missing}"
                elif len(smp) < 10:
                    err = f"only {len(smp)} samples"
                else:
                    m = measure(smp, ev)
            t_ramp = ev["ramp"][0] if "ramp" in ev else (smp[0][0] if smp else 0.0)
            samples[(rep + 1, a)] = [(s[0] - t_ramp,) + s[1:] for s in smp]
            try:
                peak = int(tok.get("vmhwm_kb", "0"))
            except ValueError:
                peak = 0
            if peak <= 0:
                peak = max((s[1] for s in smp), default=0)
            r = {"mode": mode, "timestamp": B.now_iso(),
                 "rep": rep + 1, "allocator": a, "status": "ok" if not err else "fail",
                 "wall_s": tok.get("sampler_wall_s", f"{res['wall_s']:.4f}"),
                 "work_s": tok.get("work_s", ""), "peak_rss_kb": peak,
                 "samples": len(smp), "max_gap_ms": tok.get("sampler_max_gap_ms", ""),
                 "user_s": tok.get("sampler_user_s", ""), "sys_s": tok.get("sampler_sys_s", ""),
                 "exit": res["exit"], "checksum": tok.get("checksum", ""),
                 "malloc_lib": tok.get("malloc_lib", ""),
                 "phase_times": " ".join(f"{p}_s={tok[p + '_s']}" for p in PHASES[1:9]
                                         if p + "_s" in tok),
                 "loadavg": f"{load:.2f}", "lib_built": B.lib_built(lib),
                 "note": args.gomem_note if a == "gomem" else "",
                 "interval_ms": args.interval_ms, "lazyfree_ms": args.lazyfree_ms,
                 "error": err + (f" [stderr: {B.tail(res['stderr'])}]" if err else ""),
                 "command": B.command_text(lib, {}, wcmd)}
            for key, v in m.items():
                r[key] = f"{v:.4f}" if key.startswith("t_") else (
                    "" if v is None or (isinstance(v, float) and math.isnan(v)) else int(v))
            runs.append(r)
            log(f"[{rep + 1}/{reps}] {a:9} {float(r['wall_s']):7.2f} s  peak {fmt_kb(peak):>10}"
                + (f"  quiet end {fmt_kb(m['rss_quiet_end_kb'])}"
                   f"  avg excess {fmt_kb(m['excess_avg_kb'])}" if m else "")
                + f"  {'ok' if not err else 'FAIL: ' + err}")


def write_csvs(out_csv, runs, samples):
    B.write_csv(out_csv, RUN_FIELDS, runs)
    with open(os.path.splitext(out_csv)[0] + "-samples.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(SAMPLE_FIELDS)
        for (rep, a), rows in samples.items():
            for s in rows:
                w.writerow([rep, a, f"{s[0]:.4f}"] + list(s[1:]))


def load_csv(path):
    runs, meta = B.load_runs(path)
    samples = {}
    spath = os.path.splitext(path)[0] + "-samples.csv"
    if os.path.exists(spath):
        with open(spath, newline="") as f:
            for r in csv.DictReader(f):
                samples.setdefault((int(r["rep"]), r["allocator"]), []).append(
                    (float(r["t"]), int(r["rss_kb"]), int(r["anon_kb"]), int(r["live_kb"]),
                     int(r["phase"]), int(r["lazyfree_kb"])))
    m = re.search(r"phases (?:quick|full)(.*)$", runs[0].get("command", ""))
    first = runs[0]
    meta.update(gomem_note=next((r.get("note") for r in runs
                                 if r["allocator"] == "gomem" and r.get("note")), ""),
                params=m.group(1).strip() if m else "",
                interval_ms=int(first["interval_ms"]) if first.get("interval_ms") else None,
                lazyfree_ms=int(first["lazyfree_ms"]) if first.get("lazyfree_ms") else None)
    return runs, samples, meta


def num(r, key):
    try:
        return float(r[key])
    except (KeyError, TypeError, ValueError):
        return float("nan")


def report(runs, samples, meta):
    """Writes the markdown and the chart, prints the markdown, returns the
    exit status (1 if any run failed validation)."""
    mode, out_csv = meta["mode"], meta["out_csv"]
    problems, warnings, out_md, out_png = B.report_files(meta)
    names = [a for a in B.ALL_ALLOCS if any(r["allocator"] == a for r in runs)]
    reps = max(int(r["rep"]) for r in runs)
    for r in runs:
        if r["status"] != "ok":
            problems.append(f"{r['allocator']} (rep {r['rep']}): {r['error']}")

    metrics = ["peak_rss_kb", "rss_free1s_kb", "rss_quiet_end_kb", "rss_end_kb",
               "live_peak_kb", "live_free1s_kb", "live_quiet_end_kb", "live_end_kb",
               "excess_avg_kb", "rss_avg_kb", "live_avg_kb", "lazyfree_max_kb", "wall_s",
               "work_s"] + EVENT_COLS
    summary, rep_run = {}, {}
    for a in names:
        rs = [r for r in runs if r["allocator"] == a]
        ok = [r for r in rs if r["status"] == "ok"]
        bad = [r for r in rs if r["status"] != "ok"]
        if not ok or bad:
            summary[a] = {"fail": bad[0]["error"].split(" [stderr")[0] if bad else "not run"}
            if ok:
                rep_run[a] = ok[0]
            continue
        s = {k: statistics.median([num(r, k) for r in ok]) for k in metrics}
        s["n"] = len(ok)
        s["wall_spread"] = B.spread([num(r, "wall_s") for r in ok])
        s["work_spread"] = B.spread([num(r, "work_s") for r in ok])
        phase = {}
        for r in ok:
            for tok in (r.get("phase_times") or "").split():
                k, _, v = tok.partition("=")
                phase.setdefault(k, []).append(float(v))
        s["phases"] = {k: statistics.median(v) for k, v in phase.items()}
        summary[a] = s
        # The run drawn on the chart: the one with the median excess.
        by_excess = sorted(ok, key=lambda r: num(r, "excess_avg_kb"))
        rep_run[a] = by_excess[(len(by_excess) - 1) // 2]
    good = [a for a in names if "fail" not in summary[a]]

    md = [f"# gomem RSS over time ({mode})\n", B.date_line(meta),
          "- machine: " + B.machine_line()]
    md.append(f"- workload: `phases {mode}{' ' + meta['params'] if meta.get('params') else ''}`"
              f" (bench/rss/phases.c); {reps} repetition(s), allocators interleaved "
              "round-robin (order rotated each repetition); medians shown")
    if meta.get("interval_ms"):
        md.append(f"- RSS sampled from outside every {meta['interval_ms']} ms "
                  "(/proc/<pid>/statm), with the live heap the workload publishes"
                  + (f"; LazyFree every {meta['lazyfree_ms']} ms" if meta.get("lazyfree_ms")
                     else ""))
    md.append(B.allocators_line(runs, names, meta))
    load = B.loadavg_line(runs, "the workload itself runs 4 threads on the 2 cores")
    if load:
        md.append(load)
    md.append("")

    md.append("## RSS against the live heap\n")
    md.append("RSS of the process (medians over the repetitions) at fixed points of the "
              "workload, next to the live heap (the bytes the program holds from malloc) at "
              "the same points. *peak*: the process's VmHWM; *free + 1 s*: one second after "
              "the free phase ended (~10 % of the peak still live; the end of the quiet phase "
              "if that is shorter); *quiet end*: just before "
              "the regrowth, after the quiet phase; *end*: after the regrowth was freed and "
              "the tail's quiet churn, just before teardown. *avg excess*: the time average of "
              "RSS − live heap from the start of the ramp to the teardown, i.e. ∫(RSS − live) "
              "dt / duration; *ratio* is that divided by the best allocator's. *work*: time of "
              "the allocation-heavy phases (ramp, free, regrow, refree; the churn phases last a "
              "fixed time); *wall*: the whole process. Lower is better everywhere.\n")
    header = ["allocator", "peak RSS", "free + 1 s", "quiet end", "end", "avg excess", "ratio",
              "work", "wall"]
    md.extend(B.table_head(header))
    best_excess = min((summary[a]["excess_avg_kb"] for a in good), default=float("nan"))
    if good:
        ref = summary["glibc"] if "glibc" in good else summary[good[0]]
        md.append(f"| *live heap* | {fmt_kb(ref['live_peak_kb'])} | "
                  f"{fmt_kb(ref['live_free1s_kb'])} | "
                  f"{fmt_kb(ref['live_quiet_end_kb'])} | {fmt_kb(ref['live_end_kb'])} "
                  f"| *avg live {fmt_kb(ref['live_avg_kb'])}* | | | |")
    for a in names:
        s = summary[a]
        if "fail" in s:
            md.append(f"| {a} | FAIL ({B.short(s['fail'])}) | | | | | | | |")
            continue
        ratio = s["excess_avg_kb"] / best_excess if best_excess > 0 else float("nan")
        rt = f"{ratio:.2f}"
        md.append(f"| {a} | {fmt_kb(s['peak_rss_kb'])} | {fmt_kb(s['rss_free1s_kb'])} "
                  f"| {fmt_kb(s['rss_quiet_end_kb'])} | {fmt_kb(s['rss_end_kb'])} "
                  f"| {fmt_kb(s['excess_avg_kb'])} | {'**' + rt + '**' if ratio == 1 else rt} "
                  f"| {B.fmt_time(s['work_s'])} | {B.fmt_time(s['wall_s'])} |")
    md.append("")
    lazy = {a: summary[a]["lazyfree_max_kb"] for a in good if summary[a]["lazyfree_max_kb"] > 0}
    if lazy:
        md.append("LazyFree (pages given back with MADV_FREE, still counted in RSS until the "
                  "kernel reclaims them), largest reading: " +
                  ", ".join(f"{a} {fmt_kb(v)}" for a, v in lazy.items()) + ".\n")

    md.append("## Phase times\n")
    md.append("Median seconds per phase. ramp, free, regrow and refree do a fixed amount of "
              "work (their sum is *work* above); hold, quiet and tail do a fixed number of "
              "1 ms churn steps and last longer only if the allocator cannot keep up. "
              "`spread` is (max − min) / median of *work* over the repetitions.\n")
    ph = ["ramp", "hold", "free", "quiet", "regrow", "refree", "tail", "teardown"]
    md.append("| allocator | " + " | ".join(ph) + " | work | spread |")
    md.append("|---|" + "---:|" * (len(ph) + 2))
    for a in good:
        s = summary[a]
        md.append(f"| {a} | " + " | ".join(f"{s['phases'].get(p + '_s', float('nan')):.3f}"
                                            for p in ph) +
                  f" | {s['work_s']:.3f} | {s['work_spread'] * 100:.0f} % |")
    md.append("")

    md += B.validation_lines(
        "Every run must exit 0, print the same checksum as glibc's run, report (via "
        "dl_iterate_phdr/dladdr) that its malloc comes from the allocator under test, "
        "and log every phase. RSS and timings are never asserted.", problems, warnings,
        f"All {len(runs)} runs valid; checksums agree across allocators.")
    shown = B.repo_path(out_csv)
    md.append(f"Raw results: `{shown}` (one row per run) and "
              f"`{os.path.splitext(shown)[0]}-samples.csv` (every sample; t in seconds from "
              f"the start of the ramp). Reproduce: `bench/rss/run"
              f"{' --quick' if meta['quick'] else ''} --reps {reps}"
              f"{' --params ' + repr(meta['params']) if meta.get('params') else ''}`.")
    draw = None
    if not meta["no_plot"] and rep_run and samples:
        def draw(png):
            plot(rep_run, samples, names, png, mode, reps)
    return B.finish("\n".join(md) + "\n", out_md, [out_csv], out_png, draw, problems)


def plot(rep_run, samples, names, out_png, mode, reps):
    plt = B.pyplot()
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(13, 9), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 2]})
    mib = 1024.0
    # Time axis: the allocators' work phases take different times, so every
    # run's phases are mapped piecewise-linearly onto the median phase
    # boundaries of the plotted runs; then the live heap of every run lies on
    # one line and RSS can be read against it. The fixed-length churn phases
    # barely move; the table has the real times.
    runs = {a: r for a, r in rep_run.items() if samples.get((int(r["rep"]), a))}
    bounds = {a: [0.0] + [num(r, c) for c in EVENT_COLS] for a, r in runs.items()}
    bounds = {a: b for a, b in bounds.items()
              if all(not math.isnan(x) for x in b) and all(x < y for x, y in zip(b, b[1:]))}
    ref = [statistics.median(b[i] for b in bounds.values())
           for i in range(len(EVENT_COLS) + 1)] if bounds else []

    def warp(a, t):
        b = bounds.get(a)
        if not b:
            return t
        if t <= b[0]:
            return t - b[0] + ref[0]
        for i in range(len(b) - 1):
            if t <= b[i + 1]:
                return ref[i] + (t - b[i]) * (ref[i + 1] - ref[i]) / (b[i + 1] - b[i])
        return t - b[-1] + ref[-1]

    labels = ["ramp", "hold", "free", "quiet", "regrow", "refree", "tail", "teardown"]
    shade = {"quiet": "#e8f0ff", "tail": "#e8f0ff", "hold": "#f4f4f4"}
    for i, lab in enumerate(labels if ref else []):
        t0, t1 = ref[i], ref[i + 1]
        for a_ in (ax, ax2):
            if lab in shade:
                a_.axvspan(t0, t1, color=shade[lab], zorder=0)
        if t1 - t0 > 0.04 * (ref[-1] - ref[0]):
            ax.text((t0 + t1) / 2, 1.0, lab, transform=ax.get_xaxis_transform(), ha="center",
                    va="bottom", fontsize=8, color="#555555")
    # The live heap of every plotted run, on one grid: the runs agree outside
    # the work phases; inside them, where progress differs, the band shows the
    # range and the dashed line the median.
    import numpy as np
    if runs and ref:
        grid = np.linspace(ref[0], ref[-1], 2000)
        lives = []
        for a, r in runs.items():
            s = samples[(int(r["rep"]), a)]
            lives.append(np.interp(grid, [warp(a, x[0]) for x in s], [x[3] / mib for x in s]))
        lives = np.array(lives)
        if len(lives) > 1:
            ax.fill_between(grid, lives.min(axis=0), lives.max(axis=0), color="#bbbbbb",
                            alpha=0.6, linewidth=0, zorder=2, label="live heap, range of the runs")
        ax.plot(grid, np.median(lives, axis=0), color="black", linestyle="--", linewidth=1.2,
                label="live heap" + (", median" if len(lives) > 1 else ""), zorder=5)
    for a in names:
        if a not in runs:
            continue
        s = samples[(int(runs[a]["rep"]), a)]
        lw = 2.2 if a == "gomem" else 1.4
        ts = [warp(a, x[0]) for x in s]
        ax.plot(ts, [x[1] / mib for x in s], color=B.COLORS.get(a), linewidth=lw,
                label=f"{a} RSS", zorder=4 if a == "gomem" else 3)
        ax2.plot(ts, [(x[1] - x[3]) / mib for x in s], color=B.COLORS.get(a),
                 linewidth=lw, label=a, zorder=4 if a == "gomem" else 3)
    ax.set_ylabel("MiB")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
    ax.set_title(f"RSS over time, bench/rss phases {mode} (median-excess run of {reps} per "
                 "allocator)", pad=18)
    ax2.set_ylabel("RSS − live heap, MiB")
    ax2.set_xlabel("seconds since the start of the ramp (every run's phases aligned to the "
                   "median phase boundaries)")
    ax2.grid(alpha=0.3)
    ax2.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
