from hvfuzz.model import regs as R


def test_vcpu_sysreg_enum_is_sparse_like_the_kernel():
    # VNCR-mapped registers sit at __VNCR_START__ + offset/8 (vncr_mapping.h offsets).
    assert R.SYSREG["SCTLR_EL1"] - R.SYSREG["CNTVOFF_EL2"] == (0x110 - 0x060) // 8
    assert R.SYSREG["CNTP_CTL_EL0"] - R.SYSREG["CNTV_CVAL_EL0"] == (0x180 - 0x168) // 8


def test_numeric_timer_range_covers_unrelated_registers_but_by_name_does_not():
    in_range = {R.INDEX_NAME[i] for i in R.TIMER_RANGE_INDICES if i in R.INDEX_NAME}
    assert {"SCTLR_EL1", "ESR_EL1", "SPSR_EL1", "MDSCR_EL1"} <= in_range
    by_name = {R.INDEX_NAME[i] for i in R.TIMER_INDICES}
    assert by_name == set(R.TIMER_SYSREGS)
    assert "ELR_EL1" not in in_range and "VBAR_EL1" not in in_range


def test_reset_context_is_el1h_with_daif_masked():
    c = R.reset_context(mpidr=0x80000001)
    assert c[R.IDX_PSTATE] == 0x3C5
    assert c[R.sysreg_index("MPIDR_EL1")] == 0x80000001
    assert all(c[i] == 0 for i in range(R.NR_GPRS))


def test_serror_exception_entry():
    c = R.reset_context(0)
    c[R.IDX_PC] = 0x1000
    c[R.IDX_PSTATE] = R.PSR_MODE_EL1h
    c[R.sysreg_index("VBAR_EL1")] = 0x8000
    R.enter_serror_exception(c, esr=0xBE000000)
    assert c[R.IDX_PC] == 0x8000 + 0x200 + 0x180
    assert c[R.sysreg_index("ELR_EL1")] == 0x1000
    assert c[R.sysreg_index("SPSR_EL1")] == R.PSR_MODE_EL1h
    assert c[R.IDX_PSTATE] == R.PSTATE_FAULT_BITS_64
    assert c[R.sysreg_index("ESR_EL1")] == 0xBE000000
