"""Workers share findings through Hypothesis's example database (``hvfuzz fuzz --db``): a real
redis-server on loopback, two CLI workers; the second replays the first's finding before it
generates anything."""

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

redis = pytest.importorskip("redis", reason="the redis package is not installed (pip install 'hvfuzz[redis]')")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        msg = "redis-server is not installed (.ci/run installs Debian's redis-server)"
        if os.environ.get("CI"):  # in CI a missing service is a failure, not a skip
            pytest.fail(msg)
        pytest.skip(msg)
    port = _free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("redis-server did not come up")
    yield f"redis://127.0.0.1:{port}/0"
    proc.kill()
    proc.wait()


def _worker(db, seed, findings):
    return subprocess.run([sys.executable, "-m", "hvfuzz.fuzz", "fuzz", "--variant", "lazy-no-fp", "--max-examples",
                           "3000", "--seed", str(seed), "--corpus", "", "--db", db, "--findings", str(findings)],
                          capture_output=True, text=True, check=False)


def test_second_worker_replays_the_first_workers_finding(redis_url, tmp_path):
    a = _worker(redis_url, 1, tmp_path / "a")
    assert a.returncode == 1 and "found by native" in a.stdout, a.stdout + a.stderr  # the default engine
    b = _worker(redis_url, 2, tmp_path / "b")
    assert b.returncode == 1 and "found by example database" in b.stdout, b.stdout + b.stderr
    assert "0 examples" in b.stdout  # before generating anything
    assert os.listdir(tmp_path / "a") == os.listdir(tmp_path / "b")  # the same repro (same signature)


def test_a_worker_on_another_variant_is_not_misled(redis_url, tmp_path):
    assert _worker(redis_url, 1, tmp_path / "a").returncode == 1
    c = subprocess.run([sys.executable, "-m", "hvfuzz.fuzz", "fuzz", "--variant", "lazy", "--max-examples", "30",
                        "--seed", "1", "--corpus", "", "--db", redis_url, "--findings", str(tmp_path / "c")],
                       capture_output=True, text=True, check=False)
    assert c.returncode == 0, c.stdout + c.stderr


def test_unreachable_database_is_one_line_exit_2(tmp_path):
    port = _free_port()
    r = _worker(f"redis://127.0.0.1:{port}/0", 1, tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "cannot reach" in r.stderr, r.stderr
