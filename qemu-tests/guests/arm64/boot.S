/*
 * AArch64 guest for qemu-system-aarch64 -machine virt -cpu max: QEMU enters the ELF at EL1
 * with the MMU off.  The guest programs MAIR/TCR (granule from the layout), points TTBR0_EL1
 * and TTBR1_EL1 at root A of the page tables the build generated from the layout (part of
 * the image), enables the MMU and calls tables_live.  Then it switches both halves to root
 * B and calls root_b_live, switches back to A and increments the layout's counter forever.
 * Any exception calls PSCI SYSTEM_OFF, so a broken guest ends QEMU and fails the test.
 */
#include "layout.h"

#define SCTLR_M 1
#define PSCI_SYSTEM_OFF 0x84000008

.macro set_root ttbr0, ttbr1
        ldr     x0, =\ttbr0
        msr     ttbr0_el1, x0
        ldr     x0, =\ttbr1
        msr     ttbr1_el1, x0
        isb
        tlbi    vmalle1
        dsb     sy
        isb
.endm

        .section .text.start, "ax"
        .globl  _start
_start:
        ldr     x0, =stack_top
        mov     sp, x0
        ldr     x0, =vectors
        msr     vbar_el1, x0
        ldr     x0, =LAYOUT_MAIR
        msr     mair_el1, x0
        ldr     x0, =LAYOUT_TCR
        msr     tcr_el1, x0
        set_root LAYOUT_TTBR0_A, LAYOUT_TTBR1_A
        mrs     x0, sctlr_el1
        orr     x0, x0, #SCTLR_M
        msr     sctlr_el1, x0
        isb
        bl      tables_live
        set_root LAYOUT_TTBR0_B, LAYOUT_TTBR1_B
        bl      root_b_live
        set_root LAYOUT_TTBR0_A, LAYOUT_TTBR1_A
        ldr     x1, =LAYOUT_COUNTER_VA
/* One iteration per counter increment: a breakpoint here counts them. */
        .globl  counter_loop
counter_loop:
        ldr     x2, [x1]
        add     x2, x2, #1
        str     x2, [x1]
        b       counter_loop

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

die:
        ldr     x0, =PSCI_SYSTEM_OFF
        hvc     #0
        b       die
        .ltorg

        .balign 2048
vectors:
        .rept   16
        b       die
        .balign 128
        .endr

        .bss
        .balign 16
        .space  16384
stack_top:
