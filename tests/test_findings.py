"""The findings store (one file per signature, counted, shorter trace kept, known/new against the
regression corpus), `hvfuzz findings`, and `hvfuzz export --format pytest`."""

import glob
import json
import os
import subprocess
import sys

from hvfuzz.fuzz.export import load_repro
from hvfuzz.fuzz.findings import bug_signature, list_findings, record
from hvfuzz.fuzz.runner import run
from hvfuzz.fuzz.trace import Config, Trace
from hvfuzz.model.vocab import ops as O

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGRESSIONS = os.path.join(ROOT, "corpus", "regressions")


def _hvfuzz(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "hvfuzz.fuzz", *args], capture_output=True, text=True, cwd=cwd,
                          check=False)


def _bad(extra=()):
    t = Trace(Config(variant="psci-run-stopped-enters", vcpus=1, pcpus=1),
              tuple(extra) + (O.UserSetMpState(0, "STOPPED"), O.KvmRun(0, 0), O.GuestEnter(0)))
    v = run(t)
    assert not v.ok
    return t, v


def test_same_bug_twice_is_one_finding_with_a_count_and_the_shorter_trace(tmp_path):
    long, lv = _bad(extra=(O.UserGetMpState(0), O.UserGetMpState(0)))
    short, sv = _bad()
    a = record(str(tmp_path), long, lv, {"found_by": "first"})
    b = record(str(tmp_path), short, sv, {"found_by": "second"})
    c = record(str(tmp_path), long, lv, {"found_by": "third"})
    assert a.path == b.path == c.path and len(os.listdir(tmp_path)) == 1
    assert (a.count, b.count, c.count) == (1, 2, 3)
    kept, recorded = load_repro(c.path)
    assert kept == short and recorded["step"] == sv.step  # the verdict of the kept trace
    meta = json.load(open(c.path))["meta"]
    assert meta["count"] == 3 and meta["found_by"] == "second"
    assert meta["signature"] == bug_signature("psci-run-stopped-enters", "psci-P1-no-progress-while-off")
    rows = list_findings(str(tmp_path))
    assert [(r["count"], r["length"], r["oracle"]) for r in rows] == [(3, 3, "psci-P1-no-progress-while-off")]


def test_known_or_new_against_the_regression_corpus(tmp_path):
    t, _ = load_repro(os.path.join(REGRESSIONS, "vgic-pre-series-livelock.json"))
    rec = record(str(tmp_path), t, run(t), regressions=[REGRESSIONS])
    assert rec.known and rec.known.endswith("vgic-pre-series-livelock.json")
    bad, v = _bad()
    assert record(str(tmp_path), bad, v, regressions=[REGRESSIONS]).known is None


def test_fuzz_says_known_and_findings_lists(tmp_path):
    import shutil

    corpus = tmp_path / "corpus" / "regressions"  # one kept finding: what the session replays first
    corpus.mkdir(parents=True)
    shutil.copy(os.path.join(REGRESSIONS, "vgic-pre-series-livelock.json"), corpus)
    findings = tmp_path / "findings"
    r = _hvfuzz("fuzz", "--variant", "vgic-pre-series", "--max-examples", "50", "--seed", "1", "--findings",
                str(findings), "--corpus", "", "--corpus", str(tmp_path / "corpus"), cwd=ROOT)  # only this corpus
    assert r.returncode == 1 and "known: same variant and oracle as " in r.stdout, r.stdout
    assert "regressions/vgic-pre-series-livelock.json" in r.stdout, r.stdout
    listed = _hvfuzz("findings", str(findings), "--json")
    rows = json.loads(listed.stdout)
    assert listed.returncode == 0 and len(rows) == 1 and rows[0]["variant"] == "vgic-pre-series"
    assert _hvfuzz("findings", str(tmp_path / "nope")).returncode == 2


