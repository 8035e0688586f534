/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hvfuzz: declarations of the KVM selftest library (tools/testing/selftests/kvm/include:
 * kvm_util.h, ucall_common.h, arm64/processor.h, gic.h, vgic.h) that the C skeletons of
 * "hvfuzz export --format c" use, with the signatures of the current tree, so the skeletons can
 * be syntax-checked without a kernel tree:
 *
 *     gcc -fsyntax-only -I <this directory> repro.c
 *
 * For a test that runs, build the skeleton inside tools/testing/selftests/kvm instead; these stubs
 * declare, they do not implement.  Register ids and encodings here are placeholders.
 */
#ifndef HVFUZZ_SELFTEST_STUBS_H
#define HVFUZZ_SELFTEST_STUBS_H

#include <stdbool.h>
#include <stdint.h>
#include <sched.h>

/* --- kvm_util.h / test_util.h --------------------------------------------------------------- */
struct kvm_vm;
struct kvm_run { uint32_t exit_reason; };
struct kvm_vcpu { struct kvm_vm *vm; struct kvm_run *run; uint32_t id; };

void __TEST_ASSERT(int cond, const char *fmt, ...);
#define TEST_ASSERT(cond, fmt, ...)	__TEST_ASSERT(!!(cond), fmt, ##__VA_ARGS__)
#define TEST_FAIL(fmt, ...)		__TEST_ASSERT(0, fmt, ##__VA_ARGS__)
const char *exit_reason_str(unsigned int exit_reason);

struct kvm_vm *vm_create_with_vcpus(uint32_t nr_vcpus, void *guest_code, struct kvm_vcpu *vcpus[]);
void kvm_vm_free(struct kvm_vm *vm);
void vcpu_run(struct kvm_vcpu *vcpu);
void vcpu_arch_set_entry_point(struct kvm_vcpu *vcpu, void *guest_code);
int __vm_ioctl(struct kvm_vm *vm, unsigned long cmd, void *arg);
int __vcpu_ioctl(struct kvm_vcpu *vcpu, unsigned long cmd, void *arg);
#define vm_ioctl(vm, cmd, arg)		TEST_ASSERT(!__vm_ioctl(vm, cmd, arg), #cmd)
#define vcpu_ioctl(vcpu, cmd, arg)	TEST_ASSERT(!__vcpu_ioctl(vcpu, cmd, arg), #cmd)

void vcpu_set_reg(struct kvm_vcpu *vcpu, uint64_t id, uint64_t val);
uint64_t vcpu_get_reg(struct kvm_vcpu *vcpu, uint64_t id);

struct kvm_vcpu_events {
	struct {
		uint8_t serror_pending;
		uint8_t serror_has_esr;
		uint8_t ext_dabt_pending;
		uint8_t pad[5];
		uint64_t serror_esr;
	} exception;
	uint32_t reserved[12];
};
void vcpu_events_get(struct kvm_vcpu *vcpu, struct kvm_vcpu_events *events);
void vcpu_events_set(struct kvm_vcpu *vcpu, struct kvm_vcpu_events *events);

#define KVM_GUESTDBG_ENABLE		0x00000001
#define KVM_GUESTDBG_SINGLESTEP		0x00000002
struct kvm_guest_debug { uint32_t control; uint32_t pad; uint64_t arch[32]; };
void vcpu_guest_debug_set(struct kvm_vcpu *vcpu, struct kvm_guest_debug *debug);

#define KVM_MP_STATE_RUNNABLE		0
#define KVM_MP_STATE_STOPPED		5
struct kvm_mp_state { uint32_t mp_state; };
void vcpu_mp_state_get(struct kvm_vcpu *vcpu, struct kvm_mp_state *mp_state);
void vcpu_mp_state_set(struct kvm_vcpu *vcpu, struct kvm_mp_state *mp_state);

struct kvm_vcpu_init { uint32_t target; uint32_t features[7]; };
#define KVM_ARM_VCPU_POWER_OFF		0
#define KVM_ARM_VCPU_INIT		0x4020aeaeUL
#define KVM_ARM_PREFERRED_TARGET	0x8020aeafUL

void kvm_irq_line(struct kvm_vm *vm, uint32_t irq, int level);
/* vgic.h: the distributor writes through KVM_DEV_ARM_VGIC_GRP_DIST_REGS (vgic_irq.c) */
void kvm_irq_write_ispendr(int gic_fd, uint32_t intid, struct kvm_vcpu *vcpu);
void kvm_irq_write_isactiver(int gic_fd, uint32_t intid, struct kvm_vcpu *vcpu);

#define READ_ONCE(x)			(*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, val)		(*(volatile __typeof__(x) *)&(x) = (val))
#define PAGE_SIZE			4096UL

