/*
 * amdgpu.c: reading code objects (isa.h): resources, disassembly, and LLVM's
 * AMDGPU processor list.
 *
 * A code object may come from a cache file that was truncated or corrupted,
 * so it is read as hostile input: the ELF64 header, section headers, string
 * tables, symbols and notes are parsed by hand, every offset and size is
 * checked against the file before a byte is read (overflow-safe), and a
 * failure is RF_E_FORMAT naming the section or offset. Nothing is mapped or
 * copied; multi-byte fields are assembled byte by byte (little endian, no
 * alignment assumed).
 *
 * AMDGPU resources come from the NT_AMDGPU_METADATA note (code object v3+):
 * a MessagePack map whose "amdhsa.kernels" array holds one map per kernel.
 * The MessagePack reader below is the minimum for that: every length is
 * checked against the bytes left and nesting is bounded, so no input makes
 * it read out of bounds or recurse without end. From the registers follow
 * the waves per SIMD, by LLVM 19's rules (amd_waves_per_simd()).
 *
 * NVIDIA CUBIN resources come from the .nv.info attribute records: each is a
 * format byte, an attribute byte and a 16-bit field that is the value, or
 * for format EIFMT_SVAL (4) the size of the payload that follows.
 * EIATTR_REGCOUNT (0x2f), EIATTR_FRAME_SIZE (0x11), EIATTR_MIN_STACK_SIZE
 * (0x12) and EIATTR_MAX_STACK_SIZE (0x23) are SVAL payloads of a function's
 * symbol index and a 32-bit value. CUDA 13 puts them in the global .nv.info;
 * .nv.info.<kernel> is read as well, since a record names its function
 * wherever it sits. Static shared
 * memory is the size of .nv.shared.<kernel>, less the 1 KiB that sm_90+
 * cubins reserve at its start (see nv_reserved_smem()). Checked against
 * ptxas -v for NVRTC 13.0 cubins of sm_75 to sm_120.
 *
 * LLVM-C does the two things it alone can: name the processors the AMDGPU
 * target knows, and decode instructions. Without LLVM (ROCMFORGE_HAVE_LLVM
 * undefined) resources still work; disassembly and the processor list say
 * the build has no LLVM. Deliberately not done: SASS (nvdisasm's, not ours),
 * code object v2 (YAML metadata, pre-ROCm 3), offload bundles.
 *
 * Over 800 lines on purpose: the ELF and MessagePack readers stay private to
 * the three readers that use them, so nothing outside this file handles
 * offsets that came out of a file.
 */
#include "codegen/isa.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/error.h"

#ifdef ROCMFORGE_HAVE_LLVM
#include <llvm-c/Core.h>
#include <llvm-c/Disassembler.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#endif

enum {
    ELF_EM_CUDA = 190,
    ELF_EM_AMDGPU = 224,
    ELF_SHT_SYMTAB = 2,
    ELF_SHT_STRTAB = 3,
    ELF_SHT_NOTE = 7,
    ELF_SHT_NOBITS = 8,
    ELF_STT_FUNC = 2,
    NT_AMDGPU_METADATA = 32,
    STO_CUDA_ENTRY = 0x10,
};

/* ---- ELF64, little endian, bounds-checked -------------------------------- */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* [off, off + len) lies within n bytes */
static int in_bounds(uint64_t n, uint64_t off, uint64_t len) { return off <= n && len <= n - off; }

typedef struct elf_file {
    const uint8_t *b;
    size_t n;
    uint16_t machine;
    uint64_t shoff;
    uint16_t shnum;
    const uint8_t *shstr; /* section name table */
    uint64_t shstr_size;
} elf_file;

typedef struct elf_section {
    const char *name;
    uint32_t type, link;
    uint64_t addr, off, size;
    const uint8_t *data; /* NULL for NOBITS */
} elf_section;

typedef struct elf_symbol {
    const char *name;
    uint8_t type, other;
    uint16_t shndx;
    uint64_t value, size;
} elf_symbol;

/* NUL-terminated string at off in a string table, or NULL */
static const char *elf_str(const uint8_t *tab, uint64_t size, uint64_t off)
{
    if (!tab || off >= size || !memchr(tab + off, 0, size - off))
        return NULL;
    return (const char *)tab + off;
}

static rf_status elf_section_at(const elf_file *e, uint32_t i, elf_section *s, rf_error *err)
{
    const uint8_t *h = e->b + e->shoff + (uint64_t)i * 64;
    uint32_t name = rd32(h);
    s->type = rd32(h + 4);
    s->addr = rd64(h + 16);
    s->off = rd64(h + 24);
    s->size = rd64(h + 32);
    s->link = rd32(h + 40);
    s->name = e->shstr ? elf_str(e->shstr, e->shstr_size, name) : "";
    if (!s->name)
        return rf_fail(err, RF_E_FORMAT, "code object: section %u: name offset %u outside the name table", i, name);
    s->data = NULL;
    if (s->type == ELF_SHT_NOBITS)
        return RF_OK;
    if (!in_bounds(e->n, s->off, s->size))
        return rf_fail(err, RF_E_FORMAT,
                       "code object: section %u '%s' (bytes 0x%llx + 0x%llx) runs past the end of the %zu-byte file",
                       i, s->name, (unsigned long long)s->off, (unsigned long long)s->size, e->n);
    s->data = e->b + s->off;
    return RF_OK;
}

static rf_status elf_open(elf_file *e, const void *code, size_t size, uint16_t machine, rf_error *err)
{
    const uint8_t *b = code;
    memset(e, 0, sizeof *e);
    if (!code || size < 64)
        return rf_fail(err, RF_E_FORMAT, "code object: %zu bytes, shorter than an ELF64 header", code ? size : 0);
    if (memcmp(b, "\177ELF", 4) != 0)
        return rf_fail(err, RF_E_FORMAT, "code object: no ELF magic at offset 0");
    if (b[4] != 2 || b[5] != 1)
        return rf_fail(err, RF_E_FORMAT, "code object: not a little-endian ELF64 file (class %u, data %u)", b[4], b[5]);
    e->b = b;
    e->n = size;
    e->machine = rd16(b + 18);
    e->shoff = rd64(b + 40);
    e->shnum = rd16(b + 60);
    uint16_t shentsize = rd16(b + 58), shstrndx = rd16(b + 62);
    if (e->machine != machine)
        return rf_fail(err, RF_E_FORMAT, "code object: ELF machine %u, expected %u (%s)", e->machine, machine,
                       machine == ELF_EM_AMDGPU ? "AMDGPU" : "NVIDIA CUDA");
    if (shentsize != 64 || e->shnum == 0)
        return rf_fail(err, RF_E_FORMAT, "code object: %u section headers of %u bytes (expected 64)", e->shnum,
                       shentsize);
    if (!in_bounds(size, e->shoff, (uint64_t)e->shnum * 64))
        return rf_fail(err, RF_E_FORMAT, "code object: %u section headers at offset 0x%llx run past the end of the "
                                         "%zu-byte file", e->shnum, (unsigned long long)e->shoff, size);
    if (shstrndx >= e->shnum)
        return rf_fail(err, RF_E_FORMAT, "code object: section name table index %u of %u sections", shstrndx,
                       e->shnum);
    elf_section names;
    rf_status st = elf_section_at(e, shstrndx, &names, err); /* shstr still NULL: its name reads "" */
    if (st != RF_OK)
        return st;
    if (names.type != ELF_SHT_STRTAB || !names.data)
        return rf_fail(err, RF_E_FORMAT, "code object: section name table (section %u) is not a string table",
                       shstrndx);
    e->shstr = names.data;
    e->shstr_size = names.size;
    /* Everything the header points at must be there, read or not: a file
     * cut short anywhere is refused here, not half-read later. */
    uint64_t phoff = rd64(b + 32);
    uint16_t phentsize = rd16(b + 54), phnum = rd16(b + 56);
    if (phnum && (phentsize != 56 || !in_bounds(size, phoff, (uint64_t)phnum * 56)))
        return rf_fail(err, RF_E_FORMAT, "code object: %u program headers of %u bytes at offset 0x%llx run past the "
                                         "end of the %zu-byte file", phnum, phentsize, (unsigned long long)phoff,
                       size);
    for (uint32_t i = 0; i < e->shnum; i++) {
        st = elf_section_at(e, i, &names, err);
        if (st != RF_OK)
            return st;
    }
    return RF_OK;
}

/* RF_OK and *s when a section is called name, RF_E_NOTFOUND when none is */
static rf_status elf_find(const elf_file *e, const char *name, elf_section *s, rf_error *err)
{
    for (uint32_t i = 0; i < e->shnum; i++) {
        rf_status st = elf_section_at(e, i, s, err);
        if (st != RF_OK)
            return st;
        if (strcmp(s->name, name) == 0)
            return RF_OK;
    }
    return RF_E_NOTFOUND;
}

typedef struct elf_symtab {
    const uint8_t *syms;
    uint64_t count;
    const uint8_t *str;
    uint64_t str_size;
} elf_symtab;

static rf_status elf_symtab_open(const elf_file *e, elf_symtab *t, rf_error *err)
{
    elf_section s, str;
    for (uint32_t i = 0; i < e->shnum; i++) {
        rf_status st = elf_section_at(e, i, &s, err);
        if (st != RF_OK)
            return st;
        if (s.type != ELF_SHT_SYMTAB)
            continue;
        if (s.link >= e->shnum)
            return rf_fail(err, RF_E_FORMAT, "code object: .symtab links to section %u of %u", s.link, e->shnum);
        st = elf_section_at(e, s.link, &str, err);
        if (st != RF_OK)
            return st;
        if (str.type != ELF_SHT_STRTAB)
            return rf_fail(err, RF_E_FORMAT, "code object: .symtab's string table is not one");
        t->syms = s.data;
        t->count = s.size / 24;
        t->str = str.data;
        t->str_size = str.size;
        return RF_OK;
    }
    return rf_fail(err, RF_E_FORMAT, "code object: no symbol table");
}

static rf_status elf_symbol_at(const elf_symtab *t, uint64_t i, elf_symbol *sym, rf_error *err)
{
    const uint8_t *p = t->syms + i * 24;
    uint32_t name = rd32(p);
    sym->name = elf_str(t->str, t->str_size, name);
    if (!sym->name)
        return rf_fail(err, RF_E_FORMAT, "code object: symbol %llu: name offset %u outside the string table",
                       (unsigned long long)i, name);
    sym->type = p[4] & 0xf;
    sym->other = p[5];
    sym->shndx = rd16(p + 6);
    sym->value = rd64(p + 8);
    sym->size = rd64(p + 16);
    return RF_OK;
}

/* index of the function symbol called name: RF_E_NOTFOUND when none is */
static rf_status elf_find_function(const elf_symtab *t, const char *name, uint64_t *index, elf_symbol *sym,
                                   rf_error *err)
{
    for (uint64_t i = 0; i < t->count; i++) {
        rf_status st = elf_symbol_at(t, i, sym, err);
        if (st != RF_OK)
            return st;
        if (sym->type == ELF_STT_FUNC && strcmp(sym->name, name) == 0) {
            *index = i;
            return RF_OK;
        }
    }
    return RF_E_NOTFOUND;
}

/* ---- MessagePack, the subset AMDGPU metadata uses ------------------------ */

typedef enum mp_kind { MP_NIL, MP_BOOL, MP_INT, MP_FLOAT, MP_STR, MP_BIN, MP_ARRAY, MP_MAP, MP_EXT } mp_kind;

typedef struct mp_reader {
    const uint8_t *p, *end;
} mp_reader;

typedef struct mp_item {
    mp_kind kind;
    int64_t i;        /* MP_INT (uint64 above INT64_MAX saturates), MP_BOOL */
    uint64_t n;       /* bytes of STR/BIN/EXT, elements of ARRAY, pairs of MAP */
    const uint8_t *s; /* STR/BIN/EXT payload */
} mp_item;

enum { MP_MAX_DEPTH = 32 };

static int mp_take(mp_reader *r, uint64_t k, const uint8_t **at)
{
    if ((uint64_t)(r->end - r->p) < k)
        return 0;
    *at = r->p;
    r->p += k;
    return 1;
}

static int mp_uint(mp_reader *r, int bytes, uint64_t *v)
{
    const uint8_t *p;
    if (!mp_take(r, (uint64_t)bytes, &p))
        return 0;
    *v = 0;
    for (int k = 0; k < bytes; k++)
        *v = *v << 8 | p[k]; /* MessagePack is big endian */
    return 1;
}

/* One item's header; a STR/BIN/EXT payload is consumed with it, an array's
 * or map's elements are not. 0 on truncation or an unused tag. */
static int mp_next(mp_reader *r, mp_item *it)
{
    const uint8_t *t;
    if (!mp_take(r, 1, &t))
        return 0;
    uint8_t c = *t;
    uint64_t v = 0;
    int len_bytes = 0;
    memset(it, 0, sizeof *it);
    if (c <= 0x7f) {
        it->kind = MP_INT, it->i = c;
        return 1;
    }
    if (c >= 0xe0) {
        it->kind = MP_INT, it->i = (int8_t)c;
        return 1;
    }
    if ((c & 0xf0) == 0x80) {
        it->kind = MP_MAP, it->n = c & 0x0f;
    } else if ((c & 0xf0) == 0x90) {
        it->kind = MP_ARRAY, it->n = c & 0x0f;
    } else if ((c & 0xe0) == 0xa0) {
        it->kind = MP_STR, it->n = c & 0x1f;
    } else {
        switch (c) {
        case 0xc0: it->kind = MP_NIL; return 1;
        case 0xc2: case 0xc3: it->kind = MP_BOOL, it->i = c == 0xc3; return 1;
        case 0xc4: case 0xc5: case 0xc6: it->kind = MP_BIN, len_bytes = 1 << (c - 0xc4); break;
        case 0xc7: case 0xc8: case 0xc9: it->kind = MP_EXT, len_bytes = 1 << (c - 0xc7); break;
        case 0xca: case 0xcb: it->kind = MP_FLOAT; return mp_uint(r, c == 0xca ? 4 : 8, &v);
        case 0xcc: case 0xcd: case 0xce: case 0xcf:
            if (!mp_uint(r, 1 << (c - 0xcc), &v))
                return 0;
            it->kind = MP_INT, it->i = v > INT64_MAX ? INT64_MAX : (int64_t)v;
            return 1;
        case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
            int bytes = 1 << (c - 0xd0);
            if (!mp_uint(r, bytes, &v))
                return 0;
            if (bytes < 8 && (v >> (bytes * 8 - 1)) & 1) /* sign-extend */
                v |= ~0ull << (bytes * 8);
            it->kind = MP_INT, it->i = (int64_t)v;
            return 1;
        }
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
            it->kind = MP_EXT, it->n = 1u << (c - 0xd4);
            it->n += 1; /* the type byte */
            break;
        case 0xd9: case 0xda: case 0xdb: it->kind = MP_STR, len_bytes = 1 << (c - 0xd9); break;
        case 0xdc: case 0xdd: it->kind = MP_ARRAY, len_bytes = 2 << (c - 0xdc); break;
        case 0xde: case 0xdf: it->kind = MP_MAP, len_bytes = 2 << (c - 0xde); break;
        default: return 0; /* 0xc1 is never used */
        }
    }
    if (len_bytes) {
        if (!mp_uint(r, len_bytes, &v))
            return 0;
        it->n = v;
    }
    if (it->kind == MP_EXT && len_bytes)
        it->n += 1;
    if (it->kind == MP_STR || it->kind == MP_BIN || it->kind == MP_EXT)
        return mp_take(r, it->n, &it->s);
    /* each element is at least a byte: a count beyond the bytes left is a lie */
    uint64_t left = (uint64_t)(r->end - r->p);
    return it->kind == MP_ARRAY ? it->n <= left : it->n <= left / 2;
}

static int mp_skip_items(mp_reader *r, uint64_t n, int depth);

/* skips one whole value */
static int mp_skip(mp_reader *r, int depth)
{
    mp_item it;
    if (depth > MP_MAX_DEPTH || !mp_next(r, &it))
        return 0;
    if (it.kind == MP_ARRAY)
        return mp_skip_items(r, it.n, depth + 1);
    if (it.kind == MP_MAP)
        return mp_skip_items(r, it.n * 2, depth + 1);
    return 1;
}

static int mp_skip_items(mp_reader *r, uint64_t n, int depth)
{
    for (uint64_t k = 0; k < n; k++)
        if (!mp_skip(r, depth))
            return 0;
    return 1;
}

static int mp_is(const mp_item *it, const char *s)
{
    size_t len = strlen(s);
    return it->kind == MP_STR && it->n == len && memcmp(it->s, s, len) == 0;
}

/* ---- AMDGPU kernels from the metadata note ------------------------------- */

enum { AMD_VGPR, AMD_AGPR, AMD_SGPR, AMD_LDS, AMD_SCRATCH, AMD_WAVE, AMD_N_FIELDS };
static const char *const amd_field_key[AMD_N_FIELDS] = {
    ".vgpr_count", ".agpr_count", ".sgpr_count", ".group_segment_fixed_size", ".private_segment_fixed_size",
    ".wavefront_size",
};

