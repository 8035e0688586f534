/* SPDX-License-Identifier: Apache-2.0 */
/* hvfuzz syntax-check stub for the selftest header kvm_util.h: see hvfuzz_selftest_stubs.h */
#include "hvfuzz_selftest_stubs.h"
