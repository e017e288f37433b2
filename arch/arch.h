/* arch.h - page-table translation for x86, AArch64 and RISC-V.
 *
 * Freestanding: no allocation, no stdio, no syscalls.  Physical memory is
 * read only through the caller's arch_mem callbacks.
 *
 * Paging modes are data (levels, index bits, where leaves may appear, flag
 * tables); one generic walker serves translate, enumerate and reverse
 * lookup.  Every walk is a pure walk: permissions are reported, never
 * enforced (a kernel debugger translates kernel addresses while the CPU is
 * in user mode).
 *
 * Conventions: functions return int, zero or a count on success and a
 * negative arch_err code on failure.  Output functions take an explicit
 * capacity and return ARCH_ENOBUFS rather than truncate.
 */
#ifndef ARCH_H
#define ARCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Errors: one X-macro list, names and descriptions from the same place.
 */
#define ARCH_ERRNO_MAP(XX)                                              \
  XX(NOPAGING, 1, "paging is disabled: virtual addresses are physical") \
  XX(INVAL, 2, "invalid argument or context")                           \
  XX(NOBUFS, 3, "output buffer too small")                              \
  XX(CANCELED, 4, "stopped by the callback")                            \
  XX(NOTMAPPED, 5, "address not mapped (see the stop reason)")          \
  XX(UNSUPPORTED, 6, "unsupported paging configuration")

enum arch_err {
  ARCH_OK = 0,
#define ARCH__ERR_ENUM(name, n, desc) ARCH_E##name = -(n),
  ARCH_ERRNO_MAP(ARCH__ERR_ENUM)
#undef ARCH__ERR_ENUM
};

/* "ARCH_ENOPAGING" style name and a one-line description; never NULL. */
const char *arch_err_name(int err);
const char *arch_strerror(int err);

/* ------------------------------------------------------------------------
 * Paging modes and the translation context.
 */
typedef enum {
  ARCH_MODE_NONE = 0, /* paging off or unknown */
  ARCH_X86_32,        /* 2 levels, 4K and (CR4.PSE) 4M pages, PSE-36 */
  ARCH_X86_PAE,       /* PDPT (4 entries, 32-byte aligned) + 2 levels, 4K/2M */
  ARCH_X86_64_4L,     /* 4 levels, 4K/2M/1G, 48-bit canonical */
  ARCH_X86_64_5L,     /* 5 levels (LA57), 57-bit canonical */
  ARCH_AARCH64,       /* stage 1 EL1&0, TTBR0/TTBR1, 4K/16K/64K granules */
  ARCH_RISCV_SV32,
  ARCH_RISCV_SV39,
  ARCH_RISCV_SV48,
  ARCH_RISCV_SV57,
  ARCH_MODE_COUNT
} arch_mode;

/* "x86-32", "x86-pae", "x86-64", "x86-64-la57", "aarch64", "sv32", "sv39",
 * "sv48", "sv57" ("none" for ARCH_MODE_NONE); never NULL. */
const char *arch_mode_name(arch_mode mode);
/* Inverse of arch_mode_name (also accepts "x86_64", "i386", "arm64",
 * "riscv-sv39"...); ARCH_MODE_NONE when unknown.  name need not be
 * NUL-terminated. */
arch_mode arch_mode_parse(const char *name, size_t len);

/* Context options (arch_ctx.opts). */
enum {
  ARCH_OPT_NXE = 1u << 0,     /* x86 EFER.NXE: bit 63 is NX (else reserved) */
  ARCH_OPT_PSE = 1u << 1,     /* x86 CR4.PSE: 4M pages in 32-bit paging */
  ARCH_OPT_PCIDE = 1u << 2,   /* x86 CR4.PCIDE (informational: CR3 11:0 is a PCID) */
  ARCH_OPT_WP = 1u << 3,      /* x86 CR0.WP (informational) */
  ARCH_OPT_SVNAPOT = 1u << 4, /* RISC-V: PTE bit 63 (N) is NAPOT, else reserved */
  ARCH_OPT_SVPBMT = 1u << 5   /* RISC-V: PTE bits 62:61 are PBMT, else reserved */
};