typedef struct amd_kernel {
    char name[256];   /* .name */
    char symbol[256]; /* .symbol less ".kd": the code's function symbol */
    int64_t field[AMD_N_FIELDS]; /* -1: absent */
} amd_kernel;

static void mp_copy_str(char *dst, size_t cap, const mp_item *it)
{
    size_t len = it->n < cap - 1 ? (size_t)it->n : cap - 1;
    memcpy(dst, it->s, len);
    dst[len] = 0;
}

static int amd_kernel_read(mp_reader *r, amd_kernel *k)
{
    mp_item m, key, v;
    memset(k, 0, sizeof *k);
    for (int f = 0; f < AMD_N_FIELDS; f++)
        k->field[f] = -1;
    if (!mp_next(r, &m) || m.kind != MP_MAP)
        return 0;
    for (uint64_t i = 0; i < m.n; i++) {
        if (!mp_next(r, &key))
            return 0;
        int f = 0;
        while (f < AMD_N_FIELDS && !mp_is(&key, amd_field_key[f]))
            f++;
        int named = mp_is(&key, ".name"), symbol = mp_is(&key, ".symbol");
        mp_reader at = *r;
        if (!mp_next(r, &v))
            return 0;
        if (v.kind == MP_ARRAY || v.kind == MP_MAP) { /* .args and the like: step over */
            *r = at;
            if (!mp_skip(r, 1))
                return 0;
        } else if (f < AMD_N_FIELDS && v.kind == MP_INT) {
            k->field[f] = v.i;
        } else if ((named || symbol) && v.kind == MP_STR) {
            mp_copy_str(named ? k->name : k->symbol, sizeof k->name, &v);
        }
    }
    size_t len = strlen(k->symbol);
    if (len > 3 && strcmp(k->symbol + len - 3, ".kd") == 0)
        k->symbol[len - 3] = 0;
    if (!k->symbol[0])
        memcpy(k->symbol, k->name, sizeof k->symbol);
    return 1;
}

/* The NT_AMDGPU_METADATA note's msgpack map (desc, len), or RF_E_FORMAT. */
static rf_status amd_metadata(const elf_file *e, const uint8_t **desc, uint64_t *len, rf_error *err)
{
    elf_section s;
    for (uint32_t i = 0; i < e->shnum; i++) {
        rf_status st = elf_section_at(e, i, &s, err);
        if (st != RF_OK)
            return st;
        if (s.type != ELF_SHT_NOTE)
            continue;
        /* Elf64_Nhdr; name and desc are padded to 4 bytes (LLVM writes
         * AMDGPU notes 4-aligned) */
        for (uint64_t p = 0; s.size - p >= 12;) {
            uint64_t namesz = rd32(s.data + p), descsz = rd32(s.data + p + 4);
            uint32_t type = rd32(s.data + p + 8);
            uint64_t name_at = p + 12, desc_at = name_at + ((namesz + 3) & ~3ull);
            uint64_t next = desc_at + ((descsz + 3) & ~3ull);
            if (!in_bounds(s.size, name_at, (namesz + 3) & ~3ull) || !in_bounds(s.size, desc_at, descsz))
                return rf_fail(err, RF_E_FORMAT, "code object: note at offset 0x%llx of '%s' runs past its section",
                               (unsigned long long)(s.off + p), s.name);
            if (type == NT_AMDGPU_METADATA && namesz == 7 && memcmp(s.data + name_at, "AMDGPU", 7) == 0) {
                *desc = s.data + desc_at;
                *len = descsz;
                return RF_OK;
            }
            if (next > s.size)
                break;
            p = next;
        }
    }
    return rf_fail(err, RF_E_FORMAT, "code object: no AMDGPU metadata note (NT_AMDGPU_METADATA; code object v2 "
                                     "is not read)");
}

/* strcat that truncates */
static void list_append(char *buf, size_t cap, const char *s)
{
    size_t used = strlen(buf), len = strlen(s);
    if (len > cap - 1 - used)
        len = cap - 1 - used;
    memcpy(buf + used, s, len);
    buf[used + len] = 0;
}

/* Finds kernel (by .name or function symbol; NULL: the only one) in the
 * metadata. */
static rf_status amd_find_kernel(const elf_file *e, const char *kernel, amd_kernel *out, rf_error *err)
{
    const uint8_t *desc = NULL;
    uint64_t len = 0;
    rf_status st = amd_metadata(e, &desc, &len, err);
    if (st != RF_OK)
        return st;
    mp_reader r = {desc, desc + len};
    mp_item m, key, arr;
    if (!mp_next(&r, &m) || m.kind != MP_MAP)
        return rf_fail(err, RF_E_FORMAT, "code object: AMDGPU metadata is not a MessagePack map");
    for (uint64_t i = 0; i < m.n; i++) {
        if (!mp_next(&r, &key))
            break;
        if (!mp_is(&key, "amdhsa.kernels")) {
            if (!mp_skip(&r, 1))
                break;
            continue;
        }
        if (!mp_next(&r, &arr) || arr.kind != MP_ARRAY)
            break;
        char names[256] = "";
        size_t found = 0;
        amd_kernel k;
        for (uint64_t j = 0; j < arr.n; j++) {
            if (!amd_kernel_read(&r, &k))
                return rf_fail(err, RF_E_FORMAT, "code object: AMDGPU metadata: kernel %llu is malformed",
                               (unsigned long long)j);
            list_append(names, sizeof names, j ? ", " : "");
            list_append(names, sizeof names, k.name);
            if (kernel ? strcmp(k.name, kernel) == 0 || strcmp(k.symbol, kernel) == 0 : found == 0)
                *out = k;
            if (!kernel || strcmp(k.name, kernel) == 0 || strcmp(k.symbol, kernel) == 0)
                found++;
        }
        if (kernel && found == 0)
            return rf_fail(err, RF_E_NOTFOUND, "code object has no kernel '%s' (it has: %s)", kernel, names);
        if (!kernel && found != 1)
            return rf_fail(err, RF_E_ARG, "code object has %zu kernels (%s); name one", found, names);
        return RF_OK;
    }
    return rf_fail(err, RF_E_FORMAT, "code object: AMDGPU metadata has no readable amdhsa.kernels");
}

/* "gfx90a" -> 9.0.10, "gfx1030" -> 10.3.0; generic targets ("gfx9-generic",
 * "gfx10-3-generic") have generic set and the minor they name, else -1. */
typedef struct gfx_version {
    int major, minor, step;
    int generic;
} gfx_version;

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static gfx_version gfx_version_of(const char *proc)
{
    gfx_version v = {0, -1, -1, 0};
    if (strncmp(proc, "gfx", 3) != 0)
        return v;
    const char *s = proc + 3;
    size_t digits = strspn(s, "0123456789"), len = strlen(s);
    if (s[digits] == '-') {
        v.generic = 1;
        v.major = atoi(s);
        if (s[digits + 1] >= '0' && s[digits + 1] <= '9')
            v.minor = s[digits + 1] - '0';
        return v;
    }
    if (len < 3 || len > 6)
        return v;
    for (size_t i = 0; i < len - 2; i++)
        v.major = v.major * 10 + (s[i] - '0');
    v.minor = hex_digit(s[len - 2]);
    v.step = hex_digit(s[len - 1]);
    return v;
}

/*
 * Waves per SIMD the registers allow, by LLVM 19's AMDGPUBaseInfo.cpp
 * (getNumWavesPerEUWithNumVGPRs, getOccupancyWithNumSGPRs). .vgpr_count is
 * what LLVM counts for occupancy: on gfx90a/gfx94x VGPRs and AGPRs share one
 * 512-register file and it is their sum; on gfx908 it is the larger of the
 * two. With the allocation granule G, the file's size T and the hardware
 * limit W:
 *   waves = vgpr < G ? W : clamp(T / round_up(vgpr, G), 1, W)
 *   gfx90a, gfx940-942            G 8, T 512, W 8
 *   other gfx6-gfx9               G 4, T 256, W 10
 *   gfx10.1 (gfx1010-1013)        wave32: G 8, T 1024; wave64: G 4, T 512; W 20
 *   gfx10.3, gfx11 (1102, 1103,   wave32: G 16, T 1024; wave64: G 8, T 512; W 16
 *     1150, 1152, generics)
 *   gfx1100, 1101, 1151, gfx12    wave32: G 24, T 1536; wave64: G 12, T 768; W 16
 *     (50% more VGPRs)
 * Before gfx10 SGPRs limit too: gfx8-9 allow 10/9/8/7 waves up to 80/88/100/
 * more SGPRs, gfx6-7 10..5 waves up to 48/56/64/72/80/more. LDS and the
 * workgroup size, which also bound occupancy, are the launch's to add.
 */
static int amd_waves_per_simd(const char *proc, int wave, int vgpr, int sgpr)
{
    gfx_version v = gfx_version_of(proc);
    static const char *const big_vgpr_file[] = {"gfx1100", "gfx1101", "gfx1151"};
    int cdna2_plus = strcmp(proc, "gfx90a") == 0 || (v.major == 9 && v.minor == 4 && !v.generic);
    int more_vgprs = v.major >= 12;
    for (size_t i = 0; i < sizeof big_vgpr_file / sizeof big_vgpr_file[0]; i++)
        more_vgprs |= strcmp(proc, big_vgpr_file[i]) == 0;
    int w32 = wave == 32;
    int granule, total, max_waves;
    if (cdna2_plus)
        granule = 8, total = 512, max_waves = 8;
    else if (v.major <= 9)
        granule = 4, total = 256, max_waves = 10;
    else if (v.major == 10 && v.minor < 3)
        granule = w32 ? 8 : 4, total = w32 ? 1024 : 512, max_waves = 20;
    else if (more_vgprs)
        granule = w32 ? 24 : 12, total = w32 ? 1536 : 768, max_waves = 16;
    else
        granule = w32 ? 16 : 8, total = w32 ? 1024 : 512, max_waves = 16;

    int waves = max_waves;
    if (vgpr >= granule) {
        int rounded = (vgpr + granule - 1) / granule * granule;
        waves = total / rounded;
        waves = waves < 1 ? 1 : waves > max_waves ? max_waves : waves;
    }
    if (v.major <= 9) {
        int by_sgpr;
        if (v.major >= 8)
            by_sgpr = sgpr <= 80 ? 10 : sgpr <= 88 ? 9 : sgpr <= 100 ? 8 : 7;
        else
            by_sgpr = sgpr <= 48 ? 10 : sgpr <= 56 ? 9 : sgpr <= 64 ? 8 : sgpr <= 72 ? 7 : sgpr <= 80 ? 6 : 5;
        waves = by_sgpr < waves ? by_sgpr : waves;
    }
    return waves;
}

static rf_status amd_resources(const cg_arch *arch, const elf_file *e, const char *kernel, cg_resources *out,
                               rf_error *err)
{
    amd_kernel k;
    rf_status st = amd_find_kernel(e, kernel, &k, err);
    if (st != RF_OK)
        return st;
    int v[AMD_N_FIELDS];
    for (int f = 0; f < AMD_N_FIELDS; f++) {
        int64_t x = k.field[f];
        if (x < 0 && (f == AMD_AGPR || f == AMD_WAVE)) /* AGPRs only on MAI chips; wave optional pre-v5 */
            x = f == AMD_AGPR ? 0 : arch->wave;
        if (x < 0 || x > INT32_MAX)
            return rf_fail(err, RF_E_FORMAT, "code object: kernel '%s': %s %s", k.name, amd_field_key[f],
                           x < 0 ? "missing or negative" : "out of range");
        v[f] = (int)x;
    }
    if (v[AMD_WAVE] != 32 && v[AMD_WAVE] != 64)
        return rf_fail(err, RF_E_FORMAT, "code object: kernel '%s': .wavefront_size %d", k.name, v[AMD_WAVE]);
    out->vgpr = v[AMD_VGPR];
    out->agpr = v[AMD_AGPR];
    out->sgpr = v[AMD_SGPR];
    out->lds_bytes = v[AMD_LDS];
    out->scratch_bytes = v[AMD_SCRATCH];
    out->wave = v[AMD_WAVE];
    out->waves_per_simd = amd_waves_per_simd(arch->name, out->wave, out->vgpr, out->sgpr);
    return RF_OK;
}