def test_exported_pytest_file_asserts_the_recorded_failure_then_the_fix(tmp_path):
    for name in ("vgic-pre-series-livelock.json", "lazy-v3-vserror-never-delivered.json"):
        r = _hvfuzz("export", os.path.join(REGRESSIONS, name), "--format", "pytest")
        assert r.returncode == 0
        test_file = tmp_path / f"test_{name[:-5].replace('-', '_')}.py"
        test_file.write_text(r.stdout)
    bad, v = _bad()
    rec = record(str(tmp_path / "f"), bad, v)
    (tmp_path / "test_psci.py").write_text(_hvfuzz("export", rec.path).stdout)
    ok = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "3 passed" in ok.stdout, ok.stdout
    # "fixed": the one edit the file explains flips it to asserting a pass, which fails while the bug is there
    p = tmp_path / "test_psci.py"
    p.write_text(p.read_text().replace("EXPECT_FIXED = False", "EXPECT_FIXED = True"))
    flipped = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(p)],
                             capture_output=True, text=True, check=False)
    assert flipped.returncode == 1
    assert glob.glob(str(tmp_path / "f" / "*.json"))


def test_c_skeleton_for_each_design():
    """`hvfuzz export --format c`: a KVM selftest-style skeleton naming the selftest helpers, and the
    comments for what userspace cannot force."""
    cases = {"vgic-pre-series-livelock.json": ("gic_get_and_ack_irq()", "GUEST_SYNC("),
             "lazy-vse-not-reflected-rearm.json": ("vcpu_events_set(", "IRQ exit"),
             "lazy-v3-vserror-never-delivered.json": ("vcpu_events_set(", "vcpu_run("),
             }
    for name, wants in cases.items():
        r = _hvfuzz("export", os.path.join(REGRESSIONS, name), "--format", "c")
        assert r.returncode == 0
        assert "vm_create_with_vcpus(" in r.stdout and "int main(void)" in r.stdout
        for w in wants:
            assert w in r.stdout, (name, w)
        assert r.stdout.count("{") == r.stdout.count("}")
    psci = _hvfuzz("export", os.path.join(ROOT, "corpus", "seeds", "psci-cpu-off-then-on.json"), "--format", "c")
    assert "smccc_hvc(PSCI_0_2_FN64_CPU_ON, 0x1, 0x90000" in psci.stdout
    assert "blocks in kvm_vcpu_sleep" in psci.stdout and "entry from the reset state" in psci.stdout


def _every_op_trace() -> Trace:
    """One vcpu doing every op (every register, exit kind and PSCI function), then a second
    vcpu: what the C exporter has to write down."""
    ops: list[O.Op] = [O.UserVcpuInit(1, True), O.KvmRun(0, 0), O.GuestEnter(0)]
    ops += [O.GuestWriteReg(0, r, 1) for r in O.GUEST_REGS]
    for kind in O.EXIT_KINDS:
        ops += [O.GuestExit(0, kind, serror_pending=True), O.HandleExit(0), O.GuestEnter(0)]
    for fn in O.PSCI_FNS:
        ops += [O.GuestPsci(0, fn, 1, 0x80000, 1), O.HandleExit(0), O.GuestEnter(0)]
    ops += [O.GuestAccess(0, 1), O.HandleExit(0), O.GuestEnter(0)]
    ops += [O.GuestAck(0, 1), O.GuestEoi(0, 1, 32), O.GuestDir(0, 32), O.GuestSetPmr(0, 0xF0),
            O.GuestSetBpr(0, 1, 3), O.GuestSetGrpEn(0, 1, True), O.GuestSetEoiMode(0, True)]
    # every other guest op kind of the registry (one declared since), in the guest
    listed = {type(op) for op in ops} | {O.GuestExit, O.SchedOut, O.SchedIn, O.ExitToUser}
    for cls in O.OP_CLASSES:
        if cls not in listed and cls.spec.side == "guest":
            ops += [cls(0)] + ([O.HandleExit(0), O.GuestEnter(0)] if cls.spec.exits else [])
    ops += [O.GuestExit(0, "irq"), O.SchedOut(0), O.SchedIn(0, 1), O.ExitToUser(0)]
    ops += [O.UserSetReg(0, r, 1) for r in O.ONE_REGS] + [O.UserGetReg(0, r) for r in O.ONE_REGS]
    ops += [O.HostInjectSError(0, 1), O.UserGetVcpuEvents(0), O.UserSetGuestDebug(0, True),
            O.HostPmuOverflow(0, 0), O.InjectIrq(0, 1), O.InjectIrq(0, 23), O.InjectIrq(0, 32),
            O.ConfigIrq(0, 33, priority=0x40), O.UserSetMpState(1, "RUNNABLE"), O.UserGetMpState(1),
            O.UserVcpuInit(0, False)]
    ops += [cls(0) for cls in O.OP_CLASSES if cls not in {type(op) for op in ops}]  # and every host one
    assert {type(op) for op in ops} == set(O.OP_CLASSES)
    return Trace(Config(variant="lazy", vcpus=2, pcpus=2), tuple(ops))


