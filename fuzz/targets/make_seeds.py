#!/usr/bin/env python3
"""Write a target's seed corpus from corpus/ (fuzz/decode.py byte format): a zip for OSS-Fuzz and
ClusterFuzzLite builds, or a directory (corpus/atheris/TARGET):
    python fuzz/targets/make_seeds.py TARGET OUT.zip
    python fuzz/targets/make_seeds.py TARGET --dir DIR
and a target's libFuzzer dictionary, generated from the op registry:
    python fuzz/targets/make_seeds.py --dict TARGET OUT.dict"""

import glob
import hashlib
import os
import sys
import zipfile

from hvfuzz.fuzz.decode import encode
from hvfuzz.fuzz.export import load_repro
from hvfuzz.fuzz.libfuzzer import COMPONENT

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    if sys.argv[1] == "--dict":
        from hvfuzz.fuzz.decode import libfuzzer_dict

        with open(sys.argv[3], "w", encoding="utf-8") as f:
            f.write(libfuzzer_dict(COMPONENT[sys.argv[2]]))
        print(f"{sys.argv[3]}: written")
        return
    target, out = sys.argv[1], sys.argv[2]
    if out == "--dir":
        from hvfuzz.fuzz.libfuzzer import write_seed_inputs
        from hvfuzz.fuzz.session import load_corpus

        traces = load_corpus([os.path.join(ROOT, "corpus", "seeds"), os.path.join(ROOT, "corpus", "regressions")])
        print(f"{sys.argv[3]}: {write_seed_inputs(traces, sys.argv[3], target)} seed inputs")
        return
    n = 0
    with zipfile.ZipFile(out, "w") as z:
        for path in sorted(glob.glob(os.path.join(ROOT, "corpus", "**", "*.json"), recursive=True)):
            try:
                data = encode(load_repro(path)[0], COMPONENT[target])
            except ValueError:
                continue  # ops outside this target's vocabulary
            z.writestr(hashlib.sha1(data).hexdigest(), data)
            n += 1
    print(f"{out}: {n} seed inputs")


if __name__ == "__main__":
    main()