/* ---- NVIDIA CUBIN ------------------------------------------------------- */

enum {
    EIFMT_NVAL = 1,
    EIFMT_BVAL = 2,
    EIFMT_HVAL = 3,
    EIFMT_SVAL = 4,
    EIATTR_FRAME_SIZE = 0x11,
    EIATTR_MIN_STACK_SIZE = 0x12,
    EIATTR_MAX_STACK_SIZE = 0x23,
    EIATTR_REGCOUNT = 0x2f,
};

/* The kernel's function symbol: by name, or the only CUDA entry. */
static rf_status nv_find_kernel(const elf_symtab *t, const char *kernel, uint64_t *index, elf_symbol *sym,
                                rf_error *err)
{
    if (kernel) {
        rf_status st = elf_find_function(t, kernel, index, sym, err);
        if (st == RF_E_NOTFOUND)
            return rf_fail(err, RF_E_NOTFOUND, "cubin has no kernel '%s'", kernel);
        return st;
    }
    size_t found = 0;
    elf_symbol s;
    for (uint64_t i = 0; i < t->count; i++) {
        rf_status st = elf_symbol_at(t, i, &s, err);
        if (st != RF_OK)
            return st;
        if (s.type == ELF_STT_FUNC && (s.other & STO_CUDA_ENTRY) && found++ == 0)
            *index = i, *sym = s;
    }
    if (found != 1)
        return rf_fail(err, found ? RF_E_ARG : RF_E_FORMAT, "cubin has %zu kernels; name one", found);
    return RF_OK;
}

/* sm_90+ cubins (those with a .nv.shared.reserved.0 section) begin every
 * kernel's .nv.shared.<kernel> with the shared memory the CUDA runtime
 * reserves per block: .nv.reservedSmem.cap bytes where that symbol is
 * defined (sm_100+), 1 KiB on sm_90, whose cubins lack it. ptxas -v reports
 * the size less this; so do we. */
static rf_status nv_reserved_smem(const elf_file *e, const elf_symtab *t, uint64_t *bytes, rf_error *err)
{
    elf_section s;
    *bytes = 0;
    rf_status st = elf_find(e, ".nv.shared.reserved.0", &s, err);
    if (st == RF_E_NOTFOUND)
        return RF_OK;
    if (st != RF_OK)
        return st;
    *bytes = 1024;
    elf_symbol sym;
    for (uint64_t i = 0; i < t->count; i++) {
        st = elf_symbol_at(t, i, &sym, err);
        if (st != RF_OK)
            return st;
        if (strcmp(sym.name, ".nv.reservedSmem.cap") == 0)
            *bytes = sym.value;
    }
    return RF_OK;
}

static rf_status nv_info_read(const elf_section *s, uint64_t sym, int64_t attr[256], rf_error *err)
{
    for (uint64_t p = 0; p < s->size;) {
        if (s->size - p < 4)
            return rf_fail(err, RF_E_FORMAT, "cubin: '%s' ends inside an attribute at offset 0x%llx", s->name,
                           (unsigned long long)p);
        uint8_t fmt = s->data[p], a = s->data[p + 1];
        uint16_t v = rd16(s->data + p + 2);
        p += 4;
        if (fmt == EIFMT_NVAL || fmt == EIFMT_BVAL || fmt == EIFMT_HVAL)
            continue;
        if (fmt != EIFMT_SVAL)
            return rf_fail(err, RF_E_FORMAT, "cubin: '%s' offset 0x%llx: unknown attribute format %u", s->name,
                           (unsigned long long)(p - 4), fmt);
        if (v > s->size - p)
            return rf_fail(err, RF_E_FORMAT, "cubin: '%s' offset 0x%llx: attribute 0x%02x of %u bytes runs past "
                                             "the section", s->name, (unsigned long long)(p - 4), a, v);
        if (v >= 8 && rd32(s->data + p) == sym)
            attr[a] = rd32(s->data + p + 4);
        p += v;
    }
    return RF_OK;
}

