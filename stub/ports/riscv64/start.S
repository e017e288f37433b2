/* start.S - entry and trap vector of the RISC-V demo guest (M-mode).
 *
 * The trap handler saves x1..x31 and mepc into trap_frame in the layout of
 * stub_arch_riscv64 (x0..x31 then pc, 8 bytes each), calls guest_trap()
 * on a stack of its own, and restores the frame, which the debugger may
 * have changed, before mret. */
        .option norvc
        .section .text.start, "ax"
        .globl  _start
_start:
        csrr    t0, mhartid
        bnez    t0, park
        la      sp, stack_top
        la      t0, trap_frame
        csrw    mscratch, t0
        la      t0, trap_entry
        csrw    mtvec, t0
        la      t0, __bss_start
        la      t1, __bss_end
1:      bgeu    t0, t1, 2f
        sd      zero, 0(t0)
        addi    t0, t0, 8
        j       1b
2:      call    guest_main
park:   wfi
        j       park

        .text
        .balign 4
trap_entry:
        csrrw   t6, mscratch, t6
        sd      x1, 8(t6)
        sd      x2, 16(t6)
        sd      x3, 24(t6)
        sd      x4, 32(t6)
        sd      x5, 40(t6)
        sd      x6, 48(t6)
        sd      x7, 56(t6)
        sd      x8, 64(t6)
        sd      x9, 72(t6)
        sd      x10, 80(t6)
        sd      x11, 88(t6)
        sd      x12, 96(t6)
        sd      x13, 104(t6)
        sd      x14, 112(t6)
        sd      x15, 120(t6)
        sd      x16, 128(t6)
        sd      x17, 136(t6)
        sd      x18, 144(t6)
        sd      x19, 152(t6)
        sd      x20, 160(t6)
        sd      x21, 168(t6)
        sd      x22, 176(t6)
        sd      x23, 184(t6)
        sd      x24, 192(t6)
        sd      x25, 200(t6)
        sd      x26, 208(t6)
        sd      x27, 216(t6)
        sd      x28, 224(t6)
        sd      x29, 232(t6)
        sd      x30, 240(t6)
        csrr    x1, mscratch
        sd      x1, 248(t6)
        csrr    x1, mepc
        sd      x1, 256(t6)
        csrw    mscratch, t6
        la      sp, trap_stack_top
        mv      a0, t6
        call    guest_trap
        la      t6, trap_frame
        ld      x1, 256(t6)
        csrw    mepc, x1
        ld      x1, 8(t6)
        ld      x2, 16(t6)
        ld      x3, 24(t6)
        ld      x4, 32(t6)
        ld      x5, 40(t6)
        ld      x6, 48(t6)
        ld      x7, 56(t6)
        ld      x8, 64(t6)
        ld      x9, 72(t6)
        ld      x10, 80(t6)
        ld      x11, 88(t6)
        ld      x12, 96(t6)
        ld      x13, 104(t6)
        ld      x14, 112(t6)
        ld      x15, 120(t6)
        ld      x16, 128(t6)
        ld      x17, 136(t6)
        ld      x18, 144(t6)
        ld      x19, 152(t6)
        ld      x20, 160(t6)
        ld      x21, 168(t6)
        ld      x22, 176(t6)
        ld      x23, 184(t6)
        ld      x24, 192(t6)
        ld      x25, 200(t6)
        ld      x26, 208(t6)
        ld      x27, 216(t6)
        ld      x28, 224(t6)
        ld      x29, 232(t6)
        ld      x30, 240(t6)
        ld      x31, 248(t6)
        mret

/* A breakpoint compiled into the guest: the trap handler steps over it. */
        .globl  stub_breakpoint
        .globl  stub_compiled_break
stub_breakpoint:
stub_compiled_break:
        ebreak
        ret

        .bss
        .balign 16
        .globl  trap_frame
trap_frame:
        .space  8 * 36
        .balign 16
        .space  16384
stack_top:
        .space  8192
trap_stack_top:
