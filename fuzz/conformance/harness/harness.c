/* hvfuzz conformance harness (EL2, bare metal, QEMU virt with gic-version=3,virtualization=on).
 *
 * For each case of the table the driver loads at CASES_ADDR: program ICH_HCR_EL2, ICH_VMCR_EL2,
 * ICH_AP0R<n>/AP1R<n>_EL2 and the LRs, ERET to an EL1 stub (IRQ/FIQ masked) that performs the
 * case's ICV accesses through the ICC_* encodings (HCR_EL2.IMO/FMO route them to the virtual
 * interface) and records every value read, HVC back, and print one line on the PL011:
 *   C <reads...> | <ICH_HCR> <ICH_MISR> <ICH_EISR> <ICH_ELRSR> <ICH_VMCR> <AP0R..> <AP1R..> <LR..> | <traps>
 * (hex; <traps>: bit i set when access i trapped to EL2 (EC 0x18, e.g. ICV_DIR_EL1 under
 * ICH_HCR_EL2.TDIR): the EL2 vector skips the instruction and emulates nothing).  The first line is "V <ICH_VTR_EL2>", the last "E"; then semihosting SYS_EXIT.
 * An unexpected exception prints "X ..." and exits with status 3. */
typedef unsigned long u64;
typedef unsigned int u32;

#define CASES_ADDR 0x50000000UL
#define MAGIC 0x464e4f435a465648UL /* "HVFZCONF" */
#define MAXACC 24
#define UART 0x09000000UL

struct acc { u64 kind, val; };
struct hcase {
	u64 hcr, vmcr, ap0r[4], ap1r[4], lr[16], nacc;
	struct acc acc[MAXACC];
};
struct header { u64 magic, ncases, maxacc, reserved; };

enum {
	IAR0, IAR1, EOIR0, EOIR1, DIR, PMR_W, PMR_R, BPR0_W, BPR0_R, BPR1_W, BPR1_R,
	CTLR_W, CTLR_R, IGRPEN0_W, IGRPEN0_R, IGRPEN1_W, IGRPEN1_R, HPPIR0, HPPIR1, RPR,
	AP0R0_R, AP1R0_R,
};

#define MRS(reg) ({ u64 __v; __asm__ volatile("mrs %0, " reg : "=r"(__v)); __v; })
#define MSR(reg, v) __asm__ volatile("msr " reg ", %0" : : "r"((u64)(v)))
#define ISB() __asm__ volatile("isb" ::: "memory")

static void putc_(char c)
{
	volatile u32 *dr = (volatile u32 *)UART, *fr = (volatile u32 *)(UART + 0x18);
	while (*fr & (1 << 5))
		;
	*dr = (u32)c;
}

static void puts_(const char *s)
{
	while (*s)
		putc_(*s++);
}

