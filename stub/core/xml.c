/* xml.c - target.xml generated from the register table.
 *
 * The document is never stored: it is produced on the fly into a window
 * [offset, offset + cap), which is all qXfer:features:read needs ("General
 * Query Packets", qXfer).  A port may instead give a stored document in
 * stub_arch.xml.
 */
#include "stub_int.h"

typedef struct {
  char *out;
  size_t cap;
  size_t len;
  uint64_t skip; /* bytes before the window */
  uint64_t pos;  /* bytes produced so far */
} xwin;

static void put(xwin *w, const char *s) {
  for (; *s; s++, w->pos++)
    if (w->pos >= w->skip && w->len < w->cap)
      w->out[w->len++] = *s;
}

static void put_uint(xwin *w, unsigned v) {
  char tmp[12];
  int i = (int)sizeof(tmp) - 1;
  tmp[i] = '\0';
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put(w, tmp + i);
}

static void put_attr(xwin *w, const char *name, const char *value) {
  put(w, " ");
  put(w, name);
  put(w, "=\"");
  put(w, value);
  put(w, "\"");
}

static void generate(const stub_arch *a, xwin *w) {
  const char *feature = NULL;
  unsigned i;

  if (a->xml) {
    put(w, a->xml);
    return;
  }
  put(w, "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
         "<target version=\"1.0\">\n");
  if (a->xml_arch) {
    put(w, "<architecture>");
    put(w, a->xml_arch);
    put(w, "</architecture>\n");
  }
  for (i = 0; i < a->nregs; i++) {
    const stub_reg *r = &a->regs[i];
    const char *f = r->feature ? r->feature : "org.rspbridge.stub";
    if (!feature || !stub__streq(feature, f)) {
      if (feature)
        put(w, "</feature>\n");
      put(w, "<feature name=\"");
      put(w, f);
      put(w, "\">\n");
      if (!feature && a->xml_types)
        put(w, a->xml_types);
      feature = f;
    }
    put(w, "<reg");
    put_attr(w, "name", r->name);
    put(w, " bitsize=\"");
    put_uint(w, r->bitsize);
    put(w, "\" regnum=\"");
    put_uint(w, i);
    put(w, "\"");
    put_attr(w, "type", r->type ? r->type : "int");
    if (r->group)
      put_attr(w, "group", r->group);
    put(w, "/>\n");
  }
  if (feature)
    put(w, "</feature>\n");
  put(w, "</target>\n");
}

size_t stub_arch_xml_size(const stub_arch *a) {
  xwin w = {NULL, 0, 0, 0, 0};
  generate(a, &w);
  return (size_t)w.pos;
}

size_t stub_arch_xml_read(const stub_arch *a, uint64_t offset, char *out, size_t cap) {
  xwin w = {out, cap, 0, offset, 0};
  generate(a, &w);
  return w.len;
}

int stub_arch_find_reg(const stub_arch *a, const char *name) {
  unsigned i;
  for (i = 0; i < a->nregs; i++)
    if (stub__streq(a->regs[i].name, name))
      return (int)i;
  return -1;
}