static rf_status nv_resources(const elf_file *e, const char *kernel, cg_resources *out, rf_error *err)
{
    elf_symtab t = {0};
    elf_symbol sym;
    uint64_t index = 0;
    rf_status st = elf_symtab_open(e, &t, err);
    if (st == RF_OK)
        st = nv_find_kernel(&t, kernel, &index, &sym, err);
    if (st != RF_OK)
        return st;

    int64_t attr[256];
    for (int a = 0; a < 256; a++)
        attr[a] = -1;
    char info_name[300], shared_name[300], local_name[300];
    snprintf(info_name, sizeof info_name, ".nv.info.%s", sym.name);
    snprintf(shared_name, sizeof shared_name, ".nv.shared.%s", sym.name);
    snprintf(local_name, sizeof local_name, ".nv.local.%s", sym.name);
    uint64_t shared = 0, local = 0;
    elf_section s;
    for (uint32_t i = 0; i < e->shnum; i++) {
        st = elf_section_at(e, i, &s, err);
        if (st != RF_OK)
            return st;
        if ((strcmp(s.name, ".nv.info") == 0 || strcmp(s.name, info_name) == 0) && s.data)
            st = nv_info_read(&s, index, attr, err);
        else if (strcmp(s.name, shared_name) == 0)
            shared = s.size;
        else if (strcmp(s.name, local_name) == 0)
            local = s.size;
        if (st != RF_OK)
            return st;
    }
    if (attr[EIATTR_REGCOUNT] < 0)
        return rf_fail(err, RF_E_FORMAT, "cubin: no EIATTR_REGCOUNT for kernel '%s' in .nv.info", sym.name);
    uint64_t reserved;
    st = nv_reserved_smem(e, &t, &reserved, err);
    if (st != RF_OK)
        return st;
    shared = shared >= reserved ? shared - reserved : shared;
    /* local memory per thread: the deepest stack the attributes name (the
     * frame, or with callees the min/max stack) plus any .nv.local */
    static const int stack_attrs[] = {EIATTR_FRAME_SIZE, EIATTR_MIN_STACK_SIZE, EIATTR_MAX_STACK_SIZE};
    int64_t stack = 0;
    for (size_t i = 0; i < sizeof stack_attrs / sizeof stack_attrs[0]; i++)
        stack = attr[stack_attrs[i]] > stack ? attr[stack_attrs[i]] : stack;
    if (attr[EIATTR_REGCOUNT] > 65535 || shared > INT32_MAX || stack > INT32_MAX ||
        local > (uint64_t)(INT32_MAX - stack))
        return rf_fail(err, RF_E_FORMAT, "cubin: kernel '%s': register, shared or local memory count out of range",
                       sym.name);
    out->vgpr = (int)attr[EIATTR_REGCOUNT];
    out->agpr = -1;
    out->sgpr = -1;
    out->lds_bytes = (int)shared;
    out->scratch_bytes = (int)(local + (uint64_t)stack);
    out->wave = 32;
    out->waves_per_simd = -1;
    return RF_OK;
}

rf_status cg_code_resources(const cg_arch *arch, const void *code, size_t size, const char *kernel,
                            cg_resources *out, rf_error *err)
{
    if (!arch || !out)
        return rf_fail(err, RF_E_ARG, "cg_code_resources: no arch or output");
    elf_file e;
    rf_status st = elf_open(&e, code, size, arch->vendor == CG_AMD ? ELF_EM_AMDGPU : ELF_EM_CUDA, err);
    if (st != RF_OK)
        return st;
    cg_resources r;
    st = arch->vendor == CG_AMD ? amd_resources(arch, &e, kernel, &r, err) : nv_resources(&e, kernel, &r, err);
    if (st == RF_OK)
        *out = r;
    return st;
}

/* ---- LLVM-C: the processor list and the disassembler ---------------------- */

#ifdef ROCMFORGE_HAVE_LLVM

static const char amdgcn_triple[] = "amdgcn-amd-amdhsa";

enum { MAX_PROCESSORS = 128 };
static char processor_names[MAX_PROCESSORS][32];
static const char *processors[MAX_PROCESSORS + 1];
static size_t n_processors;
static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;

static int processor_cmp(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    gfx_version u = gfx_version_of(x), v = gfx_version_of(y);
    if (u.major != v.major)
        return u.major < v.major ? -1 : 1;
    if (u.generic != v.generic)
        return u.generic < v.generic ? -1 : 1;
    if (u.minor != v.minor)
        return u.minor < v.minor ? -1 : 1;
    if (u.step != v.step)
        return u.step < v.step ? -1 : 1;
    return strcmp(x, y);
}

/*
 * LLVM-C has no call that lists processors, but a subtarget asked for CPU
 * "help" prints them ("Available CPUs for this target:", one "  name -
 * Select the name processor." line each, then "Available features ...") to
 * LLVM's errs(), which is file descriptor 2, unbuffered. So fd 2 points at a
 * temporary file while a target machine for CPU "help" is made, and the
 * lines are read back. Runs once per process (LLVM prints the help once per
 * process too); whatever another thread writes to stderr in those few
 * microseconds lands in the file, and is ignored unless it looks like a gfx
 * line. (The disassembler cannot be asked instead: LLVMCreateDisasmCPU with
 * an unknown CPU aborts in report_fatal_error.)
 */
static void llvm_read_processors(void)
{
    LLVMTargetRef target;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(amdgcn_triple, &target, &msg) != 0) {
        LLVMDisposeMessage(msg);
        return;
    }
    FILE *tmp = tmpfile();
    if (!tmp)
        return;
    fflush(stderr);
    int saved = dup(2);
    if (saved < 0 || dup2(fileno(tmp), 2) < 0) {
        if (saved >= 0)
            close(saved);
        fclose(tmp);
        return;
    }
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, amdgcn_triple, "help", "", LLVMCodeGenLevelDefault,
                                                      LLVMRelocDefault, LLVMCodeModelDefault);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    if (tm)
        LLVMDisposeTargetMachine(tm);

    rewind(tmp);
    char line[256];
    int in_cpus = 0;
    while (fgets(line, sizeof line, tmp)) {
        if (strstr(line, "Available CPUs for this target"))
            in_cpus = 1;
        else if (strstr(line, "Available features for this target"))
            in_cpus = 0;
        const char *p = line + strspn(line, " \t");
        size_t len = strcspn(p, " \t\n");
        if (!in_cpus || strncmp(p, "gfx", 3) != 0 || len >= sizeof processor_names[0] || n_processors == MAX_PROCESSORS)
            continue;
        memcpy(processor_names[n_processors], p, len);
        processor_names[n_processors][len] = 0;
        processors[n_processors] = processor_names[n_processors];
        n_processors++;
    }
    fclose(tmp);
    qsort(processors, n_processors, sizeof processors[0], processor_cmp);
}

static void llvm_init(void)
{
    LLVMInitializeAMDGPUTargetInfo();
    LLVMInitializeAMDGPUTarget();
    LLVMInitializeAMDGPUTargetMC();
    LLVMInitializeAMDGPUDisassembler();
    llvm_read_processors();
}

bool cg_amdgpu_available(void) { return true; }