/* One half of the AArch64 address space: 0 = TTBR0 (low VAs), 1 = TTBR1. */
typedef struct {
  uint64_t root;   /* table base PA: TTBRn with ASID (63:48) and CnP (0) masked */
  uint8_t granule; /* log2 of the granule: 12 (4K), 14 (16K) or 16 (64K) */
  uint8_t txsz;    /* T0SZ/T1SZ: the half covers 64 - txsz VA bits */
  uint8_t tbi;     /* top byte ignored: VA bits 63:56 do not take part */
  uint8_t epd;     /* walks disabled (EPDn): every VA of the half faults */
  uint8_t hpd;     /* hierarchical permissions disabled (HPDn) */
} arch_a64_half;

typedef struct {
  arch_mode mode;
  uint32_t opts;   /* ARCH_OPT_* */
  uint8_t pa_bits; /* x86 MAXPHYADDR / AArch64 TCR.IPS size; 0 = mode default
                    * (52 for x86 PAE/64-bit, 40 for 32-bit, 48 for AArch64) */
  uint64_t root;   /* x86: CR3 with PCID/PWT/PCD masked; RISC-V: satp.PPN << 12 */
  uint32_t asid;   /* x86 PCID, RISC-V satp.ASID (informational) */
  arch_a64_half a64[2];
} arch_ctx;

/* Mode detection from control registers.  On success ctx is filled and 0
 * returned.  ARCH_ENOPAGING when translation is off (x86 CR0.PG = 0,
 * AArch64 SCTLR_EL1.M = 0, RISC-V satp.MODE = Bare): ctx->mode is then
 * ARCH_MODE_NONE and every VA equals its PA.  ARCH_EUNSUPPORTED for
 * encodings the library does not implement (e.g. AArch64 TCR.DS 52-bit,
 * reserved TGn values, reserved satp modes). */
int arch_detect_x86(uint64_t cr0, uint64_t cr4, uint64_t efer, uint64_t cr3, arch_ctx *ctx);
/* tcr is TCR_EL1 (TG0: 0=4K 1=64K 2=16K; TG1: 1=16K 2=4K 3=64K). */
int arch_detect_aarch64(uint64_t sctlr, uint64_t tcr, uint64_t ttbr0, uint64_t ttbr1,
                        arch_ctx *ctx);
/* xlen is 32 or 64 (the width of satp). */
int arch_detect_riscv(uint64_t satp, unsigned xlen, arch_ctx *ctx);

/* A context for a forced mode with default parameters (AArch64: 4K
 * granules, T0SZ = T1SZ = 16, no TBI; RISC-V: Svnapot and Svpbmt on;
 * x86: NXE and PSE on).  Roots are zero: set them with arch_set_root. */
int arch_ctx_init(arch_ctx *ctx, arch_mode mode);

/* Replaces a table root (the "--root" of vtop/pte/context).  value is a
 * register value or a plain PA; it is masked like the mode's register:
 * x86 CR3 (PCID / PWT / PCD / bits above 51 dropped; PAE keeps bits 31:5),
 * AArch64 TTBRn (ASID and CnP dropped; half selects TTBR0 or TTBR1),
 * RISC-V a PA (aligned down to 4K; half ignored). */
int arch_set_root(arch_ctx *ctx, int half, uint64_t value);

/* One line describing the context, e.g. "x86-64 root=0x1a3f000 nxe" or
 * "aarch64 ttbr0=0x... 4K t0sz=16 ttbr1=0x... 4K t1sz=16 tbi1".
 * Returns the length (NUL written), or ARCH_ENOBUFS. */
int arch_ctx_str(const arch_ctx *ctx, char *buf, size_t cap);

/* The mode's virtual address width for the (first) half: 32, 39, 48, 57,
 * or 64 - T0SZ. */
unsigned arch_va_bits(const arch_ctx *ctx);

/* ------------------------------------------------------------------------
 * Physical memory, supplied by the caller.
 */
typedef struct {
  /* Reads len bytes at physical address pa into buf.  The walker may ask
   * for a whole table page (or a part of it) at once, or for one entry.
   * Returns the number of bytes read (a short count means the bytes after
   * it are unreadable) or a negative error.  Entries that cannot be read
   * stop the walk with ARCH_STOP_READ ("cannot read entry"). */
  int (*read)(void *cb_ctx, uint64_t pa, void *buf, size_t len);
  /* Optional (may be NULL): a hint that the enumerator will soon read the
   * n tables at pas[0..n-1], len bytes each (whole tables), in that order.
   * The bridge uses it to pipeline those reads.  pas is only valid during
   * the call. */
  void (*prefetch)(void *cb_ctx, const uint64_t *pas, size_t n, size_t len);
  void *cb_ctx;
  /* Enumeration only: do not read last-level tables (they hold no tables).
   * For a pass that looks for tables to fetch: their addresses reach
   * prefetch() from the level above; the runs of their leaves are not
   * reported (larger pages at upper levels still are). */
  int tables_only;
} arch_mem;

/* ------------------------------------------------------------------------
 * Decoded flags.  Per-level records hold the entry's own bits decoded;
 * results and runs hold the effective flags (user and write ANDed down the
 * levels, no-execute ORed, AArch64 APTable/UXNTable/PXNTable applied).
 */
enum {
  ARCH_F_VALID = 1u << 0,    /* present / valid */
  ARCH_F_READ = 1u << 1,     /* readable (RISC-V R; always set on x86/AArch64 leaves) */
  ARCH_F_WRITE = 1u << 2,    /* writable (x86 R/W, AArch64 !AP[2], RISC-V W) */
  ARCH_F_USER = 1u << 3,     /* user accessible (x86 U/S, AArch64 AP[1], RISC-V U) */
  ARCH_F_NX = 1u << 4,       /* no execute (x86 NX, AArch64 UXN, RISC-V !X on leaves) */
  ARCH_F_PXN = 1u << 5,      /* AArch64 privileged execute never */
  ARCH_F_ACCESSED = 1u << 6, /* x86 A, AArch64 AF, RISC-V A */
  ARCH_F_DIRTY = 1u << 7,    /* x86 D, RISC-V D, AArch64 DBM && !AP[2] */
  ARCH_F_GLOBAL = 1u << 8,   /* x86 G, AArch64 !nG, RISC-V G */
  ARCH_F_LARGE = 1u << 9,    /* leaf above the last level (large page / block) */
  ARCH_F_TABLE = 1u << 10,   /* points to a next-level table */
  ARCH_F_PWT = 1u << 11,     /* x86 write-through */
  ARCH_F_PCD = 1u << 12,     /* x86 cache disabled */
  ARCH_F_PAT = 1u << 13,     /* x86 PAT bit */
  ARCH_F_CONTIG = 1u << 14,  /* AArch64 contiguous hint, RISC-V Svnapot */
  ARCH_F_NS = 1u << 15,      /* AArch64 non-secure */
  ARCH_F_SW = 1u << 16       /* RISC-V RSW / x86 bit 9 / AArch64 bit 55: software bit */
};
/* Bits 24..31 hold a small attribute: AArch64 AttrIndx (24..26) and SH
 * (27..28); RISC-V PBMT (24..25). */
#define ARCH_F_ATTR_SHIFT  24
#define ARCH_F_ATTRINDX(f) (((f) >> 24) & 7u)
#define ARCH_F_SH(f)       (((f) >> 27) & 3u)
#define ARCH_F_PBMT(f)     (((f) >> 24) & 3u)
/* Flags that runs do not compare (they change with every access). */
#define ARCH_F_VOLATILE    (ARCH_F_ACCESSED | ARCH_F_DIRTY)

/* Flag strings from per-mode tables.
 *   ARCH_FMT_COMPACT: fixed-width letters, WinDbg style.
 *     x86 32-bit  "CGLDANTUWV"  e.g. ---DA--UWV   (C copy-on-write, always '-')
 *     x86 PAE/64  "CGLDANTUWEV" e.g. -G-DA--KW-V  (E executable)
 *     AArch64     "CGASmUWXPV"  C contiguous, G !nG, A AF, S shareability
 *                 (-, O outer, I inner), m AttrIndx digit, U user (K),
 *                 W write (R), X user-exec, P privileged-exec, V valid
 *     RISC-V      "DAGUXWRV"    the spec's bit order
 *   ARCH_FMT_LONG: space-separated words ("valid user write exec ..."),
 *     names only for bits that are meaningful in that mode.
 * Returns the length (NUL written), or ARCH_ENOBUFS. */
enum { ARCH_FMT_COMPACT = 0, ARCH_FMT_LONG = 1 };
int arch_flags_str(arch_mode mode, uint32_t flags, int style, char *buf, size_t cap);

/* ------------------------------------------------------------------------
 * Translation of one address.
 */
#define ARCH_MAX_LEVELS 5

/* Why a walk stopped. */
#define ARCH_STOP_MAP(XX)                                                   \
  XX(OK, 0, "mapped")                                                       \
  XX(NOT_PRESENT, 1, "not present")                                         \
  XX(RESERVED, 2, "reserved bit set")                                       \
  XX(BAD_ENCODING, 3, "reserved entry encoding")                            \
  XX(NONCANONICAL, 4, "non-canonical address")                              \
  XX(OUTSIDE_TTBR, 5, "outside both TTBR ranges")                           \
  XX(WALK_DISABLED, 6, "table walks disabled for this half (TCR_EL1.EPDn)") \
  XX(MISALIGNED, 7, "misaligned superpage")                                 \
  XX(ADDR_SIZE, 8, "output address beyond the physical address size")       \
  XX(READ, 9, "cannot read entry")

typedef enum {
#define ARCH__STOP_ENUM(name, n, desc) ARCH_STOP_##name = (n),
  ARCH_STOP_MAP(ARCH__STOP_ENUM)
#undef ARCH__STOP_ENUM
} arch_stop;

/* "not present", ...; never NULL. */
const char *arch_stop_str(int stop);

/* One level visited by a walk. */
typedef struct {
  const char *name;  /* "PML4E", "PDPTE", "PDE", "PTE"; "L0".."L3"; RISC-V "L4".."L0" */
  uint32_t index;    /* index of the entry in its table */
  uint64_t table_pa; /* PA of the table */
  uint64_t entry_pa; /* PA of the entry */
  uint64_t raw;      /* raw entry (4-byte entries zero-extended) */
  uint64_t next_pa;  /* next-table PA, or page/block base PA for a leaf; 0 if invalid */
  uint64_t size;     /* bytes of VA one entry of this level covers */
  uint32_t flags;    /* the entry's own bits, decoded (ARCH_F_*) */
  uint8_t leaf;      /* 1 when this entry maps a page or block */
} arch_level;

typedef struct {
  uint64_t va;       /* as asked */
  int stop;          /* ARCH_STOP_*: OK when mapped */
  unsigned nlevels;  /* records in lv[] (levels visited, including the failing one) */
  int half;          /* AArch64: 0 (TTBR0) or 1 (TTBR1); else 0 */
  uint64_t bad_bits; /* RESERVED / ADDR_SIZE: the offending entry bits */
  arch_level lv[ARCH_MAX_LEVELS];
  /* Valid when stop == ARCH_STOP_OK: */
  uint64_t pa;        /* the physical address of va */
  uint64_t page_pa;   /* base of the page or block */
  uint64_t page_size; /* 4K, 2M, 1G, 4M, 16K, 32M, 64K, 512M, ... */
  uint32_t flags;     /* effective flags */
} arch_xlate;

