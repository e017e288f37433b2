/* start.S - entry and exception vectors of the AArch64 demo guest (EL1,
 * MMU off).
 *
 * The synchronous exception handler (current EL, SP_ELx) saves x0..x30,
 * the interrupted sp, ELR_EL1 and SPSR_EL1 as 34 words on the stack, calls
 * guest_trap() with their address, and restores them (the debugger may
 * have changed them) before eret.  A changed sp is not applied: the frame
 * lives on that stack. */
        .section .text.start, "ax"
        .globl  _start
_start:
        mrs     x0, mpidr_el1
        and     x0, x0, #0xff
        cbnz    x0, park
        ldr     x0, =stack_top
        mov     sp, x0
        ldr     x0, =vectors
        msr     vbar_el1, x0
        msr     oslar_el1, xzr          /* unlock the OS lock: debug exceptions on */
        isb
        ldr     x0, =__bss_start
        ldr     x1, =__bss_end
1:      cmp     x0, x1
        b.hs    2f
        str     xzr, [x0], #8
        b       1b
2:      msr     daifclr, #8             /* unmask debug exceptions (software step) */
        bl      guest_main
park:   wfe
        b       park

        .text
        .balign 2048
vectors:
        .org    vectors + 0x000
        b       hang
        .org    vectors + 0x080
        b       hang
        .org    vectors + 0x100
        b       hang
        .org    vectors + 0x180
        b       hang
        .org    vectors + 0x200
        b       sync_entry
        .org    vectors + 0x280
        b       hang
        .org    vectors + 0x300
        b       hang
        .org    vectors + 0x380
        b       hang
        .org    vectors + 0x400
        b       hang
        .org    vectors + 0x480
        b       hang
        .org    vectors + 0x500
        b       hang
        .org    vectors + 0x580
        b       hang
        .org    vectors + 0x600
        b       hang
        .org    vectors + 0x680
        b       hang
        .org    vectors + 0x700
        b       hang
        .org    vectors + 0x780
        b       hang
hang:   wfe
        b       hang

sync_entry:
        sub     sp, sp, #272
        stp     x0, x1, [sp, #0]
        stp     x2, x3, [sp, #16]
        stp     x4, x5, [sp, #32]
        stp     x6, x7, [sp, #48]
        stp     x8, x9, [sp, #64]
        stp     x10, x11, [sp, #80]
        stp     x12, x13, [sp, #96]
        stp     x14, x15, [sp, #112]
        stp     x16, x17, [sp, #128]
        stp     x18, x19, [sp, #144]
        stp     x20, x21, [sp, #160]
        stp     x22, x23, [sp, #176]
        stp     x24, x25, [sp, #192]
        stp     x26, x27, [sp, #208]
        stp     x28, x29, [sp, #224]
        add     x0, sp, #272
        stp     x30, x0, [sp, #240]
        mrs     x0, elr_el1
        mrs     x1, spsr_el1
        stp     x0, x1, [sp, #256]
        mov     x0, sp
        bl      guest_trap
        ldp     x0, x1, [sp, #256]
        msr     elr_el1, x0
        msr     spsr_el1, x1
        ldp     x0, x1, [sp, #0]
        ldp     x2, x3, [sp, #16]
        ldp     x4, x5, [sp, #32]
        ldp     x6, x7, [sp, #48]
        ldp     x8, x9, [sp, #64]
        ldp     x10, x11, [sp, #80]
        ldp     x12, x13, [sp, #96]
        ldp     x14, x15, [sp, #112]
        ldp     x16, x17, [sp, #128]
        ldp     x18, x19, [sp, #144]
        ldp     x20, x21, [sp, #160]
        ldp     x22, x23, [sp, #176]
        ldp     x24, x25, [sp, #192]
        ldp     x26, x27, [sp, #208]
        ldp     x28, x29, [sp, #224]
        ldr     x30, [sp, #240]
        add     sp, sp, #272
        eret

/* A breakpoint compiled into the guest: the trap handler steps over it. */
        .globl  stub_breakpoint
        .globl  stub_compiled_break
stub_breakpoint:
stub_compiled_break:
        brk     #0
        ret

        .bss
        .balign 16
        .space  32768
stack_top:
