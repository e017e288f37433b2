/* arch.c - paging modes as data and one generic walker.
 *
 * A paging mode is a geometry (levels, index bits, entry size, where
 * leaves may appear, level names) plus an entry format (decode_x86,
 * decode_a64, decode_rv turn one raw entry into invalid / table / leaf /
 * fault with decoded flags).  translate(), enumerate() and ptov() share the
 * geometry and the decoders; nothing else knows about an architecture.
 */
#include "arch.h"

/* No libc header: bare-metal stubs build this file too.  The compiler
 * provides these (and may emit calls to memset/memcpy, which every
 * freestanding environment supplies). */
#define memset(d, c, n) __builtin_memset(d, c, n)
#define memcpy(d, s, n) __builtin_memcpy(d, s, n)

#define BIT(n)        (1ull << (n))
#define MASK(hi, lo)  ((~0ull >> (63 - (hi))) & ~((1ull << (lo)) - 1)) /* bits hi..lo */
#define LOWMASK(bits) ((bits) >= 64 ? ~0ull : (1ull << (bits)) - 1)

/* ------------------------------------------------------------------------
 * Errors and names.
 */
const char *arch_err_name(int err) {
  switch (err) {
  case 0:
    return "ARCH_OK";
#define XX(name, n, desc) \
  case -(n):              \
    return "ARCH_E" #name;
    ARCH_ERRNO_MAP(XX)
#undef XX
  }
  return "ARCH_EUNKNOWN";
}

const char *arch_strerror(int err) {
  switch (err) {
  case 0:
    return "success";
#define XX(name, n, desc) \
  case -(n):              \
    return desc;
    ARCH_ERRNO_MAP(XX)
#undef XX
  }
  return "unknown error";
}

const char *arch_stop_str(int stop) {
  switch (stop) {
#define XX(name, n, desc) \
  case n:                 \
    return desc;
    ARCH_STOP_MAP(XX)
#undef XX
  }
  return "unknown stop reason";
}

/* ------------------------------------------------------------------------
 * Modes as data.
 */
enum { FAM_X86 = 1, FAM_A64, FAM_RV };

static const char *const x86_32_names[] = {"PDE", "PTE"};
static const char *const x86_pae_names[] = {"PDPTE", "PDE", "PTE"};
static const char *const x86_64_names[] = {"PML5E", "PML4E", "PDPTE", "PDE", "PTE"};
static const char *const a64_names[] = {"L0", "L1", "L2", "L3"};
static const char *const rv_names[] = {"L4", "L3", "L2", "L1", "L0"};

typedef struct {
  const char *name;
  uint8_t family;
  uint8_t esize;   /* bytes per entry */
  uint8_t nlevels; /* 0: computed (AArch64) */
  uint8_t va_bits;
  uint8_t sign_ext; /* canonical addresses sign-extend bit va_bits - 1 */
  uint8_t shift[ARCH_MAX_LEVELS];
  uint8_t bits[ARCH_MAX_LEVELS];
  uint8_t leaf_ok; /* bit d: a leaf may appear at depth d (root = depth 0) */
  uint8_t pa_bits; /* default physical address width */
  const char *const *names;
} mode_desc;

static const mode_desc modes[ARCH_MODE_COUNT] = {
    [ARCH_MODE_NONE] = {.name = "none"},
    [ARCH_X86_32] = {"x86-32", FAM_X86, 4, 2, 32, 0, {22, 12}, {10, 10}, 0x3, 40, x86_32_names},
    [ARCH_X86_PAE] =
        {"x86-pae", FAM_X86, 8, 3, 32, 0, {30, 21, 12}, {2, 9, 9}, 0x6, 52, x86_pae_names},
    [ARCH_X86_64_4L] =
        {"x86-64", FAM_X86, 8, 4, 48, 1, {39, 30, 21, 12}, {9, 9, 9, 9}, 0xe, 52, x86_64_names + 1},
    [ARCH_X86_64_5L] = {"x86-64-la57",
                        FAM_X86,
                        8,
                        5,
                        57,
                        1,
                        {48, 39, 30, 21, 12},
                        {9, 9, 9, 9, 9},
                        0x1c,
                        52,
                        x86_64_names},
    [ARCH_AARCH64] = {.name = "aarch64", .family = FAM_A64, .esize = 8, .pa_bits = 48},
    [ARCH_RISCV_SV32] = {"sv32", FAM_RV, 4, 2, 32, 0, {22, 12}, {10, 10}, 0x3, 34, rv_names + 3},
    [ARCH_RISCV_SV39] =
        {"sv39", FAM_RV, 8, 3, 39, 1, {30, 21, 12}, {9, 9, 9}, 0x7, 56, rv_names + 2},
    [ARCH_RISCV_SV48] =
        {"sv48", FAM_RV, 8, 4, 48, 1, {39, 30, 21, 12}, {9, 9, 9, 9}, 0xf, 56, rv_names + 1},
    [ARCH_RISCV_SV57] =
        {"sv57", FAM_RV, 8, 5, 57, 1, {48, 39, 30, 21, 12}, {9, 9, 9, 9, 9}, 0x1f, 56, rv_names},
};

const char *arch_mode_name(arch_mode mode) {
  if ((unsigned)mode >= ARCH_MODE_COUNT)
    return "none";
  return modes[mode].name;
}

static int name_eq(const char *s, size_t len, const char *lit) {
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (c == '_')
      c = '-';
    if (!lit[i] || c != lit[i])
      return 0;
  }
  return lit[len] == 0;
}

arch_mode arch_mode_parse(const char *name, size_t len) {
  static const struct {
    const char *alias;
    arch_mode mode;
  } aliases[] = {
      {"i386", ARCH_X86_32},           {"x86", ARCH_X86_32},
      {"pae", ARCH_X86_PAE},           {"amd64", ARCH_X86_64_4L},
      {"x86-64-4l", ARCH_X86_64_4L},   {"la57", ARCH_X86_64_5L},
      {"x86-64-5l", ARCH_X86_64_5L},   {"arm64", ARCH_AARCH64},
      {"riscv-sv32", ARCH_RISCV_SV32}, {"riscv-sv39", ARCH_RISCV_SV39},
      {"riscv-sv48", ARCH_RISCV_SV48}, {"riscv-sv57", ARCH_RISCV_SV57},
  };
  if (!name)
    return ARCH_MODE_NONE;
  for (int m = 1; m < ARCH_MODE_COUNT; m++)
    if (name_eq(name, len, modes[m].name))
      return (arch_mode)m;
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
    if (name_eq(name, len, aliases[i].alias))
      return aliases[i].mode;
  return ARCH_MODE_NONE;
}

/* The geometry of one address space (AArch64 has one per TTBR). */
typedef struct {
  uint8_t family;
  uint8_t esize;
  uint8_t nlevels;
  uint8_t va_bits;
  uint8_t shift[ARCH_MAX_LEVELS];
  uint8_t bits[ARCH_MAX_LEVELS];
  uint8_t leaf_ok;
  uint8_t pa_bits;
  uint8_t hpd;
  const char *const *names;
  uint64_t root;
  int half;
} geom;

static int a64_geom(const arch_ctx *ctx, int half, geom *g) {
  const arch_a64_half *h = &ctx->a64[half];
  unsigned gs = h->granule, stride, vb, txsz = h->txsz;
  if (gs != 12 && gs != 14 && gs != 16)
    return ARCH_EINVAL;
  /* Without FEAT_LVA/LPA2, T0SZ below 16 behaves as 16 (as QEMU does). */
  if (txsz < 16)
    txsz = 16;
  if (txsz > 48 - (gs == 16)) /* the largest TxSZ with FEAT_TTST */
    txsz = 48 - (gs == 16);
  vb = 64 - txsz;
  stride = gs - 3;
  if (vb <= gs)
    return ARCH_EINVAL;
  unsigned n = (vb - gs + stride - 1) / stride;
  if (n > 4)
    return ARCH_EINVAL;
  g->family = FAM_A64;
  g->esize = 8;
  g->nlevels = (uint8_t)n;
  g->va_bits = (uint8_t)vb;
  g->names = a64_names + (4 - n);
  g->leaf_ok = 0;
  for (unsigned d = 0; d < n; d++) {
    unsigned level = 4 - n + d;
    g->shift[d] = (uint8_t)(gs + (n - 1 - d) * stride);
    g->bits[d] = (uint8_t)(d == 0 ? vb - g->shift[0] : stride);
    /* Blocks: 4K granule at L1 (1G) and L2 (2M); 16K and 64K at L2 only
     * (their L1 blocks need 52-bit addresses).  L3 holds pages. */
    if (level == 3 || level == 2 || (level == 1 && gs == 12))
      g->leaf_ok |= (uint8_t)(1u << d);
  }
  g->pa_bits = ctx->pa_bits && ctx->pa_bits < 48 ? ctx->pa_bits : 48;
  g->hpd = h->hpd;
  /* The root table is aligned to its own size (which may be below a
   * granule); BADDR holds bits 47:1 and bit 0 is CnP. */
  uint64_t tsize = 8ull << g->bits[0];
  if (tsize < 64)
    tsize = 64;
  g->root = h->root & MASK(47, 1) & ~(tsize - 1);
  g->half = half;
  return 0;
}

static int get_geom(const arch_ctx *ctx, int half, geom *g) {
  if (!ctx || (unsigned)ctx->mode >= ARCH_MODE_COUNT)
    return ARCH_EINVAL;
  if (ctx->mode == ARCH_MODE_NONE)
    return ARCH_ENOPAGING;
  if (ctx->mode == ARCH_AARCH64)
    return a64_geom(ctx, half, g);
  const mode_desc *m = &modes[ctx->mode];
  g->family = m->family;
  g->esize = m->esize;
  g->nlevels = m->nlevels;
  g->va_bits = m->va_bits;
  memcpy(g->shift, m->shift, sizeof g->shift);
  memcpy(g->bits, m->bits, sizeof g->bits);
  g->leaf_ok = m->leaf_ok;
  g->pa_bits = m->pa_bits;
  if (m->family == FAM_X86 && ctx->pa_bits) {
    g->pa_bits = ctx->pa_bits;
    if (g->pa_bits > 52)
      g->pa_bits = 52;
    if (ctx->mode == ARCH_X86_32 && g->pa_bits > 40)
      g->pa_bits = 40;
    if (g->pa_bits < 32)
      g->pa_bits = 32;
  }
  g->hpd = 0;
  g->names = m->names;
  g->half = 0;
  switch (ctx->mode) {
  case ARCH_X86_32:
    g->root = ctx->root & 0xfffff000ull;
    break;
  case ARCH_X86_PAE:
    g->root = ctx->root & 0xffffffe0ull;
    break;
  case ARCH_RISCV_SV32:
    g->root = ctx->root & MASK(33, 12);
    break;
  case ARCH_RISCV_SV39:
  case ARCH_RISCV_SV48:
  case ARCH_RISCV_SV57:
    g->root = ctx->root & MASK(55, 12);
    break;
  default:
    g->root = ctx->root & MASK(51, 12);
    break;
  }
  return 0;
}

unsigned arch_va_bits(const arch_ctx *ctx) {
  geom g;
  if (get_geom(ctx, 0, &g) != 0)
    return 0;
  return g.va_bits;
}

size_t arch_work_size(const arch_ctx *ctx) {
  size_t best = 0;
  for (int half = 0; half < 2; half++) {
    geom g;
    if (get_geom(ctx, half, &g) != 0)
      continue;
    size_t maxt = 0;
    for (unsigned d = 0; d < g.nlevels; d++) {
      size_t t = ((size_t)1 << g.bits[d]) * g.esize;
      if (t > maxt)
        maxt = t;
    }
    if (maxt * g.nlevels > best)
      best = maxt * g.nlevels;
    if (!ctx || ctx->mode != ARCH_AARCH64)
      break;
  }
  return best ? best : ARCH_WORK_MIN;
}

/* ------------------------------------------------------------------------
 * Detection and roots.
 */
int arch_ctx_init(arch_ctx *ctx, arch_mode mode) {
  if (!ctx || (unsigned)mode >= ARCH_MODE_COUNT)
    return ARCH_EINVAL;
  memset(ctx, 0, sizeof *ctx);
  ctx->mode = mode;
  switch (modes[mode].family) {
  case FAM_X86:
    ctx->opts = ARCH_OPT_NXE | ARCH_OPT_PSE;
    break;
  case FAM_RV:
    ctx->opts = ARCH_OPT_SVNAPOT | ARCH_OPT_SVPBMT;
    break;
  case FAM_A64:
    for (int i = 0; i < 2; i++) {
      ctx->a64[i].granule = 12;
      ctx->a64[i].txsz = 16;
    }
    break;
  }
  return mode == ARCH_MODE_NONE ? ARCH_ENOPAGING : 0;
}

int arch_set_root(arch_ctx *ctx, int half, uint64_t value) {
  if (!ctx)
    return ARCH_EINVAL;
  switch (ctx->mode) {
  case ARCH_X86_32:
    ctx->root = value & 0xfffff000ull;
    return 0;
  case ARCH_X86_PAE:
    ctx->root = value & 0xffffffe0ull;
    return 0;
  case ARCH_X86_64_4L:
  case ARCH_X86_64_5L:
    /* Bits 11:0 are a PCID (or PWT/PCD), bit 63 is "no flush" and bits
     * 62:57 are LAM / reserved: none of them is an address bit. */
    ctx->root = value & MASK(51, 12);
    return 0;
  case ARCH_AARCH64:
    if (half != 0 && half != 1)
      return ARCH_EINVAL;
    ctx->a64[half].root = value & MASK(47, 1);
    return 0;
  case ARCH_RISCV_SV32:
    ctx->root = value & MASK(33, 12);
    return 0;
  case ARCH_RISCV_SV39:
  case ARCH_RISCV_SV48:
  case ARCH_RISCV_SV57:
    ctx->root = value & MASK(55, 12);
    return 0;
  default:
    return ARCH_EINVAL;
  }
}

int arch_detect_x86(uint64_t cr0, uint64_t cr4, uint64_t efer, uint64_t cr3, arch_ctx *ctx) {
  if (!ctx)
    return ARCH_EINVAL;
  memset(ctx, 0, sizeof *ctx);
  if (!(cr0 & BIT(31)))
    return ARCH_ENOPAGING;
  int pae = !!(cr4 & BIT(5)), pse = !!(cr4 & BIT(4)), la57 = !!(cr4 & BIT(12));
  int pcide = !!(cr4 & BIT(17)), lma = !!(efer & BIT(10)), nxe = !!(efer & BIT(11));
  if (cr0 & BIT(16))
    ctx->opts |= ARCH_OPT_WP;
  if (lma) {
    if (!pae)
      return ARCH_EINVAL; /* long mode requires PAE */
    ctx->mode = la57 ? ARCH_X86_64_5L : ARCH_X86_64_4L;
    if (pcide) {
      ctx->opts |= ARCH_OPT_PCIDE;
      ctx->asid = (uint32_t)(cr3 & 0xfff);
    }
  } else if (pae) {
    ctx->mode = ARCH_X86_PAE;
  } else {
    ctx->mode = ARCH_X86_32;
    nxe = 0; /* 4-byte entries have no NX bit */
  }
  if (nxe)
    ctx->opts |= ARCH_OPT_NXE;
  if (pse)
    ctx->opts |= ARCH_OPT_PSE;
  return arch_set_root(ctx, 0, cr3);
}

int arch_detect_aarch64(uint64_t sctlr, uint64_t tcr, uint64_t ttbr0, uint64_t ttbr1,
                        arch_ctx *ctx) {
  static const uint8_t ips_bits[8] = {32, 36, 40, 42, 44, 48, 52, 48};
  if (!ctx)
    return ARCH_EINVAL;
  memset(ctx, 0, sizeof *ctx);
  if (!(sctlr & 1))
    return ARCH_ENOPAGING;
  unsigned tg0 = (tcr >> 14) & 3, tg1 = (tcr >> 30) & 3;
  int gran0 = 0, gran1 = 0;
  /* TG0 and TG1 use different encodings.  Reserved values select 4K, the
   * choice QEMU makes (firmware often leaves TG1 = 0 with EPD1 = 1). */
  gran0 = tg0 == 1 ? 16 : tg0 == 2 ? 14 : 12;
  gran1 = tg1 == 1 ? 14 : tg1 == 3 ? 16 : 12;
  if ((tcr & BIT(59)) && (gran0 != 16 || gran1 != 16))
    return ARCH_EUNSUPPORTED; /* TCR_EL1.DS: 52-bit addresses with 4K/16K */
  ctx->mode = ARCH_AARCH64;
  ctx->a64[0].granule = (uint8_t)gran0;
  ctx->a64[0].txsz = (uint8_t)(tcr & 0x3f);
  ctx->a64[0].epd = !!(tcr & BIT(7));
  ctx->a64[0].tbi = !!(tcr & BIT(37));
  ctx->a64[0].hpd = !!(tcr & BIT(41));
  ctx->a64[1].granule = (uint8_t)gran1;
  ctx->a64[1].txsz = (uint8_t)((tcr >> 16) & 0x3f);
  ctx->a64[1].epd = !!(tcr & BIT(23));
  ctx->a64[1].tbi = !!(tcr & BIT(38));
  ctx->a64[1].hpd = !!(tcr & BIT(42));
  ctx->pa_bits = ips_bits[(tcr >> 32) & 7];
  if (ctx->pa_bits > 48)
    ctx->pa_bits = 48;
  ctx->asid = (uint32_t)(((tcr & BIT(22)) ? ttbr1 : ttbr0) >> 48);
  arch_set_root(ctx, 0, ttbr0);
  arch_set_root(ctx, 1, ttbr1);
  return 0;
}

int arch_detect_riscv(uint64_t satp, unsigned xlen, arch_ctx *ctx) {
  if (!ctx)
    return ARCH_EINVAL;
  memset(ctx, 0, sizeof *ctx);
  if (xlen == 32) {
    satp &= 0xffffffffull;
    if (!(satp >> 31))
      return ARCH_ENOPAGING;
    ctx->mode = ARCH_RISCV_SV32;
    ctx->asid = (uint32_t)((satp >> 22) & 0x1ff);
    ctx->root = (satp & 0x3fffff) << 12;
  } else if (xlen == 64) {
    switch (satp >> 60) {
    case 0:
      return ARCH_ENOPAGING;
    case 8:
      ctx->mode = ARCH_RISCV_SV39;
      break;
    case 9:
      ctx->mode = ARCH_RISCV_SV48;
      break;
    case 10:
      ctx->mode = ARCH_RISCV_SV57;
      break;
    default:
      return ARCH_EUNSUPPORTED;
    }
    ctx->asid = (uint32_t)((satp >> 44) & 0xffff);
    ctx->root = (satp & LOWMASK(44)) << 12;
  } else {
    return ARCH_EINVAL;
  }
  ctx->opts = ARCH_OPT_SVNAPOT | ARCH_OPT_SVPBMT;
  return 0;
}

/* ------------------------------------------------------------------------
 * Small formatting helpers (no stdio).
 */
typedef struct {
  char *p;
  size_t cap, len;
  int over;
} sbuf;

static void sb_putc(sbuf *b, char c) {
  if (b->len + 1 < b->cap)
    b->p[b->len] = c;
  else
    b->over = 1;
  b->len++;
}

static void sb_puts(sbuf *b, const char *s) {
  while (*s)
    sb_putc(b, *s++);
}