static void puthex(u64 v)
{
	char buf[17];
	int i = 16;
	buf[i] = 0;
	do {
		buf[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	putc_(' ');
	puts_(buf + i);
}

static void sys_exit(u64 code)
{
	volatile u64 block[2] = {0x20026, code};
	register u64 x0 __asm__("x0") = 0x18;
	register volatile u64 *x1 __asm__("x1") = block;
	__asm__ volatile("hlt #0xf000" : : "r"(x0), "r"(x1) : "memory");
	for (;;)
		;
}

void unexpected(u64 vec, u64 esr, u64 elr, u64 far, u64 from)
{
	puts_("\nX");
	puthex(from);
	puthex(vec);
	puthex(esr);
	puthex(elr);
	puthex(far);
	putc_('\n');
	sys_exit(3);
}

void wrong_el_c(u64 unused, u64 el)
{
	(void)unused;
	puts_("\nX wrong-el");
	puthex(el);
	putc_('\n');
	sys_exit(3);
}

/* ---- EL1 ---------------------------------------------------------------------------------- */
#define LAST (~0UL)
/* EOIR(LAST) pops the vINTID of the last acknowledge not yet EOId (1023 if none); DIR(LAST)
 * uses the vINTID the last EOIR(LAST) popped (cases.py LAST). */
volatile u64 trap_flag; /* set by the EL2 vector (start.S) on a trapped ICV access */
volatile u64 trap_mask;

void el1_main(const struct hcase *c, u64 *reads)
{
	u64 n = c->nacc, i, acked[MAXACC], nacked = 0, last_eoi = 1023, r;
	trap_mask = 0;
	for (i = 0; i < n && i < MAXACC; i++) {
		u64 v = c->acc[i].val;
		trap_flag = 0;
		switch (c->acc[i].kind) {
		case EOIR0:
		case EOIR1:
			if (v == LAST)
				v = last_eoi = nacked ? acked[--nacked] : 1023;
			break;
		case DIR:
			if (v == LAST)
				v = last_eoi;
			break;
		}
		switch (c->acc[i].kind) {
		case IAR0:
			*reads++ = r = MRS("S3_0_C12_C8_0");
			if (r < 1020)
				acked[nacked++] = r;
			break;
		case IAR1:
			*reads++ = r = MRS("S3_0_C12_C12_0");
			if (r < 1020)
				acked[nacked++] = r;
			break;
		case EOIR0: MSR("S3_0_C12_C8_1", v); break;
		case EOIR1: MSR("S3_0_C12_C12_1", v); break;
		case DIR: MSR("S3_0_C12_C11_1", v); break;
		case PMR_W: MSR("S3_0_C4_C6_0", v); break;
		case PMR_R: *reads++ = MRS("S3_0_C4_C6_0"); break;
		case BPR0_W: MSR("S3_0_C12_C8_3", v); break;
		case BPR0_R: *reads++ = MRS("S3_0_C12_C8_3"); break;
		case BPR1_W: MSR("S3_0_C12_C12_3", v); break;
		case BPR1_R: *reads++ = MRS("S3_0_C12_C12_3"); break;
		case CTLR_W: MSR("S3_0_C12_C12_4", v); break;
		case CTLR_R: *reads++ = MRS("S3_0_C12_C12_4"); break;
		case IGRPEN0_W: MSR("S3_0_C12_C12_6", v); break;
		case IGRPEN0_R: *reads++ = MRS("S3_0_C12_C12_6"); break;
		case IGRPEN1_W: MSR("S3_0_C12_C12_7", v); break;
		case IGRPEN1_R: *reads++ = MRS("S3_0_C12_C12_7"); break;
		case HPPIR0: *reads++ = MRS("S3_0_C12_C8_2"); break;
		case HPPIR1: *reads++ = MRS("S3_0_C12_C12_2"); break;
		case RPR: *reads++ = MRS("S3_0_C12_C11_3"); break;
		case AP0R0_R: *reads++ = MRS("S3_0_C12_C8_4"); break;
		case AP1R0_R: *reads++ = MRS("S3_0_C12_C9_0"); break;
		default: *reads++ = 0xbad0000 | c->acc[i].kind; break;
		}
		ISB();
		if (trap_flag)
			trap_mask |= 1UL << i;
	}
}

/* ---- EL2 ---------------------------------------------------------------------------------- */
void run_el1(const struct hcase *c, u64 *reads);

static void write_lr(int n, u64 v)
{
	switch (n) {
	case 0: MSR("S3_4_C12_C12_0", v); break;
	case 1: MSR("S3_4_C12_C12_1", v); break;
	case 2: MSR("S3_4_C12_C12_2", v); break;
	case 3: MSR("S3_4_C12_C12_3", v); break;
	case 4: MSR("S3_4_C12_C12_4", v); break;
	case 5: MSR("S3_4_C12_C12_5", v); break;
	case 6: MSR("S3_4_C12_C12_6", v); break;
	case 7: MSR("S3_4_C12_C12_7", v); break;
	case 8: MSR("S3_4_C12_C13_0", v); break;
	case 9: MSR("S3_4_C12_C13_1", v); break;
	case 10: MSR("S3_4_C12_C13_2", v); break;
	case 11: MSR("S3_4_C12_C13_3", v); break;
	case 12: MSR("S3_4_C12_C13_4", v); break;
	case 13: MSR("S3_4_C12_C13_5", v); break;
	case 14: MSR("S3_4_C12_C13_6", v); break;
	case 15: MSR("S3_4_C12_C13_7", v); break;
	}
}

static u64 read_lr(int n)
{
	switch (n) {
	case 0: return MRS("S3_4_C12_C12_0");
	case 1: return MRS("S3_4_C12_C12_1");
	case 2: return MRS("S3_4_C12_C12_2");
	case 3: return MRS("S3_4_C12_C12_3");
	case 4: return MRS("S3_4_C12_C12_4");
	case 5: return MRS("S3_4_C12_C12_5");
	case 6: return MRS("S3_4_C12_C12_6");
	case 7: return MRS("S3_4_C12_C12_7");
	case 8: return MRS("S3_4_C12_C13_0");
	case 9: return MRS("S3_4_C12_C13_1");
	case 10: return MRS("S3_4_C12_C13_2");
	case 11: return MRS("S3_4_C12_C13_3");
	case 12: return MRS("S3_4_C12_C13_4");
	case 13: return MRS("S3_4_C12_C13_5");
	case 14: return MRS("S3_4_C12_C13_6");
	case 15: return MRS("S3_4_C12_C13_7");
	}
	return 0;
}

static void write_apr(int g, int n, u64 v)
{
	if (g == 0) {
		switch (n) {
		case 0: MSR("S3_4_C12_C8_0", v); break;
		case 1: MSR("S3_4_C12_C8_1", v); break;
		case 2: MSR("S3_4_C12_C8_2", v); break;
		case 3: MSR("S3_4_C12_C8_3", v); break;
		}
	} else {
		switch (n) {
		case 0: MSR("S3_4_C12_C9_0", v); break;
		case 1: MSR("S3_4_C12_C9_1", v); break;
		case 2: MSR("S3_4_C12_C9_2", v); break;
		case 3: MSR("S3_4_C12_C9_3", v); break;
		}
	}
}

static u64 read_apr(int g, int n)
{
	if (g == 0) {
		switch (n) {
		case 0: return MRS("S3_4_C12_C8_0");
		case 1: return MRS("S3_4_C12_C8_1");
		case 2: return MRS("S3_4_C12_C8_2");
		case 3: return MRS("S3_4_C12_C8_3");
		}
	} else {
		switch (n) {
		case 0: return MRS("S3_4_C12_C9_0");
		case 1: return MRS("S3_4_C12_C9_1");
		case 2: return MRS("S3_4_C12_C9_2");
		case 3: return MRS("S3_4_C12_C9_3");
		}
	}
	return 0;
}

static u64 reads[MAXACC];

void harness_main(void)
{
	const struct header *h = (const struct header *)CASES_ADDR;
	const struct hcase *cases = (const struct hcase *)(CASES_ADDR + sizeof(struct header));
	u64 vtr, i, k;
	int nlr, napr, n;

	/* ICC_SRE_EL2: SRE | Enable (EL1 may use the system registers) */
	MSR("S3_4_C12_C9_5", MRS("S3_4_C12_C9_5") | 1 | 8);
	ISB();
	/* HCR_EL2: RW (EL1 is AArch64), IMO, FMO: ICC_* at EL1 are the ICV_* registers */
	MSR("hcr_el2", (1UL << 31) | (1UL << 4) | (1UL << 3));
	MSR("sctlr_el1", 0x30d00800UL); /* RES1 bits, MMU and caches off */
	ISB();
	vtr = MRS("S3_4_C12_C11_1");
	puts_("V");
	puthex(vtr);
	putc_('\n');
	if (h->magic != MAGIC || h->maxacc != MAXACC) {
		puts_("X bad-cases");
		puthex(h->magic);
		puthex(h->maxacc);
		putc_('\n');
		sys_exit(3);
	}
	nlr = (int)(vtr & 0x1f) + 1;
	napr = 1 << ((int)((vtr >> 26) & 7) + 1 - 5);
	for (i = 0; i < h->ncases; i++) {
		const struct hcase *c = &cases[i];
		u64 nreads = 0;
		MSR("S3_4_C12_C11_0", 0); /* ICH_HCR_EL2 off while loading */
		ISB();
		for (n = 0; n < nlr; n++)
			write_lr(n, c->lr[n]);
		for (n = 0; n < napr && n < 4; n++) {
			write_apr(0, n, c->ap0r[n]);
			write_apr(1, n, c->ap1r[n]);
		}
		MSR("S3_4_C12_C11_7", c->vmcr);
		MSR("S3_4_C12_C11_0", c->hcr);
		ISB();
		run_el1(c, reads);
		ISB();
		for (k = 0; k < c->nacc && k < MAXACC; k++) {
			u64 kind = c->acc[k].kind;
			if (kind == IAR0 || kind == IAR1 || kind == PMR_R || kind == BPR0_R || kind == BPR1_R ||
			    kind == CTLR_R || kind == IGRPEN0_R || kind == IGRPEN1_R || kind == HPPIR0 ||
			    kind == HPPIR1 || kind == RPR || kind == AP0R0_R || kind == AP1R0_R || kind > AP1R0_R)
				nreads++;
		}
		putc_('C');
		for (k = 0; k < nreads; k++)
			puthex(reads[k]);
		puts_(" |");
		puthex(MRS("S3_4_C12_C11_0"));
		puthex(MRS("S3_4_C12_C11_2"));
		puthex(MRS("S3_4_C12_C11_3"));
		puthex(MRS("S3_4_C12_C11_5"));
		puthex(MRS("S3_4_C12_C11_7"));
		for (n = 0; n < napr && n < 4; n++)
			puthex(read_apr(0, n));
		for (n = 0; n < napr && n < 4; n++)
			puthex(read_apr(1, n));
		for (n = 0; n < nlr; n++)
			puthex(read_lr(n));
		puts_(" |");
		puthex(trap_mask);
		putc_('\n');
	}
	MSR("S3_4_C12_C11_0", 0);
	puts_("E\n");
	sys_exit(0);
}
