"""Tables, Markdown report and chart of bench_models.py results.

Works from the saved models.json alone (bench_models.py --report), so the
report can be rewritten without measuring again. Speedups are ORT ms /
qinfer ms (and qinfer FP32 ms / INT8 ms): above 1, the second is faster.
"""
import json
import math
from pathlib import Path

BATCH = 8
# A variant whose block medians differ by more than this (max/min) is marked.
DISTURBED_SPREAD = 1.20
# Other processes using fewer cores than this leave a row undisturbed.
QUIET_CORES = 0.25
SPEEDUPS = [("ort_fp32", "qinfer_fp32", "ORT FP32 / qinfer FP32"),
            ("ort_fp32_nospin", "qinfer_fp32", "ORT FP32 no spin / qinfer FP32"),
            ("ort_fp32", "qinfer_int8", "ORT FP32 / qinfer INT8"),
            ("ort_int8", "qinfer_int8", "ORT INT8 / qinfer INT8"),
            ("qinfer_fp32", "qinfer_int8", "qinfer FP32 / INT8")]
MAIN = SPEEDUPS[0]
WITH_P90 = ("qinfer_fp32", "ort_fp32")
# qinfer's INT8 GEMM paths (QINFER_ISA names), best first, and the instruction
# each is built on, as bench_qgemm names it in its '# instruction peaks'.
PEAK_INSTRUCTIONS = [("avx512vnni", "vpdpbusd zmm"), ("avxvnni", "vpdpbusd ymm"),
                     ("avx2", "vpmaddwd ymm")]
MIB = 2 ** 20
# Labels for results saved before models.json carried its own.
LABELS = {"qinfer_fp32": "qinfer FP32", "qinfer_fp32_blas_alt":
          "qinfer FP32, other OPENBLAS_CORETYPE", "ort_fp32": "ORT FP32",
          "ort_int8": "ORT INT8", "qinfer_int8": "qinfer INT8",
          "ort_fp32_nospin": "ORT FP32 no spin"}


def ms(x):
    return "%.2f" % x if x < 100 else "%.1f" % x


def fmt_ms(r, p90=True):
    if not r:
        return "-"
    if "skip" in r:
        return "n/a"
    if r.get("same_as"):
        return "(= %s)" % LABELS.get(r["same_as"], r["same_as"])
    s = "%.2f" % r["median"] if r["median"] < 100 else "%.1f" % r["median"]
    if p90:
        s += " / %.2f" % r["p90"] if r["p90"] < 100 else " / %.1f" % r["p90"]
    return s + ("~" if r["spread"] > DISTURBED_SPREAD else "")


def speedup(row, pair):
    """row[pair[0]] median / row[pair[1]] median, or None."""
    a, b = row.get(pair[0]), row.get(pair[1])
    if a and b and "median" in a and "median" in b:
        return a["median"] / b["median"]
    return None


def row_others(row):
    return next((v["others_cores"] for v in row.values() if "others_cores" in v), 0.0)


def row_runs(row):
    n = sorted({v["n_runs"] for v in row.values() if "n_runs" in v})
    return "/".join(map(str, n)) or "-"


def geomean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else None


def pairs_of(keys):
    return [p for p in SPEEDUPS if p[0] in keys and p[1] in keys]


