#!/usr/bin/env python3
"""The catalog acceptance as a new user runs it (a measurement, never a pass/fail test).

For every bug variant (or ``--variants``): ``hvfuzz fuzz --variant NAME --seconds 60 --seed 1``
in a fresh findings directory, then ``hvfuzz replay`` of the repro it wrote.  Records the exit
status, the repro's length and oracle, whether replay names the same oracle, and the wall time.

    python bench/cli_detect.py                          # every bug variant, shipped corpus on
    python bench/cli_detect.py --from-scratch           # --corpus '': generation only
    python bench/cli_detect.py --variants vgic-v2-eoicount-lost,lazy-no-fp --jobs 1

Writes bench/results/cli_detect[-scratch].md and .json (rows already in the JSON are kept, so an
interrupted run resumes).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


CLI = [sys.executable, "-c", "import sys; from hvfuzz.fuzz.cli import main; sys.exit(main())"]


def hvfuzz(*args: str, cwd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True)


def bug_variants() -> list[str]:
    out = subprocess.run([*CLI, "variants", "--json"], capture_output=True, text=True, check=True).stdout
    return [v["name"] for v in json.loads(out) if v["kind"] == "bug"]


def one(name: str, seconds: int, seed: int, jobs: int, scratch: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as d:
        args = ["fuzz", "--variant", name, "--seconds", str(seconds), "--seed", str(seed),
                "--jobs", str(jobs), "--findings", os.path.join(d, "fz")]
        if scratch:
            args += ["--corpus", ""]
        t0 = time.monotonic()
        r = hvfuzz(*args, cwd=d)
        wall = time.monotonic() - t0
        row: dict[str, object] = {"variant": name, "rc": r.returncode, "wall_s": round(wall, 1),
                                  "how": "", "ops": None, "oracle": None, "replay_same": None}
        m = re.search(r"found by ([a-z ]+)", r.stdout)
        row["how"] = m.group(1).strip() if m else ""
        repros = sorted(glob.glob(os.path.join(d, "fz", "*.json")), key=os.path.getmtime)
        if r.returncode == 1 and repros:
            doc = json.load(open(repros[-1]))
            row["ops"] = len(doc["ops"])
            row["oracle"] = doc["verdict"].get("oracle")
            rp = hvfuzz("replay", "--quiet", repros[-1], cwd=d)
            said = re.search(r"oracle (\S+) violated", rp.stdout)
            row["replay_same"] = rp.returncode == 1 and bool(said) and said.group(1) == row["oracle"]
        elif r.returncode not in (0, 1):
            row["how"] = (r.stderr.strip().splitlines() or ["?"])[-1][:120]
        return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", default="", help="comma-separated subset (default: every bug variant)")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1, help="hvfuzz fuzz --jobs (default 1)")
    ap.add_argument("--from-scratch", action="store_true", help="--corpus '' (generation only)")
    a = ap.parse_args()
    names = [n for n in a.variants.split(",") if n] or bug_variants()
    base = os.path.join(RESULTS, "cli_detect" + ("-scratch" if a.from_scratch else ""))
    os.makedirs(RESULTS, exist_ok=True)
    rows: dict[str, dict[str, object]] = {}
    if os.path.exists(base + ".json"):
        rows = {r["variant"]: r for r in json.load(open(base + ".json"))["rows"]}
    for n in names:
        if n in rows:
            continue
        rows[n] = one(n, a.seconds, a.seed, a.jobs, a.from_scratch)
        print(json.dumps(rows[n]), flush=True)
        tmp = base + ".json.tmp"
        with open(tmp, "w") as f:
            json.dump({"seconds": a.seconds, "seed": a.seed, "jobs": a.jobs, "scratch": a.from_scratch,
                       "rows": list(rows.values())}, f, indent=1)
        os.replace(tmp, base + ".json")
    ok = [r for r in rows.values() if r["rc"] == 1 and r["replay_same"] and (r["ops"] or 99) <= 20]
    lines = [f"# `hvfuzz fuzz --variant NAME --seconds {a.seconds} --seed {a.seed} --jobs {a.jobs}`"
             + (" --corpus ''" if a.from_scratch else ""), "",
             f"{len(ok)} of {len(rows)} exit 1 with a repro of at most 20 ops that replay names the same "
             "oracle.", "", "| variant | exit | found by | ops | oracle | replay same | wall s |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| `{r['variant']}` | {r['rc']} | {r['how']} | {r['ops']} | {r['oracle']} | {r['replay_same']} "
              f"| {r['wall_s']} |" for r in rows.values()]
    with open(base + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines[:3]))


if __name__ == "__main__":
    main()
