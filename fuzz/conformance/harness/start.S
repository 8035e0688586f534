/* hvfuzz conformance harness: entry at EL2, the EL2 and EL1 vector tables, and the EL2 -> EL1 -> EL2
 * round trip of one case (run_el1: ERET to el1_entry; the EL1 stub's HVC #0 returns from run_el1). */
	.section .text.boot, "ax"
	.global _start
_start:
	mrs	x0, CurrentEL
	lsr	x0, x0, #2
	cmp	x0, #2
	b.ne	wrong_el
	ldr	x0, =__stack_el2_top
	mov	sp, x0
	ldr	x0, =vectors_el2
	msr	vbar_el2, x0
	isb
	bl	harness_main
	b	.
wrong_el:
	mov	x1, x0
	mov	x0, #0
	bl	wrong_el_c
	b	.

	.text
	/* void run_el1(const struct hcase *c, u64 *reads): x0, x1 reach el1_main unchanged */
	.global run_el1
run_el1:
	ldr	x9, =el2_save
	stp	x19, x20, [x9, #0]
	stp	x21, x22, [x9, #16]
	stp	x23, x24, [x9, #32]
	stp	x25, x26, [x9, #48]
	stp	x27, x28, [x9, #64]
	stp	x29, x30, [x9, #80]
	mov	x10, sp
	str	x10, [x9, #96]
	ldr	x10, =__stack_el1_top
	msr	sp_el1, x10
	ldr	x10, =vectors_el1
	msr	vbar_el1, x10
	ldr	x10, =el1_entry
	msr	elr_el2, x10
	mov	x10, #0x3c5		/* EL1h, D A I F masked */
	msr	spsr_el2, x10
	isb
	eret

el1_entry:
	bl	el1_main
	hvc	#0
	b	.

	/* HVC #0 from EL1: back into run_el1's caller */
el2_hvc_return:
	ldr	x9, =el2_save
	ldp	x19, x20, [x9, #0]
	ldp	x21, x22, [x9, #16]
	ldp	x23, x24, [x9, #32]
	ldp	x25, x26, [x9, #48]
	ldp	x27, x28, [x9, #64]
	ldp	x29, x30, [x9, #80]
	ldr	x10, [x9, #96]
	mov	sp, x10
	ret

	/* sync exception from EL1 (lower EL, AArch64) */
el2_lower_sync:
	/* a trapped ICV access (EC 0x18, e.g. ICV_DIR_EL1 with ICH_HCR_EL2.TDIR): set trap_flag, skip
	 * the instruction and return to the EL1 stub with every register intact */
	stp	x9, x10, [sp, #-16]!
	mrs	x9, esr_el2
	lsr	x10, x9, #26
	cmp	x10, #0x18
	b.ne	2f
	ldr	x9, =trap_flag
	mov	x10, #1
	str	x10, [x9]
	mrs	x9, elr_el2
	add	x9, x9, #4
	msr	elr_el2, x9
	ldp	x9, x10, [sp], #16
	eret
2:	ldp	x9, x10, [sp], #16
	mrs	x9, esr_el2
	lsr	x10, x9, #26
	cmp	x10, #0x16		/* HVC */
	b.ne	1f
	and	x10, x9, #0xffff
	cbz	x10, el2_hvc_return
	/* HVC #1: the EL1 vectors report an EL1 exception in x0..x3 */
	ldr	x9, =el2_save
	ldr	x10, [x9, #96]
	mov	sp, x10
	mov	x4, #1
	bl	unexpected
	b	.
1:	mov	x0, #0x400
	b	el2_unexpected_common

el2_unexpected_common:
	ldr	x9, =__stack_el2_top
	mov	sp, x9
	mrs	x1, esr_el2
	mrs	x2, elr_el2
	mrs	x3, far_el2
	mov	x4, #2
	bl	unexpected
	b	.

	.macro	vent label
	.balign	0x80
	b	\label
	.endm

	.macro	vent_off off
	.balign	0x80
	mov	x0, #\off
	b	el2_unexpected_common
	.endm

	.balign	0x800
vectors_el2:
	vent_off 0x000
	vent_off 0x080
	vent_off 0x100
	vent_off 0x180
	vent_off 0x200
	vent_off 0x280
	vent_off 0x300
	vent_off 0x380
	vent	el2_lower_sync
	vent_off 0x480
	vent_off 0x500
	vent_off 0x580
	vent_off 0x600
	vent_off 0x680
	vent_off 0x700
	vent_off 0x780

	.macro	vent1 off
	.balign	0x80
	mov	x0, #\off
	mrs	x1, esr_el1
	mrs	x2, elr_el1
	mrs	x3, far_el1
	hvc	#1
	b	.
	.endm

	.balign	0x800
vectors_el1:
	vent1 0x000
	vent1 0x080
	vent1 0x100
	vent1 0x180
	vent1 0x200
	vent1 0x280
	vent1 0x300
	vent1 0x380
	vent1 0x400
	vent1 0x480
	vent1 0x500
	vent1 0x580
	vent1 0x600
	vent1 0x680
	vent1 0x700
	vent1 0x780

	.data
	.balign	16
el2_save:
	.space	128
