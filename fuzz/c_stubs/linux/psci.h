/* SPDX-License-Identifier: Apache-2.0 */
/* hvfuzz syntax-check stub: the PSCI function IDs of include/uapi/linux/psci.h the skeletons use */
#ifndef HVFUZZ_STUB_LINUX_PSCI_H
#define HVFUZZ_STUB_LINUX_PSCI_H
#define PSCI_0_2_FN_PSCI_VERSION	0x84000000
#define PSCI_0_2_FN_CPU_OFF		0x84000002
#define PSCI_0_2_FN64_CPU_ON		0xc4000003
#define PSCI_0_2_FN64_AFFINITY_INFO	0xc4000004
#define PSCI_0_2_FN_SYSTEM_OFF		0x84000008
#define PSCI_0_2_FN_SYSTEM_RESET	0x84000009
#define PSCI_1_1_FN64_SYSTEM_RESET2	0xc4000012
#endif