/* Walks the tables for va.  Returns 0 when mapped, ARCH_ENOTMAPPED when
 * the walk stopped (out->stop says why, out->lv[out->nlevels - 1] is the
 * entry it stopped at -- for ARCH_STOP_READ the entry that could not be
 * read, with raw = 0; nlevels is 0 for NONCANONICAL / OUTSIDE_TTBR /
 * WALK_DISABLED), ARCH_EINVAL for a bad context, ARCH_ENOPAGING for
 * ARCH_MODE_NONE (out->pa = va). */
int arch_translate(const arch_ctx *ctx, const arch_mem *mem, uint64_t va, arch_xlate *out);

/* ------------------------------------------------------------------------
 * Enumeration (ptdump semantics).
 */
typedef struct {
  uint64_t va;        /* first VA of the run (AArch64: untagged) */
  uint64_t size;      /* bytes */
  uint64_t pa;        /* PA of the first byte */
  uint64_t page_size; /* size of each leaf in the run */
  uint64_t count;     /* leaves in the run */
  const char *level;  /* level name of the leaves ("PTE", "L2", ...) */
  uint32_t flags;     /* effective flags, without ARCH_F_VOLATILE */
  int half;           /* AArch64 TTBR0/TTBR1; else 0 */
} arch_run;

/* A non-zero return cancels the enumeration (ARCH_ECANCELED). The run is
 * only valid during the call. */
typedef int (*arch_run_cb)(void *arg, const arch_run *run);

typedef struct {
  uint64_t table_reads; /* read callback calls for tables */
  uint64_t tables;      /* distinct tables visited (root included) */
  uint64_t leaves;      /* leaf entries reported */
  uint64_t runs;        /* runs reported */
  uint64_t faults;      /* entries skipped: reserved bits / encodings / misaligned */
  uint64_t read_errors; /* tables (or parts) that could not be read; skipped */
  uint64_t first_error_pa;
} arch_walk_stats;

/* Work memory for one enumeration: with at least arch_work_size(ctx)
 * bytes every table is read with one callback call; any smaller size of at
 * least ARCH_WORK_MIN bytes works with tables read in chunks.  Never more
 * than ARCH_WORK_MAX (5 levels of 64 KiB tables). */
#define ARCH_WORK_MIN 64
#define ARCH_WORK_MAX (5u * 65536u)
size_t arch_work_size(const arch_ctx *ctx);

/* Calls cb for every run of leaf mappings with VA in [va_lo, va_hi]
 * (inclusive; non-canonical holes are skipped, so [0, UINT64_MAX] is the
 * whole space), in increasing VA order.  Runs merge leaves of the same
 * level with identical effective flags and contiguous VA and PA; a run is
 * clipped to the range.  Each table is read once per call; not-present
 * subtrees are skipped; faulting and unreadable entries are skipped and
 * counted in stats (may be NULL).  Returns 0, ARCH_ECANCELED, ARCH_EINVAL
 * or ARCH_ENOPAGING. */
int arch_enumerate(const arch_ctx *ctx, const arch_mem *mem, uint64_t va_lo, uint64_t va_hi,
                   void *work, size_t work_len, arch_run_cb cb, void *arg, arch_walk_stats *stats);

/* Reverse lookup: calls cb(arg, va, run) for every VA whose page maps the
 * physical page containing pa (va has pa's offset within that page; run
 * is the enclosing run).  Returns the number of VAs found (>= 0), or
 * ARCH_ECANCELED / ARCH_EINVAL / ARCH_ENOPAGING.  cb may be NULL to count. */
typedef int (*arch_ptov_cb)(void *arg, uint64_t va, const arch_run *run);
int arch_ptov(const arch_ctx *ctx, const arch_mem *mem, uint64_t pa, void *work, size_t work_len,
              arch_ptov_cb cb, void *arg, arch_walk_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* ARCH_H */