const char *const *cg_amdgpu_processors(size_t *n)
{
    pthread_once(&llvm_once, llvm_init);
    if (n)
        *n = n_processors;
    return n_processors ? processors : NULL;
}

/* kernel's machine code: the bytes of its function symbol */
static rf_status amd_kernel_code(const elf_file *e, const amd_kernel *k, const uint8_t **code, uint64_t *size,
                                 uint64_t *addr, rf_error *err)
{
    elf_symtab t = {0};
    elf_symbol sym;
    elf_section s;
    uint64_t index = 0;
    rf_status st = elf_symtab_open(e, &t, err);
    if (st != RF_OK)
        return st;
    st = elf_find_function(&t, k->symbol, &index, &sym, err);
    if (st == RF_E_NOTFOUND)
        return rf_fail(err, RF_E_FORMAT, "code object: no function symbol '%s' for kernel '%s'", k->symbol, k->name);
    if (st != RF_OK)
        return st;
    if (sym.shndx == 0 || sym.shndx >= e->shnum)
        return rf_fail(err, RF_E_FORMAT, "code object: symbol '%s' in section %u of %u", sym.name, sym.shndx,
                       e->shnum);
    st = elf_section_at(e, sym.shndx, &s, err);
    if (st != RF_OK)
        return st;
    if (!s.data || sym.value < s.addr || sym.value - s.addr > s.size)
        return rf_fail(err, RF_E_FORMAT, "code object: symbol '%s' (0x%llx) lies outside its section '%s'", sym.name,
                       (unsigned long long)sym.value, s.name);
    uint64_t at = sym.value - s.addr;
    uint64_t len = sym.size ? sym.size : s.size - at;
    if (len > s.size - at)
        return rf_fail(err, RF_E_FORMAT, "code object: symbol '%s' (%llu bytes) runs past its section '%s'",
                       sym.name, (unsigned long long)len, s.name);
    *code = s.data + at;
    *size = len;
    *addr = sym.value;
    return RF_OK;
}

static rf_status amd_disassemble(const cg_arch *arch, const elf_file *e, const char *kernel, FILE *out,
                                 rf_error *err)
{
    size_t n = 0;
    const char *const *procs = cg_amdgpu_processors(&n);
    int known = 0;
    for (size_t i = 0; procs && i < n; i++)
        known |= strcmp(procs[i], arch->name) == 0;
    /* LLVMCreateDisasmCPU aborts the process on a CPU it cannot decode for */
    if (!known)
        return rf_fail(err, RF_E_ARG, "disassemble: '%s' is not an AMDGPU processor LLVM knows", arch->name);
    if (gfx_version_of(arch->name).major < 8)
        return rf_fail(err, RF_E_UNSUPPORTED, "disassemble: LLVM's AMDGPU disassembler does not decode %s "
                                              "(gfx6/gfx7 encodings)", arch->name);
    amd_kernel k;
    const uint8_t *code = NULL;
    uint64_t size = 0, addr = 0;
    rf_status st = amd_find_kernel(e, kernel, &k, err);
    if (st == RF_OK)
        st = amd_kernel_code(e, &k, &code, &size, &addr, err);
    if (st != RF_OK)
        return st;
    LLVMDisasmContextRef dc = LLVMCreateDisasmCPU(amdgcn_triple, arch->name, NULL, 0, NULL, NULL);
    if (!dc)
        return rf_fail(err, RF_E_UNSUPPORTED, "disassemble: LLVM has no AMDGPU disassembler for %s", arch->name);
    fprintf(out, "; kernel %s (%s), %llu bytes at 0x%llx\n", k.name, arch->target, (unsigned long long)size,
            (unsigned long long)addr);
    char text[512];
    for (uint64_t p = 0; p < size;) {
        size_t len = LLVMDisasmInstruction(dc, (uint8_t *)(uintptr_t)(code + p), size - p, addr + p, text,
                                           sizeof text);
        if (len == 0) { /* not an instruction: show the word and go on */
            uint64_t w = size - p < 4 ? size - p : 4;
            uint32_t word = 0;
            for (uint64_t b = 0; b < w; b++)
                word |= (uint32_t)code[p + b] << (8 * b);
            fprintf(out, "  %06llx: .long 0x%08x  ; undecodable\n", (unsigned long long)p, word);
            p += w;
            continue;
        }
        fprintf(out, "  %06llx: %s\n", (unsigned long long)p, text + strspn(text, " \t"));
        p += len;
    }
    LLVMDisasmDispose(dc);
    return RF_OK;
}

#else /* !ROCMFORGE_HAVE_LLVM */

bool cg_amdgpu_available(void) { return false; }

const char *const *cg_amdgpu_processors(size_t *n)
{
    if (n)
        *n = 0;
    return NULL;
}

static rf_status amd_disassemble(const cg_arch *arch, const elf_file *e, const char *kernel, FILE *out,
                                 rf_error *err)
{
    (void)arch, (void)e, (void)kernel, (void)out;
    return rf_fail(err, RF_E_UNSUPPORTED, "disassemble: this build has no LLVM (install llvm-19-dev)");
}

#endif

rf_status cg_code_disassemble(const cg_arch *arch, const void *code, size_t size, const char *kernel, FILE *out,
                              rf_error *err)
{
    if (!arch || !out)
        return rf_fail(err, RF_E_ARG, "cg_code_disassemble: no arch or output");
    if (arch->vendor == CG_NVIDIA) {
        fprintf(out, "; %s: SASS disassembly needs NVIDIA's nvdisasm (CUDA toolkit), which ROCmForge does not "
                     "ship\n", kernel ? kernel : "kernel");
        return RF_OK;
    }
    elf_file e;
    rf_status st = elf_open(&e, code, size, ELF_EM_AMDGPU, err);
    if (st != RF_OK)
        return st;
    return amd_disassemble(arch, &e, kernel, out, err);
}
