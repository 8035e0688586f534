"""The GICv2 virtual CPU interface of a physical CPU (IHI 0048B ch. 5): the GICH_* control registers
the hypervisor loads (GICH_LR<n>, GICH_HCR, GICH_VMCR, GICH_APR) and what the hardware does when the
guest reads GICV_IAR / GICV_AIAR and writes GICV_EOIR / GICV_AEOIR / GICV_DIR (QEMU
hw/intc/arm_gic.c: ``gic_acknowledge_irq`` / ``gic_clear_pending_sgi`` for a vCPU, ``gic_complete_irq``,
``gic_deactivate_irq``, ``gic_drop_prio``).

It is the GICv3 interface's arithmetic (``v3_hw.IchCpuIf``) with GICv2's differences:

* five priority bits (GICH_LR.Priority is [27:23]; GICH_VMCR.PriMask five bits), one GICH_APR (the
  two words of ``apr`` are its group 0 / group 1 bits: the running priority is their lowest set
  bit, as GICH_APR's);
* an SGI's LR carries the requesting CPU (GICH_LR.CPUID, [12:10]); GICV_IAR returns it with the
  INTID (``intid | cpuid << 10``) and the guest writes that value back to GICV_EOIR / GICV_DIR;
* GICH_HCR has EN, UIE, LRENPIE, NPIE, VGrp0EIE/DIE, VGrp1EIE/DIE and EOICount at the bit positions
  ICH_HCR_EL2 has them, and no TC/TDIR: GICV_DIR is trapped by not mapping its page at stage 2.
"""

from __future__ import annotations

import attrs

from hvfuzz.model.vgic.irq import SPURIOUS
from hvfuzz.model.vgic.v3_hw import IchCpuIf

#: GICV_IAR / GICV_EOIR / GICV_DIR: CPUID in bits [12:10] (SGIs), INTID in [9:0]; [31:13] reserved
CPUID_SHIFT = 10
NR_SGIS = 16


def split_value(value: int) -> tuple[int, int] | None:
    """A GICV_EOIR / GICV_DIR value as (INTID, CPUID); None if a reserved bit ([31:13]) is set."""
    if value >> 13:
        return None
    return value & 0x3FF, (value >> CPUID_SHIFT) & 7


@attrs.define(slots=True)
class GichCpuIf(IchCpuIf):
    """One pCPU's GICv2 virtual CPU interface (``pri_bits`` 5, as the GICv2 LR holds)."""

    def gicv_iar_read(self, g: int) -> int:
        """GICV_IAR (group 0) / GICV_AIAR (group 1): acknowledge the highest-priority pending LR if
        it can be signalled; an SGI's value carries its LR's CPUID (``gic_clear_pending_sgi``)."""
        i = self.hppvi_index()
        if i is None:
            return SPURIOUS
        lr = self.lrs[i]
        assert lr is not None
        intid = self.icv_iar_read(g)
        if intid == SPURIOUS or intid >= NR_SGIS:
            return intid
        return intid | lr.cpuid << CPUID_SHIFT

    def gicv_eoir_write(self, g: int, value: int) -> None:
        """GICV_EOIR / GICV_AEOIR: priority drop, and with EOImode 0 deactivation of the LR holding
        the INTID, or EOICount + 1 if none does (``gic_complete_irq``; the LR is found by its
        virtual INTID, as QEMU's ``gic_get_lr_entry`` does)."""
        v = split_value(value)
        if v is not None:
            self.icv_eoir_write(g, v[0])

    def gicv_dir_write(self, value: int) -> None:
        """GICV_DIR in hardware (only when its page is mapped: ``VgicPolicy.v2_trap_dir`` False):
        with EOImode 1, deactivate the LR holding the INTID, or EOICount + 1 (``gic_deactivate_irq``)."""
        v = split_value(value)
        if v is not None:
            self.icv_dir_write(v[0])

    #: the version-independent names of ``version.VCpuIf``
    ack = gicv_iar_read
    eoi = gicv_eoir_write


__all__ = ["CPUID_SHIFT", "GichCpuIf", "NR_SGIS", "split_value"]
