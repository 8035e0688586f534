"""Conformance of the GICv3 virtual CPU interface model (``model/vgic/v3_hw.py``) and ArchGic
against an implementation written elsewhere: QEMU's GICv3 under TCG (issue 18)."""
