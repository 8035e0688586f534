#!/bin/bash -eu
# Build the atheris targets the OSS-Fuzz way (compile_python_fuzzer = PyInstaller one-file bundle
# plus a wrapper named after the target), and give each its seed corpus, dictionary and options.
# Runs in the base-builder-python image with $SRC and $OUT set; tests/test_libfuzzer.py runs the
# steps that need no docker.
cd "$SRC/hvfuzz"
pip3 install .
for target in fuzz/targets/fuzz_system.py fuzz/targets/fuzz_pkvm.py fuzz/targets/fuzz_vgic.py \
              fuzz/targets/fuzz_psci.py; do
  name=$(basename "$target" .py)
  compile_python_fuzzer "$target" --hidden-import hvfuzz.fuzz.targets.driver
  python3 fuzz/targets/make_seeds.py "${name#fuzz_}" "$OUT/${name}_seed_corpus.zip"
  python3 fuzz/targets/make_seeds.py --dict "${name#fuzz_}" "$OUT/${name}.dict"
  cp fuzz/targets/hvfuzz.options "$OUT/${name}.options"
done
