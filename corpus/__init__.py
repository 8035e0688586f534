"""The corpus that ships with hvfuzz (package data): ``seeds/`` (scenario traces) and
``regressions/`` (kept findings).  ``hvfuzz fuzz`` replays and mutates it by default, from any
directory (``fuzz/shipped.py`` finds it with ``importlib.resources``)."""