static void sb_hex(sbuf *b, uint64_t v) {
  char tmp[16];
  int n = 0;
  sb_puts(b, "0x");
  do {
    tmp[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  while (n)
    sb_putc(b, tmp[--n]);
}

static void sb_dec(sbuf *b, unsigned v) {
  char tmp[10];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n)
    sb_putc(b, tmp[--n]);
}

static int sb_end(sbuf *b) {
  if (!b->p || b->cap == 0 || b->over)
    return ARCH_ENOBUFS;
  b->p[b->len] = 0;
  return (int)b->len;
}

int arch_ctx_str(const arch_ctx *ctx, char *buf, size_t cap) {
  sbuf b = {buf, cap, 0, 0};
  if (!ctx || (unsigned)ctx->mode >= ARCH_MODE_COUNT)
    return ARCH_EINVAL;
  sb_puts(&b, arch_mode_name(ctx->mode));
  if (ctx->mode == ARCH_AARCH64) {
    for (int h = 0; h < 2; h++) {
      const arch_a64_half *a = &ctx->a64[h];
      sb_puts(&b, h ? " ttbr1=" : " ttbr0=");
      sb_hex(&b, a->root);
      sb_puts(&b, a->granule == 16 ? " 64K" : a->granule == 14 ? " 16K" : " 4K");
      sb_puts(&b, h ? " t1sz=" : " t0sz=");
      sb_dec(&b, a->txsz);
      if (a->tbi)
        sb_puts(&b, h ? " tbi1" : " tbi0");
      if (a->epd)
        sb_puts(&b, h ? " epd1" : " epd0");
      if (a->hpd)
        sb_puts(&b, h ? " hpd1" : " hpd0");
    }
    if (ctx->pa_bits) {
      sb_puts(&b, " pa_bits=");
      sb_dec(&b, ctx->pa_bits);
    }
  } else if (ctx->mode != ARCH_MODE_NONE) {
    sb_puts(&b, " root=");
    sb_hex(&b, ctx->root);
    if (ctx->opts & ARCH_OPT_NXE)
      sb_puts(&b, " nxe");
    if ((ctx->opts & ARCH_OPT_PSE) && ctx->mode == ARCH_X86_32)
      sb_puts(&b, " pse");
    if (ctx->opts & ARCH_OPT_PCIDE) {
      sb_puts(&b, " pcid=");
      sb_hex(&b, ctx->asid);
    }
    if (modes[ctx->mode].family == FAM_RV) {
      sb_puts(&b, " asid=");
      sb_hex(&b, ctx->asid);
    }
  }
  return sb_end(&b);
}

/* ------------------------------------------------------------------------
 * Entry formats.
 */
enum { K_INVALID, K_TABLE, K_LEAF, K_FAULT };

typedef struct {
  int kind;
  int stop;      /* K_FAULT */
  uint64_t addr; /* next table, or page/block base */
  uint64_t bad;  /* offending bits for RESERVED / ADDR_SIZE */
  uint32_t flags;
  uint32_t clr, set; /* K_TABLE: restrictions inherited by the subtree */
} dec;

static int fault(dec *d, int stop, uint64_t bad) {
  d->kind = K_FAULT;
  d->stop = stop;
  d->bad = bad;
  return K_FAULT;
}

/* Intel SDM vol. 3A, 4.3 (32-bit), 4.4 (PAE), 4.5 (4-level and 5-level). */
static int decode_x86(const arch_ctx *ctx, const geom *g, unsigned depth, uint64_t raw, dec *d) {
  int last = depth + 1 == g->nlevels;
  int nxe = (ctx->opts & ARCH_OPT_NXE) && g->esize == 8;
  uint32_t f = ARCH_F_VALID;
  if (!(raw & 1))
    return d->kind = K_INVALID;
  if (raw & BIT(1))
    f |= ARCH_F_WRITE;
  if (raw & BIT(2))
    f |= ARCH_F_USER;
  if (raw & BIT(3))
    f |= ARCH_F_PWT;
  if (raw & BIT(4))
    f |= ARCH_F_PCD;
  if (raw & BIT(5))
    f |= ARCH_F_ACCESSED;
  if (raw & BIT(6))
    f |= ARCH_F_DIRTY;
  if (raw & BIT(9))
    f |= ARCH_F_SW;
  if (nxe && (raw & BIT(63)))
    f |= ARCH_F_NX;

  if (g->esize == 4) {
    /* 32-bit paging: no reserved bits except in 4M PDEs. */
    if (!last && (raw & BIT(7)) && (ctx->opts & ARCH_OPT_PSE)) {
      /* PSE-36: PDE bits 20:13 are PA bits 39:32; bit 21 is reserved, and
       * so are the high bits beyond MAXPHYADDR. */
      uint64_t rsv = BIT(21) | MASK(20, 13 + (g->pa_bits - 32));
      if (g->pa_bits >= 40)
        rsv = BIT(21);
      if (raw & rsv)
        return fault(d, ARCH_STOP_RESERVED, raw & rsv);
      d->addr = (raw & 0xffc00000ull) | (((raw >> 13) & 0xff) << 32);
      d->flags = f | ARCH_F_READ | ARCH_F_LARGE | ((raw & BIT(8)) ? ARCH_F_GLOBAL : 0) |
                 ((raw & BIT(12)) ? ARCH_F_PAT : 0);
      return d->kind = K_LEAF;
    }
    d->addr = raw & 0xfffff000ull;
    if (last) {
      d->flags = f | ARCH_F_READ | ((raw & BIT(8)) ? ARCH_F_GLOBAL : 0) |
                 ((raw & BIT(7)) ? ARCH_F_PAT : 0);
      return d->kind = K_LEAF;
    }
    d->flags = f | ARCH_F_TABLE;
    d->clr = ((f & ARCH_F_WRITE) ? 0 : ARCH_F_WRITE) | ((f & ARCH_F_USER) ? 0 : ARCH_F_USER);
    d->set = 0;
    return d->kind = K_TABLE;
  }

  /* 8-byte entries.  Bit 63 (NX) is never part of an address; bits 62:52
   * are ignored (software / protection keys) in IA-32e paging. */
  uint64_t rsv = MASK(51, g->pa_bits) * (g->pa_bits < 52);
  if (!nxe)
    rsv |= BIT(63);
  if (g->nlevels == 3 && depth == 0) {
    /* PAE PDPTE: only P, PWT, PCD and the address; no permissions, no NX.
     * The SDM also reserves bits 2:1 and 8:5, but a CPU checks them only
     * when it loads CR3, and QEMU neither checks them on its walks nor
     * leaves them alone (it sets A, bit 5, in PDPTEs).  A debugger must
     * not be stricter than the target it inspects. */
    rsv |= BIT(63) | MASK(62, 52);
    if (raw & rsv)
      return fault(d, ARCH_STOP_RESERVED, raw & rsv);
    d->addr = raw & MASK(g->pa_bits - 1, 12);
    d->flags = ARCH_F_VALID | ARCH_F_TABLE | (f & (ARCH_F_PWT | ARCH_F_PCD));
    d->clr = d->set = 0;
    return d->kind = K_TABLE;
  }
  if (g->nlevels == 3)
    rsv |= MASK(62, 52); /* PAE: bits 62:MAXPHYADDR are all reserved */
  int ps = !last && (raw & BIT(7));
  if (ps && !(g->leaf_ok & (1u << depth)))
    return fault(d, ARCH_STOP_RESERVED, raw & (rsv | BIT(7))); /* PS in PML4E/PML5E */
  if (ps) {
    unsigned s = g->shift[depth];
    rsv |= MASK(s - 1, 13); /* between PAT (bit 12) and the page base */
    if (raw & rsv)
      return fault(d, ARCH_STOP_RESERVED, raw & rsv);
    d->addr = raw & MASK(g->pa_bits - 1, s);
    d->flags = f | ARCH_F_READ | ARCH_F_LARGE | ((raw & BIT(8)) ? ARCH_F_GLOBAL : 0) |
               ((raw & BIT(12)) ? ARCH_F_PAT : 0);
    return d->kind = K_LEAF;
  }
  if (raw & rsv)
    return fault(d, ARCH_STOP_RESERVED, raw & rsv);
  d->addr = raw & MASK(g->pa_bits - 1, 12);
  if (last) {
    d->flags =
        f | ARCH_F_READ | ((raw & BIT(8)) ? ARCH_F_GLOBAL : 0) | ((raw & BIT(7)) ? ARCH_F_PAT : 0);
    return d->kind = K_LEAF;
  }
  d->flags = f | ARCH_F_TABLE;
  d->clr = ((f & ARCH_F_WRITE) ? 0 : ARCH_F_WRITE) | ((f & ARCH_F_USER) ? 0 : ARCH_F_USER);
  d->set = f & ARCH_F_NX;
  return d->kind = K_TABLE;
}

/* Arm ARM D8.3 (VMSAv8-64 translation table descriptor formats), 48-bit
 * output addresses. */
static int decode_a64(const arch_ctx *ctx, const geom *g, unsigned depth, uint64_t raw, dec *d) {
  unsigned level = 4 - g->nlevels + depth;
  unsigned gs = g->shift[g->nlevels - 1];
  (void)ctx;
  if (!(raw & 1))
    return d->kind = K_INVALID;
  uint64_t oa = raw & MASK(47, gs);
  if (g->pa_bits < 48 && (oa & MASK(47, g->pa_bits)))
    return fault(d, ARCH_STOP_ADDR_SIZE, oa & MASK(47, g->pa_bits));
  if ((raw & 2) && level < 3) {
    uint32_t f = ARCH_F_VALID | ARCH_F_TABLE;
    d->clr = d->set = 0;
    if (!g->hpd) {
      if (raw & BIT(61))
        d->clr |= ARCH_F_USER; /* APTable[0]: no EL0 access below */
      if (raw & BIT(62))
        d->clr |= ARCH_F_WRITE; /* APTable[1]: read-only below */
      if (raw & BIT(60))
        d->set |= ARCH_F_NX; /* UXNTable */
      if (raw & BIT(59))
        d->set |= ARCH_F_PXN; /* PXNTable */
    }
    /* The entry's own flags read as the permissions it leaves open. */
    f |= (ARCH_F_USER | ARCH_F_WRITE) & ~d->clr;
    f |= d->set;
    if (raw & BIT(63))
      f |= ARCH_F_NS; /* NSTable */
    d->flags = f;
    d->addr = oa;
    return d->kind = K_TABLE;
  }
  /* Page (0b11 at L3) or block (0b01 where blocks are allowed). */
  if (!(raw & 2) && (level == 3 || !(g->leaf_ok & (1u << depth))))
    return fault(d, ARCH_STOP_BAD_ENCODING, raw & 3);
  uint32_t f = ARCH_F_VALID | ARCH_F_READ;
  f |= (uint32_t)((raw >> 2) & 7) << 24; /* AttrIndx */
  f |= (uint32_t)((raw >> 8) & 3) << 27; /* SH */
  if (raw & BIT(5))
    f |= ARCH_F_NS;
  if (raw & BIT(6))
    f |= ARCH_F_USER; /* AP[1] */
  if (!(raw & BIT(7)))
    f |= ARCH_F_WRITE; /* AP[2] clear */
  if (raw & BIT(10))
    f |= ARCH_F_ACCESSED;
  if (!(raw & BIT(11)))
    f |= ARCH_F_GLOBAL;
  if ((raw & BIT(51)) && !(raw & BIT(7)))
    f |= ARCH_F_DIRTY; /* DBM: writable-clean is AP[2] = 1 */
  if (raw & BIT(52))
    f |= ARCH_F_CONTIG;
  if (raw & BIT(53))
    f |= ARCH_F_PXN;
  if (raw & BIT(54))
    f |= ARCH_F_NX;
  if (raw & BIT(55))
    f |= ARCH_F_SW;
  if (level < 3)
    f |= ARCH_F_LARGE;
  d->flags = f;
  /* Bits between the granule and the block size are RES0: masked. */
  d->addr = raw & MASK(47, g->shift[depth]);
  return d->kind = K_LEAF;
}

/* RISC-V privileged spec, "Sv32" .. "Sv57", Svnapot and Svpbmt. */
static int decode_rv(const arch_ctx *ctx, const geom *g, unsigned depth, uint32_t index,
                     uint64_t raw, dec *d) {
  int last = depth + 1 == g->nlevels;
  unsigned r = (raw >> 1) & 1, w = (raw >> 2) & 1, x = (raw >> 3) & 1;
  uint64_t ppn;
  if (!(raw & 1))
    return d->kind = K_INVALID;
  if (g->esize == 8) {
    if (raw & MASK(60, 54))
      return fault(d, ARCH_STOP_RESERVED, raw & MASK(60, 54));
    ppn = (raw >> 10) & LOWMASK(44);
  } else {
    ppn = (raw >> 10) & LOWMASK(22);
  }
  if (w && !r)
    return fault(d, ARCH_STOP_BAD_ENCODING, raw & 0xe); /* W without R */
  if (!r && !w && !x) {
    if (last)
      return fault(d, ARCH_STOP_BAD_ENCODING, raw & 0xf); /* pointer at level 0 */
    if (raw & 0xd0)
      return fault(d, ARCH_STOP_BAD_ENCODING, raw & 0xd0); /* non-leaf with D/A/U */
    if (g->esize == 8 && (raw & MASK(63, 61)))
      return fault(d, ARCH_STOP_RESERVED, raw & MASK(63, 61)); /* N/PBMT on a pointer */
    d->addr = ppn << 12;
    d->flags = ARCH_F_VALID | ARCH_F_TABLE | ((raw & BIT(5)) ? ARCH_F_GLOBAL : 0);
    d->clr = 0;
    d->set = d->flags & ARCH_F_GLOBAL; /* G on a pointer makes the subtree global */
    return d->kind = K_TABLE;
  }
  uint32_t f = ARCH_F_VALID;
  if (g->esize == 8) {
    unsigned pbmt = (unsigned)((raw >> 61) & 3);
    if (pbmt && (!(ctx->opts & ARCH_OPT_SVPBMT) || pbmt == 3))
      return fault(d, ARCH_STOP_RESERVED, raw & MASK(62, 61));
    f |= pbmt << 24;
    if (raw & BIT(63)) {
      /* Svnapot: only 64 KiB at level 0, encoded as ppn[3:0] = 1000. */
      if (!(ctx->opts & ARCH_OPT_SVNAPOT) || !last || (ppn & 0xf) != 8)
        return fault(d, ARCH_STOP_RESERVED, BIT(63));
      f |= ARCH_F_CONTIG;
      ppn = (ppn & ~0xfull) | (index & 0xf);
    }
  }
  unsigned below = g->shift[depth] - 12;
  if (ppn & LOWMASK(below))
    return fault(d, ARCH_STOP_MISALIGNED, (ppn & LOWMASK(below)) << 10);
  if (r)
    f |= ARCH_F_READ;
  if (w)
    f |= ARCH_F_WRITE;
  if (!x)
    f |= ARCH_F_NX;
  if (raw & BIT(4))
    f |= ARCH_F_USER;
  if (raw & BIT(5))
    f |= ARCH_F_GLOBAL;
  if (raw & BIT(6))
    f |= ARCH_F_ACCESSED;
  if (raw & BIT(7))
    f |= ARCH_F_DIRTY;
  if (raw & MASK(9, 8))
    f |= ARCH_F_SW;
  if (!last)
    f |= ARCH_F_LARGE;
  d->flags = f;
  d->addr = ppn << 12;
  return d->kind = K_LEAF;
}

static int decode(const arch_ctx *ctx, const geom *g, unsigned depth, uint32_t index, uint64_t raw,
                  dec *d) {
  memset(d, 0, sizeof *d);
  switch (g->family) {
  case FAM_X86:
    return decode_x86(ctx, g, depth, raw, d);
  case FAM_A64:
    return decode_a64(ctx, g, depth, raw, d);
  default:
    return decode_rv(ctx, g, depth, index, raw, d);
  }
}

/* Effective flags of a leaf under the restrictions of its tables. */
static uint32_t effective(const geom *g, uint32_t leaf, uint32_t clr, uint32_t set) {
  uint32_t f = (leaf & ~clr) | set;
  /* AArch64: memory writable at EL0 is never executable at EL1. */
  if (g->family == FAM_A64 && (f & ARCH_F_USER) && (f & ARCH_F_WRITE))
    f |= ARCH_F_PXN;
  return f;
}

static uint64_t load_entry(const uint8_t *p, unsigned esize) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  /* Every supported format is little endian: on such a host, one load. */
  if (esize == 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
  }
  uint32_t v32;
  memcpy(&v32, p, 4);
  return v32;
#else
  uint64_t v = 0;
  for (unsigned i = esize; i-- > 0;)
    v = (v << 8) | p[i];
  return v;
#endif
}