def test_c_skeletons_pass_gcc_syntax_check_with_the_shipped_stubs(tmp_path):
    """Every exported skeleton (every op, every design's regressions and seeds) is C that
    `gcc -fsyntax-only -Wall -Wextra -Werror` accepts with the stub selftest headers it names."""
    import shutil

    import pytest

    from hvfuzz.fuzz.export import write_repro_at
    from hvfuzz.fuzz.export_c import STUBS_DIR

    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    every = str(tmp_path / "every-op.json")
    t = _every_op_trace()
    write_repro_at(every, t, run(t), {})
    files = [every] + sorted(glob.glob(os.path.join(ROOT, "corpus", "*", "*.json")))
    for path in files:
        r = _hvfuzz("export", path, "--format", "c")
        assert r.returncode == 0, path
        assert f"gcc -fsyntax-only -I {STUBS_DIR}" in r.stdout
        src = tmp_path / (os.path.basename(path) + ".c")
        src.write_text(r.stdout)
        cc = subprocess.run([gcc, "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-I", STUBS_DIR, str(src)],
                            capture_output=True, text=True, check=False)
        assert cc.returncode == 0, (path, cc.stderr[:2000])


def test_html_timeline_renders_in_a_real_browser(tmp_path):
    """`hvfuzz export --format html`: one self-contained page (no scripts, no external resources),
    lanes per vcpu and pCPU, the failing step highlighted; headless Chromium renders it."""
    import shutil

    import pytest

    r = _hvfuzz("export", os.path.join(REGRESSIONS, "vgic-pre-series-livelock.json"), "--format", "html")
    assert r.returncode == 0
    page = r.stdout
    assert page.startswith("<!doctype html>") and "<script" not in page and "http" not in page.split("<body>")[1]
    assert page.count('class="failing"') == 1 and "gic-O2-strict-at-sync" in page
    assert "<th>vcpu0</th>" in page and "<th>pCPU0</th>" in page and "ap_list=[" in page
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        msg = "chromium is not installed (Debian: apt-get install chromium) - the page was checked as text"
        if os.environ.get("CI"):  # .ci/run installs it: in CI a missing browser is a failure, not a skip
            pytest.fail(msg)
        pytest.skip(msg)
    html_file = tmp_path / "t.html"
    html_file.write_text(page)
    shot = tmp_path / "t.png"
    p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,900", f"--screenshot={shot}",
                        f"file://{html_file}"], capture_output=True, text=True, check=False, timeout=120)
    assert p.returncode == 0 and shot.exists() and shot.stat().st_size > 20_000, p.stderr[-500:]
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom",
                          f"file://{html_file}"], capture_output=True, text=True, check=False, timeout=120)
    assert 'class="failing"' in dom.stdout and "FAIL at step" in dom.stdout
