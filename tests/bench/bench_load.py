"""How busy the rest of the machine is while a benchmark runs: the build
machines are shared, and a figure taken while other processes held a core
says little. From /proc/stat (whole machine) less this process's own CPU
time and that of its waited-for children. Also the final write of a
benchmark step's results (write_results)."""
import json
import os
import time


def cpu_snapshot():
    """(wall s, busy CPU s of the whole machine, CPU s of this process and its
    waited-for children, steal s) -- the difference between two of these
    says how much CPU the rest of the machine took meanwhile."""
    hz = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    t = os.times()
    return (time.monotonic(), (sum(v) - v[3] - v[4]) / hz,
            t.user + t.system + t.children_user + t.children_system, v[7] / hz)


def others_cores(before, after):
    """Average number of cores that other processes (and the hypervisor's
    steal) used between two snapshots."""
    wall = after[0] - before[0]
    return max(0.0, ((after[1] - before[1]) - (after[2] - before[2])) / wall) if wall > 0 else 0.0


def cpu_description():
    """'MODEL NAME (family F model M), N cores; avx2 fma ... no avx512f ...'
    from /proc/cpuinfo: the instruction sets qinfer's kernels care about."""
    cpu = {}
    with open("/proc/cpuinfo") as f:
        for ln in f:
            k, _, v = ln.partition(":")
            cpu.setdefault(k.strip(), v.strip())
    flags = set(cpu.get("flags", "").split())
    isa = " ".join("%s%s" % ("" if f in flags else "no ", f)
                   for f in ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni"))
    return "%s (family %s model %s), %d cores; %s" % (
        cpu.get("model name", "?"), cpu.get("cpu family", "?"), cpu.get("model", "?"),
        os.cpu_count(), isa)


def git(root, *args):
    import subprocess
    r = subprocess.run(["git", "-C", str(root)] + list(args), capture_output=True, text=True)
    return r.stdout.strip() or "?"


def write_results(out, stem, data, lines, t_start, tool):
    """Final write of a benchmark step: end load average and wall time into
    data, OUT/STEM.json and OUT/STEM.md (the table lines), printed too."""
    data["load_end"] = " ".join("%.2f" % x for x in os.getloadavg())
    data["wall_s"] = time.perf_counter() - t_start
    (out / (stem + ".json")).write_text(json.dumps(data, indent=1))
    (out / (stem + ".md")).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print("%s: wrote %s/%s.{md,json} in %.0f s" % (tool, out, stem, data["wall_s"]),
          flush=True)