/* ------------------------------------------------------------------------
 * Address spaces: which geometry serves a VA, and the VA ranges each
 * geometry covers.  A "table VA" is the VA with the sign-extension or
 * TTBR1 high bits removed, i.e. below 2^va_bits.
 */
static int resolve(const arch_ctx *ctx, uint64_t va, geom *g, int *stop) {
  int rc;
  *stop = ARCH_STOP_OK;
  if (ctx->mode == ARCH_AARCH64) {
    int half = (int)((va >> 55) & 1);
    if ((rc = get_geom(ctx, half, g)) != 0)
      return rc;
    unsigned top = ctx->a64[half].tbi ? 56 : 64;
    uint64_t hi = va & MASK(top - 1, g->va_bits);
    if (hi != (half ? MASK(top - 1, g->va_bits) : 0)) {
      *stop = ARCH_STOP_OUTSIDE_TTBR;
      g->half = half;
      return 0;
    }
    if (ctx->a64[half].epd)
      *stop = ARCH_STOP_WALK_DISABLED;
    return 0;
  }
  if ((rc = get_geom(ctx, 0, g)) != 0)
    return rc;
  if (g->va_bits == 32 && (va >> 32))
    *stop = ARCH_STOP_NONCANONICAL;
  if (modes[ctx->mode].sign_ext) {
    uint64_t hi = va & MASK(63, g->va_bits - 1);
    if (hi != 0 && hi != MASK(63, g->va_bits - 1))
      *stop = ARCH_STOP_NONCANONICAL;
  }
  return 0;
}

int arch_translate(const arch_ctx *ctx, const arch_mem *mem, uint64_t va, arch_xlate *out) {
  geom g;
  int stop, rc;
  uint32_t clr = 0, set = 0;
  if (!out)
    return ARCH_EINVAL;
  memset(out, 0, sizeof *out);
  out->va = va;
  if (!ctx)
    return ARCH_EINVAL;
  if (ctx->mode == ARCH_MODE_NONE) {
    out->pa = va;
    return ARCH_ENOPAGING;
  }
  if (!mem || !mem->read)
    return ARCH_EINVAL;
  if ((rc = resolve(ctx, va, &g, &stop)) != 0)
    return rc;
  out->half = g.half;
  if (stop != ARCH_STOP_OK) {
    out->stop = stop;
    return ARCH_ENOTMAPPED;
  }
  uint64_t table = g.root;
  for (unsigned depth = 0; depth < g.nlevels; depth++) {
    arch_level *lv = &out->lv[depth];
    uint8_t buf[8];
    dec d;
    uint32_t index = (uint32_t)((va >> g.shift[depth]) & LOWMASK(g.bits[depth]));
    lv->name = g.names[depth];
    lv->index = index;
    lv->table_pa = table;
    lv->entry_pa = table + (uint64_t)index * g.esize;
    lv->size = 1ull << g.shift[depth];
    out->nlevels = depth + 1;
    int n = mem->read(mem->cb_ctx, lv->entry_pa, buf, g.esize);
    if (n < (int)g.esize) {
      out->stop = ARCH_STOP_READ;
      return ARCH_ENOTMAPPED;
    }
    lv->raw = load_entry(buf, g.esize);
    decode(ctx, &g, depth, index, lv->raw, &d);
    lv->flags = d.flags;
    switch (d.kind) {
    case K_INVALID:
      out->stop = ARCH_STOP_NOT_PRESENT;
      return ARCH_ENOTMAPPED;
    case K_FAULT:
      out->stop = d.stop;
      out->bad_bits = d.bad;
      return ARCH_ENOTMAPPED;
    case K_TABLE:
      lv->next_pa = d.addr;
      table = d.addr;
      clr |= d.clr;
      set |= d.set;
      break;
    default:
      lv->next_pa = d.addr;
      lv->leaf = 1;
      out->page_size = lv->size;
      if (d.flags & ARCH_F_CONTIG && g.family == FAM_RV)
        out->page_size = 4096; /* NAPOT: decoded per 4K page */
      out->page_pa = d.addr;
      out->pa = d.addr + (va & (out->page_size - 1));
      out->flags = effective(&g, d.flags, clr, set);
      out->stop = ARCH_STOP_OK;
      return 0;
    }
  }
  /* Unreachable: the last level never decodes as a table. */
  out->stop = ARCH_STOP_BAD_ENCODING;
  return ARCH_ENOTMAPPED;
}

/* ------------------------------------------------------------------------
 * Enumeration.
 */
#define PREFETCH_BATCH 64

typedef struct {
  const arch_ctx *ctx;
  const arch_mem *mem;
  const geom *g;
  uint8_t *work;
  size_t cap;     /* entries per level buffer */
  uint64_t va_or; /* high bits OR-ed into table VAs (TTBR1) */
  unsigned sext;  /* sign-extend table VAs from bit sext - 1 (0: no) */
  arch_run_cb cb;
  void *arg;
  arch_walk_stats *st;
  arch_run cur;
  int have;
  int canceled;
} walker;

static void flush(walker *w) {
  if (!w->have || w->canceled)
    return;
  w->have = 0;
  w->st->runs++;
  if (w->cb && w->cb(w->arg, &w->cur) != 0)
    w->canceled = 1;
}

static inline void emit(walker *w, unsigned depth, uint64_t va, uint64_t pa, uint64_t size,
                        uint64_t page_size, uint32_t flags) {
  arch_run *c = &w->cur;
  flags &= ~(uint32_t)ARCH_F_VOLATILE;
  w->st->leaves++;
  if (w->have && c->va + c->size == va && c->pa + c->size == pa && c->flags == flags &&
      c->page_size == page_size && c->level == w->g->names[depth]) {
    c->size += size;
    c->count++;
    return;
  }
  flush(w);
  if (w->canceled)
    return;
  c->va = va;
  c->size = size;
  c->pa = pa;
  c->page_size = page_size;
  c->count = 1;
  c->level = w->g->names[depth];
  c->flags = flags;
  c->half = w->g->half;
  w->have = 1;
}

/* Walks the table at table_pa (depth), whose index 0 maps table VA tbase,
 * for table VAs [lo, hi]. */
static void walk(walker *w, unsigned depth, uint64_t table_pa, uint64_t tbase, uint64_t lo,
                 uint64_t hi, uint32_t clr, uint32_t set) {
  const geom *g = w->g;
  unsigned shift = g->shift[depth], es = g->esize;
  uint64_t size = 1ull << shift;
  uint64_t i0 = (lo - tbase) >> shift, i1 = (hi - tbase) >> shift;
  uint8_t *buf = w->work + (size_t)depth * w->cap * es;
  int last = depth + 1 == g->nlevels;
  w->st->tables++;
  for (uint64_t i = i0; i <= i1 && !w->canceled;) {
    size_t m = (size_t)(i1 - i + 1);
    if (m > w->cap)
      m = w->cap;
    uint64_t pa = table_pa + i * es;
    int n = w->mem->read(w->mem->cb_ctx, pa, buf, m * es);
    w->st->table_reads++;
    size_t valid = n <= 0 ? 0 : (size_t)n / es;
    if (valid > m)
      valid = m;
    if (valid < m) {
      if (!w->st->read_errors)
        w->st->first_error_pa = pa + valid * es;
      w->st->read_errors++;
    }
    if (w->mem->prefetch && !last) {
      uint64_t pas[PREFETCH_BATCH];
      size_t k = 0, child = ((size_t)1 << g->bits[depth + 1]) * es;
      for (size_t j = 0; j < valid; j++) {
        dec d;
        uint64_t raw = load_entry(buf + j * es, es);
        if (!raw) /* invalid in every format (the valid bit is clear) */
          continue;
        if (decode(w->ctx, g, depth, (uint32_t)(i + j), raw, &d) != K_TABLE)
          continue;
        pas[k++] = d.addr;
        if (k == PREFETCH_BATCH) {
          w->mem->prefetch(w->mem->cb_ctx, pas, k, child);
          k = 0;
        }
      }
      if (k)
        w->mem->prefetch(w->mem->cb_ctx, pas, k, child);
    }
    /* Consecutive pages: an entry equal to the previous leaf's plus one
     * page in the address field decodes like it, one page further (while
     * the address stays under 2^pa_bits no carry leaves the field).
     * Contiguous-hint and NAPOT entries always take the full decode. */
    uint64_t prev_raw = 0, prev_addr = 0, delta = g->family == FAM_RV ? size >> 2 : size;
    uint32_t prev_f = 0;
    int have_prev = 0;
    for (size_t j = 0; j < valid && !w->canceled; j++) {
      dec d;
      uint64_t raw = load_entry(buf + j * es, es);
      if (!raw)
        continue;
      uint64_t ebase = tbase + (i + j) * size;
      uint64_t elo = ebase < lo ? lo : ebase;
      uint64_t ehi = ebase + (size - 1) > hi ? hi : ebase + (size - 1);
      if (have_prev && raw == prev_raw + delta && !((prev_addr + size) >> g->pa_bits)) {
        prev_raw = raw;
        prev_addr += size;
        uint64_t va = w->va_or | elo;
        if (w->sext && ((elo >> (w->sext - 1)) & 1))
          va |= ~LOWMASK(w->sext);
        emit(w, depth, va, prev_addr + (elo - ebase), ehi - elo + 1, size, prev_f);
        continue;
      }
      have_prev = 0;
      switch (decode(w->ctx, g, depth, (uint32_t)(i + j), raw, &d)) {
      case K_INVALID:
        break;
      case K_FAULT:
        w->st->faults++;
        break;
      case K_TABLE:
        if (w->mem->tables_only && depth + 2 == g->nlevels)
          break; /* a last-level table: nothing but leaves */
        walk(w, depth + 1, d.addr, ebase, elo, ehi, clr | d.clr, set | d.set);
        break;
      default: {
        uint32_t f = effective(g, d.flags, clr, set);
        uint64_t psize = size;
        if ((d.flags & ARCH_F_CONTIG) && g->family == FAM_RV)
          psize = 4096;
        uint64_t va = w->va_or | elo;
        if (w->sext && ((elo >> (w->sext - 1)) & 1))
          va |= ~LOWMASK(w->sext);
        emit(w, depth, va, d.addr + (elo - ebase), ehi - elo + 1, psize, f);
        have_prev = !(d.flags & ARCH_F_CONTIG);
        prev_raw = raw;
        prev_addr = d.addr;
        prev_f = f;
        break;
      }
      }
    }
    i += m;
  }
}

int arch_enumerate(const arch_ctx *ctx, const arch_mem *mem, uint64_t va_lo, uint64_t va_hi,
                   void *work, size_t work_len, arch_run_cb cb, void *arg, arch_walk_stats *stats) {
  arch_walk_stats dummy;
  walker w;
  int rc;
  if (!ctx)
    return ARCH_EINVAL;
  if (ctx->mode == ARCH_MODE_NONE)
    return ARCH_ENOPAGING;
  if (!mem || !mem->read || !work || work_len < ARCH_WORK_MIN || va_lo > va_hi)
    return ARCH_EINVAL;
  if (!stats)
    stats = &dummy;
  memset(stats, 0, sizeof *stats);
  memset(&w, 0, sizeof w);
  w.ctx = ctx;
  w.mem = mem;
  w.work = work;
  w.cb = cb;
  w.arg = arg;
  w.st = stats;
  /* AArch64 has two spaces (TTBR0, TTBR1), walked in increasing VA order.
   * Every other mode has one root; with sign extension its upper half of
   * indices maps the top of the address space, and the whole root table is
   * still read once. */
  int nspaces = ctx->mode == ARCH_AARCH64 ? 2 : 1;
  for (int sp = 0; sp < nspaces && !w.canceled; sp++) {
    geom g;
    uint64_t tlo, thi;
    if ((rc = get_geom(ctx, sp, &g)) != 0) {
      if (ctx->mode == ARCH_AARCH64)
        continue; /* an unusable half has no mappings */
      return rc;
    }
    uint64_t span = LOWMASK(g.va_bits);
    w.va_or = 0;
    w.sext = 0;
    if (ctx->mode == ARCH_AARCH64) {
      uint64_t rlo = sp ? ~span : 0, rhi = sp ? ~0ull : span;
      if (ctx->a64[sp].epd || va_hi < rlo || va_lo > rhi)
        continue;
      tlo = (va_lo > rlo ? va_lo : rlo) & span;
      thi = (va_hi < rhi ? va_hi : rhi) & span;
      w.va_or = sp ? ~span : 0;
    } else if (modes[ctx->mode].sign_ext) {
      /* Canonical VAs: [0, half] and [~span | (half + 1), ~0]; the table
       * VA interval [tlo, thi] covers exactly those inside [va_lo, va_hi]. */
      uint64_t half = span >> 1, upper = ~span | (half + 1);
      tlo = va_lo <= half ? va_lo : va_lo < upper ? half + 1 : va_lo & span;
      thi = va_hi >= upper ? va_hi & span : va_hi > half ? half : va_hi;
      if (tlo > thi)
        continue;
      w.sext = g.va_bits;
    } else {
      if (va_lo > span)
        continue;
      tlo = va_lo;
      thi = va_hi < span ? va_hi : span;
    }
    w.g = &g;
    w.cap = work_len / g.nlevels / g.esize;
    walk(&w, 0, g.root, 0, tlo, thi, 0, 0);
    flush(&w); /* runs never span TTBR0 and TTBR1 */
    w.g = NULL;
  }
  return w.canceled ? ARCH_ECANCELED : 0;
}

typedef struct {
  uint64_t pa;
  arch_ptov_cb cb;
  void *arg;
  int found;
} ptov_state;

static int ptov_run(void *arg, const arch_run *run) {
  ptov_state *s = arg;
  if (s->pa < run->pa || s->pa - run->pa >= run->size)
    return 0;
  s->found++;
  return s->cb ? s->cb(s->arg, run->va + (s->pa - run->pa), run) : 0;
}

int arch_ptov(const arch_ctx *ctx, const arch_mem *mem, uint64_t pa, void *work, size_t work_len,
              arch_ptov_cb cb, void *arg, arch_walk_stats *stats) {
  ptov_state s = {pa, cb, arg, 0};
  int rc = arch_enumerate(ctx, mem, 0, ~0ull, work, work_len, ptov_run, &s, stats);
  return rc < 0 ? rc : s.found;
}

/* ------------------------------------------------------------------------
 * Flag strings.
 */
enum { COL_BOOL, COL_SH, COL_ATTR, COL_NONE };

typedef struct {
  uint8_t kind;
  uint32_t mask; /* COL_BOOL: the letter is 'yes' when (flags & mask) == val */
  uint32_t val;
  char yes, no;
} column;

#define YES(f, c, n) \
  { COL_BOOL, f, f, c, n }
#define NOT(f, c, n) \
  { COL_BOOL, f, 0, c, n }

static const column x86_cols[] = {
    {COL_NONE, 0, 0, '-', '-'},  YES(ARCH_F_GLOBAL, 'G', '-'),   YES(ARCH_F_LARGE, 'L', '-'),
    YES(ARCH_F_DIRTY, 'D', '-'), YES(ARCH_F_ACCESSED, 'A', '-'), YES(ARCH_F_PCD, 'N', '-'),
    YES(ARCH_F_PWT, 'T', '-'),   YES(ARCH_F_USER, 'U', 'K'),     YES(ARCH_F_WRITE, 'W', 'R'),
    NOT(ARCH_F_NX, 'E', '-'),    YES(ARCH_F_VALID, 'V', '-'),
};
static const column a64_cols[] = {
    YES(ARCH_F_CONTIG, 'C', '-'), YES(ARCH_F_GLOBAL, 'G', '-'), YES(ARCH_F_ACCESSED, 'A', '-'),
    {COL_SH, 0, 0, 0, 0},         {COL_ATTR, 0, 0, 0, 0},       YES(ARCH_F_USER, 'U', 'K'),
    YES(ARCH_F_WRITE, 'W', 'R'),  NOT(ARCH_F_NX, 'X', '-'),     NOT(ARCH_F_PXN, 'P', '-'),
    YES(ARCH_F_VALID, 'V', '-'),
};
static const column rv_cols[] = {
    YES(ARCH_F_DIRTY, 'D', '-'), YES(ARCH_F_ACCESSED, 'A', '-'), YES(ARCH_F_GLOBAL, 'G', '-'),
    YES(ARCH_F_USER, 'U', '-'),  NOT(ARCH_F_NX, 'X', '-'),       YES(ARCH_F_WRITE, 'W', '-'),
    YES(ARCH_F_READ, 'R', '-'),  YES(ARCH_F_VALID, 'V', '-'),
};

