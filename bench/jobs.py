"""``hvfuzz fuzz --jobs 1`` against ``--jobs 2`` (or any list), side by side in one run: the
examples per second of the per-variant summary line (its examples over the variant's wall-clock
seconds, which start once the workers are up), alternating the job counts so that a change in
the machine's load hits both.  Also the CPU seconds the run used (this process's waited-for
descendants) over its wall time: how many cores the run actually got, and the load average
before and after, since the ratio means something only on an otherwise idle machine.  Examples per
CPU second (CPU of the whole run: the workers' start-up included) is the figure a loaded machine
does not change much: equal for both job counts means the workers cost nothing but their start.

    python bench/jobs.py [--variant lazy] [--seconds 20] [--reps 2] [--jobs 1 2] [--corpus]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUMMARY = re.compile(r"^  (?P<v>[\w-]+): (?P<ex>\d+) examples(?: \+ (?P<mut>\d+) corpus mutants)?, (?P<ops>\d+) "
                     r"ops in (?P<s>[\d.]+) s \((?P<rate>\d+) ops/s\)(?:, engine \w+)?$", re.M)


def _spin(seconds: float) -> int:
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        n += 1
    return n


def control(procs: int, seconds: float) -> float:
    """Spin-loop iterations per second in ``procs`` processes together."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        return sum(pool.map(_spin, [seconds] * procs)) / seconds


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def one_run(variant: str, seconds: float, seed: int, jobs: int, corpus: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="hvfuzz-jobs-") as findings:
        cmd = [sys.executable, "-m", "hvfuzz.fuzz", "fuzz", "--variant", variant, "--seconds", str(seconds),
               "--seed", str(seed), "--jobs", str(jobs), "--findings", findings]
        if not corpus:
            cmd += ["--corpus", ""]
        cpu0, t0 = _cpu_children(), time.monotonic()
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        wall, cpu = time.monotonic() - t0, _cpu_children() - cpu0
    m = SUMMARY.search(p.stdout)
    if p.returncode not in (0, 1) or m is None:
        raise SystemExit(f"hvfuzz fuzz --jobs {jobs} failed (exit {p.returncode}):\n"
                         f"{p.stdout[-2000:]}{p.stderr[-2000:]}")
    s = float(m["s"])
    return {"examples": int(m["ex"]), "mutants": int(m["mut"] or 0), "ops": int(m["ops"]), "seconds": s,
            "examples_s": int(m["ex"]) / s, "ops_s": int(m["ops"]) / s, "wall": wall, "cores": cpu / wall,
            "examples_cpu": int(m["ex"]) / max(cpu, 1e-9),
            "exit": p.returncode}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="lazy", help="a correct variant, so no finding ends a run early")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corpus", action="store_true", help="replay and mutate corpus/ too (default: generation only)")
    ap.add_argument("--control-seconds", type=float, default=5.0, help="the spin-loop control (0: none)")
    a = ap.parse_args()
    load0 = os.getloadavg()
    ctl: dict[int, list[float]] = {j: [] for j in a.jobs}

    def run_control() -> None:
        if a.control_seconds > 0:
            for j in a.jobs:
                ctl[j].append(control(j, a.control_seconds))
            print("control (spin loop): " + ", ".join(f"{j} process(es) {ctl[j][-1] / 1e6:.2f} M/s" for j in a.jobs),
                  flush=True)

    run_control()
    runs: dict[int, list[dict[str, float]]] = {j: [] for j in a.jobs}
    for rep in range(a.reps):
        order = a.jobs if rep % 2 == 0 else list(reversed(a.jobs))
        for j in order:
            r = one_run(a.variant, a.seconds, a.seed + rep, j, a.corpus)
            runs[j].append(r)
            print(f"rep {rep} --jobs {j}: {r['examples']} examples in {r['seconds']:.1f} s = {r['examples_s']:.1f}/s, "
                  f"{r['ops_s']:.0f} ops/s, {r['cores']:.2f} cores used, {r['examples_cpu']:.1f} examples/CPU-s, "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
    run_control()
    load1 = os.getloadavg()
    base = statistics.median(r["examples_s"] for r in runs[a.jobs[0]])
    print(f"\nhvfuzz fuzz --variant {a.variant} --seconds {a.seconds:g}, {a.reps} rep(s) each, "
          f"{os.cpu_count()} CPUs; load average (1/5/15 min) before {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f}, "
          f"after {load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f}\n")
    print("| --jobs | examples/s (median) | runs | ops/s (median) | cores used (median) | examples per CPU-s "
          f"(median) | ratio to --jobs {a.jobs[0]} |")
    print("|---|---|---|---|---|---|---|")
    for j in a.jobs:
        ex = statistics.median(r["examples_s"] for r in runs[j])
        each = ", ".join(f"{r['examples_s']:.1f}" for r in runs[j])
        print(f"| {j} | {ex:.1f} | {each} | "
              f"{statistics.median(r['ops_s'] for r in runs[j]):.0f} | "
              f"{statistics.median(r['cores'] for r in runs[j]):.2f} | "
              f"{statistics.median(r['examples_cpu'] for r in runs[j]):.1f} | {ex / base:.2f}x |")
    if a.control_seconds > 0:
        c0 = statistics.median(ctl[a.jobs[0]])
        for j in a.jobs[1:]:
            c = statistics.median(ctl[j]) / c0
            ex = statistics.median(r["examples_s"] for r in runs[j]) / base
            print(f"\ncontrol: {j} spinning processes do {c:.2f}x the work of {a.jobs[0]} here; --jobs {j} "
                  f"reaches {ex:.2f}x: {ex / c:.0%} of what this machine allowed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