def tables(data):
    """(latency head, rows, throughput head, rows): cells as strings."""
    keys, labels = data["variants"], data.get("labels", LABELS)
    pairs = pairs_of(keys)
    peak = data.get("peak") if "qinfer_int8" in keys else None
    lat_head = ["model", "input", "GMAC", "thr", "runs"] + [
        labels[k] + (" ms med / p90" if k in WITH_P90 else " ms") for k in keys] + [
        p[2] for p in pairs] + ["INT8 % of peak"] * bool(peak) + ["arena MiB", "other CPU"]
    lat_rows, tp_rows = [], []
    for m in data["models"]:
        for t in data["threads"]:
            r = m["latency"].get(str(t), {})
            q = r.get("qinfer_fp32", {})
            sp = [speedup(r, p) for p in pairs]
            lat_rows.append([m["name"], m["input"], "%.2f" % (m["macs"] / 1e9), str(t),
                             row_runs(r)]
                            + [fmt_ms(r.get(k), k in WITH_P90) for k in keys]
                            + ["%.2f" % x if x else "-" for x in sp]
                            + ([pct_of_peak(m["macs"], r.get("qinfer_int8"), t, peak)]
                               if peak else [])
                            + ["%.1f" % (q["arena_bytes"] / 2**20) if "arena_bytes" in q
                               else "-",
                               "%.2f%s" % (row_others(r), " (2nd)" if any(
                                   v.get("remeasured") for v in r.values()) else "")])
        tb = m.get("throughput")
        if not tb:
            continue
        bkeys = [k for k in keys if k in tb]
        cells = ["-" if not tb.get(k) else "n/a" if "skip" in tb[k] else
                 "%.1f" % (1e3 * BATCH / tb[k]["median"]) for k in bkeys]
        sp = speedup(tb, MAIN)
        why = sorted({v["skip"] for v in tb.values() if "skip" in v})
        tp_rows.append([m["name"]] + cells + ["%.2f" % sp if sp else "-", "; ".join(why)])
    bkeys = [k for k in keys if any(k in (m.get("throughput") or {}) for m in data["models"])]
    tp_head = ["model"] + ["%s img/s" % labels[k] for k in bkeys] + [MAIN[2], "note"]
    return lat_head, lat_rows, tp_head, tp_rows


def pct_of_peak(macs, r, threads, peak):
    """Model MACs / median latency as a share of `threads` cores' peak of the
    INT8 instruction (peak: the "peak" record of models.json)."""
    if not r or "median" not in r or "gmacs_1core" not in peak or not macs:
        return "-"
    return "%.0f%%" % (100 * macs / 1e9 / (r["median"] / 1e3) / (threads * peak["gmacs_1core"]))


def load_memory_table(data):
    """(head, rows) per model at the lowest thread count: load + session time
    of each qinfer variant and its ratio to one inference, ORT's session
    creation, the arenas, and the run memory of each engine (when measured).
    None when there is nothing to show."""
    keys, labels = data["variants"], data.get("labels", LABELS)
    t = str(min(data["threads"]))
    qk = [k for k in ("qinfer_fp32", "qinfer_int8") if k in keys]
    mem_keys = [k for k in ("qinfer_fp32", "qinfer_int8", "ort_fp32")
                if any(k in (m.get("memory") or {}) for m in data["models"])]
    has_load = any("load_ms" in m["latency"].get(t, {}).get(k, {})
                   for m in data["models"] for k in qk)
    if not has_load and not mem_keys:
        return None
    src = {"qinfer_fp32": ".onnx", "qinfer_int8": ".qnf"}
    mem_label = {"qinfer_fp32": "qinfer run memory MiB",
                 "qinfer_int8": "qinfer INT8 run memory MiB",
                 "ort_fp32": "ORT run memory MiB"}
    head = ["model"]
    if has_load:
        for k in qk:
            head += ["%s load ms (%s)" % (labels[k], src[k]),
                     "%s load / one inference" % labels[k].split()[-1]]
        head += ["ORT FP32 session ms"] * ("ort_fp32" in keys)
    head += ["%s arena MiB" % labels[k] for k in qk]
    head += [mem_label[k] for k in mem_keys]
    rows = []
    for m in data["models"]:
        r = m["latency"].get(t, {})
        row = [m["name"]]
        if has_load:
            for k in qk:
                v = r.get(k, {})
                row += ["%.1f" % v["load_ms"] if "load_ms" in v else "-",
                        "%.2f" % (v["load_ms"] / v["median"])
                        if "load_ms" in v and v.get("median") else "-"]
            if "ort_fp32" in keys:
                v = r.get("ort_fp32", {})
                row.append("%.0f" % v["load_ms"] if "load_ms" in v else "-")
        row += ["%.1f" % (r[k]["arena_bytes"] / MIB) if "arena_bytes" in r.get(k, {}) else "-"
                for k in qk]
        mem = m.get("memory") or {}
        row += ["%.1f%s" % (mem[k]["growth_bytes"] / MIB, "" if mem[k]["method"] ==
                            "clear_refs" else " (hwm)")
                if "growth_bytes" in mem.get(k, {}) else "n/a" if k in mem else "-"
                for k in mem_keys]
        rows.append(row)
    return head, rows