typedef struct {
  uint32_t mask, val;
  const char *word;
} word;

static const word x86_words[] = {
    {ARCH_F_VALID, ARCH_F_VALID, "valid"},
    {ARCH_F_VALID, 0, "not-valid"},
    {ARCH_F_TABLE, ARCH_F_TABLE, "table"},
    {ARCH_F_LARGE, ARCH_F_LARGE, "large"},
    {ARCH_F_USER, ARCH_F_USER, "user"},
    {ARCH_F_USER, 0, "kernel"},
    {ARCH_F_WRITE, ARCH_F_WRITE, "write"},
    {ARCH_F_WRITE, 0, "read-only"},
    {ARCH_F_NX, 0, "exec"},
    {ARCH_F_NX, ARCH_F_NX, "nx"},
    {ARCH_F_ACCESSED, ARCH_F_ACCESSED, "accessed"},
    {ARCH_F_DIRTY, ARCH_F_DIRTY, "dirty"},
    {ARCH_F_GLOBAL, ARCH_F_GLOBAL, "global"},
    {ARCH_F_PWT, ARCH_F_PWT, "write-through"},
    {ARCH_F_PCD, ARCH_F_PCD, "cache-disabled"},
    {ARCH_F_PAT, ARCH_F_PAT, "pat"},
    {ARCH_F_SW, ARCH_F_SW, "sw"},
};
static const word a64_words[] = {
    {ARCH_F_VALID, ARCH_F_VALID, "valid"},
    {ARCH_F_VALID, 0, "not-valid"},
    {ARCH_F_TABLE, ARCH_F_TABLE, "table"},
    {ARCH_F_LARGE, ARCH_F_LARGE, "block"},
    {ARCH_F_USER, ARCH_F_USER, "user"},
    {ARCH_F_USER, 0, "kernel"},
    {ARCH_F_WRITE, ARCH_F_WRITE, "write"},
    {ARCH_F_WRITE, 0, "read-only"},
    {ARCH_F_NX, ARCH_F_NX, "uxn"},
    {ARCH_F_PXN, ARCH_F_PXN, "pxn"},
    {ARCH_F_ACCESSED, ARCH_F_ACCESSED, "af"},
    {ARCH_F_GLOBAL, 0, "ng"},
    {ARCH_F_DIRTY, ARCH_F_DIRTY, "dirty"},
    {ARCH_F_CONTIG, ARCH_F_CONTIG, "contig"},
    {ARCH_F_NS, ARCH_F_NS, "ns"},
    {ARCH_F_SW, ARCH_F_SW, "sw"},
};
static const word rv_words[] = {
    {ARCH_F_VALID, ARCH_F_VALID, "valid"},
    {ARCH_F_VALID, 0, "not-valid"},
    {ARCH_F_TABLE, ARCH_F_TABLE, "table"},
    {ARCH_F_LARGE, ARCH_F_LARGE, "large"},
    {ARCH_F_READ, ARCH_F_READ, "read"},
    {ARCH_F_WRITE, ARCH_F_WRITE, "write"},
    {ARCH_F_NX, 0, "exec"},
    {ARCH_F_USER, ARCH_F_USER, "user"},
    {ARCH_F_GLOBAL, ARCH_F_GLOBAL, "global"},
    {ARCH_F_ACCESSED, ARCH_F_ACCESSED, "accessed"},
    {ARCH_F_DIRTY, ARCH_F_DIRTY, "dirty"},
    {ARCH_F_CONTIG, ARCH_F_CONTIG, "napot"},
    {ARCH_F_SW, ARCH_F_SW, "rsw"},
};

int arch_flags_str(arch_mode mode, uint32_t flags, int style, char *buf, size_t cap) {
  sbuf b = {buf, cap, 0, 0};
  const column *cols;
  const word *words;
  size_t ncols, nwords;
  if ((unsigned)mode >= ARCH_MODE_COUNT || mode == ARCH_MODE_NONE)
    return ARCH_EINVAL;
  switch (modes[mode].family) {
  case FAM_X86:
    cols = x86_cols;
    ncols = sizeof x86_cols / sizeof x86_cols[0];
    words = x86_words;
    nwords = sizeof x86_words / sizeof x86_words[0];
    break;
  case FAM_A64:
    cols = a64_cols;
    ncols = sizeof a64_cols / sizeof a64_cols[0];
    words = a64_words;
    nwords = sizeof a64_words / sizeof a64_words[0];
    break;
  default:
    cols = rv_cols;
    ncols = sizeof rv_cols / sizeof rv_cols[0];
    words = rv_words;
    nwords = sizeof rv_words / sizeof rv_words[0];
    break;
  }
  if (style == ARCH_FMT_COMPACT) {
    for (size_t i = 0; i < ncols; i++) {
      const column *c = &cols[i];
      char ch;
      /* 32-bit paging has no NX bit: no E column. */
      if (mode == ARCH_X86_32 && c->kind == COL_BOOL && c->mask == ARCH_F_NX)
        continue;
      if (!(flags & ARCH_F_VALID))
        ch = '-';
      else if (c->kind == COL_SH)
        ch = "-?OI"[ARCH_F_SH(flags)];
      else if (c->kind == COL_ATTR)
        ch = (char)('0' + ARCH_F_ATTRINDX(flags));
      else if (c->kind == COL_NONE)
        ch = c->no;
      else
        ch = (flags & c->mask) == c->val ? c->yes : c->no;
      sb_putc(&b, ch);
    }
    return sb_end(&b);
  }
  if (style != ARCH_FMT_LONG)
    return ARCH_EINVAL;
  int first = 1;
  for (size_t i = 0; i < nwords; i++) {
    const word *wd = &words[i];
    if ((flags & wd->mask) != wd->val)
      continue;
    if (wd->mask != ARCH_F_VALID && !(flags & ARCH_F_VALID))
      continue;
    if (mode == ARCH_X86_32 && wd->mask == ARCH_F_NX)
      continue;
    if (!first)
      sb_putc(&b, ' ');
    sb_puts(&b, wd->word);
    first = 0;
  }
  if ((flags & ARCH_F_VALID) && modes[mode].family == FAM_A64 && !(flags & ARCH_F_TABLE)) {
    static const char *const sh[] = {"non-shareable", "sh-reserved", "outer-shareable",
                                     "inner-shareable"};
    sb_putc(&b, ' ');
    sb_puts(&b, sh[ARCH_F_SH(flags)]);
    sb_puts(&b, " attr");
    sb_dec(&b, ARCH_F_ATTRINDX(flags));
  }
  if ((flags & ARCH_F_VALID) && modes[mode].family == FAM_RV && ARCH_F_PBMT(flags)) {
    sb_puts(&b, ARCH_F_PBMT(flags) == 1 ? " pbmt-nc" : " pbmt-io");
  }
  return sb_end(&b);
}
