"""Hypothesis settings profiles: ``dev`` (fast), ``ci`` (derandomized), ``fuzz`` (long, database
on).  ``load(name)`` registers them and loads one; tests/conftest.py picks it from the
HYPOTHESIS_PROFILE environment variable (``ci`` when CI is set, else ``dev``)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

_COMMON = dict(deadline=None, suppress_health_check=list(HealthCheck), stateful_step_count=30)

PROFILES = {
    "dev": settings(max_examples=200, database=None, **_COMMON),
    "ci": settings(max_examples=300, derandomize=True, database=None, print_blob=True, **_COMMON),
    "fuzz": settings(max_examples=100_000, print_blob=True, **_COMMON),
}

#: What a CLI fuzz session runs each batch with: generate only (hvfuzz's own shrinker is faster and
#: keeps the oracle), no database, quiet.
def session_settings(batch_examples: int, step_count: int = 30) -> settings:
    return settings(
        max_examples=batch_examples, stateful_step_count=step_count, deadline=None, database=None,
        derandomize=False,  # not the ci profile's: each batch is seeded by the session
        phases=[Phase.generate], suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False, verbosity=Verbosity.quiet,
    )


def open_database(url: str) -> ExampleDatabase:
    """``redis://HOST:PORT/N`` (Hypothesis's RedisExampleDatabase, the ``redis`` extra) or a
    directory (DirectoryBasedExampleDatabase): where ``hvfuzz fuzz`` workers share findings."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            import redis
            from hypothesis.extra.redis import RedisExampleDatabase
        except ImportError:
            raise ValueError("--db redis://...: the redis package is missing (pip install 'hvfuzz[redis]')") from None
        client = redis.Redis.from_url(url)
        try:
            client.ping()
        except redis.exceptions.RedisError as e:
            raise ValueError(f"--db {url}: cannot reach the redis server ({e})") from None
        return RedisExampleDatabase(client)
    return DirectoryBasedExampleDatabase(url)


def load(name: str | None = None) -> str:
    for n, s in PROFILES.items():
        settings.register_profile(n, s)
    name = name or os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
    settings.load_profile(name)
    return name
