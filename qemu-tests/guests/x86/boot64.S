/*
 * x86-64 guest: booted by QEMU's -kernel as a multiboot (v1) image, enters in 32-bit
 * protected mode with paging off, loads the page tables the build generated from the layout
 * (they are part of the image, at their physical addresses), enables long mode (4-level, or
 * 5-level when built with LA57), calls tables_live once and then increments the layout's
 * counter forever.  Interrupts stay off; any fault triple-faults, and QEMU runs with
 * -no-reboot, so a broken guest ends the test instead of looping.
 */
#include "layout.h"

#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00010000 /* the a.out kludge: the address fields below are valid */

#define CR0_PE (1 << 0)
#define CR0_WP (1 << 16)
#define CR0_PG (1 << 31)
#define CR4_PSE (1 << 4)
#define CR4_PAE (1 << 5)
#define CR4_PGE (1 << 7)
#define CR4_LA57 (1 << 12)
#define CR4_PCIDE (1 << 17)
#define MSR_EFER 0xc0000080
#define EFER_LME (1 << 8)
#define EFER_NXE (1 << 11)

#ifdef LA57
#define CR4_BITS (CR4_PAE | CR4_PGE | CR4_LA57)
#else
#define CR4_BITS (CR4_PAE | CR4_PGE)
#endif

        .section .multiboot, "a"
        .balign 4
mb_header:
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)
        .long mb_header         /* header_addr */
        .long LAYOUT_IMAGE_BASE /* load_addr: the image starts with this header */
        .long 0                 /* load_end_addr: the whole file */
        .long 0                 /* bss_end_addr: no bss beyond the file */
        .long _start            /* entry_addr */

        .text
        .code32
        .globl _start
_start:
        cli
        mov     $stack_top, %esp
        lgdt    gdt_ptr
        mov     %cr4, %eax
        or      $CR4_BITS, %eax
        mov     %eax, %cr4
        mov     $LAYOUT_ROOT_A, %eax
        mov     %eax, %cr3
        mov     $MSR_EFER, %ecx
        rdmsr
        or      $(EFER_LME | EFER_NXE), %eax
        wrmsr
        mov     %cr0, %eax
        or      $(CR0_PE | CR0_WP | CR0_PG), %eax
        mov     %eax, %cr0
/* Paging is on, long mode active, but the code segment is still 32-bit (compatibility
 * mode): GDB sees 32-bit registers here, the tables are 4- or 5-level already. */
        .globl  compat_mode
compat_mode:
        ljmp    $0x08, $long_mode

        .code64
long_mode:
        mov     $0x10, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        mov     %ax, %fs
        mov     %ax, %gs
        mov     $stack_top, %esp
#if LAYOUT_ASID
        /* PCIDs: CR4.PCIDE may only be set in long mode with CR3[11:0] = 0; then CR3
         * carries the PCID in bits 11:0 (not address bits). */
        mov     %cr4, %rax
        or      $CR4_PCIDE, %rax
        mov     %rax, %cr4
        mov     $(LAYOUT_ROOT_A | LAYOUT_ASID), %eax
        mov     %rax, %cr3
#endif
        call    tables_live
        movabs  $LAYOUT_COUNTER_VA, %rbx
/* One iteration per counter increment: a breakpoint here counts them. */
        .globl  counter_loop
counter_loop:
        incq    (%rbx)
        pause
        jmp     counter_loop

/* The tests stop here: the page tables of root A are live. */
        .globl  tables_live
        .type   tables_live, @function
tables_live:
        nop
        ret
        .size   tables_live, . - tables_live

        .section .rodata
        .balign 8
gdt:
        .quad   0
        .quad   0x00af9a000000ffff /* 0x08: 64-bit code */
        .quad   0x00cf92000000ffff /* 0x10: data */
gdt_end:
gdt_ptr:
        .word   gdt_end - gdt - 1
        .long   gdt

        .bss
        .balign 16
        .space  16384
stack_top:
