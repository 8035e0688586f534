"""``ArchPsci``: what PSCI (DEN0022, 1.3) and the KVM API (api.rst: KVM_EXIT_SYSTEM_EVENT,
KVM_ARM_VCPU_INIT, KVM_SET_MP_STATE) promise, as an independent state machine, and the checks
P1–P7 against a system under test.

It is written from those documents, not from ``model/psci.py``: per vcpu a power state ON, OFF or
ON_PENDING (a CPU_ON accepted, the vcpu not yet running), the register state its next entry must
start with after a CPU_ON or KVM_ARM_VCPU_INIT, the PSCI call it has made, and the stage-2 pages a
rebooted VM must fault in again.  It reads the ops and the observations the system makes (the
values a PSCI call returned, whether an entry happened, a stage-2 hit or fault).

Userspace discipline (U1): a VMM completes an MMIO exit with KVM_RUN before it re-initialises the
vcpu; if it does not, the reset state of that vcpu is not checked.  (U2): a VMM that sets
MPIDR_EL1 (KVM_SET_ONE_REG) gives each vcpu its own affinity (the Arm ARM: MPIDR_EL1's affinity
fields identify the PE); once two vcpus share one, a CPU_ON or AFFINITY_INFO naming it has no
PSCI meaning and ArchPsci stops judging PSCI calls.

The VMM hvfuzz drives keeps KVM's defaults: the vcpu's PSCI version (KVM_REG_ARM_PSCI_VERSION,
api.rst: the latest KVM implements, 1.3), MPIDR_EL1 with Aff0 = the vcpu index until userspace
sets it, and KVM_CAP_ARM_SYSTEM_SUSPEND not enabled (``system_suspend``).

Where KVM takes a choice the specification leaves open it is allowed, not required:
  * CPU_ON of a vcpu with a CPU_ON pending: ALREADY_ON (KVM) or ON_PENDING;
  * AFFINITY_INFO of such a vcpu: ON (KVM, which has it RUNNABLE) or ON_PENDING;
  * a vcpu turned off while it runs keeps running until the kick lands (its guest ops until
    its next exit are allowed); only a new *entry* while off is progress.
"""

from __future__ import annotations

import attrs

from hvfuzz.model.vocab import obs as K
from hvfuzz.model.vocab import ops as O
from hvfuzz.model.vocab.judging import Failure, Step
from hvfuzz.model.vocab.regs import IDX_PC, IDX_PSTATE, sysreg_index

ON, OFF, ON_PENDING = "ON", "OFF", "ON_PENDING"
SUCCESS, NOT_SUPPORTED, INVALID_PARAMS, ALREADY_ON, ON_PENDING_RET, INTERNAL_FAILURE = 0, -1, -2, -4, -5, -6
AFF_ON, AFF_OFF, AFF_ON_PENDING = 0, 1, 2
#: DEN0022 5.1.1 PSCI_VERSION: major in bits [30:16], minor in [15:0]; api.rst: a vcpu's PSCI
#: version (KVM_REG_ARM_PSCI_VERSION) defaults to the latest KVM implements, 1.3 (SYSTEM_OFF2:
#: "Hibernation using the PSCI SYSTEM_OFF2 call is enabled when PSCI v1.3 is enabled")
PSCI_VERSION_1_3 = 0x10003
MASK32 = (1 << 32) - 1
#: DEN0022: the target_cpu / target_affinity of CPU_ON / AFFINITY_INFO is an MPIDR whose non-affinity
#: bits must be zero (Aff3 in [39:32], Aff2..Aff0 in [23:0])
MPIDR_AFFINITY = 0xFF00FFFFFF
#: SYSTEM_OFF2's hibernate types (DEN0022 F.b): HIBERNATE_OFF is 0x1, and 0 is accepted as its alias
HIBERNATE_OFF_TYPES = (0, 1)
#: api.rst, KVM_EXIT_SYSTEM_EVENT data[0]: KVM_SYSTEM_EVENT_RESET_FLAG_PSCI_RESET2 for a
#: SYSTEM_RESET2, KVM_SYSTEM_EVENT_SHUTDOWN_FLAG_PSCI_OFF2 for a SYSTEM_OFF2 (both bit 0)
EVENT_FLAG_PSCI_RESET2 = EVENT_FLAG_PSCI_OFF2 = 1 << 0
#: DEN0022 SYSTEM_RESET2 reset_type bit 31: a vendor-specific reset (accepted like a warm reset)
RESET_TYPE_VENDOR = 1 << 31

# DEN0022 function IDs (table "PSCI function IDs"), SMC32 0x8400_00xx and SMC64 0xC400_00xx
_FN32, _FN64 = 0x84000000, 0xC4000000
_VERSION, _CPU_SUSPEND, _CPU_OFF, _CPU_ON, _AFFINITY_INFO = 0x0, 0x1, 0x2, 0x3, 0x4
_MIGRATE, _MIGRATE_INFO_TYPE, _MIGRATE_INFO_UP_CPU, _SYSTEM_OFF, _SYSTEM_RESET = 0x5, 0x6, 0x7, 0x8, 0x9
_FEATURES, _SYSTEM_SUSPEND, _SYSTEM_RESET2, _SYSTEM_OFF2 = 0xA, 0xE, 0x12, 0x15
#: SMCCC_VERSION (DEN0028), which PSCI_FEATURES also answers (DEN0022 PSCI_FEATURES)
_SMCCC_VERSION = 0x80000000
#: the PSCI functions with an SMC64 form (DEN0022): the others exist as SMC32 only
_HAS_SMC64 = frozenset((_CPU_SUSPEND, _CPU_ON, _AFFINITY_INFO, _MIGRATE, _MIGRATE_INFO_UP_CPU, 0xC, 0xD,
                        _SYSTEM_SUSPEND, 0x10, 0x11, _SYSTEM_RESET2, 0x14, _SYSTEM_OFF2, 0x16))
#: functions DEN0022 makes mandatory for PSCI 1.x (PSCI_FEATURES answers 0 for them; CPU_SUSPEND
#: may set its feature flags: bit 0 OS-initiated mode, bit 1 extended StateID format)
_MANDATORY = frozenset((_VERSION, _CPU_SUSPEND, _CPU_OFF, _CPU_ON, _AFFINITY_INFO, _SYSTEM_OFF, _SYSTEM_RESET,
                        _FEATURES))
#: the PSCI function numbers DEN0022 1.3 defines at all (0x0..0x17); the rest of 0x00..0x1F is reserved
_DEFINED = frozenset(range(0x18))

#: PSTATE a vcpu starts with after CPU_ON or KVM_ARM_VCPU_INIT: AArch64 EL1 using SP_EL1 (EL1h,
#: M[3:0] = 0b0101) with the exception masks D, A, I and F set (bits 9..6): 0x3C5.
#: DEN0022 (PSCI), CPU_ON and its implementation responsibilities: the core starts at the entry
#: point, in the caller's Exception level (EL1 for a guest), with SP_ELx selected and PSTATE.DAIF
#: all masked; the Arm ARM (DDI 0487, "PE state on reset to AArch64 state") likewise sets
#: PSTATE.{D,A,I,F} to 1 on reset; KVM_ARM_VCPU_INIT (api.rst) puts the vcpu in that reset state.
#: Written here, not taken from the model's ``VCPU_RESET_PSTATE_EL1``: a wrong model constant must
#: be disagreed with.
PSTATE_EL1H = 0b0101
PSTATE_D, PSTATE_A, PSTATE_I, PSTATE_F = 1 << 9, 1 << 8, 1 << 7, 1 << 6
RESET_PSTATE = PSTATE_EL1H | PSTATE_D | PSTATE_A | PSTATE_I | PSTATE_F


#: the ops ArchPsci follows (the others change nothing it holds)
_SEEN_OPS = frozenset((O.GuestEnter, O.GuestPsci, O.GuestSmc, O.HandleExit, O.KvmRun, O.GuestExit, O.UserVcpuInit,
                       O.UserSetMpState, O.UserGetMpState, O.UserGetReg, O.UserSetReg, O.GuestAccess,
                       O.HostInjectSError))


@attrs.define
class _Vcpu:
    power: str = ON
    #: (pc, x0, pstate) the next entry must start with (after CPU_ON or KVM_ARM_VCPU_INIT)
    expect: tuple[int, int, int] | None = None
    #: (entry, context id) of an accepted CPU_ON
    pending: tuple[int, int] | None = None
    #: the PSCI call made by the vcpu's last HVC, until its handler runs
    call: O.GuestPsci | None = None
    #: KVM_RUN has run (``vcpu_has_run_once``)
    has_run: bool = False
    #: why the vcpu is off (for messages)
    off_since: str = ""
    #: a userspace MMIO read is in flight (KVM_EXIT_MMIO until the next KVM_RUN)
    mmio_pending: bool = False


