/*
 * RISC-V guest (RV64 with Sv39/Sv48/Sv57, RV32 with Sv32) for qemu-system-riscv{64,32}
 * -machine virt -bios none: QEMU jumps to the start of DRAM in M-mode.  M-mode opens one
 * PMP entry over all memory (S-mode has no access without one), writes satp with root A of
 * the page tables the build generated from the layout (part of the image), and mret's to
 * S-mode.  S-mode calls tables_live (root A live), switches to root B and calls root_b_live,
 * switches back to A and increments the layout's counter forever.  With LAYOUT_CPUS > 1
 * (-smp), the other harts run in S-mode on root B, idle in wfi, and hart 0 waits for them
 * before tables_live, so that every CPU's root is known at the stop.  Any trap ends QEMU
 * through the virt test device, so a broken guest fails the test at once.
 */
#include "layout.h"

#if __riscv_xlen == 64
#define LREG ld
#define SREG sd
#else
#define LREG lw
#define SREG sw
#endif

#define MSTATUS_MPP_MASK (3 << 11)
#define MSTATUS_MPP_S (1 << 11)
#define PMP_NAPOT_RWX 0x1f
#define VIRT_TEST 0x100000
#define VIRT_TEST_FAIL 0x13333 /* exit code 1 */

        .section .text.start, "ax"
        .globl  _start
_start:
        csrw    mie, zero
        la      t0, m_trap
        csrw    mtvec, t0
        li      t0, -1
        csrw    pmpaddr0, t0
        li      t0, PMP_NAPOT_RWX
        csrw    pmpcfg0, t0
        li      t0, MSTATUS_MPP_MASK
        csrc    mstatus, t0
        li      t0, MSTATUS_MPP_S
        csrs    mstatus, t0
        csrr    a0, mhartid
        bnez    a0, secondary
        la      sp, stack_top
        li      t0, LAYOUT_SATP_A
        csrw    satp, t0
        sfence.vma
        la      t0, s_entry
        csrw    mepc, t0
        mret

secondary:
        li      t0, LAYOUT_SATP_B
        csrw    satp, t0
        sfence.vma
        la      t0, s_secondary
        csrw    mepc, t0
        mret

        .text
s_entry:
#if LAYOUT_CPUS > 1
        la      t1, harts_ready
        li      t2, LAYOUT_CPUS - 1
1:      lw      t0, 0(t1)
        bne     t0, t2, 1b
#endif
        call    tables_live
        li      t0, LAYOUT_SATP_B
        csrw    satp, t0
        sfence.vma
        call    root_b_live
        li      t0, LAYOUT_SATP_A
        csrw    satp, t0
        sfence.vma
        li      s1, LAYOUT_COUNTER_VA
/* One iteration per counter increment: a breakpoint here counts them. */
        .globl  counter_loop
counter_loop:
        LREG    t0, 0(s1)
        addi    t0, t0, 1
        SREG    t0, 0(s1)
        j       counter_loop

/* The tests stop here: root A is live. */
        .globl  tables_live
        .type   tables_live, @function
tables_live:
        nop
        ret
        .size   tables_live, . - tables_live

/* And here: root B is live. */
        .globl  root_b_live
        .type   root_b_live, @function
root_b_live:
        nop
        ret
        .size   root_b_live, . - root_b_live

/* Harts other than 0: root B, then idle. */
s_secondary:
        la      t1, harts_ready
        li      t0, 1
        amoadd.w zero, t0, (t1)
        .globl  secondary_idle
secondary_idle:
        wfi
        j       secondary_idle

        .balign 4
m_trap:
        li      t0, VIRT_TEST
        li      t1, VIRT_TEST_FAIL
        sw      t1, 0(t0)
1:      j       1b

        .bss
        .balign 4
harts_ready:
        .space  4
        .balign 16
        .space  16384
stack_top:
