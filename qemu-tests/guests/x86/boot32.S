/*
 * 32-bit x86 guest: booted by QEMU's -kernel as a multiboot (v1) image in 32-bit protected
 * mode with paging off.  It loads the page tables the build generated from the layout (part
 * of the image, at their physical addresses) and enables paging: 32-bit paging with 4 MiB
 * pages (CR4.PSE), or PAE with no-execute when built with PAE.  Then it calls tables_live
 * once and increments the layout's counter forever.  Interrupts stay off; any fault
 * triple-faults and QEMU (-no-reboot) exits.
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
#define MSR_EFER 0xc0000080
#define EFER_NXE (1 << 11)

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
        .globl _start
_start:
        cli
        mov     $stack_top, %esp
        mov     %cr4, %eax
#ifdef PAE
        or      $(CR4_PAE | CR4_PGE), %eax
        mov     %eax, %cr4
        mov     $MSR_EFER, %ecx
        rdmsr
        or      $EFER_NXE, %eax
        wrmsr
#else
        or      $(CR4_PSE | CR4_PGE), %eax
        mov     %eax, %cr4
#endif
        mov     $LAYOUT_ROOT_A, %eax
        mov     %eax, %cr3
        mov     %cr0, %eax
        or      $(CR0_PE | CR0_WP | CR0_PG), %eax
        mov     %eax, %cr0
        call    tables_live
        mov     $LAYOUT_COUNTER_VA, %ebx
/* One iteration per counter increment: a breakpoint here counts them. */
        .globl  counter_loop
counter_loop:
        incl    (%ebx)
        pause
        jmp     counter_loop

/* The tests stop here: the page tables of root A are live. */
        .globl  tables_live
        .type   tables_live, @function
tables_live:
        nop
        ret
        .size   tables_live, . - tables_live

        .bss
        .balign 16
        .space  16384
stack_top:
