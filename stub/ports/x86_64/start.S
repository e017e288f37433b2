/* start.S - boot and exception entry of the x86-64 demo guest.
 *
 * QEMU's -kernel loads the flat image as multiboot (v1) and enters it in
 * 32-bit protected mode; the boot code identity-maps the first GiB with
 * 2 MiB pages, enables long mode and calls guest_main().  The #DB (1) and
 * #BP (3) handlers save the general registers below the CPU's frame,
 * call guest_trap() with the frame's address, and restore it (the
 * debugger may have changed it) before iretq. */
#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00010000 /* a.out kludge: the address fields are valid */

        .section .multiboot, "a"
        .balign 4
mb_header:
        .long   MB_MAGIC
        .long   MB_FLAGS
        .long   -(MB_MAGIC + MB_FLAGS)
        .long   mb_header       /* header_addr */
        .long   mb_header       /* load_addr: the image starts with this header */
        .long   __data_end      /* load_end_addr */
        .long   __bss_end       /* bss_end_addr: QEMU clears the bss */
        .long   _start          /* entry_addr */

        .text
        .code32
        .globl  _start
_start:
        cli
        mov     $stack_top, %esp
        lgdt    gdt_ptr
        mov     %cr4, %eax
        or      $0x20, %eax             /* PAE */
        mov     %eax, %cr4
        mov     $pml4, %eax
        mov     %eax, %cr3
        mov     $0xc0000080, %ecx       /* EFER.LME */
        rdmsr
        or      $0x100, %eax
        wrmsr
        mov     %cr0, %eax
        or      $0x80000001, %eax       /* PG, PE */
        mov     %eax, %cr0
        ljmp    $0x08, $long_mode

        .code64
long_mode:
        mov     $0x10, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        mov     %ax, %fs
        mov     %ax, %gs
        mov     $stack_top, %rsp
        call    guest_main
1:      hlt
        jmp     1b

        .globl  isr_db
isr_db:
        pushq   $1
        jmp     isr_common
        .globl  isr_bp
isr_bp:
        pushq   $3
        jmp     isr_common
isr_common:
        push    %r15
        push    %r14
        push    %r13
        push    %r12
        push    %r11
        push    %r10
        push    %r9
        push    %r8
        push    %rbp
        push    %rdi
        push    %rsi
        push    %rdx
        push    %rcx
        push    %rbx
        push    %rax
        mov     %rsp, %rdi
        sub     $8, %rsp                /* 16-byte alignment for the call */
        call    guest_trap
        add     $8, %rsp
        pop     %rax
        pop     %rbx
        pop     %rcx
        pop     %rdx
        pop     %rsi
        pop     %rdi
        pop     %rbp
        pop     %r8
        pop     %r9
        pop     %r10
        pop     %r11
        pop     %r12
        pop     %r13
        pop     %r14
        pop     %r15
        add     $8, %rsp                /* the vector */
        iretq

/* A breakpoint compiled into the guest; int3 leaves rip after it. */
        .globl  stub_breakpoint
        .globl  stub_compiled_break
stub_breakpoint:
stub_compiled_break:
        int3
        ret

        .section .rodata
        .balign 8
gdt:
        .quad   0
        .quad   0x00af9a000000ffff      /* 0x08: 64-bit code */
        .quad   0x00cf92000000ffff      /* 0x10: data */
gdt_end:
gdt_ptr:
        .word   gdt_end - gdt - 1
        .long   gdt

        .data
        .balign 4096
pml4:
        .quad   pdpt + 0x3
        .fill   511, 8, 0
pdpt:
        .quad   pd + 0x3
        .fill   511, 8, 0
pd:
        .set    i, 0
        .rept   512
        .quad   (i << 21) | 0x83        /* present, writable, 2 MiB */
        .set    i, i + 1
        .endr

        .bss
        .balign 16
        .space  32768
stack_top:
