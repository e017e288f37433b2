/* arch_tables.c - register tables of the supported architectures.
 *
 * Names and features follow what GDB's own target descriptions use, so
 * that stock GDB accepts the generated target.xml, and what the bridge
 * looks up by name (cr3, TTBR0_EL1, satp...).  Offsets are cumulative in
 * table order: the 'g' packet carries the registers in regnum order.
 * Generated once by a script; edit by hand from now on.
 */
#include "stub.h"

#define F_CORE "org.gnu.gdb.i386.core"
#define F_SEG  "org.gnu.gdb.i386.segments"
#define F_SYS  "org.rspbridge.x86.sys"
#define A_CORE "org.gnu.gdb.aarch64.core"
#define A_SYS  "org.rspbridge.aarch64.sys"
#define R_CPU  "org.gnu.gdb.riscv.cpu"
#define R_CSR  "org.gnu.gdb.riscv.csr"
#define R_VIRT "org.gnu.gdb.riscv.virtual"

/* x86-64: the 40 registers GDB requires in org.gnu.gdb.i386.core (general,
 * segment, x87), then the bases and the paging registers.  348 bytes. */
static const stub_reg x86_64_regs[] = {
    {"rax", 64, 0, "general", "int64", F_CORE},
    {"rbx", 64, 8, "general", "int64", F_CORE},
    {"rcx", 64, 16, "general", "int64", F_CORE},
    {"rdx", 64, 24, "general", "int64", F_CORE},
    {"rsi", 64, 32, "general", "int64", F_CORE},
    {"rdi", 64, 40, "general", "int64", F_CORE},
    {"rbp", 64, 48, "general", "data_ptr", F_CORE},
    {"rsp", 64, 56, "general", "data_ptr", F_CORE},
    {"r8", 64, 64, "general", "int64", F_CORE},
    {"r9", 64, 72, "general", "int64", F_CORE},
    {"r10", 64, 80, "general", "int64", F_CORE},
    {"r11", 64, 88, "general", "int64", F_CORE},
    {"r12", 64, 96, "general", "int64", F_CORE},
    {"r13", 64, 104, "general", "int64", F_CORE},
    {"r14", 64, 112, "general", "int64", F_CORE},
    {"r15", 64, 120, "general", "int64", F_CORE},
    {"rip", 64, 128, "general", "code_ptr", F_CORE},
    {"eflags", 32, 136, "general", "i386_eflags", F_CORE},
    {"cs", 32, 140, "general", "int32", F_CORE},
    {"ss", 32, 144, "general", "int32", F_CORE},
    {"ds", 32, 148, "general", "int32", F_CORE},
    {"es", 32, 152, "general", "int32", F_CORE},
    {"fs", 32, 156, "general", "int32", F_CORE},
    {"gs", 32, 160, "general", "int32", F_CORE},
    {"st0", 80, 164, "float", "i387_ext", F_CORE},
    {"st1", 80, 174, "float", "i387_ext", F_CORE},
    {"st2", 80, 184, "float", "i387_ext", F_CORE},
    {"st3", 80, 194, "float", "i387_ext", F_CORE},
    {"st4", 80, 204, "float", "i387_ext", F_CORE},
    {"st5", 80, 214, "float", "i387_ext", F_CORE},
    {"st6", 80, 224, "float", "i387_ext", F_CORE},
    {"st7", 80, 234, "float", "i387_ext", F_CORE},
    {"fctrl", 32, 244, "float", "int", F_CORE},
    {"fstat", 32, 248, "float", "int", F_CORE},
    {"ftag", 32, 252, "float", "int", F_CORE},
    {"fiseg", 32, 256, "float", "int", F_CORE},
    {"fioff", 32, 260, "float", "int", F_CORE},
    {"foseg", 32, 264, "float", "int", F_CORE},
    {"fooff", 32, 268, "float", "int", F_CORE},
    {"fop", 32, 272, "float", "int", F_CORE},
    {"fs_base", 64, 276, "system", "int64", F_SEG},
    {"gs_base", 64, 284, "system", "int64", F_SEG},
    {"k_gs_base", 64, 292, "system", "int64", F_SYS},
    {"cr0", 64, 300, "system", "int64", F_SYS},
    {"cr2", 64, 308, "system", "int64", F_SYS},
    {"cr3", 64, 316, "system", "int64", F_SYS},
    {"cr4", 64, 324, "system", "int64", F_SYS},
    {"cr8", 64, 332, "system", "int64", F_SYS},
    {"efer", 64, 340, "system", "int64", F_SYS},
};

static const uint8_t x86_int3[] = {0xcc};

/* The flags type of GDB's own i386 core feature, so that eflags prints as
 * "[ IF ZF ]" like with QEMU. */
static const char x86_types[] =
    "<flags id=\"i386_eflags\" size=\"4\">\n"
    "<field name=\"CF\" start=\"0\" end=\"0\"/>\n<field name=\"\" start=\"1\" end=\"1\"/>\n"
    "<field name=\"PF\" start=\"2\" end=\"2\"/>\n<field name=\"AF\" start=\"4\" end=\"4\"/>\n"
    "<field name=\"ZF\" start=\"6\" end=\"6\"/>\n<field name=\"SF\" start=\"7\" end=\"7\"/>\n"
    "<field name=\"TF\" start=\"8\" end=\"8\"/>\n<field name=\"IF\" start=\"9\" end=\"9\"/>\n"
    "<field name=\"DF\" start=\"10\" end=\"10\"/>\n<field name=\"OF\" start=\"11\" end=\"11\"/>\n"
    "<field name=\"NT\" start=\"14\" end=\"14\"/>\n<field name=\"RF\" start=\"16\" end=\"16\"/>\n"
    "<field name=\"VM\" start=\"17\" end=\"17\"/>\n<field name=\"AC\" start=\"18\" end=\"18\"/>\n"
    "<field name=\"VIF\" start=\"19\" end=\"19\"/>\n<field name=\"VIP\" start=\"20\" end=\"20\"/>\n"
    "<field name=\"ID\" start=\"21\" end=\"21\"/>\n</flags>\n";

const stub_arch stub_arch_x86_64 = {
    .xml_arch = "i386:x86-64",
    .xml_types = x86_types,
    .regs = x86_64_regs,
    .nregs = sizeof(x86_64_regs) / sizeof(x86_64_regs[0]),
    .g_nregs = sizeof(x86_64_regs) / sizeof(x86_64_regs[0]),
    .pc_regno = 16,
    .bp_insn = x86_int3,
    .bp_len = 1,
    .bp_kind = 1,
    .xml = NULL,
};

/* 32-bit x86 (qemu-system-i386): GDB's i386 core order (eax ecx edx ebx
 * esp ebp esi edi eip eflags, six segments, x87), then the bases and the
 * paging registers (32 bits wide except efer) in a feature of our own: GDB
 * 13's i386 code numbers org.gnu.gdb.i386.segments registers after the
 * AVX-512 ones and fails an assertion without those features.  208 bytes. */
static const stub_reg i386_regs[] = {
    {"eax", 32, 0, "general", "int32", F_CORE},
    {"ecx", 32, 4, "general", "int32", F_CORE},
    {"edx", 32, 8, "general", "int32", F_CORE},
    {"ebx", 32, 12, "general", "int32", F_CORE},
    {"esp", 32, 16, "general", "data_ptr", F_CORE},
    {"ebp", 32, 20, "general", "data_ptr", F_CORE},
    {"esi", 32, 24, "general", "int32", F_CORE},
    {"edi", 32, 28, "general", "int32", F_CORE},
    {"eip", 32, 32, "general", "code_ptr", F_CORE},
    {"eflags", 32, 36, "general", "i386_eflags", F_CORE},
    {"cs", 32, 40, "general", "int32", F_CORE},
    {"ss", 32, 44, "general", "int32", F_CORE},
    {"ds", 32, 48, "general", "int32", F_CORE},
    {"es", 32, 52, "general", "int32", F_CORE},
    {"fs", 32, 56, "general", "int32", F_CORE},
    {"gs", 32, 60, "general", "int32", F_CORE},
    {"st0", 80, 64, "float", "i387_ext", F_CORE},
    {"st1", 80, 74, "float", "i387_ext", F_CORE},
    {"st2", 80, 84, "float", "i387_ext", F_CORE},
    {"st3", 80, 94, "float", "i387_ext", F_CORE},
    {"st4", 80, 104, "float", "i387_ext", F_CORE},
    {"st5", 80, 114, "float", "i387_ext", F_CORE},
    {"st6", 80, 124, "float", "i387_ext", F_CORE},
    {"st7", 80, 134, "float", "i387_ext", F_CORE},
    {"fctrl", 32, 144, "float", "int", F_CORE},
    {"fstat", 32, 148, "float", "int", F_CORE},
    {"ftag", 32, 152, "float", "int", F_CORE},
    {"fiseg", 32, 156, "float", "int", F_CORE},
    {"fioff", 32, 160, "float", "int", F_CORE},
    {"foseg", 32, 164, "float", "int", F_CORE},
    {"fooff", 32, 168, "float", "int", F_CORE},
    {"fop", 32, 172, "float", "int", F_CORE},
    {"fs_base", 32, 176, "system", "int32", F_SYS},
    {"gs_base", 32, 180, "system", "int32", F_SYS},
    {"cr0", 32, 184, "system", "int32", F_SYS},
    {"cr2", 32, 188, "system", "int32", F_SYS},
    {"cr3", 32, 192, "system", "int32", F_SYS},
    {"cr4", 32, 196, "system", "int32", F_SYS},
    {"efer", 64, 200, "system", "int64", F_SYS},
};

const stub_arch stub_arch_i386 = {
    .xml_arch = "i386",
    .xml_types = x86_types,
    .regs = i386_regs,
    .nregs = sizeof(i386_regs) / sizeof(i386_regs[0]),
    .g_nregs = sizeof(i386_regs) / sizeof(i386_regs[0]),
    .pc_regno = 8,
    .bp_insn = x86_int3,
    .bp_len = 1,
    .bp_kind = 1,
    .xml = NULL,
};

/* AArch64: x0..x30, sp, pc, cpsr (32 bits, as GDB expects), then the
 * translation registers under the names QEMU uses.  332 bytes. */
static const stub_reg aarch64_regs[] = {
    {"x0", 64, 0, "general", "int", A_CORE},
    {"x1", 64, 8, "general", "int", A_CORE},
    {"x2", 64, 16, "general", "int", A_CORE},
    {"x3", 64, 24, "general", "int", A_CORE},
    {"x4", 64, 32, "general", "int", A_CORE},
    {"x5", 64, 40, "general", "int", A_CORE},
    {"x6", 64, 48, "general", "int", A_CORE},
    {"x7", 64, 56, "general", "int", A_CORE},
    {"x8", 64, 64, "general", "int", A_CORE},
    {"x9", 64, 72, "general", "int", A_CORE},
    {"x10", 64, 80, "general", "int", A_CORE},
    {"x11", 64, 88, "general", "int", A_CORE},
    {"x12", 64, 96, "general", "int", A_CORE},
    {"x13", 64, 104, "general", "int", A_CORE},
    {"x14", 64, 112, "general", "int", A_CORE},
    {"x15", 64, 120, "general", "int", A_CORE},
    {"x16", 64, 128, "general", "int", A_CORE},
    {"x17", 64, 136, "general", "int", A_CORE},
    {"x18", 64, 144, "general", "int", A_CORE},
    {"x19", 64, 152, "general", "int", A_CORE},
    {"x20", 64, 160, "general", "int", A_CORE},
    {"x21", 64, 168, "general", "int", A_CORE},
    {"x22", 64, 176, "general", "int", A_CORE},
    {"x23", 64, 184, "general", "int", A_CORE},
    {"x24", 64, 192, "general", "int", A_CORE},
    {"x25", 64, 200, "general", "int", A_CORE},
    {"x26", 64, 208, "general", "int", A_CORE},
    {"x27", 64, 216, "general", "int", A_CORE},
    {"x28", 64, 224, "general", "int", A_CORE},
    {"x29", 64, 232, "general", "int", A_CORE},
    {"x30", 64, 240, "general", "int", A_CORE},
    {"sp", 64, 248, "general", "data_ptr", A_CORE},
    {"pc", 64, 256, "general", "code_ptr", A_CORE},
    {"cpsr", 32, 264, "general", "int", A_CORE},
    {"TTBR0_EL1", 64, 268, "system", "uint64", A_SYS},
    {"TTBR1_EL1", 64, 276, "system", "uint64", A_SYS},
    {"TCR_EL1", 64, 284, "system", "uint64", A_SYS},
    {"SCTLR", 64, 292, "system", "uint64", A_SYS},
    {"MAIR_EL1", 64, 300, "system", "uint64", A_SYS},
    {"VBAR_EL1", 64, 308, "system", "uint64", A_SYS},
    {"ESR_EL1", 64, 316, "system", "uint64", A_SYS},
    {"FAR_EL1", 64, 324, "system", "uint64", A_SYS},
};

static const uint8_t aarch64_brk[] = {0x00, 0x00, 0x20, 0xd4}; /* brk #0 */

const stub_arch stub_arch_aarch64 = {
    .xml_arch = "aarch64",
    .regs = aarch64_regs,
    .nregs = sizeof(aarch64_regs) / sizeof(aarch64_regs[0]),
    .g_nregs = sizeof(aarch64_regs) / sizeof(aarch64_regs[0]),
    .pc_regno = 32,
    .bp_insn = aarch64_brk,
    .bp_len = 4,
    .bp_kind = 4,
    .xml = NULL,
};

/* RISC-V 64: x0..x31 by ABI name and pc, then satp/mstatus and the
 * virtual "priv" register.  281 bytes. */
static const stub_reg riscv64_regs[] = {
    {"zero", 64, 0, "general", "int", R_CPU},      {"ra", 64, 8, "general", "int", R_CPU},
    {"sp", 64, 16, "general", "data_ptr", R_CPU},  {"gp", 64, 24, "general", "data_ptr", R_CPU},
    {"tp", 64, 32, "general", "data_ptr", R_CPU},  {"t0", 64, 40, "general", "int", R_CPU},
    {"t1", 64, 48, "general", "int", R_CPU},       {"t2", 64, 56, "general", "int", R_CPU},
    {"fp", 64, 64, "general", "data_ptr", R_CPU},  {"s1", 64, 72, "general", "int", R_CPU},
    {"a0", 64, 80, "general", "int", R_CPU},       {"a1", 64, 88, "general", "int", R_CPU},
    {"a2", 64, 96, "general", "int", R_CPU},       {"a3", 64, 104, "general", "int", R_CPU},
    {"a4", 64, 112, "general", "int", R_CPU},      {"a5", 64, 120, "general", "int", R_CPU},
    {"a6", 64, 128, "general", "int", R_CPU},      {"a7", 64, 136, "general", "int", R_CPU},
    {"s2", 64, 144, "general", "int", R_CPU},      {"s3", 64, 152, "general", "int", R_CPU},
    {"s4", 64, 160, "general", "int", R_CPU},      {"s5", 64, 168, "general", "int", R_CPU},
    {"s6", 64, 176, "general", "int", R_CPU},      {"s7", 64, 184, "general", "int", R_CPU},
    {"s8", 64, 192, "general", "int", R_CPU},      {"s9", 64, 200, "general", "int", R_CPU},
    {"s10", 64, 208, "general", "int", R_CPU},     {"s11", 64, 216, "general", "int", R_CPU},
    {"t3", 64, 224, "general", "int", R_CPU},      {"t4", 64, 232, "general", "int", R_CPU},
    {"t5", 64, 240, "general", "int", R_CPU},      {"t6", 64, 248, "general", "int", R_CPU},
    {"pc", 64, 256, "general", "code_ptr", R_CPU}, {"satp", 64, 264, "system", "int", R_CSR},
    {"mstatus", 64, 272, "system", "int", R_CSR},  {"priv", 8, 280, "system", "int", R_VIRT},
};

static const uint8_t riscv_ebreak[] = {0x73, 0x00, 0x10, 0x00};

const stub_arch stub_arch_riscv64 = {
    .xml_arch = "riscv:rv64",
    .regs = riscv64_regs,
    .nregs = sizeof(riscv64_regs) / sizeof(riscv64_regs[0]),
    .g_nregs = 33,
    .pc_regno = 32,
    .bp_insn = riscv_ebreak,
    .bp_len = 4,
    .bp_kind = 4,
    .xml = NULL,
};
