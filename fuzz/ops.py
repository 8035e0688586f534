"""The op vocabulary lives in ``hvfuzz.model.vocab.ops`` (the bottom layer every package may
import); this module re-exports it for older imports."""

from hvfuzz.model.vocab.ops import *  # noqa: F403
