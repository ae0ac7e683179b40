/*
 * stategate.native.rdbscan: read a Redis RDB stream and fingerprint every key.
 *
 * One pass over the stream (a pipe or file descriptor), with the GIL released:
 * every key gets a canonical content digest (independent of the internal
 * encoding: listpack or hash table, int or string, LZF or raw), written as one
 * JSON line ["db<N>", "<key>", 1, "<type>:<ttl class>:<hex>", "<detail>"] to
 * a Python sink in large chunks, and folded into an order-free (multiset)
 * digest per database. The RDB's CRC64 trailer is checked. Any malformed or
 * truncated input is an error naming the byte offset; nothing is guessed.
 *
 * The canonical digest of a value is SHA-256 (first 16 bytes, hex) over
 *   "<type>\n" then, per element, an 8-byte big-endian length and the bytes:
 *   string: the value; list: elements in order; set: members sorted bytewise;
 *   hash: field, value pairs sorted by field; zset: member (sorted bytewise)
 *   then its score as 8 big-endian IEEE-754 bytes; stream and module values:
 *   their parts in order, decoded (strings length-prefixed, numbers 8 bytes).
 * Integers stored in compact encodings count as their decimal text.
 *
 * The multiset digest of a database (see stategate.providers.fingerprint):
 *   item encoding e = f(group) f(name) f(size) f(digest), f(x) = len(x) as
 *   8 bytes big-endian + x; S = sum of SHA-256(e) as 256-bit integers mod
 *   2^256; group digest = SHA-256("stategate.fingerprint.multiset/v1\n" f(group)
 *   count as 8 bytes big-endian, S as 32 bytes big-endian).
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#define OPENSSL_SUPPRESS_DEPRECATED
#include <Python.h>

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#define MAX_STRING ((uint64_t)1 << 32)  /* refuse lengths beyond 4 GiB: corrupt input */
/* refuse element counts beyond 2^40: no Redis holds a trillion elements in one key, and
 * smaller bounds (stream size, memory) usually refuse far sooner */
#define MAX_COUNT ((uint64_t)1 << 40)
/* LZF's densest form is a 3-byte back reference that repeats 264 bytes: a declared
 * size above 88 bytes per compressed byte cannot be produced, only claimed */
#define LZF_MAX_RATIO 88
#define DEFAULT_MEMORY_LIMIT ((size_t)512 << 20)
#define SINK_CHUNK ((size_t)4 << 20)
#define READ_CHUNK ((size_t)1 << 20)

/* ------------------------------------------------------------------ CRC64 */
/* Redis' crc64 (Jones polynomial, reflected, init 0, no final xor), sliced by 8. */
static uint64_t crc_table[8][256];

static void crc_init(void) {
    const uint64_t poly = 0x95ac9329ac4bc9b5ULL;
    for (int n = 0; n < 256; n++) {
        uint64_t c = (uint64_t)n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
        crc_table[0][n] = c;
    }
    for (int n = 0; n < 256; n++) {
        uint64_t c = crc_table[0][n];
        for (int k = 1; k < 8; k++) {
            c = crc_table[0][c & 0xff] ^ (c >> 8);
            crc_table[k][n] = c;
        }
    }
}

static uint64_t crc_update(uint64_t crc, const unsigned char *p, size_t n) {
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8); /* little-endian host (x86-64, arm64) */
        crc ^= v;
        crc = crc_table[7][crc & 0xff] ^ crc_table[6][(crc >> 8) & 0xff] ^
              crc_table[5][(crc >> 16) & 0xff] ^ crc_table[4][(crc >> 24) & 0xff] ^
              crc_table[3][(crc >> 32) & 0xff] ^ crc_table[2][(crc >> 40) & 0xff] ^
              crc_table[1][(crc >> 48) & 0xff] ^ crc_table[0][crc >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

/* SHA256() of OpenSSL 3 goes through EVP (a fetch, locks, allocations) per call: the
 * low-level functions hash a short input several times faster. */
static void sha256_once(const void *p, size_t n, unsigned char md[32]) {
    SHA256_CTX h;
    SHA256_Init(&h);
    SHA256_Update(&h, p, n);
    SHA256_Final(md, &h);
}

/* ------------------------------------------------------------- memory */
/* Every buffer the scanner grows is charged to one budget, so a crafted RDB (a few MB
 * of LZF strings that decompress 88-fold, a key declaring billions of elements) cannot
 * take more than the limit, whatever its size: past it the scan fails. */
typedef struct {
    size_t used, limit;
    int over; /* the last refused growth was refused by the limit, not by malloc */
} Mem;

/* Grow *p, an array of *cap elements of `size` bytes, to hold at least `need`: doubling
 * while the budget allows, else exactly. 0, or -1 (m->over: the limit refused it). */
static int mem_grow(Mem *m, void **p, size_t *cap, size_t need, size_t size, size_t first) {
    if (need <= *cap) return 0;
    size_t old = *cap * size;
    size_t avail = m->limit - (m->used - old); /* used <= limit and old <= used, always */
    if (need > avail / size) {
        m->over = 1;
        return -1;
    }
    size_t n = *cap ? *cap : first;
    while (n < need) n = n > avail / size / 2 ? need : n * 2;
    if (n > avail / size) n = need;
    void *d = realloc(*p, n * size);
    if (!d) {
        m->over = 0;
        return -1;
    }
    *p = d;
    m->used = m->used - old + n * size;
    *cap = n;
    return 0;
}

/* ------------------------------------------------------------ buffers */
typedef struct {
    unsigned char *data;
    size_t len, cap;
    Mem *mem;
} Buf;

static int buf_reserve(Buf *b, size_t extra) {
    if (extra <= b->cap - b->len) return 0;
    if (extra > SIZE_MAX - b->len) {
        b->mem->over = 1;
        return -1;
    }
    void *d = b->data;
    int rc = mem_grow(b->mem, &d, &b->cap, b->len + extra, 1, 4096);
    b->data = d;
    return rc;
}

static int buf_put(Buf *b, const void *p, size_t n) {
    if (n == 0) return 0; /* p may be NULL then: memcpy's arguments must not be */
    if (buf_reserve(b, n)) return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

/* ------------------------------------------------------------- scanner */
typedef struct {
    size_t off, len;
    double score;
} Elem;

typedef struct {
    uint64_t count;
    unsigned char sum[32]; /* big-endian 256-bit accumulator */
    int used;
} Group;

/* a function library met in the stream (opcode 0xf5): its name and code's SHA-256 */
typedef struct {
    char name[128];
    unsigned char digest[32];
} FnLib;

typedef struct {
    /* input */
    int fd;
    unsigned char *in;
    size_t in_cap, pos, end;
    int in_eof;
    uint64_t offset; /* bytes consumed so far */
    uint64_t size;   /* the stream's length when known (a regular file), else 0 */
    int sized;
    uint64_t crc;     /* CRC64 of the bytes before in[crc_mark] */
    size_t crc_mark;  /* consumed bytes from here to pos are not in crc yet */
    SHA256_CTX *canon; /* when set, a stream's or module value's parts are hashed */
    /* per-key scratch */
    Buf arena;
    Mem mem;
    Elem *elems;
    size_t n_elems, elems_cap;
    size_t *order;
    size_t order_cap;
    Buf item; /* one fingerprint item's encoding, hashed at once */
    char group[32];
    size_t glen;
    uint64_t group_db;
    /* output */
    Buf out;
    PyObject *sink;
    int lines; /* write the JSON lines to sink (else only the summary) */
    PyThreadState *ts;
    Group *groups;
    size_t n_groups, groups_cap;
    uint64_t keys;
    FnLib *fns;
    size_t n_fns, fns_cap;
    int version;
    char redis_ver[64];
    char err[256];
    int py_error; /* a Python exception is set (sink failed, memory) */
} Scan;

static int fail(Scan *s, const char *fmt, ...) {
    if (!s->err[0]) {
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(s->err, sizeof s->err, "%s (at byte %llu)", msg, (unsigned long long)s->offset);
    }
    return -1;
}

/* A growth failed: past the memory limit, or malloc refused. */
static int oom(Scan *s) {
    if (s->mem.over)
        return fail(s, "a key needs more than the scanner's memory limit of %zu MiB",
                    s->mem.limit >> 20);
    return fail(s, "out of memory");
}

/* Refuse a declared count or length before anything is read or allocated for it:
 * `n` parts of at least `bytes` stream bytes each must fit in what is left of the
 * stream (when its length is known), and `n` elements of `mem` bytes each (their
 * Elem entries) in the budget. */
static int check_declared(Scan *s, uint64_t n, uint64_t bytes, uint64_t mem, const char *what) {
    if (n > MAX_COUNT) return fail(s, "%s: %llu declared (corrupt)", what, (unsigned long long)n);
    if (s->sized && bytes) {
        uint64_t left = s->size > s->offset ? s->size - s->offset : 0;
        if (n > left / bytes)
            return fail(s, "%s: %llu declared, more than the %llu bytes left in the RDB can hold",
                        what, (unsigned long long)n, (unsigned long long)left);
    }
    size_t spare = (s->elems_cap - s->n_elems) * sizeof(Elem);
    if (mem && n > (s->mem.limit - s->mem.used + spare) / mem) {
        s->mem.over = 1;
        return fail(s, "%s: %llu declared, more than the scanner's memory limit of %zu MiB can hold",
                    what, (unsigned long long)n, s->mem.limit >> 20);
    }
    return 0;
}

/* Fold the consumed bytes not yet in the CRC into it (in bulk: 8 bytes a step). */
static void crc_sync(Scan *s) {
    if (s->pos == s->crc_mark) return; /* nothing new (and before the first read, in is NULL) */
    s->crc = crc_update(s->crc, s->in + s->crc_mark, s->pos - s->crc_mark);
    s->crc_mark = s->pos;
}

/* Make n bytes available at s->in + s->pos. */
static int fill(Scan *s, size_t n) {
    if (s->end - s->pos >= n) return 0;
    crc_sync(s);
    if (s->pos) {
        memmove(s->in, s->in + s->pos, s->end - s->pos);
        s->end -= s->pos;
        s->pos = 0;
        s->crc_mark = 0;
    }
    if (n > s->in_cap || s->in_cap - s->end < READ_CHUNK) {
        if (n > SIZE_MAX - READ_CHUNK) return fail(s, "length out of range");
        size_t need = (n > s->end ? n : s->end) + READ_CHUNK;
        void *d = s->in;
        int rc = mem_grow(&s->mem, &d, &s->in_cap, need, 1, READ_CHUNK * 2);
        s->in = d;
        if (rc) return oom(s);
    }
    while (s->end < n) {
        if (s->in_eof) return fail(s, "RDB ends early (truncated)");
        ssize_t got = read(s->fd, s->in + s->end, s->in_cap - s->end);
        if (got < 0) {
            if (errno == EINTR) continue;
            return fail(s, "read error: %s", strerror(errno));
        }
        if (got == 0) s->in_eof = 1;
        s->end += (size_t)got;
    }
    return 0;
}

/* Consume n bytes; returns a pointer valid until the next call. */
static const unsigned char *take(Scan *s, size_t n) {
    if (fill(s, n)) return NULL;
    const unsigned char *p = s->in + s->pos;
    s->pos += n;
    s->offset += n;
    return p;
}

/* Consume n bytes into dst, a window of the input buffer at a time (a long string is
 * not gathered in the input buffer first: that would hold it twice). */
static int take_into(Scan *s, unsigned char *dst, size_t n) {
    while (n) {
        size_t k = n < READ_CHUNK ? n : READ_CHUNK;
        const unsigned char *p = take(s, k);
        if (!p) return -1;
        memcpy(dst, p, k);
        dst += k;
        n -= k;
    }
    return 0;
}

static int read_u8(Scan *s, unsigned *v) {
    const unsigned char *p = take(s, 1);
    if (!p) return -1;
    *v = p[0];
    return 0;
}

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint64_t be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

/* rdbLoadLen: returns 0, sets *len and *encoded (special string encodings). */
static int read_len(Scan *s, uint64_t *len, int *encoded) {
    unsigned b;
    if (read_u8(s, &b)) return -1;
    if (encoded) *encoded = 0;
    switch (b >> 6) {
        case 0:
            *len = b & 0x3f;
            return 0;
        case 1: {
            const unsigned char *p = take(s, 1);
            if (!p) return -1;
            *len = ((uint64_t)(b & 0x3f) << 8) | p[0];
            return 0;
        }
        case 2: {
            if (b == 0x80 || b == 0x81) {
                int n = b == 0x80 ? 4 : 8;
                const unsigned char *p = take(s, (size_t)n);
                if (!p) return -1;
                *len = be(p, n);
                return 0;
            }
            return fail(s, "bad length encoding 0x%02x", b);
        }
        default:
            if (!encoded) return fail(s, "unexpected string encoding where a length belongs");
            *encoded = 1;
            *len = b & 0x3f;
            return 0;
    }
}

static int plain_len(Scan *s, uint64_t *len) { return read_len(s, len, NULL); }

static size_t fmt_int(char *dst, long long v) {
    char tmp[24];
    size_t n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t k = 0;
    if (v < 0) dst[k++] = '-';
    while (n) dst[k++] = tmp[--n];
    return k;
}

static int lzf_decompress(const unsigned char *in, size_t in_len, unsigned char *out, size_t out_len) {
    const unsigned char *ip = in, *in_end = in + in_len;
    unsigned char *op = out, *out_end = out + out_len;
    while (ip < in_end) {
        unsigned ctrl = *ip++;
        if (ctrl < 32) {
            size_t run = ctrl + 1;
            if ((size_t)(out_end - op) < run || (size_t)(in_end - ip) < run) return -1;
            memcpy(op, ip, run);
            op += run;
            ip += run;
        } else {
            size_t run = ctrl >> 5;
            if (run == 7) {
                if (ip >= in_end) return -1;
                run += *ip++;
            }
            if (ip >= in_end) return -1;
            size_t back = ((size_t)(ctrl & 0x1f) << 8) + *ip++ + 1;
            run += 2;
            if (back > (size_t)(op - out) || (size_t)(out_end - op) < run) return -1;
            const unsigned char *ref = op - back;
            if (back >= run) {
                memcpy(op, ref, run);
            } else if (back == 1) {
                memset(op, *ref, run);
            } else {
                for (size_t i = 0; i < run; i++) op[i] = ref[i];
            }
            op += run;
        }
    }
    return op == out_end ? 0 : -1;
}

/* Read an RDB string into the arena; its offset and length. */
static int read_string(Scan *s, size_t *off, size_t *len) {
    uint64_t n;
    int enc;
    if (read_len(s, &n, &enc)) return -1;
    if (enc) {
        if (n <= 2) {
            int width = n == 0 ? 1 : n == 1 ? 2 : 4;
            const unsigned char *p = take(s, (size_t)width);
            if (!p) return -1;
            long long v = width == 1 ? (int8_t)p[0]
                          : width == 2 ? (int16_t)le(p, 2)
                                       : (int32_t)le(p, 4);
            if (buf_reserve(&s->arena, 24)) return oom(s);
            *off = s->arena.len;
            *len = fmt_int((char *)s->arena.data + s->arena.len, v);
            s->arena.len += *len;
            return 0;
        }
        if (n == 3) {
            uint64_t clen, ulen;
            if (plain_len(s, &clen) || plain_len(s, &ulen)) return -1;
            /* a larger claim than LZF can produce is corrupt, not a reason to allocate;
             * then the stream must hold the compressed bytes, and the budget both */
            if (clen > MAX_STRING || ulen > clen * LZF_MAX_RATIO)
                return fail(s, "corrupt compressed string length");
            if (check_declared(s, clen, 1, 0, "compressed string bytes")) return -1;
            if (buf_reserve(&s->arena, (size_t)ulen)) return oom(s);
            const unsigned char *p = take(s, (size_t)clen);
            if (!p) return -1;
            if (lzf_decompress(p, (size_t)clen, s->arena.data + s->arena.len, (size_t)ulen))
                return fail(s, "corrupt LZF-compressed string");
            *off = s->arena.len;
            *len = (size_t)ulen;
            s->arena.len += (size_t)ulen;
            return 0;
        }
        return fail(s, "unknown string encoding %llu", (unsigned long long)n);
    }
    if (n > MAX_STRING) return fail(s, "string too large");
    if (check_declared(s, n, 1, 0, "string bytes")) return -1;
    *off = s->arena.len;
    *len = (size_t)n;
    if (n <= READ_CHUNK) {
        const unsigned char *p = take(s, (size_t)n);
        if (!p) return -1;
        if (buf_put(&s->arena, p, (size_t)n)) return oom(s);
        return 0;
    }
    if (buf_reserve(&s->arena, (size_t)n)) return oom(s);
    if (take_into(s, s->arena.data + s->arena.len, (size_t)n)) return -1;
    s->arena.len += (size_t)n;
    return 0;
}

static int add_elem(Scan *s, size_t off, size_t len, double score) {
    if (s->n_elems == s->elems_cap) {
        void *d = s->elems;
        int rc = mem_grow(&s->mem, &d, &s->elems_cap, s->n_elems + 1, sizeof *s->elems, 256);
        s->elems = d;
        if (rc) return oom(s);
    }
    s->elems[s->n_elems++] = (Elem){off, len, score};
    return 0;
}

static int add_int_elem(Scan *s, long long v) {
    if (buf_reserve(&s->arena, 24)) return oom(s);
    size_t off = s->arena.len;
    size_t len = fmt_int((char *)s->arena.data + off, v);
    s->arena.len += len;
    return add_elem(s, off, len, 0.0);
}

static int read_elem(Scan *s) {
    size_t off, len;
    if (read_string(s, &off, &len)) return -1;
    return add_elem(s, off, len, 0.0);
}

/* ---------------------------------------------------- compact encodings */
/* Blobs are copied into the arena first; entries are appended after them. */

/* a w-byte two's complement integer, sign-extended */
static long long sext(uint64_t u, int w) {
    if (w >= 8) return (long long)u;
    uint64_t sign = (uint64_t)1 << (w * 8 - 1);
    return (long long)((u ^ sign) - sign);
}

static int parse_listpack(Scan *s, size_t boff, size_t blen) {
    if (blen < 7) return fail(s, "corrupt listpack (too short)");
    size_t p = 6;
    for (;;) {
        /* the arena may move as entries are appended: re-derive the pointer */
        const unsigned char *b = s->arena.data + boff;
        if (p >= blen) return fail(s, "corrupt listpack (no terminator)");
        unsigned c = b[p];
        if (c == 0xff) return p + 1 == blen ? 0 : fail(s, "corrupt listpack (trailing bytes)");
        size_t hdr, slen = 0;
        long long v = 0;
        int is_int = 1;
        if ((c & 0x80) == 0) {
            hdr = 1;
            v = c & 0x7f;
        } else if ((c & 0xc0) == 0x80) {
            hdr = 1;
            slen = c & 0x3f;
            is_int = 0;
        } else if ((c & 0xe0) == 0xc0) {
            hdr = 2;
            if (p + 2 > blen) return fail(s, "corrupt listpack");
            uint64_t u = ((uint64_t)(c & 0x1f) << 8) | b[p + 1];
            v = u >= (1u << 12) ? (long long)u - (1 << 13) : (long long)u;
        } else if ((c & 0xf0) == 0xe0) {
            hdr = 2;
            if (p + 2 > blen) return fail(s, "corrupt listpack");
            slen = ((size_t)(c & 0x0f) << 8) | b[p + 1];
            is_int = 0;
        } else if (c == 0xf0) {
            hdr = 5;
            if (p + 5 > blen) return fail(s, "corrupt listpack");
            slen = (size_t)le(b + p + 1, 4);
            is_int = 0;
        } else if (c >= 0xf1 && c <= 0xf4) {
            int w = c == 0xf1 ? 2 : c == 0xf2 ? 3 : c == 0xf3 ? 4 : 8;
            hdr = 1 + (size_t)w;
            if (p + hdr > blen) return fail(s, "corrupt listpack");
            v = sext(le(b + p + 1, w), w);
        } else {
            return fail(s, "corrupt listpack (entry type 0x%02x)", c);
        }
        size_t entry = hdr + (is_int ? 0 : slen);
        if (p + entry > blen) return fail(s, "corrupt listpack (entry overflows)");
        /* the back-length field's size, with lpEncodeBacklen's exact thresholds */
        size_t back = entry <= 127 ? 1 : entry < 16383 ? 2 : entry < 2097151 ? 3 : entry < 268435455 ? 4 : 5;
        if (is_int) {
            if (add_int_elem(s, v)) return -1;
        } else if (add_elem(s, boff + p + hdr, slen, 0.0)) {
            return -1;
        }
        p += entry + back;
    }
}

static int parse_ziplist(Scan *s, size_t boff, size_t blen) {
    if (blen < 11) return fail(s, "corrupt ziplist (too short)");
    size_t p = 10;
    for (;;) {
        const unsigned char *b = s->arena.data + boff;
        if (p >= blen) return fail(s, "corrupt ziplist (no terminator)");
        if (b[p] == 0xff) return p + 1 == blen ? 0 : fail(s, "corrupt ziplist (trailing bytes)");
        p += b[p] < 254 ? 1 : 5; /* prevlen */
        if (p >= blen) return fail(s, "corrupt ziplist");
        unsigned c = b[p];
        size_t hdr, slen = 0;
        int is_int = 1;
        long long v = 0;
        switch (c >> 6) {
            case 0:
                hdr = 1;
                slen = c & 0x3f;
                is_int = 0;
                break;
            case 1:
                hdr = 2;
                if (p + 2 > blen) return fail(s, "corrupt ziplist");
                slen = ((size_t)(c & 0x3f) << 8) | b[p + 1];
                is_int = 0;
                break;
            case 2:
                hdr = 5;
                if (p + 5 > blen) return fail(s, "corrupt ziplist");
                slen = (size_t)be(b + p + 1, 4);
                is_int = 0;
                break;
            default: {
                int w;
                if (c == 0xc0) w = 2;
                else if (c == 0xd0) w = 4;
                else if (c == 0xe0) w = 8;
                else if (c == 0xf0) w = 3;
                else if (c == 0xfe) w = 1;
                else if (c >= 0xf1 && c <= 0xfd) w = 0;
                else return fail(s, "corrupt ziplist (encoding 0x%02x)", c);
                hdr = 1 + (size_t)w;
                if (p + hdr > blen) return fail(s, "corrupt ziplist");
                if (w == 0) {
                    v = (long long)(c & 0x0f) - 1;
                } else {
                    v = sext(le(b + p + 1, w), w);
                }
            }
        }
        size_t entry = hdr + (is_int ? 0 : slen);
        if (p + entry > blen) return fail(s, "corrupt ziplist (entry overflows)");
        if (is_int) {
            if (add_int_elem(s, v)) return -1;
        } else if (add_elem(s, boff + p + hdr, slen, 0.0)) {
            return -1;
        }
        p += entry;
    }
}

static int parse_intset(Scan *s, size_t boff, size_t blen) {
    if (blen < 8) return fail(s, "corrupt intset");
    const unsigned char *b = s->arena.data + boff;
    uint64_t width = le(b, 4), n = le(b + 4, 4);
    if ((width != 2 && width != 4 && width != 8) || 8 + width * n != blen)
        return fail(s, "corrupt intset");
    for (uint64_t i = 0; i < n; i++) {
        const unsigned char *q = s->arena.data + boff + 8 + i * width;
        uint64_t u = le(q, (int)width);
        long long v = width == 2 ? (int16_t)u : width == 4 ? (int32_t)u : (long long)u;
        if (add_int_elem(s, v)) return -1;
    }
    return 0;
}

static int parse_zipmap(Scan *s, size_t boff, size_t blen) {
    size_t p = 1;
    for (;;) {
        const unsigned char *b = s->arena.data + boff;
        if (p >= blen) return fail(s, "corrupt zipmap");
        if (b[p] == 0xff) return 0;
        for (int part = 0; part < 2; part++) {
            b = s->arena.data + boff;
            if (p >= blen) return fail(s, "corrupt zipmap");
            size_t len;
            if (b[p] < 254) {
                len = b[p];
                p += 1;
            } else if (b[p] == 254) {
                if (p + 5 > blen) return fail(s, "corrupt zipmap");
                len = (size_t)le(b + p + 1, 4);
                p += 5;
            } else {
                return fail(s, "corrupt zipmap");
            }
            size_t free_ = 0;
            if (part == 1) {
                if (p >= blen) return fail(s, "corrupt zipmap");
                free_ = b[p];
                p += 1;
            }
            if (p + len + free_ > blen) return fail(s, "corrupt zipmap");
            if (add_elem(s, boff + p, len, 0.0)) return -1;
            p += len + free_;
        }
    }
}

typedef int (*BlobParser)(Scan *, size_t, size_t);

static int read_blob(Scan *s, BlobParser parse) {
    size_t off, len;
    if (read_string(s, &off, &len)) return -1;
    return parse(s, off, len);
}

/* --------------------------------------------------------- canonical hash */
static int cmp_bytes(const unsigned char *a, size_t al, const unsigned char *b, size_t bl) {
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c) return c;
    return al < bl ? -1 : al > bl ? 1 : 0;
}

/* order[] holds element indexes of the sort keys (members, fields) */
static int cmp_elem(const void *x, const void *y, void *ctx) {
    const Scan *s = ctx;
    const Elem *a = &s->elems[*(const size_t *)x], *b = &s->elems[*(const size_t *)y];
    const unsigned char *d = s->arena.data;
    return cmp_bytes(d + a->off, a->len, d + b->off, b->len);
}

static void put_len(unsigned char *dst, uint64_t n) {
    uint64_t v = __builtin_bswap64(n); /* big-endian on the little-endian hosts built for */
    memcpy(dst, &v, 8);
}

/* A SHA-256 whose input is gathered into blocks: most elements are a few dozen bytes,
 * and two SHA256_Update calls per element (its length, its bytes) cost more than the
 * hashing itself. The digest is the same: SHA-256 does not see how input is split. */
#define FEED_BLOCK 4096
typedef struct {
    SHA256_CTX ctx;
    size_t n;
    unsigned char buf[FEED_BLOCK];
} Feed;

static void feed_init(Feed *f) {
    SHA256_Init(&f->ctx);
    f->n = 0;
}

static void feed_put(Feed *f, const void *p, size_t n) {
    if (n > FEED_BLOCK - f->n) {
        if (f->n) SHA256_Update(&f->ctx, f->buf, f->n);
        f->n = 0;
        if (n >= FEED_BLOCK) {
            SHA256_Update(&f->ctx, p, n);
            return;
        }
    }
    if (n) memcpy(f->buf + f->n, p, n);
    f->n += n;
}

static void feed_final(Feed *f, unsigned char md[32]) {
    if (f->n) SHA256_Update(&f->ctx, f->buf, f->n);
    SHA256_Final(md, &f->ctx);
}

static void feed_elem(Feed *h, Scan *s, const Elem *e) {
    unsigned char n[8];
    put_len(n, e->len);
    feed_put(h, n, 8);
    feed_put(h, s->arena.data + e->off, e->len);
}

static void feed_score(Feed *h, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    unsigned char n[8];
    put_len(n, u);
    feed_put(h, n, 8);
}

/* Below this many, an insertion sort (stable, as glibc's merge sort is: the same order
 * even for the duplicates only a corrupt RDB holds) beats qsort_r's indirect calls. */
#define SMALL_SORT 24

/* stride: 1 (members), 2 (pairs: sort by the first). Returns 0 or -1. */
static int sorted_order(Scan *s, size_t stride) {
    size_t n = s->n_elems / stride;
    if (n < 2) { /* nothing to sort (and order may still be NULL: not for qsort_r) */
        if (n == 1 && s->order_cap == 0) {
            void *d = s->order;
            int rc = mem_grow(&s->mem, &d, &s->order_cap, 1, sizeof *s->order, 256);
            s->order = d;
            if (rc) return oom(s);
        }
        if (n == 1) s->order[0] = 0;
        return 0;
    }
    void *d = s->order;
    int rc = mem_grow(&s->mem, &d, &s->order_cap, n, sizeof *s->order, n);
    s->order = d;
    if (rc) return oom(s);
    for (size_t i = 0; i < n; i++) s->order[i] = i * stride;
    if (n > SMALL_SORT) {
        qsort_r(s->order, n, sizeof *s->order, cmp_elem, s);
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        size_t v = s->order[i], j = i;
        while (j > 0 && cmp_elem(&s->order[j - 1], &v, s) > 0) {
            s->order[j] = s->order[j - 1];
            j--;
        }
        s->order[j] = v;
    }
    return 0;
}

static int parse_score_text(Scan *s, const Elem *e, double *out) {
    char tmp[64];
    if (e->len == 0 || e->len >= sizeof tmp) return fail(s, "corrupt zset score");
    memcpy(tmp, s->arena.data + e->off, e->len);
    tmp[e->len] = 0;
    char *end;
    errno = 0;
    *out = strtod(tmp, &end);
    if (*end) return fail(s, "corrupt zset score");
    return 0;
}

/* ------------------------------------------------------------ values */
enum Kind { K_STRING, K_LIST, K_SET, K_ZSET, K_HASH, K_STREAM, K_MODULE };
static const char *kind_name[] = {"string", "list", "set", "zset", "hash", "stream", "module"};

/* Parts of a stream or module value, fed to s->canon (when set) in decoded form, so
 * the digest does not depend on how the RDB encoded them (LZF or raw, int-encoded):
 * strings as an 8-byte length and the bytes, numbers as 8 bytes, fixed fields as is. */
static void canon_feed(Scan *s, const void *p, size_t n) {
    if (s->canon) SHA256_Update(s->canon, p, n);
}

static int c_len(Scan *s, uint64_t *v) {
    if (plain_len(s, v)) return -1;
    unsigned char b[8];
    put_len(b, *v);
    canon_feed(s, b, 8);
    return 0;
}

static int c_string(Scan *s) {
    size_t mark = s->arena.len, off, len;
    if (read_string(s, &off, &len)) return -1;
    unsigned char b[8];
    put_len(b, len);
    canon_feed(s, b, 8);
    canon_feed(s, s->arena.data + off, len);
    s->arena.len = mark;
    return 0;
}

static int c_raw(Scan *s, size_t n) {
    const unsigned char *p = take(s, n);
    if (!p) return -1;
    canon_feed(s, p, n);
    return 0;
}

static int module_value(Scan *s) {
    /* module opcodes until EOF: 1 sint, 2 uint (lengths), 3 float, 4 double, 5 string */
    for (;;) {
        uint64_t op, x;
        if (c_len(s, &op)) return -1;
        if (op == 0) return 0;
        int rc;
        switch (op) {
            case 1:
            case 2: rc = c_len(s, &x); break;
            case 3: rc = c_raw(s, 4); break;
            case 4: rc = c_raw(s, 8); break;
            case 5: rc = c_string(s); break;
            default: return fail(s, "unknown module value opcode %llu", (unsigned long long)op);
        }
        if (rc) return -1;
    }
}

static int stream_value(Scan *s, unsigned type) {
    uint64_t n, x;
    if (c_len(s, &n) || check_declared(s, n, 2, 0, "stream nodes")) return -1;
    for (uint64_t i = 0; i < n; i++) /* node key (master ID), listpack of entries */
        if (c_string(s) || c_string(s)) return -1;
    /* length, last id (ms, seq): hashed. Redis 7.0's formats add first id, max deleted
     * id and entries added, 7.0 a group's entries read, 7.2 a consumer's active time:
     * read, not hashed, so a stream reads the same on the versions of an upgrade. */
    for (int i = 0; i < 3; i++)
        if (c_len(s, &x)) return -1;
    for (int i = 3; i < (type == 15 ? 3 : 8); i++)
        if (plain_len(s, &x)) return -1;
    uint64_t groups;
    if (c_len(s, &groups) || check_declared(s, groups, 5, 0, "stream consumer groups"))
        return -1;
    for (uint64_t g = 0; g < groups; g++) {
        if (c_string(s) || c_len(s, &x) || c_len(s, &x)) return -1;
        if (type >= 19 && plain_len(s, &x)) return -1; /* entries read: not hashed */
        uint64_t pel;
        if (c_len(s, &pel) || check_declared(s, pel, 25, 0, "stream pending entries"))
            return -1;
        for (uint64_t i = 0; i < pel; i++) /* entry ID, delivery time, delivery count */
            if (c_raw(s, 16) || c_raw(s, 8) || c_len(s, &x)) return -1;
        uint64_t consumers;
        if (c_len(s, &consumers) || check_declared(s, consumers, 10, 0, "stream consumers"))
            return -1;
        for (uint64_t c = 0; c < consumers; c++) { /* name, seen time, [active time], PEL */
            if (c_string(s) || c_raw(s, 8)) return -1;
            if (type >= 21 && !take(s, 8)) return -1; /* active time: not hashed */
            if (c_len(s, &pel) || check_declared(s, pel, 16, 0, "stream pending entries"))
                return -1;
            for (uint64_t i = 0; i < pel; i++)
                if (c_raw(s, 16)) return -1;
        }
    }
    return 0;
}

/* Parse one value of RDB type `type`, filling elems; sets *kind. Stream and module
 * values are hashed into `raw` (their parts, decoded) as they are read. */
static int read_value(Scan *s, unsigned type, enum Kind *kind, SHA256_CTX *raw) {
    uint64_t n;
    switch (type) {
        case 0:
            *kind = K_STRING;
            return read_elem(s);
        case 1:
        case 2:
            *kind = type == 1 ? K_LIST : K_SET;
            if (plain_len(s, &n) ||
                check_declared(s, n, 1, sizeof(Elem), type == 1 ? "list elements" : "set members"))
                return -1;
            for (uint64_t i = 0; i < n; i++)
                if (read_elem(s)) return -1;
            return 0;
        case 3:
        case 5:
            *kind = K_ZSET;
            if (plain_len(s, &n) || check_declared(s, n, 2, sizeof(Elem), "zset members")) return -1;
            for (uint64_t i = 0; i < n; i++) {
                size_t off, len;
                double score = 0.0;
                if (read_string(s, &off, &len)) return -1;
                if (type == 5) {
                    const unsigned char *p = take(s, 8);
                    if (!p) return -1;
                    uint64_t u = le(p, 8);
                    memcpy(&score, &u, 8);
                } else {
                    unsigned l;
                    if (read_u8(s, &l)) return -1;
                    if (l == 253) score = NAN;
                    else if (l == 254) score = INFINITY;
                    else if (l == 255) score = -INFINITY;
                    else {
                        char tmp[256];
                        const unsigned char *p = take(s, l);
                        if (!p) return -1;
                        memcpy(tmp, p, l);
                        tmp[l] = 0;
                        char *end;
                        score = strtod(tmp, &end);
                        if (*end) return fail(s, "corrupt zset score");
                    }
                }
                if (add_elem(s, off, len, score)) return -1;
            }
            return 0;
        case 4:
            *kind = K_HASH;
            /* n field, value pairs: bounded first, so 2 * n cannot wrap */
            if (plain_len(s, &n) || check_declared(s, n, 2, 2 * sizeof(Elem), "hash entries"))
                return -1;
            for (uint64_t i = 0; i < n; i++)
                if (read_elem(s) || read_elem(s)) return -1;
            return 0;
        case 9:
            *kind = K_HASH;
            return read_blob(s, parse_zipmap);
        case 10:
            *kind = K_LIST;
            return read_blob(s, parse_ziplist);
        case 11:
            *kind = K_SET;
            return read_blob(s, parse_intset);
        case 12:
        case 17:
        case 13:
        case 16: {
            *kind = (type == 12 || type == 17) ? K_ZSET : K_HASH;
            int rc = read_blob(s, type == 12 || type == 13 ? parse_ziplist : parse_listpack);
            if (rc) return rc;
            if (s->n_elems % 2) return fail(s, "corrupt %s (odd entry count)", kind_name[*kind]);
            if (*kind == K_ZSET) { /* (member, score) pairs -> members with scores */
                size_t m = 0;
                for (size_t i = 0; i < s->n_elems; i += 2) {
                    double score = 0.0;
                    if (parse_score_text(s, &s->elems[i + 1], &score)) return -1;
                    s->elems[m] = s->elems[i];
                    s->elems[m].score = score;
                    m++;
                }
                s->n_elems = m;
            }
            return 0;
        }
        case 14:
        case 18:
            *kind = K_LIST;
            if (plain_len(s, &n) || check_declared(s, n, 1, 0, "quicklist nodes")) return -1;
            for (uint64_t i = 0; i < n; i++) {
                uint64_t container = 2;
                if (type == 18 && plain_len(s, &container)) return -1;
                if (container == 1) { /* a plain node: one element */
                    if (read_elem(s)) return -1;
                } else if (container == 2) {
                    if (read_blob(s, type == 14 ? parse_ziplist : parse_listpack)) return -1;
                } else {
                    return fail(s, "corrupt quicklist node container %llu", (unsigned long long)container);
                }
            }
            return 0;
        case 20:
            *kind = K_SET;
            return read_blob(s, parse_listpack);
        case 7:
        case 15:
        case 19:
        case 21: {
            *kind = type == 7 ? K_MODULE : K_STREAM;
            s->canon = raw;
            int rc;
            if (type == 7) {
                uint64_t id;
                rc = c_len(s, &id) || module_value(s) ? -1 : 0;
            } else {
                rc = stream_value(s, type);
            }
            s->canon = NULL;
            return rc;
        }
        default:
            return fail(s, "value type %u is not supported (a newer Redis than this stategate knows?)", type);
    }
}

static void hex(char *dst, const unsigned char *src, size_t n) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = digits[src[i] >> 4];
        dst[2 * i + 1] = digits[src[i] & 15];
    }
}

/* The canonical digest of the parsed value: 32 hex chars into dst. */
static int value_digest(Scan *s, enum Kind kind, SHA256_CTX *raw, char *dst) {
    unsigned char md[32];
    if (kind == K_STREAM || kind == K_MODULE) {
        SHA256_Final(md, raw);
        SHA256_CTX h;
        SHA256_Init(&h);
        SHA256_Update(&h, kind_name[kind], strlen(kind_name[kind]));
        SHA256_Update(&h, "\n", 1);
        SHA256_Update(&h, md, 32);
        SHA256_Final(md, &h);
        hex(dst, md, 16);
        return 0;
    }
    /* most keys: a short string, hashed with one SHA-256 call (a long one is hashed
     * in place below, not copied) */
    if (kind == K_STRING && s->n_elems == 1 && s->elems[0].len <= 4096) {
        const Elem *v = &s->elems[0];
        Buf *e = &s->item;
        e->len = 0;
        if (buf_reserve(e, 15 + v->len)) return oom(s);
        memcpy(e->data, "string\n", 7);
        put_len(e->data + 7, v->len);
        if (v->len) memcpy(e->data + 15, s->arena.data + v->off, v->len);
        sha256_once(e->data, 15 + v->len, md);
        hex(dst, md, 16);
        return 0;
    }
    Feed h;
    feed_init(&h);
    feed_put(&h, kind_name[kind], strlen(kind_name[kind]));
    feed_put(&h, "\n", 1);
    if (kind == K_STRING || kind == K_LIST) {
        for (size_t i = 0; i < s->n_elems; i++) feed_elem(&h, s, &s->elems[i]);
    } else if (kind == K_SET || kind == K_ZSET) {
        if (sorted_order(s, 1)) return -1;
        for (size_t i = 0; i < s->n_elems; i++) {
            const Elem *e = &s->elems[s->order[i]];
            feed_elem(&h, s, e);
            if (kind == K_ZSET) feed_score(&h, e->score);
        }
    } else { /* hash: field, value pairs by field */
        if (s->n_elems % 2) return fail(s, "corrupt hash (odd entry count)");
        if (sorted_order(s, 2)) return -1;
        for (size_t i = 0; i < s->n_elems / 2; i++) {
            feed_elem(&h, s, &s->elems[s->order[i]]);
            feed_elem(&h, s, &s->elems[s->order[i] + 1]);
        }
    }
    feed_final(&h, md);
    hex(dst, md, 16);
    return 0;
}