def load_memory_notes(data):
    t = min(data["threads"])
    lines = ["Load: `qinfer bench` prints `load_ms`: qi_model_load_file (FP32 from "
             "the .onnx, INT8 from the calibrated .qnf) plus qi_session_create, timed "
             "in the process; the figure is the median over the processes of the "
             "%d-thread latency blocks; 'load / one inference': that over the same "
             "variant's median latency at %d thread%s. 'ORT FP32 session ms': creating "
             "the InferenceSession (ORT_ENABLE_ALL) from the .onnx, once." % (
                 t, t, "s" if t > 1 else "")]
    runs = next((v["runs"] for m in data["models"] for v in (m.get("memory") or {}).values()
                 if "runs" in v), None)
    if runs:
        lines.append(
            "Run memory: peak RSS growth from 'model loaded, session created' to "
            "'%d inferences done' (1 thread, batch 1), each engine in a fresh process: "
            "at the load point malloc_trim(0) returns freed heap to the system and "
            "`5 > /proc/PID/clear_refs` resets VmHWM to VmRSS, then growth = VmHWM "
            "after the runs - VmRSS at that point. qinfer: `qinfer bench --threads 1 "
            "--warmup 0 --runs %d` stopped by gdb at its first qi_session_run and at "
            "qi_session_free; ORT: a Python process with one InferenceSession "
            "(intra_op_num_threads 1, its default CPU arena), session.run. It counts "
            "pages first touched by the runs (activations, scratch, the allocator's "
            "growth), not reused ones; '(hwm)': clear_refs or gdb was not available, "
            "VmHWM after the runs - VmHWM after load (an underestimate). The probes "
            "took %.0f s in all." % (runs, runs, data.get("run_memory_s", 0)))
    return lines


def slower_rows(data, pair=MAIN):
    """[(speedup, model, threads)] where pair[1] is slower, slowest first
    (rows where the peer only repeats another variant's figures left out)."""
    rows = [(speedup(r, pair), m["name"], t) for m in data["models"] for t in data["threads"]
            for r in [m["latency"].get(str(t), {})]
            if not r.get(pair[0], {}).get("same_as")]
    return sorted(x for x in rows if x[0] and x[0] < 1)


def summary_lines(data):
    """Geometric-mean speedups per thread count (rows where a variant only
    repeats another's figures left out)."""
    out = []
    for p in pairs_of(data["variants"]):
        for t in data["threads"]:
            xs = [speedup(r, p) for m in data["models"]
                  for r in [m["latency"].get(str(t), {})]
                  if not r.get(p[0], {}).get("same_as")]
            g = geomean(xs)
            if g:
                out.append("- %s, %d thread%s: geometric mean %.2f over %d models "
                           "(min %.2f, max %.2f)" % (p[2], t, "s" if t > 1 else "", g,
                                                      sum(1 for x in xs if x),
                                                      min(x for x in xs if x),
                                                      max(x for x in xs if x)))
    return out


def header_lines(data):
    mi = data["machine"]
    lines = ["- command: `%s`" % data["command"],
             "- date: %s; wall time %.0f s" % (data["date"], data["wall_s"]),
             "- CPU: %s" % mi["cpu"],
             "- Linux %s; onnxruntime %s" % (mi["kernel"], mi["onnxruntime"]),
             "- qinfer git %s (%s); binary sha256 %s" % (
                 mi["qinfer_git"], mi.get("qinfer_rev", "?"), mi["qinfer_sha256"][:12]),
             "- OPENBLAS_CORETYPE in the environment: %s (OpenBLAS core %s)"
             % (mi["openblas_coretype"], mi["openblas_core"]),
             "- load average (1/5/15 min): start %s, end %s" % (
                 data["load_start"], data.get("load_end", "(run cut short)"))]
    lines.append("- ORT: CPU provider, ORT_ENABLE_ALL, intra_op_num_threads = thr, "
                 "inter_op_num_threads = 1, sequential execution, inputs and outputs "
                 "bound once (IOBinding), one session kept across blocks; its intra-op "
                 "workers spin-wait (ORT's default)%s" % (
                     "; 'no spin': session.intra_op.allow_spinning = 0"
                     if "ort_fp32_nospin" in data["variants"] else ""))
    lines.append("- qinfer: `qinfer bench MODEL --threads thr`, one process per block "
                 "(model load and warm-up untimed); its thread pool does not spin")
    if "qinfer_fp32_blas_alt" in data["variants"]:
        lines.append("- also measured: qinfer FP32 with OPENBLAS_CORETYPE=%s (core %s)"
                     % (mi["alt_coretype"], mi["alt_core"]))
    if "qinfer_int8" in data["variants"]:
        lines.append("- qinfer INT8: the model calibrated by tools/calibrate on %d inputs "
                     "(per model below), timed from its .qnf" % data.get("calib_count", 16))
    if "ort_int8" in data["variants"]:
        lines.append("- ORT INT8: `quantize_static`, QDQ, per-channel, activations QUInt8, "
                     "weights QInt8, MinMax over the same calibration inputs")
    return lines


