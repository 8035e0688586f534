"""The vocabulary every layer of hvfuzz speaks: the ops (``ops``), the observation kinds
(``obs``) and the register names and context layout (``regs``).

This package imports nothing else of hvfuzz, so that ``model/`` (the systems under test),
``oracles/`` (the judges) and ``fuzz/`` (the drivers) can all depend on it without depending on
each other.  The kernel's values (reset state, policies) stay in ``model/``.
"""