/* --- ucall_common.h ---------------------------------------------------------------------------- */
enum { UCALL_NONE, UCALL_SYNC, UCALL_ABORT, UCALL_PRINTF, UCALL_DONE, UCALL_UNHANDLED };
struct ucall { uint64_t cmd; uint64_t args[6]; char buffer[1024]; };
uint64_t get_ucall(struct kvm_vcpu *vcpu, struct ucall *uc);
void ucall(uint64_t cmd, int nargs, ...);
#define GUEST_SYNC(stage)		ucall(UCALL_SYNC, 2, "hello", stage)
#define GUEST_DONE()			ucall(UCALL_DONE, 0)
#define REPORT_GUEST_ASSERT(uc)		TEST_FAIL("guest assert: %s", (uc).buffer)

/* --- arm64/processor.h ---------------------------------------------------------------------- */
struct arm_smccc_res { unsigned long a0, a1, a2, a3; };
void smccc_hvc(uint32_t function_id, uint64_t arg0, uint64_t arg1, uint64_t arg2, uint64_t arg3,
	       uint64_t arg4, uint64_t arg5, uint64_t arg6, struct arm_smccc_res *res);
void smccc_smc(uint32_t function_id, uint64_t arg0, uint64_t arg1, uint64_t arg2, uint64_t arg3,
	       uint64_t arg4, uint64_t arg5, uint64_t arg6, struct arm_smccc_res *res);

#define __ARM64_CORE_REG_OFF(x)		0
#define ARM64_CORE_REG(x)		(0x6030000000100000ULL | __ARM64_CORE_REG_OFF(x))
#define KVM_ARM64_SYS_REG(sys_reg_id)	(0x6030000000130000ULL | (uint64_t)(sys_reg_id))
#define KVM_SPSR_ABT			1
#define KVM_SPSR_UND			2
#define KVM_SPSR_IRQ			3
#define KVM_SPSR_FIQ			4

/* sysreg encodings (placeholders; the real ones are in tools/arch/arm64/include/asm/sysreg.h) */
#define SYS_ACTLR_EL1	0x1000
#define SYS_CNTP_CTL_EL0	0x1001
#define SYS_CNTP_CVAL_EL0	0x1002
#define SYS_CNTVOFF_EL2	0x1003
#define SYS_CNTV_CTL_EL0	0x1004
#define SYS_CNTV_CVAL_EL0	0x1005
#define SYS_CONTEXTIDR_EL1	0x1006
#define SYS_ELR_EL1	0x1007
#define SYS_ESR_EL1	0x1008
#define SYS_FAR_EL1	0x1009
#define SYS_MDSCR_EL1	0x100a
#define SYS_PAR_EL1	0x100b
#define SYS_PMCR_EL0	0x100c
#define SYS_PMOVSSET_EL0	0x100d
#define SYS_PMSELR_EL0	0x100e
#define SYS_SCTLR_EL1	0x100f
#define SYS_SPSR_EL1	0x1010
#define SYS_TCR_EL1	0x1011
#define SYS_TPIDR_EL1	0x1012
#define SYS_VBAR_EL1	0x1013
#define SYS_TTBR0_EL1	0x1014
#define SYS_TTBR1_EL1	0x1015
#define SYS_MAIR_EL1	0x1016
#define SYS_AMAIR_EL1	0x1017
#define SYS_AFSR0_EL1	0x1018
#define SYS_AFSR1_EL1	0x1019
#define SYS_CPACR_EL1	0x101a
#define SYS_MPIDR_EL1	0x101b
#define SYS_ICC_BPR0_EL1	0x2000
#define SYS_ICC_BPR1_EL1	0x2001
#define SYS_ICC_IGRPEN0_EL1	0x2002
#define SYS_ICC_IGRPEN1_EL1	0x2003
#define SYS_ICC_AP1R0_EL1	0x2004
#define SYS_ICC_AP1R1_EL1	0x2005
#define SYS_ICC_AP1R2_EL1	0x2006
#define SYS_ICC_AP1R3_EL1	0x2007

static inline void __hvfuzz_use(uint64_t x) { (void)x; }
#define write_sysreg(v, r)		__hvfuzz_use((uint64_t)(v))
#define read_sysreg(r)			((uint64_t)0)
#define write_sysreg_s(v, r)		__hvfuzz_use((uint64_t)(v) + (r))
#define isb()				do { } while (0)

/* --- gic.h, vgic.h ------------------------------------------------------------------------------ */
uint32_t gic_get_and_ack_irq(void);
void gic_set_eoi(unsigned int intid);
void gic_set_dir(unsigned int intid);
void gic_set_priority_mask(uint64_t mask);
void gic_set_eoi_split(bool split);
int vgic_v3_setup(struct kvm_vm *vm, unsigned int nr_vcpus, uint32_t nr_irqs);
void kvm_arm_irq_line(struct kvm_vm *vm, uint32_t intid, int level);

#endif /* HVFUZZ_SELFTEST_STUBS_H */
