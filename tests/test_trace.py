import json
import os
import stat

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hvfuzz.fuzz.trace import Config, Trace, TraceError, trace_from_json, trace_to_json
from hvfuzz.model.vocab import ops as O


def sample() -> Trace:
    return Trace(Config(variant="lazy", vcpus=2, pcpus=2, nr_lrs=3, pri_bits=6), (
        O.KvmRun(0, 1), O.GuestEnter(0), O.GuestWriteReg(0, "pstate", 5),
        O.GuestExit(0, "trap_sysreg_read", True, 3, "PMCR_EL0", 0), O.HandleExit(0), O.SchedOut(0),
        O.SchedIn(0, 0), O.ExitToUser(0), O.UserSetReg(1, "v0", 2), O.UserGetReg(1, "CNTVOFF_EL2"),
        O.HostInjectSError(1, 7), O.UserGetVcpuEvents(1), O.UserSetGuestDebug(1, False),
        O.HostPmuOverflow(0, 3), O.ConfigIrq(0, 33, True, 0x40, 0, True, 1), O.InjectIrq(1, 2, True),
        O.GuestAck(0, 0), O.GuestEoi(0, 1, 33), O.GuestDir(0, 33), O.GuestSetPmr(0, 0xF0), O.GuestSetBpr(0, 0, 3),
        O.GuestSetGrpEn(0, 0, True), O.GuestSetEoiMode(0, True), O.GuestPsci(1, "CPU_ON", 0, 0x1000, 7),
        O.GuestAccess(0, 2), O.UserVcpuInit(1, True), O.UserSetMpState(1, "STOPPED"), O.UserGetMpState(1),
    ))


_SAMPLE = {"schema": 1, "config": {"variant": "lazy", "vcpus": 2, "pcpus": 2, "protected": False},
           "ops": [{"op": "KvmRun", "vcpu": 0, "pcpu": 1}, {"op": "GuestWriteReg", "vcpu": 0, "reg": "x1", "value": 5},
                   {"op": "GuestExit", "vcpu": 0, "kind": "irq", "serror_pending": False, "rt": 0, "reg": "PMCR_EL0",
                    "value": 0}]}


def test_round_trip_covers_every_op():
    t = sample()
    assert trace_from_json(trace_to_json(t)) == t
    # every op kind of the registry, each field at the last value its domain names
    c = t.config
    ops = tuple(cls(vcpu=1, **{f.name: list(f.metadata["domain"].values(c))[-1]
                               for f in attrs.fields(cls) if f.name != "vcpu"}) for cls in O.OP_CLASSES)
    every = t.replace_ops(t.ops + ops)
    assert {type(op) for op in every.ops} == set(O.OP_CLASSES)
    assert trace_from_json(trace_to_json(every)) == every


@pytest.mark.parametrize(("doc", "msg"), [
    ({}, "missing 'schema'"),
    ({"schema": 99, "config": {}, "ops": []}, "unsupported schema version"),
    ({"schema": 1, "config": {"variant": "nope"}, "ops": []}, "unknown variant"),
    ({"schema": 1, "config": {}, "ops": [{"op": "Frobnicate", "vcpu": 0}]}, "unknown op"),
    ({"schema": 1, "config": {}, "ops": [{"op": "GuestWriteReg", "vcpu": 0, "reg": "x99"}]}, "bad field"),
    ({"schema": 1, "config": {"vcpus": 1}, "ops": [{"op": "GuestEnter", "vcpu": 3}]}, "vcpu 3"),
    ({"schema": 1, "config": {}, "ops": [{"op": "GuestEnter", "vcpu": 0, "x": 1}]}, "unknown field"),
    ({"schema": 1, "config": {"vcpus": 9}, "ops": []}, "config: bad value"),
    ({"schema": 1, "config": {}, "ops": {}}, "'ops' must be a list"),
    ([], "must be a JSON object"),
])
def test_bad_input_is_one_clear_error(doc, msg):
    with pytest.raises(TraceError) as e:
        trace_from_json(doc)
    assert msg in str(e.value) and "\n" not in str(e.value) and len(str(e.value)) < 700


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6)


@settings(max_examples=400, deadline=None, database=None)
@given(data=st.data())
def test_a_mutated_repro_is_a_trace_or_one_clear_error(data):
    """Any key of a repro's config or of one of its ops set to any JSON value: the loader returns a
    trace or raises ``TraceError`` (the CLI's one-line error, exit 2), never another exception
    (a list as the variant, a float as the vcpu count once gave tracebacks)."""
    doc = json.loads(json.dumps(_SAMPLE))
    assert trace_from_json(doc).ops  # the unmutated sample loads
    if data.draw(st.booleans(), "in config"):
        target = doc["config"]
    else:
        target = doc["ops"][data.draw(st.integers(0, len(doc["ops"]) - 1), "op")]
    key = data.draw(st.sampled_from(sorted(target)), "key")
    target[key] = data.draw(_JSON_VALUES, "value")
    try:
        trace_from_json(doc)
    except TraceError as e:
        assert "\n" not in str(e)


def test_repro_files_are_readable_by_others(tmp_path):
    """Written with the mode ``open`` gives (0666 less the umask), not ``mkstemp``'s 0600."""
    from hvfuzz.fuzz.export import write_text_atomic

    old = os.umask(0o022)
    try:
        path = write_text_atomic(str(tmp_path / "r.json"), "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