/* ------------------------------------------------------------- output */
static int flush(Scan *s, int force) {
    if (!s->out.len || (!force && s->out.len < SINK_CHUNK)) return 0;
    PyEval_RestoreThread(s->ts);
    PyObject *chunk = PyBytes_FromStringAndSize((const char *)s->out.data, (Py_ssize_t)s->out.len);
    PyObject *r = chunk ? PyObject_CallOneArg(s->sink, chunk) : NULL;
    Py_XDECREF(chunk);
    Py_XDECREF(r);
    s->ts = PyEval_SaveThread();
    if (!r) {
        s->py_error = 1;
        return fail(s, "fingerprint sink failed");
    }
    s->out.len = 0;
    return 0;
}

/* JSON string body of raw bytes, as Python's json.dumps(ensure_ascii=True) writes
 * them after a UTF-8 decode with surrogateescape (bytes outside valid UTF-8 -> \udcXX). */
static int utf8_seq(const unsigned char *p, size_t n, uint32_t *cp) {
    unsigned c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; v = c & 0x1f; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; v = c & 0x0f; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return len;
}

#define JSON_BLOCK 4096
static int json_string(Buf *b, const unsigned char *p, size_t n) {
    static const char digits[] = "0123456789abcdef";
    /* at most 6 output bytes per input byte (\udcXX for a stray byte); twice that is
     * reserved a block at a time (a character may end past its block), so a long key
     * costs what it writes, not 12 times its length at once */
    if (buf_reserve(b, (n < JSON_BLOCK ? n : JSON_BLOCK) * 12 + 2)) return -1;
    unsigned char *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0, block_end = JSON_BLOCK;
    while (i < n) {
        if (i >= block_end) {
            b->len = (size_t)(o - b->data);
            size_t rest = n - i < JSON_BLOCK ? n - i : JSON_BLOCK;
            if (buf_reserve(b, rest * 12 + 2)) return -1;
            o = b->data + b->len;
            block_end = i + JSON_BLOCK;
        }
        uint32_t cp;
        int len = utf8_seq(p + i, n - i, &cp);
        if (len == 0) { cp = 0xdc00 + p[i]; len = 1; }
        i += (size_t)len;
        if (cp >= 0x20 && cp < 0x7f && cp != '"' && cp != '\\') { *o++ = (unsigned char)cp; continue; }
        *o++ = '\\';
        switch (cp) {
            case '"': *o++ = '"'; continue;
            case '\\': *o++ = '\\'; continue;
            case '\n': *o++ = 'n'; continue;
            case '\r': *o++ = 'r'; continue;
            case '\t': *o++ = 't'; continue;
            case '\b': *o++ = 'b'; continue;
            case '\f': *o++ = 'f'; continue;
            default: break;
        }
        uint32_t units[2];
        int k = 0;
        if (cp >= 0x10000) {
            uint32_t v = cp - 0x10000;
            units[k++] = 0xd800 | (v >> 10);
            units[k++] = 0xdc00 | (v & 0x3ff);
        } else {
            units[k++] = cp;
        }
        for (int j = 0; j < k; j++) {
            if (j) *o++ = '\\';
            *o++ = 'u';
            for (int sh = 12; sh >= 0; sh -= 4) *o++ = (unsigned char)digits[(units[j] >> sh) & 15];
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return 0;
}

/* f(x): x's length as 8 bytes big-endian, then x */
static int put_field(Buf *b, const void *p, size_t n) {
    if (buf_reserve(b, 8 + n)) return -1;
    put_len(b->data + b->len, n);
    if (n) memcpy(b->data + b->len + 8, p, n);
    b->len += 8 + n;
    return 0;
}

static Group *group_for(Scan *s, uint64_t db) {
    if (db >= s->n_groups) {
        if (db > 1u << 20) return NULL;
        size_t n = (size_t)db + 1;
        void *d = s->groups;
        int rc = mem_grow(&s->mem, &d, &s->groups_cap, n, sizeof *s->groups, 16);
        s->groups = d;
        if (rc) return NULL;
        memset(s->groups + s->n_groups, 0, (n - s->n_groups) * sizeof *s->groups);
        s->n_groups = n;
    }
    return &s->groups[db];
}

static void add256(unsigned char acc[32], const unsigned char x[32]) {
    unsigned carry = 0;
    for (int i = 31; i >= 0; i--) {
        unsigned v = (unsigned)acc[i] + x[i] + carry;
        acc[i] = (unsigned char)v;
        carry = v >> 8;
    }
}

static int emit(Scan *s, uint64_t db, size_t koff, size_t klen, const char *digest, size_t dlen,
                int expiring, long long expire_ms) {
    if (db != s->group_db || !s->glen) {
        memcpy(s->group, "db", 2);
        s->glen = 2 + fmt_int(s->group + 2, (long long)db);
        s->group_db = db;
    }
    Group *g = group_for(s, db);
    if (!g) return fail(s, "database number %llu out of range", (unsigned long long)db);
    /* the multiset accumulator over f(group) f(name) f("1") f(digest) */
    Buf *e = &s->item;
    e->len = 0;
    if (put_field(e, s->group, s->glen) || put_field(e, s->arena.data + koff, klen) ||
        put_field(e, "1", 1) || put_field(e, digest, dlen))
        return oom(s);
    unsigned char md[32];
    sha256_once(e->data, e->len, md);
    add256(g->sum, md);
    g->count++;
    g->used = 1;
    s->keys++;
    if (!s->lines) return 0;
    /* the JSON line: ["<group>", "<name>", 1, "<digest>", "<detail>"] */
    Buf *o = &s->out;
    if (buf_reserve(o, s->glen + dlen + 64)) return oom(s);
    memcpy(o->data + o->len, "[\"", 2);
    memcpy(o->data + o->len + 2, s->group, s->glen);
    memcpy(o->data + o->len + 2 + s->glen, "\", ", 3);
    o->len += 5 + s->glen;
    if (json_string(o, s->arena.data + koff, klen)) return oom(s);
    if (buf_reserve(o, dlen + 64)) return oom(s);
    unsigned char *w = o->data + o->len;
    memcpy(w, ", 1, \"", 6);
    w += 6;
    memcpy(w, digest, dlen);
    w += dlen;
    memcpy(w, "\", \"", 4);
    w += 4;
    if (expiring) {
        memcpy(w, "expires-ms:", 11);
        w += 11;
        w += fmt_int((char *)w, expire_ms);
    }
    memcpy(w, "\"]\n", 3);
    w += 3;
    o->len = (size_t)(w - o->data);
    return flush(s, 0);
}

/* A function library (its code begins "#!<engine> name=<name> ..."): its name and
 * the SHA-256 of its code are kept for the result's "functions". */
static int function_library(Scan *s) {
    size_t off, len;
    if (read_string(s, &off, &len)) return -1;
    const char *code = (const char *)s->arena.data + off;
    if (s->n_fns == s->fns_cap) {
        void *d = s->fns;
        int rc = mem_grow(&s->mem, &d, &s->fns_cap, s->n_fns + 1, sizeof *s->fns, 16);
        s->fns = d;
        if (rc) return oom(s);
    }
    FnLib *f = &s->fns[s->n_fns++];
    memset(f, 0, sizeof *f);
    sha256_once(code, len, f->digest);
    size_t eol = 0;
    while (eol < len && code[eol] != '\n') eol++;
    size_t at = 0, k = 0;
    for (; at + 5 <= eol; at++) /* "name=" at the start of a word of the first line */
        if (memcmp(code + at, "name=", 5) == 0 && (at == 0 || code[at - 1] == ' ')) break;
    if (at + 5 <= eol) {
        for (at += 5; at < eol && code[at] != ' ' && code[at] != '\r' && k + 1 < sizeof f->name; at++) {
            char ch = code[at];
            f->name[k++] = (ch >= 0x20 && ch < 0x7f) ? ch : '?';
        }
    }
    if (!k) snprintf(f->name, sizeof f->name, "#%zu", s->n_fns);
    return 0;
}

/* --------------------------------------------------------------- main loop */
static int scan_rdb(Scan *s) {
    const unsigned char *p = take(s, 9);
    if (!p) return -1;
    if (memcmp(p, "REDIS", 5) != 0) return fail(s, "not an RDB file (no REDIS header)");
    s->version = 0;
    for (int i = 5; i < 9; i++) {
        if (p[i] < '0' || p[i] > '9') return fail(s, "bad RDB version");
        s->version = s->version * 10 + (p[i] - '0');
    }
    if (s->version < 1 || s->version > 12) return fail(s, "RDB version %d is not supported", s->version);
    uint64_t db = 0;
    long long expire = 0;
    int expiring = 0;
    for (;;) {
        unsigned op;
        if (read_u8(s, &op)) return -1;
        s->arena.len = 0;
        s->n_elems = 0;
        switch (op) {
            case 0xff: { /* EOF, then the CRC64 of everything before it */
                crc_sync(s);
                uint64_t want = s->crc;
                if (s->version >= 5) {
                    const unsigned char *c = take(s, 8);
                    if (!c) return -1;
                    uint64_t got = le(c, 8);
                    if (got != 0 && got != want) return fail(s, "RDB checksum mismatch");
                }
                return 0;
            }
            case 0xfe:
                if (plain_len(s, &db)) return -1;
                continue;
            case 0xfd: {
                const unsigned char *c = take(s, 4);
                if (!c) return -1;
                expire = (long long)le(c, 4) * 1000;
                expiring = 1;
                continue;
            }
            case 0xfc: {
                const unsigned char *c = take(s, 8);
                if (!c) return -1;
                expire = (long long)le(c, 8);
                expiring = 1;
                continue;
            }
            case 0xfb: {
                uint64_t a, b;
                if (plain_len(s, &a) || plain_len(s, &b)) return -1;
                continue;
            }
            case 0xfa: {
                size_t ko, kl, vo, vl;
                if (read_string(s, &ko, &kl) || read_string(s, &vo, &vl)) return -1;
                if (kl == 9 && memcmp(s->arena.data + ko, "redis-ver", 9) == 0 && vl < sizeof s->redis_ver) {
                    size_t k = 0; /* a version: digits, letters, dots and dashes only */
                    for (size_t i = 0; i < vl; i++) {
                        char ch = (char)s->arena.data[vo + i];
                        if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
                            (ch >= 'A' && ch <= 'Z') || ch == '.' || ch == '-')
                            s->redis_ver[k++] = ch;
                    }
                    s->redis_ver[k] = 0;
                }
                continue;
            }
            case 0xf9:
                if (!take(s, 1)) return -1;
                continue;
            case 0xf8: {
                uint64_t idle;
                if (plain_len(s, &idle)) return -1;
                continue;
            }
            case 0xf7: { /* module aux: module id, when opcode, when, value */
                uint64_t a;
                if (plain_len(s, &a) || plain_len(s, &a) || plain_len(s, &a) || module_value(s)) return -1;
                continue;
            }
            case 0xf5: /* function library code */
                if (function_library(s)) return -1;
                continue;
            case 0xf6:
                return fail(s, "functions saved by a Redis 7.0 release candidate are not supported");
            case 0xf4: { /* slot info: slot, size, expires size */
                uint64_t a;
                if (plain_len(s, &a) || plain_len(s, &a) || plain_len(s, &a)) return -1;
                continue;
            }
            default:
                break;
        }
        size_t koff, klen;
        if (read_string(s, &koff, &klen)) return -1;
        enum Kind kind = K_STRING;
        SHA256_CTX raw;
        SHA256_Init(&raw);
        if (read_value(s, op, &kind, &raw)) return -1;
        char digest[64];
        size_t n = strlen(kind_name[kind]);
        memcpy(digest, kind_name[kind], n);
        const char *cls = expiring ? ":expiring:" : ":persistent:";
        size_t cl = strlen(cls);
        memcpy(digest + n, cls, cl);
        n += cl;
        if (value_digest(s, kind, &raw, digest + n)) return -1;
        n += 32;
        if (emit(s, db, koff, klen, digest, n, expiring, expire)) return -1;
        expiring = 0;
    }
}

static PyObject *RDBError;

static PyObject *scan(PyObject *self, PyObject *args) {
    int fd;
    PyObject *sink;
    Py_ssize_t limit = (Py_ssize_t)DEFAULT_MEMORY_LIMIT;
    if (!PyArg_ParseTuple(args, "iO|n:scan", &fd, &sink, &limit)) return NULL;
    if (sink != Py_None && !PyCallable_Check(sink)) {
        PyErr_SetString(PyExc_TypeError, "sink must be callable or None");
        return NULL;
    }
    if (limit < (Py_ssize_t)(8 * READ_CHUNK)) {
        PyErr_SetString(PyExc_ValueError, "memory_limit must be at least 8 MiB");
        return NULL;
    }
    Scan s;
    memset(&s, 0, sizeof s);
    s.fd = fd;
    s.sink = sink;
    s.lines = sink != Py_None;
    s.mem.limit = (size_t)limit;
    s.arena.mem = s.item.mem = s.out.mem = &s.mem;
    /* a regular file's length bounds every declared length and count in it */
    struct stat st;
    off_t at = lseek(fd, 0, SEEK_CUR);
    if (at >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= at) {
        s.sized = 1;
        s.size = (uint64_t)(st.st_size - at);
    }
    s.ts = PyEval_SaveThread();
    /* the scratch buffers are never NULL, even for a key and value that are empty */
    int rc = buf_reserve(&s.arena, 4096) || buf_reserve(&s.item, 4096) ? oom(&s) : 0;
    if (rc == 0) rc = scan_rdb(&s);
    if (rc == 0) rc = flush(&s, 1);
    uint64_t trailing = 0;
    if (rc == 0) { /* the stream must end with the RDB: read to its end */
        trailing = s.end - s.pos;
        while (!s.in_eof) {
            ssize_t got = read(fd, s.in, s.in_cap);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) break;
            trailing += (uint64_t)got;
        }
        if (trailing) rc = fail(&s, "%llu bytes after the end of the RDB", (unsigned long long)trailing);
    }
    PyEval_RestoreThread(s.ts);
    PyObject *result = NULL;
    if (rc != 0) {
        if (!s.py_error || !PyErr_Occurred()) PyErr_SetString(RDBError, s.err[0] ? s.err : "RDB scan failed");
    } else {
        PyObject *groups = PyDict_New();
        for (size_t i = 0; groups && i < s.n_groups; i++) {
            Group *g = &s.groups[i];
            if (!g->used) continue;
            char name[32];
            snprintf(name, sizeof name, "db%zu", i);
            PyObject *v = Py_BuildValue("(Ky#)", (unsigned long long)g->count, (const char *)g->sum, (Py_ssize_t)32);
            if (!v || PyDict_SetItemString(groups, name, v)) {
                Py_XDECREF(v);
                Py_CLEAR(groups);
                break;
            }
            Py_DECREF(v);
        }
        PyObject *fns = groups ? PyList_New(0) : NULL;
        for (size_t i = 0; fns && i < s.n_fns; i++) {
            PyObject *v = Py_BuildValue("(sy#)", s.fns[i].name, (const char *)s.fns[i].digest, (Py_ssize_t)32);
            if (!v || PyList_Append(fns, v)) {
                Py_XDECREF(v);
                Py_CLEAR(fns);
            } else {
                Py_DECREF(v);
            }
        }
        if (groups && fns) {
            result = Py_BuildValue("{s:i,s:K,s:s,s:N,s:N}", "version", s.version, "keys",
                                   (unsigned long long)s.keys, "redis_version", s.redis_ver, "groups", groups,
                                   "functions", fns);
        } else {
            Py_XDECREF(groups);
            Py_XDECREF(fns);
        }
    }
    free(s.in);
    free(s.arena.data);
    free(s.elems);
    free(s.order);
    free(s.out.data);
    free(s.item.data);
    free(s.groups);
    free(s.fns);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(fd, sink, memory_limit=512 MiB) -> dict: read an RDB from fd to its end; JSON "
     "lines of per-key fingerprint items go to sink(bytes) unless sink is None; returns "
     "version, keys, redis_version, per group (count, 32-byte multiset sum) and the "
     "function libraries as (name, 32-byte SHA-256 of the code). Fails "
     "(RDBError) on a malformed RDB, and on one whose scan would take more memory than "
     "memory_limit bytes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "rdbscan", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_rdbscan(void) {
    crc_init();
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    RDBError = PyErr_NewException("stategate.native.rdbscan.RDBError", PyExc_ValueError, NULL);
    if (!RDBError || PyModule_AddObjectRef(m, "RDBError", RDBError) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