class ArchPsci:
    def __init__(self, vcpus: int, pages: tuple[int, ...] = O.PAGES, system_suspend: bool = False) -> None:
        self.cpus = [_Vcpu() for _ in range(vcpus)]
        #: pages whose next access must fault (nothing is mapped at creation or after a re-init)
        self.must_fault: set[int] = set(pages)
        #: each vcpu's MPIDR affinity: KVM's Aff0 = vcpu index until userspace sets MPIDR_EL1
        self.affinity: list[int] = list(range(vcpus))
        #: the VMM enabled KVM_CAP_ARM_SYSTEM_SUSPEND (api.rst): SYSTEM_SUSPEND exits to userspace
        self.system_suspend = system_suspend
        #: U2 broken (two vcpus share an MPIDR affinity): PSCI calls are no longer judged
        self.unjudged = False
        #: per vcpu, the page of a stage-2 abort taken and not yet handled
        self.abort_page: dict[int, int] = {}

    def state_key(self, intids: tuple[int, ...]) -> object:
        """Every attribute: the power states, expected entries, calls, pages to fault."""
        return vars(self)

    # --- the model's observations -------------------------------------------------------------------
    def after(self, step: Step) -> Failure | None:
        """Check the step the system just made (the variant's observations) and advance."""
        if not step.applied or type(op := step.op) not in _SEEN_OPS or self.unjudged:
            return None
        v = op.vcpu
        c = self.cpus[v]
        obs = step.sut_obs

        def seen() -> dict[str, object]:
            return {o[0]: o[3] for o in obs if o[1] == v}

        if isinstance(op, O.GuestEnter):
            return self._entry(v, seen())
        if isinstance(op, O.GuestPsci):
            c.call = op
        elif isinstance(op, O.HandleExit) and v in self.abort_page:
            # the abort is handled now: the page is faulted in afresh (with the cache maintenance
            # of a fault), whatever re-initialisation happened since the access was made
            self.must_fault.discard(self.abort_page.pop(v))
        elif isinstance(op, O.HandleExit) and c.call is not None:
            call, c.call = c.call, None
            return self._psci_call(v, call, seen())
        elif isinstance(op, O.ExitToUser):
            self.abort_page.pop(v, None)  # a pending exit not handled is dropped: the guest re-faults
        elif isinstance(op, O.KvmRun):
            c.has_run, c.mmio_pending = True, False
        elif isinstance(op, O.GuestExit) and op.kind == "trap_mmio_user":
            c.mmio_pending = True
        elif isinstance(op, O.UserVcpuInit):
            self._init(v, op.power_off)
        elif isinstance(op, O.UserSetMpState):
            if op.state == "STOPPED":
                self._service_reset(v)
                c.power, c.off_since = OFF, "KVM_SET_MP_STATE(STOPPED)"
            elif c.power == OFF:
                c.power = ON
        elif isinstance(op, O.UserGetMpState):
            got = seen().get(K.PSCI_MP_STATE)
            want = "STOPPED" if c.power == OFF else "RUNNABLE"
            if got != want:
                return Failure("psci-P6-mp-state", v, f"vcpu{v}: KVM_GET_MP_STATE says {got}, the vcpu is "
                               f"{c.power}{' (' + c.off_since + ')' if c.off_since else ''}", got, want)
        elif isinstance(op, (O.UserGetReg, O.UserSetReg)):
            self._service_reset(v)
            if isinstance(op, O.UserSetReg) and op.reg == "MPIDR_EL1":
                self.affinity[v] = op.value & MPIDR_AFFINITY
                self.unjudged |= len(set(self.affinity)) < len(self.affinity)
            if isinstance(op, O.UserSetReg) and c.expect is not None:
                pc, x0, pstate = c.expect
                c.expect = (op.value if op.reg == "pc" else pc, op.value if op.reg == "x0" else x0,
                            op.value if op.reg == "pstate" else pstate)
        elif isinstance(op, O.HostInjectSError):
            # KVM_SET_VCPU_EVENTS (serror_pending) after the reset: the first instruction may be the
            # SError exception entry (taken at once if SErrors are unmasked at entry: Arm ARM, virtual
            # SError), not the entry point.  P2 steps aside; ArchVcpu judges the exception entry.
            self._service_reset(v)
            c.expect = None
        elif isinstance(op, O.GuestAccess):
            got = seen().get(K.PSCI_STAGE2)
            if op.page in self.must_fault and got == "hit":
                return Failure("psci-P5-stage2-fresh", v, f"vcpu{v}: page {op.page} hit in stage 2 although no "
                               "abort on it was handled since the VM was re-initialised", got, "stage-2 fault")
            if got != "hit":
                self.abort_page[v] = op.page
        return None

    # --- rules ------------------------------------------------------------------------------------------
    def _entry(self, v: int, seen: dict[str, object]) -> Failure | None:
        c = self.cpus[v]
        view = seen.get(K.GUEST_ENTRY)
        if view is None:  # the thread blocked in the run loop
            if c.power != OFF:
                return Failure("psci-P7-runnable-runs", v, f"vcpu{v} is {c.power} but KVM_RUN blocks instead of "
                               "entering the guest", "blocked", "entry")
            return None
        if c.power == OFF:
            return Failure("psci-P1-no-progress-while-off", v, f"vcpu{v} entered the guest while powered off "
                           f"({c.off_since})", "entry", "no entry")
        self._service_reset(v)
        if c.expect is not None:
            got = (view[IDX_PC], view[0], view[IDX_PSTATE])  # type: ignore[index]
            want, c.expect = c.expect, None
            if got != want and _serror_taken_from(view, want):  # type: ignore[arg-type]
                return None
            if got != want:
                return Failure("psci-P2-reset-state", v, f"vcpu{v}'s first entry after a reset starts with PC, x0, "
                               f"PSTATE = {_hex(got)}, not {_hex(want)}", _hex(got), _hex(want))
        return None

    def _service_reset(self, v: int) -> None:
        """A CPU_ON is pending: the vcpu's next run (or ONE_REG access) starts from its entry."""
        c = self.cpus[v]
        if c.pending is not None:
            entry, ctx = c.pending
            c.pending, c.expect = None, (entry, ctx, RESET_PSTATE)
            if c.power == ON_PENDING:
                c.power = ON

    def _init(self, v: int, power_off: bool) -> None:
        """KVM_ARM_VCPU_INIT: api.rst, "Userspace can call this function multiple times for a
        given vcpu, including after the vcpu has been run. This will reset the vcpu to its
        initial state": PC 0, x0 0, the reset PSTATE, whatever CPU_ON was pending (the re-init
        supersedes it: a VMM re-initialises after a system event, which ends every pending
        CPU_ON, or to reboot the vcpu); a VM that has run faults all its memory in again."""
        c = self.cpus[v]
        c.pending, c.expect = None, (0, 0, RESET_PSTATE)
        if c.mmio_pending:
            # api.rst: an MMIO exit completes only when userspace re-enters with KVM_RUN.  A VMM
            # that re-initialises first breaks that contract (U1), and KVM then retires the stale
            # read into the fresh vcpu (kvm_handle_mmio_return: Rt written, PC + 4): no check.
            c.expect = None
        if c.has_run:
            self.must_fault = set(O.PAGES)
        c.power, c.off_since = (OFF, "KVM_ARM_VCPU_INIT with POWER_OFF") if power_off else (ON, "")

    def _psci_call(self, v: int, call: O.GuestPsci, seen: dict[str, object]) -> Failure | None:
        got = seen.get(K.PSCI_CALL)
        if got is None:  # the exit failed before its handler ran (KVM_EXIT_FAIL_ENTRY): no call
            return None
        fn, ret = got  # type: ignore[misc]
        allowed, then = self._expect(v, call)
        want_fn = None if call.fn == "UNKNOWN" else call.fn  # a function ID no PSCI version names
        if fn != want_fn or ret not in allowed:
            return Failure("psci-P3-return", v, f"vcpu{v}: PSCI {call.fn} returned {ret} (as {fn}); PSCI allows "
                           f"{sorted(allowed)}", (fn, ret), (call.fn, sorted(allowed)))
        event = seen.get(K.PSCI_SYSTEM_EVENT)
        want_event = {"SYSTEM_OFF": "SHUTDOWN", "SYSTEM_RESET": "RESET"}.get(call.fn)
        if call.fn == "SYSTEM_RESET2" and (call.target & MASK32 == 0 or call.target & RESET_TYPE_VENDOR):
            want_event = "RESET"
        want_event, want_flags = self._event(call, want_event)
        if event != want_event:
            return Failure("psci-P4-system-event", v, f"vcpu{v}: PSCI {call.fn} exits to userspace with system event "
                           f"{event}, not {want_event}", event, want_event)
        flags = seen.get(K.PSCI_SYSTEM_EVENT_FLAGS)
        if want_event is not None and flags != want_flags:
            return Failure("psci-P4-system-event", v, f"vcpu{v}: PSCI {call.fn}'s system event {event} has data[0] = "
                           f"{flags}, not {want_flags}", flags, want_flags)
        then()  # type: ignore[operator]
        return None

    def _event(self, call: O.GuestPsci, want: str | None) -> tuple[str | None, int]:
        """The system event the calls added for PSCI 1.3 make (the ones above as before), and its
        data[0] flags (api.rst KVM_EXIT_SYSTEM_EVENT)."""
        if call.fn == "SYSTEM_RESET2_32" and (call.target & MASK32 == 0 or call.target & RESET_TYPE_VENDOR):
            want = "RESET"
        elif call.fn == "SYSTEM_OFF2" and self._off2_valid(call):
            want = "SHUTDOWN"
        elif call.fn == "SYSTEM_SUSPEND" and self.system_suspend:
            want = "SUSPEND"
        flags = {"SYSTEM_RESET2": EVENT_FLAG_PSCI_RESET2, "SYSTEM_RESET2_32": EVENT_FLAG_PSCI_RESET2,
                 "SYSTEM_OFF2": EVENT_FLAG_PSCI_OFF2}.get(call.fn, 0)
        return want, flags

    @staticmethod
    def _off2_valid(call: O.GuestPsci) -> bool:
        """SYSTEM_OFF2(type, cookie) (DEN0022 F.b): a supported type and a zero cookie."""
        return call.target in HIBERNATE_OFF_TYPES and call.context == 0

    def _target(self, mpidr: int) -> int | None:
        """The vcpu whose MPIDR affinity ``mpidr`` names (None: none, or bits outside the
        affinity fields)."""
        if mpidr & ~MPIDR_AFFINITY:
            return None
        return next((i for i, aff in enumerate(self.affinity) if aff == mpidr), None)

    def _features(self, fid: int) -> set[int]:
        """What PSCI_FEATURES(fid) may return (DEN0022 PSCI_FEATURES: NOT_SUPPORTED for a function
        that is not implemented or not a PSCI function, else 0 or the function's feature flags)."""
        if fid == _SMCCC_VERSION:
            return {SUCCESS}  # KVM implements SMCCC 1.1 (api.rst KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_*)
        base, n = fid & ~0x1F, fid & 0x1F
        if base not in (_FN32, _FN64) or n not in _DEFINED or (base == _FN64 and n not in _HAS_SMC64):
            return {NOT_SUPPORTED}
        if n == _CPU_SUSPEND:
            return {0, 1, 2, 3}
        if n in _MANDATORY:
            return {SUCCESS}
        if n == _SYSTEM_RESET2:
            return {SUCCESS}  # api.rst: KVM reports SYSTEM_RESET2 with KVM_SYSTEM_EVENT_RESET_FLAG_PSCI_RESET2
        if n == _SYSTEM_OFF2:
            return {1}  # api.rst: "The only supported hibernate type ... is HIBERNATE_OFF"
        if n == _SYSTEM_SUSPEND:
            return {SUCCESS} if self.system_suspend else {NOT_SUPPORTED}  # api.rst KVM_CAP_ARM_SYSTEM_SUSPEND
        return {SUCCESS, NOT_SUPPORTED}  # optional; the vocabulary never calls these

    def _expect(self, v: int, call: O.GuestPsci) -> tuple[set[int | None], object]:
        """The return values PSCI allows for ``call`` now, and the state change it makes.  An
        SMC32 function (``_32``) reads its arguments as 32 bits (SMCCC: the callee ignores the
        upper halves of W1..W7)."""

        def nothing() -> None:
            return None

        fn, target, entry, context = call.fn, call.target, call.entry, call.context
        if fn.endswith("_32"):
            fn, target, entry, context = fn[:-3], target & MASK32, entry & MASK32, context & MASK32
        if fn == "PSCI_VERSION":
            return {PSCI_VERSION_1_3}, nothing
        if fn == "PSCI_FEATURES":
            return self._features(entry & MASK32), nothing  # type: ignore[return-value]
        if fn == "UNKNOWN":
            return {NOT_SUPPORTED}, nothing
        if fn == "SYSTEM_SUSPEND":
            # not enabled: NOT_SUPPORTED; enabled: an exit to userspace that writes no register
            return ({None} if self.system_suspend else {NOT_SUPPORTED}), nothing
        if fn == "CPU_OFF":
            def off() -> None:
                self.cpus[v].power, self.cpus[v].off_since = OFF, "PSCI CPU_OFF"
            return {SUCCESS}, off
        if fn in ("CPU_ON", "AFFINITY_INFO"):
            i = self._target(target)
            if i is None:
                return {INVALID_PARAMS}, nothing
            t = self.cpus[i]
            if fn == "AFFINITY_INFO":
                return {AFF_OFF} if t.power == OFF else {AFF_ON} if t.power == ON else {AFF_ON, AFF_ON_PENDING}, nothing
            if t.power == ON:
                return {ALREADY_ON}, nothing
            if t.power == ON_PENDING:
                return {ALREADY_ON, ON_PENDING_RET}, nothing

            def on() -> None:
                t.power, t.pending, t.off_since = ON_PENDING, (entry, context), ""
            return {SUCCESS}, on
        if fn == "SYSTEM_RESET2" and target & MASK32 != 0 and not target & RESET_TYPE_VENDOR:
            # DEN0022 1.1+ SYSTEM_RESET2: reset_type 0 (SYSTEM_WARM_RESET) or a vendor type (bit 31)
            return {INVALID_PARAMS}, nothing
        if fn == "SYSTEM_OFF2" and not self._off2_valid(call):
            return {INVALID_PARAMS}, nothing

        def system_off() -> None:
            # DEN0022: SYSTEM_OFF / SYSTEM_RESET(2) act on the whole system; a CPU_ON accepted
            # before it does not outlive it (api.rst, KVM_SYSTEM_EVENT_SHUTDOWN/RESET: the VM is to
            # be shut down or reset by userspace)
            # U3: a VMM that resumes a vcpu after the event without KVM_ARM_VCPU_INIT breaks that
            # contract; KVM then services whatever reset request was pending (a CPU_ON's entry, or
            # none): that first entry is not judged (expect None) until the next INIT or CPU_ON.
            why = f"vcpu{v}'s PSCI {call.fn}"
            for c in self.cpus:
                c.power, c.off_since, c.pending, c.expect = OFF, why, None, None
        return {INTERNAL_FAILURE}, system_off  # x0 if userspace resumes the caller anyway


#: ESR_ELx.EC of an SError exception (Arm ARM D17.2.37 ESR_EL1), and where the vector of a
#: taken SError lies in VBAR_EL1's table (offset 0x180 in each of the four 0x200 blocks)
EC_SERROR, EC_SHIFT, SERROR_VECTOR = 0x2F, 26, 0x180


def _serror_taken_from(view: tuple[int, ...], want: tuple[int, int, int]) -> bool:
    """The first entry is the exception entry of a virtual SError taken from the reset state: the
    vcpu had one pending (KVM_SET_VCPU_EVENTS after the reset, or one KVM kept across a re-INIT of
    a vcpu that had run: corpus/regressions/psci-reinit-keeps-pending-serror.json) and starts with
    SErrors unmasked, so it takes it before its first instruction.  ELR_EL1 and SPSR_EL1 then hold
    the reset PC and PSTATE, x0 is untouched, ESR_EL1 says SError, PC is an SError vector.  P2
    judges the reset state through them; ArchVcpu judges the exception entry itself."""
    pc, x0, pstate = want
    vbar = view[sysreg_index("VBAR_EL1")]
    return (view[sysreg_index("ELR_EL1")] == pc and view[sysreg_index("SPSR_EL1")] == pstate and view[0] == x0
            and view[sysreg_index("ESR_EL1")] >> EC_SHIFT & 0x3F == EC_SERROR
            and (view[IDX_PC] - vbar) & 0x1FF == SERROR_VECTOR and not pstate & PSTATE_A)


def _hex(t: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(hex(x) for x in t)