def write_report(data, out):
    lat_head, lat_rows, tp_head, tp_rows = tables(data)
    thr = max(data["threads"])
    lines = ["# Whole-model benchmark: qinfer vs ONNX Runtime", ""] + header_lines(data) + [
        "", "## Latency, batch 1 (ms; median / p90; `~`: blocks spread > %.2fx)"
        % DISTURBED_SPREAD, "",
        "Speedup columns: ratio of median latencies, ORT / qinfer (above 1: qinfer "
        "faster). 'runs': timed runs per variant (blocks x runs per block). "
        "'other CPU': cores used by other processes on the machine (and steal) while "
        "the row was measured, from /proc/stat less this benchmark's own CPU time; "
        "'(2nd)': the row was measured again, less disturbed, at the end of the run.", ""]
    lines += md_table(lat_head, lat_rows)
    peak = data.get("peak") if "qinfer_int8" in data["variants"] else None
    if peak:
        lines += ["", "INT8 %% of peak: model GMAC / qinfer INT8 median latency, as a share "
                  "of thr x the one-core peak of %s" % (
                      peak["skip"] if "skip" in peak else
                      "`%s`, the instruction of qinfer's %s INT8 GEMM path: %.1f GMAC/s per "
                      "core (%s).%s GMAC counts every Conv/Gemm/MatMul of the FP32 graph, "
                      "also those qinfer keeps in FP32." % (
                          peak["instruction"], peak["isa"], peak["gmacs_1core"],
                          "; ".join([peak["source"]] + [
                              "not the lower %.1f GMAC/s %s" % (c["gmacs_1core"], c["source"])
                              for c in peak.get("candidates", [])
                              if c["source"] != peak["source"] and c["gmacs_1core"]]),
                          " On that path each vpmaddwd (16 MACs) needs a "
                          "vpaddd beside it, so 100% is out of reach."
                          if peak["isa"] == "avx2" else ""))]
    lm = load_memory_table(data)
    if lm:
        lines += ["", "## Load time and run memory, batch 1, %d thread%s" % (
            min(data["threads"]), "s" if min(data["threads"]) > 1 else ""), ""]
        lines += load_memory_notes(data) + [""] + md_table(*lm)
    summ = summary_lines(data)
    if summ:
        lines += ["", "## Summary", ""] + summ
    if tp_rows:
        lines += ["", "## Throughput, batch %d, %d threads (images/s)" % (BATCH, thr), ""]
        lines += md_table(tp_head, tp_rows)
    busy = ["%s t=%s (%.2f)" % (m["name"], t, row_others(r)) for m in data["models"]
            for t, r in m["latency"].items() if row_others(r) >= QUIET_CORES]
    if busy:
        lines += ["", "Rows measured while other processes used >= %.2f cores: %s"
                  % (QUIET_CORES, ", ".join(busy))]
    for pair in [p for p in pairs_of(data["variants"]) if p[1] == "qinfer_fp32"]:
        slow = slower_rows(data, pair)
        if slow:
            lines += ["", "## Where qinfer FP32 is slower (%s below 1)" % pair[2], ""]
            lines += ["- %s, %d thread(s): %.2f" % (n, t, sp) for sp, n, t in slow]
    for p in data.get("profiles", []):
        sp = p["speedup"] if "speedup" in p else 1 / p["ratio"]   # old files: qinfer/ORT
        lines += ["", "### qinfer per-node profile: %s, %d thread(s), ORT / qinfer %.2f" % (
                      p["model"], p["threads"], sp),
                  "", "```"] + p["lines"] + ["```"]
    notes = ["- %s: %s" % (m["name"], n) for m in data["models"]
             for n in (m.get("note"), m.get("mac_note")) if n]
    notes += ["- %s: qinfer INT8 %s" % (m["name"], int8_note(m["int8"]))
              for m in data["models"] if m.get("int8")]
    notes += ["- %s: ORT INT8 output rel L2 vs ORT FP32 on the same held-out input %.3f"
              % (m["name"], m["ort_int8"]["rel_l2_vs_ort_fp32"]) for m in data["models"]
              if "rel_l2_vs_ort_fp32" in (m.get("ort_int8") or {})]
    labels = data.get("labels", LABELS)
    skips = sorted({"%s: %s %s" % (m["name"], labels[k], v["skip"])
                    for m in data["models"] for r in m["latency"].values()
                    for k, v in r.items() if "skip" in v})
    notes += ["- not measured: " + s for s in skips]
    if notes:
        lines += ["", "## Notes", ""] + notes
    if data.get("missing"):
        lines += ["", "Not measured (model file missing): " + ", ".join(data["missing"])]
    lines += extra_sections(out)
    (out / "models.md").write_text("\n".join(lines) + "\n")
    print("\n".join(header_lines(data)))
    print("\n".join(text_table(lat_head, lat_rows)))
    if lm:
        print()
        print("\n".join(text_table(*lm)))
    if summ:
        print("\n".join(summ))
    if tp_rows:
        print()
        print("\n".join(text_table(tp_head, tp_rows)))
    for s in skips:
        print("not measured: " + s)
    write_chart(data, out / "models.png")


def int8_note(info):
    parts = []
    if "calibration" in info:
        parts.append("calibrated on %s" % info["calibration"])
    if "calibrate_s" in info:
        parts.append("in %.0f s" % info["calibrate_s"])
    if "rel_l2_vs_ort_fp32" in info:
        parts.append("output rel L2 vs ORT FP32 on a held-out input %.3f"
                     % info["rel_l2_vs_ort_fp32"])
    if "command" in info:
        parts.append("command `%s`" % info["command"])
    return "; ".join(parts)


def md_table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return out + ["| " + " | ".join(r) + " |" for r in rows]


def text_table(head, rows):
    w = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    return ["  ".join(str(x).ljust(n) for x, n in zip(r, w)) for r in [head] + rows]


def write_chart(data, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench: matplotlib is not installed (Debian: python3-matplotlib); no chart",
              flush=True)
        return
    names = [m["name"] for m in data["models"]]
    fig, ax = plt.subplots(figsize=(max(8, 0.6 * len(names)), 4.5))
    width = 0.8 / len(data["threads"])
    for i, t in enumerate(data["threads"]):
        vals = [speedup(m["latency"].get(str(t), {}), MAIN) or 0 for m in data["models"]]
        ax.bar([x + i * width for x in range(len(names))], vals, width,
               label="%d thread%s" % (t, "s" if t > 1 else ""))
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks([x + width * (len(data["threads"]) - 1) / 2 for x in range(len(names))])
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_ylabel("speedup: ORT ms / qinfer ms (FP32, batch 1)")
    ax.set_title("qinfer vs ONNX Runtime %s, %s (above 1: qinfer faster)"
                 % (data["machine"]["onnxruntime"], data["date"][:10]))
    ax.legend()
    fig.tight_layout()
    fig.savefig(Path(path), dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------
# Sections of bench_calib.py (calib.json) and bench_mixed.py (mixed.json),
# appended to models.md by write_report when those files sit beside it.


def slope(points):
    """Least-squares slope of [(x, y)], or None with fewer than 2 points."""
    if len({x for x, _ in points}) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    return (sum((x - mx) * (y - my) for x, y in points)
            / sum((x - mx) ** 2 for x, _ in points))


def calib_lines(data):
    """Markdown of a calib.json: tools/calibrate's time and peak memory
    against the image count, and ONNX Runtime's calibrator beside it."""
    ours, ort = data["ours"], data.get("ort", [])
    fp32 = data.get("fp32_ms_median")
    main = max(ours, key=lambda r: r["count"]) if ours else None
    lines = ["## Calibration cost: %s on %s images" % (
                 Path(data["model"]).stem, main["count"] if main else "?"), "",
             "- command: `%s`" % data["command"],
             "- date: %s; wall time %.0f s; load average start %s, end %s" % (
                 data["date"], data.get("wall_s", 0), data["load_start"],
                 data.get("load_end", "(run cut short)")),
             "- CPU: %s; qinfer git %s; calibrate sha256 %s; onnxruntime %s" % (
                 data["cpu"], data["qinfer_git"], data["calibrate_sha256"][:12],
                 data["onnxruntime"]),
             "- model: `%s` (%.1f MiB); images: `%s`; %d thread(s) everywhere" % (
                 data["model"], data["model_bytes"] / MIB, data["images"], data["threads"])]
    if main and main.get("preprocessing"):
        lines.append("- calibrate's preprocessing: %s; range method: its default "
                     "(percentile, 2048-bin histograms)" % main["preprocessing"])
    if fp32:
        lines.append("- FP32 latency of the same model (`qinfer bench --threads %d`): "
                     "median %.1f ms (medians of %d blocks of %d runs, one block before "
                     "each calibration and one after the last: %s)" % (
                         data["threads"], fp32, len(data["fp32_ms"]),
                         data["fp32_runs_per_block"],
                         ", ".join("%.0f" % x for x in data["fp32_ms"])))
    lines += ["", "### tools/calibrate", "",
              "'calibration s': calibrate's own figure for reading, preprocessing and "
              "running the images through the observers (the rest of the wall time is "
              "loading the model, building and writing the .qnf). 'x FP32': ms per "
              "image in calibration / the FP32 latency. Peak RSS: calibrate's own "
              "getrusage figure; 'time -v': /usr/bin/time -v of the same process.", "",
              "| images | wall s | calibration s | ms / image | x FP32 | peak RSS MiB | "
              "time -v MiB | observers (bytes) | other CPU |", "|" + "---|" * 9]
    for r in ours:
        per = 1e3 * r.get("calib_s", r["wall_s"]) / r["count"]
        lines.append("| %d | %.1f | %.1f | %.0f | %s | %.1f | %s | %s | %.2f |" % (
            r["count"], r["wall_s"], r.get("calib_s", float("nan")), per,
            "%.2f" % (per / fp32) if fp32 else "-", r.get("peak_rss_mib", float("nan")),
            "%.1f" % (r["time_v_maxrss"] / MIB) if r.get("time_v_maxrss") else "-",
            "{:,}".format(r["observer_bytes"]) if "observer_bytes" in r else "-",
            r["others_cores"]))
    s_ours = slope([(r["count"], r.get("peak_rss_mib", 0)) for r in ours])
    methods = data.get("ort_methods", ["minmax"])
    if ort:
        names = {"minmax": "MinMax", "percentile": "Percentile %g" % data.get(
            "ort_percentile", 99.99)}
        lines += ["", "### ONNX Runtime's calibrator at the same counts", "",
                  "`quantize_static` (QDQ, per-channel, QUInt8 activations, QInt8 weights) "
                  "on the same photographs preprocessed in Python (PIL bilinear resize; "
                  "calibrate's own resize differs in rounding only), in a child process "
                  "with %d intra-op thread(s); peak RSS from wait4(), time including the "
                  "model rewrite and quantization. MinMax adds ReduceMin/ReduceMax nodes "
                  "to the graph and keeps only their per-channel results per image; "
                  "Percentile (the histogram method, like calibrate's default) keeps "
                  "every activation of every image until all have run. Bounded at "
                  "%.0f GiB and %.0f s per run; a count is skipped when the earlier "
                  "counts predict a bound would be passed." % (
                      data["threads"], data["ort_limits"]["max_gib"],
                      data["ort_limits"]["max_s"]), ""]
        head = (["images", "qinfer peak RSS MiB"]
                + ["ORT %s peak RSS MiB" % names[m] for m in methods] + ["qinfer wall s"]
                + ["ORT %s wall s" % names[m] for m in methods] + ["note"])
        by = {r["count"]: r for r in ours}
        rows = []
        for c in sorted({o["count"] for o in ort}):
            q = by.get(c, {})
            got = {o["method"] if "method" in o else "minmax": o
                   for o in ort if o["count"] == c}
            ok = {m: o for m, o in got.items() if "skip" not in o}
            rows.append(["%d" % c, "%.1f" % q["peak_rss_mib"] if "peak_rss_mib" in q else "-"]
                        + ["%.0f" % (ok[m]["maxrss"] / MIB) if m in ok else "-"
                           for m in methods]
                        + ["%.1f" % q["wall_s"] if q else "-"]
                        + ["%.1f" % ok[m]["wall_s"] if m in ok else "-" for m in methods]
                        + ["; ".join("%s: %s" % (names[m], o["skip"])
                                     for m, o in got.items() if "skip" in o)])
        lines += md_table(head, rows) + [""]
        growth = ["ONNX Runtime %s %.1f MiB/image" % (names[m], g) for m in methods
                  for g in [slope([(o["count"], o["maxrss"] / MIB) for o in ort
                                   if o.get("method", "minmax") == m and "skip" not in o])]
                  if g is not None]
        if growth:
            lines.append("Peak RSS growth per calibration image (least-squares slope over "
                         "the counts): qinfer %s MiB/image; %s." % (
                             "%.3f" % s_ours if s_ours is not None else "-",
                             ", ".join(growth)))
    elif s_ours is not None:
        lines += ["", "Peak RSS growth per calibration image (least squares): qinfer "
                  "%.3f MiB/image." % s_ours]
    return lines


def mixed_lines(data):
    """Markdown of a mixed.json: FP32, all-INT8, the default policy and
    --auto, per model, as ms and FP32 ms / variant ms."""
    keys, labels = data["variants"], data["labels"]
    lines = ["## Mixed precision latency (1 thread, batch 1)", "",
             "- command: `%s`" % data["command"],
             "- date: %s; wall time %.0f s; load average start %s, end %s" % (
                 data["date"], data.get("wall_s", 0), data["load_start"],
                 data.get("load_end", "(run cut short)")),
             "- CPU: %s; qinfer git %s; calibrate sha256 %s" % (
                 data["cpu"], data["qinfer_git"], data["calibrate_sha256"][:12]),
             "- timing: `qinfer bench MODEL --threads %d`, one process per block; %d "
             "rounds, each running one block of every variant in a rotated order; "
             "figure = median of the block medians (`~`: block medians spread > %.2fx)"
             % (data["threads"], data["rounds"], DISTURBED_SPREAD),
             "- variants: " + "; ".join("%s = %s" % (labels[k], data["descriptions"][k])
                                        for k in keys), "",
             "'med / best': median and fastest of the block medians. "
             "'x': FP32 ms / variant ms, medians (above 1: faster than FP32). Nodes: "
             "int8/fp32 nodes of the built graph (`qinfer inspect`; FP32 column: "
             "qinfer's graph of the .onnx after its fusions).", ""]
    head = ["model", "runs/block"] + ["%s ms med / best" % labels[k] for k in keys] + [
        "%s x" % labels[k] for k in keys[1:]] + ["nodes %s" % labels[k] for k in keys] + [
        "other CPU"]
    rows = []
    for m in data["models"]:
        r = m["results"]
        base = r.get(keys[0], {}).get("median")
        cells = [m["name"], str(m.get("runs_per_block", "-"))]
        cells += ["%s / %s" % (fmt_ms(r[k], False), ms(r[k]["min_block"]))
                  if "median" in r.get(k, {}) else fmt_ms(r[k], False) if r.get(k) else "-"
                  for k in keys]
        cells += ["%.2f" % (base / r[k]["median"]) if base and "median" in r.get(k, {})
                  else "-" for k in keys[1:]]
        cells += ["%d/%d%s" % (n["int8"], n["fp32"], " (+%d fp16)" % n["fp16"]
                                if n.get("fp16") else "") if n else "-"
                  for n in (m["nodes"].get(k) for k in keys)]
        cells.append("%.2f" % m.get("others_cores", 0))
        rows.append(cells)
    lines += md_table(head, rows)
    notes = ["- %s %s: %s" % (m["name"], labels.get(k, k), n)
             for m in data["models"] for k, n in sorted(m.get("notes", {}).items())]
    if notes:
        lines += ["", "Notes:", ""] + notes
    return lines


def extra_sections(out):
    """The sections of calib.json and mixed.json in `out`, when present."""
    lines = []
    for name, fn in (("calib.json", calib_lines), ("mixed.json", mixed_lines)):
        p = Path(out) / name
        if p.is_file():
            try:
                lines += [""] + fn(json.loads(p.read_text()))
            except (KeyError, ValueError, TypeError) as e:
                lines += ["", "(%s could not be read: %s)" % (name, e)]
    return lines
