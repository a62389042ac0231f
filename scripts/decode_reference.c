/*
 * decode_reference.c: hand-written f32 Llama inference, one file, OpenMP.
 *
 * What it is for:
 *  - the outside speed reference that `llc-train bench decode` is compared against
 *    (issue 12: "hand-written C inference of the same checkpoint"), written the way
 *    llama2.c is: f32 weights, a KV cache, one token per forward, and
 *    `#pragma omp parallel for` over the rows of every matmul;
 *  - an implementation of Hugging Face Llama decoding that shares no code with
 *    llc-train: it reads the checkpoint directory that save_pretrained writes
 *    (config.json + model.safetensors) itself, and scripts/decode_reference_check.py
 *    checks its greedy tokens against transformers' `generate(do_sample=False)`.
 *
 * The forward is transformers' LlamaForCausalLM: x = embed[token]; per layer
 *   h = RMSNorm(x) (x * rsqrt(mean(x^2) + eps) * w), q,k,v = Wq h, Wk h, Wv h,
 *   RoPE on q and k in HF's rotate_half convention (the first and second halves of each
 *   head are the pairs; inv_freq = theta^(-2i/head_dim)), causal softmax attention
 *   scaled by 1/sqrt(head_dim) with grouped-query heads (query head h reads kv head
 *   h / (n_heads / n_kv_heads)), x += Wo attn; h = RMSNorm(x), x += down(silu(gate h) * up h);
 * then the final RMSNorm and lm_head (or embed_tokens when tie_word_embeddings).
 *
 * Usage: decode_reference CKPT_DIR --prompt "1,2,3" --steps N [--threads T] [--logits FILE]
 *   Feeds the prompt ids one at a time (the prefill), then greedy-decodes N tokens
 *   (argmax, ties go to the lowest id). Prints
 *     tokens: a,b,c,...         the N generated ids
 *     prefill: X tokens/s       prompt tokens over the prefill's time
 *     Y tokens/s                generated tokens over the decode loop's time
 *   The first generated token comes from the prefill's last logits; every generated
 *   token then goes through one decode step (its KV-cache entries, the logits over the
 *   vocabulary, the argmax), so N tokens are N timed steps and the prompt plus the N
 *   tokens must fit the context (max_position_embeddings). --logits FILE writes the
 *   N x vocab f32 (little-endian) logits each generated token was chosen from.
 *   --threads T sets the OpenMP thread count (default: OpenMP's, i.e. OMP_NUM_THREADS).
 *
 * Build: cc -O3 -march=native -fopenmp -o decode_reference scripts/decode_reference.c -lm
 * The dot products use `#pragma omp simd reduction`, which lets the compiler vectorise
 * them without -ffast-math.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("decode_reference: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory allocating %zu bytes", n);
    return p;
}

static float *falloc(size_t count) {
    if (count > SIZE_MAX / sizeof(float) - 64) die("allocation of %zu floats overflows", count);
    size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) die("out of memory allocating %zu bytes", bytes);
    memset(p, 0, bytes);
    return p;
}

static size_t mul_size(size_t a, size_t b, const char *what) {
    if (a != 0 && b > SIZE_MAX / a) die("%s: size overflows", what);
    return a * b;
}

/* ---------------------------------------------------------------- JSON ---------- */
/* A small, complete JSON parser (RFC 8259 values), enough for config.json and the
 * safetensors header. */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct JVal {
    int type;
    int boolean;
    double num;
    char *str;           /* J_STR */
    int n;               /* J_ARR / J_OBJ: number of items */
    char **keys;         /* J_OBJ */
    struct JVal *items;  /* J_ARR / J_OBJ */
} JVal;

typedef struct {
    const char *s;
    size_t len, pos;
    const char *what; /* file name, for errors */
    int depth;
} JParser;

static void jfail(JParser *p, const char *msg) {
    die("%s: malformed JSON at byte %zu: %s", p->what, p->pos, msg);
}

static void jskip(JParser *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') p->pos++;
        else break;
    }
}

static int jpeek(JParser *p) { return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1; }

static void jexpect(JParser *p, const char *lit) {
    size_t n = strlen(lit);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, lit, n) != 0) jfail(p, "unexpected token");
    p->pos += n;
}

static unsigned jhex4(JParser *p) {
    if (p->len - p->pos < 4) jfail(p, "short \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else jfail(p, "bad \\u escape");
    }
    return v;
}

static char *jstring(JParser *p) {
    if (jpeek(p) != '"') jfail(p, "expected a string");
    p->pos++;
    size_t cap = 16, n = 0;
    char *out = xmalloc(cap);
    for (;;) {
        if (p->pos >= p->len) jfail(p, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos++];
        unsigned cp;
        if (c == '"') break;
        if (c < 0x20) jfail(p, "control character in string");
        if (n + 5 > cap) { cap *= 2; out = realloc(out, cap); if (!out) die("out of memory"); }
        if (c != '\\') { out[n++] = (char)c; continue; }
        if (p->pos >= p->len) jfail(p, "unterminated escape");
        c = (unsigned char)p->s[p->pos++];
        switch (c) {
        case '"': out[n++] = '"'; continue;
        case '\\': out[n++] = '\\'; continue;
        case '/': out[n++] = '/'; continue;
        case 'b': out[n++] = '\b'; continue;
        case 'f': out[n++] = '\f'; continue;
        case 'n': out[n++] = '\n'; continue;
        case 'r': out[n++] = '\r'; continue;
        case 't': out[n++] = '\t'; continue;
        case 'u':
            cp = jhex4(p);
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (p->len - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                    jfail(p, "lone high surrogate");
                p->pos += 2;
                unsigned lo = jhex4(p);
                if (lo < 0xDC00 || lo >= 0xE000) jfail(p, "bad low surrogate");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                jfail(p, "lone low surrogate");
            }
            if (cp == 0) jfail(p, "\\u0000 in string");
            if (cp < 0x80) out[n++] = (char)cp;
            else if (cp < 0x800) { out[n++] = (char)(0xC0 | (cp >> 6)); out[n++] = (char)(0x80 | (cp & 0x3F)); }
            else if (cp < 0x10000) {
                out[n++] = (char)(0xE0 | (cp >> 12)); out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[n++] = (char)(0x80 | (cp & 0x3F));
            } else {
                out[n++] = (char)(0xF0 | (cp >> 18)); out[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[n++] = (char)(0x80 | (cp & 0x3F));
            }
            continue;
        default: jfail(p, "bad escape");
        }
    }
    out[n] = 0;
    return out;
}

static double jnumber(JParser *p) {
    size_t start = p->pos;
    if (jpeek(p) == '-') p->pos++;
    if (jpeek(p) == '0') p->pos++;
    else if (jpeek(p) >= '1' && jpeek(p) <= '9') while (jpeek(p) >= '0' && jpeek(p) <= '9') p->pos++;
    else jfail(p, "bad number");
    if (jpeek(p) == '.') {
        p->pos++;
        if (!(jpeek(p) >= '0' && jpeek(p) <= '9')) jfail(p, "bad number");
        while (jpeek(p) >= '0' && jpeek(p) <= '9') p->pos++;
    }
    if (jpeek(p) == 'e' || jpeek(p) == 'E') {
        p->pos++;
        if (jpeek(p) == '+' || jpeek(p) == '-') p->pos++;
        if (!(jpeek(p) >= '0' && jpeek(p) <= '9')) jfail(p, "bad number");
        while (jpeek(p) >= '0' && jpeek(p) <= '9') p->pos++;
    }
    size_t n = p->pos - start;
    char buf[64];
    if (n >= sizeof buf) jfail(p, "number too long");
    memcpy(buf, p->s + start, n);
    buf[n] = 0;
    return strtod(buf, NULL);
}

static void jvalue(JParser *p, JVal *v) {
    memset(v, 0, sizeof *v);
    if (++p->depth > 64) jfail(p, "nested too deeply");
    jskip(p);
    int c = jpeek(p);
    if (c == '{') {
        p->pos++;
        v->type = J_OBJ;
        int cap = 0;
        jskip(p);
        if (jpeek(p) == '}') { p->pos++; p->depth--; return; }
        for (;;) {
            jskip(p);
            char *key = jstring(p);
            jskip(p);
            if (jpeek(p) != ':') jfail(p, "expected ':'");
            p->pos++;
            if (v->n == cap) {
                cap = cap ? cap * 2 : 8;
                v->keys = realloc(v->keys, (size_t)cap * sizeof *v->keys);
                v->items = realloc(v->items, (size_t)cap * sizeof *v->items);
                if (!v->keys || !v->items) die("out of memory");
            }
            v->keys[v->n] = key;
            jvalue(p, &v->items[v->n]);
            v->n++;
            jskip(p);
            if (jpeek(p) == ',') { p->pos++; continue; }
            if (jpeek(p) == '}') { p->pos++; break; }
            jfail(p, "expected ',' or '}'");
        }
    } else if (c == '[') {
        p->pos++;
        v->type = J_ARR;
        int cap = 0;
        jskip(p);
        if (jpeek(p) == ']') { p->pos++; p->depth--; return; }
        for (;;) {
            if (v->n == cap) {
                cap = cap ? cap * 2 : 8;
                v->items = realloc(v->items, (size_t)cap * sizeof *v->items);
                if (!v->items) die("out of memory");
            }
            jvalue(p, &v->items[v->n]);
            v->n++;
            jskip(p);
            if (jpeek(p) == ',') { p->pos++; continue; }
            if (jpeek(p) == ']') { p->pos++; break; }
            jfail(p, "expected ',' or ']'");
        }
    } else if (c == '"') {
        v->type = J_STR;
        v->str = jstring(p);
    } else if (c == 't') { jexpect(p, "true"); v->type = J_BOOL; v->boolean = 1; }
    else if (c == 'f') { jexpect(p, "false"); v->type = J_BOOL; v->boolean = 0; }
    else if (c == 'n') { jexpect(p, "null"); v->type = J_NULL; }
    else if (c == '-' || (c >= '0' && c <= '9')) { v->type = J_NUM; v->num = jnumber(p); }
    else jfail(p, "expected a value");
    p->depth--;
}

static void jparse(const char *s, size_t len, const char *what, JVal *out) {
    JParser p = {s, len, 0, what, 0};
    jvalue(&p, out);
    jskip(&p);
    /* the safetensors header may be padded with trailing spaces; anything else is an error */
    if (p.pos != p.len) jfail(&p, "trailing data after the top-level value");
}

static const JVal *jget(const JVal *obj, const char *key) {
    if (!obj || obj->type != J_OBJ) return NULL;
    for (int i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    return NULL;
}

/* ---------------------------------------------------------------- config -------- */

typedef struct {
    int dim, hidden, n_layers, n_heads, n_kv_heads, head_dim, vocab, seq_len, tied;
    float eps, theta;
} Config;

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n == cap) { cap *= 2; buf = realloc(buf, cap); if (!buf) die("out of memory"); }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) die("cannot read %s", path);
    fclose(f);
    *len = n;
    return buf;
}

static int cfg_int(const JVal *cfg, const char *key, int fallback, const char *path) {
    const JVal *v = jget(cfg, key);
    if (!v || v->type == J_NULL) {
        if (fallback < 0) die("%s: missing the field \"%s\"", path, key);
        return fallback;
    }
    if (v->type != J_NUM || v->num != floor(v->num) || v->num < 1 || v->num > (double)(1 << 24))
        die("%s: \"%s\" must be a positive integer no larger than %d", path, key, 1 << 24);
    return (int)v->num;
}

static double cfg_num(const JVal *v, const char *key, const char *path) {
    if (v->type != J_NUM || !(v->num > 0) || !isfinite(v->num))
        die("%s: \"%s\" must be a positive number", path, key);
    return v->num;
}

static void cfg_false(const JVal *cfg, const char *key, const char *path) {
    const JVal *v = jget(cfg, key);
    if (v && !(v->type == J_NULL || (v->type == J_BOOL && !v->boolean)))
        die("%s: \"%s\" is set; this reference implements Llama without biases", path, key);
}

static void read_config(const char *dir, Config *c) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t len;
    char *text = read_file(path, &len);
    JVal cfg;
    jparse(text, len, path, &cfg);
    if (cfg.type != J_OBJ) die("%s: not a JSON object", path);

    const JVal *mt = jget(&cfg, "model_type");
    if (mt && (mt->type != J_STR || strcmp(mt->str, "llama") != 0))
        die("%s: model_type is %s%s%s, expected \"llama\"", path, mt->type == J_STR ? "\"" : "",
            mt->type == J_STR ? mt->str : "not a string", mt->type == J_STR ? "\"" : "");
    const JVal *act = jget(&cfg, "hidden_act");
    if (act && (act->type != J_STR || strcmp(act->str, "silu") != 0))
        die("%s: hidden_act must be \"silu\"", path);
    cfg_false(&cfg, "attention_bias", path);
    cfg_false(&cfg, "mlp_bias", path);

    c->dim = cfg_int(&cfg, "hidden_size", -1, path);
    c->hidden = cfg_int(&cfg, "intermediate_size", -1, path);
    c->n_layers = cfg_int(&cfg, "num_hidden_layers", -1, path);
    c->n_heads = cfg_int(&cfg, "num_attention_heads", -1, path);
    c->n_kv_heads = cfg_int(&cfg, "num_key_value_heads", c->n_heads, path);
    c->vocab = cfg_int(&cfg, "vocab_size", -1, path);
    c->seq_len = cfg_int(&cfg, "max_position_embeddings", -1, path);
    if (c->dim % c->n_heads != 0 && !jget(&cfg, "head_dim"))
        die("%s: hidden_size %d is not a multiple of num_attention_heads %d", path, c->dim, c->n_heads);
    c->head_dim = cfg_int(&cfg, "head_dim", c->dim / c->n_heads, path);
    if (c->head_dim % 2 != 0) die("%s: head_dim %d is odd; RoPE needs pairs", path, c->head_dim);
    if (c->n_heads % c->n_kv_heads != 0)
        die("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", path,
            c->n_heads, c->n_kv_heads);

    const JVal *eps = jget(&cfg, "rms_norm_eps");
    c->eps = eps && eps->type != J_NULL ? (float)cfg_num(eps, "rms_norm_eps", path) : 1e-6f;

    /* rope_theta: top level (transformers 4) or inside rope_parameters (transformers 5) */
    const JVal *rp = jget(&cfg, "rope_parameters");
    const JVal *rs = jget(&cfg, "rope_scaling");
    const JVal *theta = jget(&cfg, "rope_theta");
    if (rp && rp->type != J_NULL) {
        if (rp->type != J_OBJ) die("%s: rope_parameters is not an object", path);
        const JVal *type = jget(rp, "rope_type");
        if (type && (type->type != J_STR || strcmp(type->str, "default") != 0))
            die("%s: rope_parameters.rope_type must be \"default\" (scaled RoPE is not implemented)", path);
        const JVal *t2 = jget(rp, "rope_theta");
        if (t2 && t2->type != J_NULL) theta = t2;
    }
    if (rs && rs->type != J_NULL) {
        const JVal *type = rs->type == J_OBJ ? jget(rs, "rope_type") : NULL;
        if (!type) type = rs->type == J_OBJ ? jget(rs, "type") : NULL;
        if (!type || type->type != J_STR || strcmp(type->str, "default") != 0)
            die("%s: rope_scaling is set; scaled RoPE is not implemented", path);
    }
    c->theta = theta && theta->type != J_NULL ? (float)cfg_num(theta, "rope_theta", path) : 10000.0f;

    const JVal *tie = jget(&cfg, "tie_word_embeddings");
    if (tie && tie->type != J_BOOL && tie->type != J_NULL)
        die("%s: tie_word_embeddings must be true or false", path);
    c->tied = tie && tie->type == J_BOOL ? tie->boolean : 0; /* LlamaConfig's default: False */
    free(text);
}

/* ---------------------------------------------------------------- weights ------- */

typedef struct {
    float *embed;                                 /* [vocab, dim] */
    float **attn_norm, **ffn_norm;                /* [L][dim] */
    float **wq, **wk, **wv, **wo;                 /* [L][H*hd, dim], [KV*hd, dim] x2, [dim, H*hd] */
    float **w_gate, **w_up, **w_down;             /* [L][hidden, dim] x2, [dim, hidden] */
    float *final_norm;                            /* [dim] */
    float *lm_head;                               /* [vocab, dim]; == embed when tied */
} Weights;

typedef struct {
    const char *path;
    const unsigned char *data; /* start of the byte buffer after the header */
    size_t data_len;
    JVal header;
    char *used;                /* per header entry: taken by the model */
} Safetensors;

static float *take(Safetensors *st, const char *name, int rows, int cols, int optional) {
    const JVal *t = NULL;
    int idx = -1;
    for (int i = 0; i < st->header.n; i++)
        if (strcmp(st->header.keys[i], name) == 0) { t = &st->header.items[i]; idx = i; break; }
    if (!t) {
        if (optional) return NULL;
        die("%s: missing tensor \"%s\"", st->path, name);
    }
    st->used[idx] = 1;
    if (t->type != J_OBJ) die("%s: header entry \"%s\" is not an object", st->path, name);
    const JVal *dtype = jget(t, "dtype"), *shape = jget(t, "shape"), *off = jget(t, "data_offsets");
    if (!dtype || dtype->type != J_STR || !shape || shape->type != J_ARR || !off || off->type != J_ARR ||
        off->n != 2)
        die("%s: header entry \"%s\" lacks dtype, shape or data_offsets", st->path, name);
    if (strcmp(dtype->str, "F32") != 0)
        die("%s: tensor \"%s\" has dtype %s; this reference reads F32 checkpoints only", st->path, name,
            dtype->str);
    int want_rank = cols > 0 ? 2 : 1;
    int ok = shape->n == want_rank;
    for (int i = 0; ok && i < shape->n; i++)
        if (shape->items[i].type != J_NUM) ok = 0;
    if (ok) ok = shape->items[0].num == rows && (want_rank == 1 || shape->items[1].num == cols);
    if (!ok) {
        char got[256] = "[";
        for (int i = 0; i < shape->n && strlen(got) < 200; i++) {
            char num[32];
            snprintf(num, sizeof num, "%s%.0f", i ? ", " : "",
                     shape->items[i].type == J_NUM ? shape->items[i].num : -1.0);
            strcat(got, num);
        }
        strcat(got, "]");
        if (want_rank == 2)
            die("%s: tensor \"%s\" has shape %s, config.json implies [%d, %d]", st->path, name, got, rows, cols);
        die("%s: tensor \"%s\" has shape %s, config.json implies [%d]", st->path, name, got, rows);
    }
    for (int i = 0; i < 2; i++)
        if (off->items[i].type != J_NUM || off->items[i].num < 0 || off->items[i].num != floor(off->items[i].num) ||
            off->items[i].num > (double)st->data_len)
            die("%s: tensor \"%s\" has data_offsets outside the file", st->path, name);
    size_t begin = (size_t)off->items[0].num, end = (size_t)off->items[1].num;
    size_t count = mul_size((size_t)rows, cols > 0 ? (size_t)cols : 1, name);
    if (end < begin || end - begin != count * sizeof(float))
        die("%s: tensor \"%s\" has %zu data bytes, its shape needs %zu", st->path, name,
            end < begin ? (size_t)0 : end - begin, count * sizeof(float));
    float *dst = falloc(count);
    memcpy(dst, st->data + begin, count * sizeof(float));
    return dst;
}

static void load_weights(const char *dir, const Config *c, Weights *w) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        char index[4096];
        snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);
        if (access(index, F_OK) == 0)
            die("%s: sharded checkpoint (model.safetensors.index.json); this reference reads one "
                "model.safetensors", dir);
        die("cannot open %s: %s", path, strerror(errno));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) die("cannot stat %s: %s", path, strerror(errno));
    size_t size = (size_t)sb.st_size;
    if (size < 8) die("%s: too short to be a safetensors file (%zu bytes)", path, size);
    unsigned char *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) die("cannot mmap %s: %s", path, strerror(errno));
    close(fd);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | map[i]; /* little-endian u64 */
    if (hlen > size - 8) die("%s: header length %llu runs past the end of the file (%zu bytes)", path,
                             (unsigned long long)hlen, size);
    if (hlen > 100u * 1024 * 1024) die("%s: header length %llu is implausibly large", path,
                                       (unsigned long long)hlen);
    Safetensors st = {path, map + 8 + hlen, size - 8 - (size_t)hlen, {0}, NULL};
    jparse((const char *)map + 8, (size_t)hlen, path, &st.header);
    if (st.header.type != J_OBJ) die("%s: the header is not a JSON object", path);
    st.used = xmalloc((size_t)st.header.n);
    memset(st.used, 0, (size_t)st.header.n);
    for (int i = 0; i < st.header.n; i++)
        if (strcmp(st.header.keys[i], "__metadata__") == 0) st.used[i] = 1;

    int L = c->n_layers, D = c->dim, F = c->hidden;
    int QD = c->n_heads * c->head_dim, KD = c->n_kv_heads * c->head_dim;
    if ((long long)c->n_heads * c->head_dim > (1 << 24) || (long long)c->n_kv_heads * c->head_dim > (1 << 24))
        die("heads * head_dim is too large");
    w->embed = take(&st, "model.embed_tokens.weight", c->vocab, D, 0);
#define LAYER_ARRAY(field) w->field = xmalloc(sizeof(float *) * (size_t)L)
    LAYER_ARRAY(attn_norm); LAYER_ARRAY(ffn_norm); LAYER_ARRAY(wq); LAYER_ARRAY(wk); LAYER_ARRAY(wv);
    LAYER_ARRAY(wo); LAYER_ARRAY(w_gate); LAYER_ARRAY(w_up); LAYER_ARRAY(w_down);
#undef LAYER_ARRAY
    char name[256];
    for (int l = 0; l < L; l++) {
#define T(field, suffix, r, cc) \
    snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix); \
    w->field[l] = take(&st, name, r, cc, 0)
        T(attn_norm, "input_layernorm.weight", D, 0);
        T(wq, "self_attn.q_proj.weight", QD, D);
        T(wk, "self_attn.k_proj.weight", KD, D);
        T(wv, "self_attn.v_proj.weight", KD, D);
        T(wo, "self_attn.o_proj.weight", D, QD);
        T(ffn_norm, "post_attention_layernorm.weight", D, 0);
        T(w_gate, "mlp.gate_proj.weight", F, D);
        T(w_up, "mlp.up_proj.weight", F, D);
        T(w_down, "mlp.down_proj.weight", D, F);
#undef T
    }
    w->final_norm = take(&st, "model.norm.weight", D, 0, 0);
    if (c->tied) {
        float *head = take(&st, "lm_head.weight", c->vocab, D, 1); /* HF ties it to embed_tokens anyway */
        free(head);
        w->lm_head = w->embed;
    } else {
        w->lm_head = take(&st, "lm_head.weight", c->vocab, D, 1);
        if (!w->lm_head)
            die("%s: missing tensor \"lm_head.weight\" and config.json has tie_word_embeddings false", path);
    }
    int unused = 0;
    const char *first = NULL;
    for (int i = 0; i < st.header.n; i++)
        if (!st.used[i]) { if (!first) first = st.header.keys[i]; unused++; }
    if (unused)
        fprintf(stderr, "decode_reference: warning: %d tensor(s) in %s are not used (first: \"%s\")\n",
                unused, path, first);
    munmap(map, size);
}

/* ---------------------------------------------------------------- forward ------- */

typedef struct {
    float *x, *xb, *q, *k, *v, *att_out, *hb, *hb2, *att, *logits;
    float *key_cache, *value_cache; /* [L][seq_len][KV*hd] */
    float *rope_cos, *rope_sin;     /* [seq_len][hd/2] */
} State;

static void rmsnorm(float *restrict o, const float *restrict x, const float *restrict w, int n, float eps) {
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    float r = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++) o[i] = w[i] * (x[i] * r);
}

/* out[i] = W[i, :] . x for W row-major [rows, cols] (the nn.Linear layout) */
static void matmul(float *restrict out, const float *restrict x, const float *restrict w, int cols, int rows) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < rows; i++) {
        const float *restrict row = w + (size_t)i * (size_t)cols;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int j = 0; j < cols; j++) s += row[j] * x[j];
        out[i] = s;
    }
}

static void softmax(float *x, int n) {
    float m = x[0];
    for (int i = 1; i < n; i++) if (x[i] > m) m = x[i];
    float sum = 0.0f;
    for (int i = 0; i < n; i++) { x[i] = expf(x[i] - m); sum += x[i]; }
    for (int i = 0; i < n; i++) x[i] /= sum;
}

/* HF rotate_half: head vector (a, b) with halves a, b -> (a cos - b sin, b cos + a sin) */
static void rope(float *v, int n_heads, int hd, const float *cosv, const float *sinv) {
    int half = hd / 2;
    for (int h = 0; h < n_heads; h++) {
        float *a = v + (size_t)h * hd, *b = a + half;
        for (int i = 0; i < half; i++) {
            float x1 = a[i], x2 = b[i];
            a[i] = x1 * cosv[i] - x2 * sinv[i];
            b[i] = x2 * cosv[i] + x1 * sinv[i];
        }
    }
}

static void state_init(State *s, const Config *c) {
    int QD = c->n_heads * c->head_dim, KD = c->n_kv_heads * c->head_dim, big = c->dim > QD ? c->dim : QD;
    s->x = falloc((size_t)c->dim);
    s->xb = falloc((size_t)big);
    s->q = falloc((size_t)QD);
    s->k = falloc((size_t)KD);
    s->v = falloc((size_t)KD);
    s->att_out = falloc((size_t)QD);
    s->hb = falloc((size_t)c->hidden);
    s->hb2 = falloc((size_t)c->hidden);
    s->att = falloc(mul_size((size_t)c->n_heads, (size_t)c->seq_len, "attention scores"));
    s->logits = falloc((size_t)c->vocab);
    size_t cache = mul_size(mul_size((size_t)c->n_layers, (size_t)c->seq_len, "KV cache"), (size_t)KD, "KV cache");
    s->key_cache = falloc(cache);
    s->value_cache = falloc(cache);
    /* HF LlamaRotaryEmbedding (default rope_type): inv_freq = 1 / theta^(2i/hd), computed in
     * f32; freqs = pos * inv_freq in f32; cos/sin of those */
    int half = c->head_dim / 2;
    s->rope_cos = falloc(mul_size((size_t)c->seq_len, (size_t)half, "RoPE table"));
    s->rope_sin = falloc(mul_size((size_t)c->seq_len, (size_t)half, "RoPE table"));
    for (int i = 0; i < half; i++) {
        float inv_freq = 1.0f / powf(c->theta, (float)(2 * i) / (float)c->head_dim);
        for (int p = 0; p < c->seq_len; p++) {
            float f = (float)p * inv_freq;
            s->rope_cos[(size_t)p * half + i] = cosf(f);
            s->rope_sin[(size_t)p * half + i] = sinf(f);
        }
    }
}

/* One token at position pos: appends its keys and values to the cache; with want_logits,
 * leaves the logits for the next token in s->logits. */
static void forward(const Config *c, const Weights *w, State *s, int token, int pos, int want_logits) {
    int D = c->dim, hd = c->head_dim, H = c->n_heads, KV = c->n_kv_heads;
    int QD = H * hd, KD = KV * hd, kv_mul = H / KV, T = c->seq_len;
    float scale = 1.0f / sqrtf((float)hd);
    memcpy(s->x, w->embed + (size_t)token * D, (size_t)D * sizeof(float));
    const float *cosv = s->rope_cos + (size_t)pos * (hd / 2), *sinv = s->rope_sin + (size_t)pos * (hd / 2);

    for (int l = 0; l < c->n_layers; l++) {
        float *kc = s->key_cache + (size_t)l * T * KD, *vc = s->value_cache + (size_t)l * T * KD;
        rmsnorm(s->xb, s->x, w->attn_norm[l], D, c->eps);
        matmul(s->q, s->xb, w->wq[l], D, QD);
        matmul(kc + (size_t)pos * KD, s->xb, w->wk[l], D, KD);
        matmul(vc + (size_t)pos * KD, s->xb, w->wv[l], D, KD);
        rope(s->q, H, hd, cosv, sinv);
        rope(kc + (size_t)pos * KD, KV, hd, cosv, sinv);

#pragma omp parallel for schedule(static)
        for (int h = 0; h < H; h++) {
            const float *q = s->q + (size_t)h * hd;
            float *att = s->att + (size_t)h * T;
            int kvh = h / kv_mul;
            for (int t = 0; t <= pos; t++) {
                const float *k = kc + (size_t)t * KD + (size_t)kvh * hd;
                float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                for (int i = 0; i < hd; i++) dot += q[i] * k[i];
                att[t] = dot * scale;
            }
            softmax(att, pos + 1);
            float *o = s->att_out + (size_t)h * hd;
            memset(o, 0, (size_t)hd * sizeof(float));
            for (int t = 0; t <= pos; t++) {
                const float *v = vc + (size_t)t * KD + (size_t)kvh * hd;
                float a = att[t];
#pragma omp simd
                for (int i = 0; i < hd; i++) o[i] += a * v[i];
            }
        }
        matmul(s->xb, s->att_out, w->wo[l], QD, D);
        for (int i = 0; i < D; i++) s->x[i] += s->xb[i];

        rmsnorm(s->xb, s->x, w->ffn_norm[l], D, c->eps);
        matmul(s->hb, s->xb, w->w_gate[l], D, c->hidden);
        matmul(s->hb2, s->xb, w->w_up[l], D, c->hidden);
        for (int i = 0; i < c->hidden; i++) {
            float g = s->hb[i];
            s->hb[i] = g / (1.0f + expf(-g)) * s->hb2[i]; /* silu(gate) * up */
        }
        matmul(s->xb, s->hb, w->w_down[l], c->hidden, D);
        for (int i = 0; i < D; i++) s->x[i] += s->xb[i];
    }
    if (!want_logits) return;
    rmsnorm(s->xb, s->x, w->final_norm, D, c->eps);
    matmul(s->logits, s->xb, w->lm_head, D, c->vocab);
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i; /* strict: ties keep the lowest id */
    return best;
}

/* ---------------------------------------------------------------- main ---------- */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(void) {
    fprintf(stderr, "usage: decode_reference CKPT_DIR --prompt \"1,2,3\" --steps N [--threads T] [--logits FILE]\n");
    exit(2);
}

static long parse_long(const char *s, const char *what) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) die("%s: \"%s\" is not an integer", what, s);
    return v;
}

static int *parse_prompt(const char *s, int *count, int vocab) {
    int cap = 16, n = 0;
    int *ids = xmalloc(sizeof(int) * (size_t)cap);
    const char *p = s;
    while (*p == ' ') p++;
    if (*p == 0) die("--prompt is empty; give at least one token id");
    for (;;) {
        while (*p == ' ') p++;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno) die("--prompt: expected a token id at \"%s\"", p);
        if (v < 0 || v >= vocab) die("--prompt: token id %ld is outside the vocabulary [0, %d)", v, vocab);
        if (n == cap) { cap *= 2; ids = realloc(ids, sizeof(int) * (size_t)cap); if (!ids) die("out of memory"); }
        ids[n++] = (int)v;
        p = end;
        while (*p == ' ') p++;
        if (*p == 0) break;
        if (*p != ',') die("--prompt: expected ',' at \"%s\"", p);
        p++;
    }
    *count = n;
    return ids;
}

int main(int argc, char **argv) {
    {
        uint32_t one = 1;
        unsigned char b;
        memcpy(&b, &one, 1);
        if (b != 1) die("this reference reads little-endian f32 and runs on little-endian hosts only");
    }
    const char *dir = NULL, *prompt = NULL, *logits_path = NULL;
    long steps = -1, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--prompt") == 0 && i + 1 < argc) prompt = argv[++i];
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = parse_long(argv[++i], "--steps");
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = parse_long(argv[++i], "--threads");
        else if (strcmp(argv[i], "--logits") == 0 && i + 1 < argc) logits_path = argv[++i];
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) usage();
        else if (argv[i][0] == '-' && argv[i][1] == '-') { fprintf(stderr, "decode_reference: unknown or incomplete option %s\n", argv[i]); usage(); }
        else if (!dir) dir = argv[i];
        else usage();
    }
    if (!dir || !prompt || steps < 0) usage();
    if (steps < 1) die("--steps must be at least 1");
    if (threads < 0 || threads > 1024) die("--threads must be between 1 and 1024");
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads((int)threads);
    int nthreads = omp_get_max_threads();
#else
    if (threads > 1) fprintf(stderr, "decode_reference: warning: built without OpenMP; --threads ignored\n");
    int nthreads = 1;
#endif

    Config c;
    read_config(dir, &c);
    int n_prompt;
    int *ids = parse_prompt(prompt, &n_prompt, c.vocab);
    if ((long)n_prompt + steps > c.seq_len)
        die("the prompt (%d tokens) plus --steps %ld exceeds the context (max_position_embeddings %d)",
            n_prompt, steps, c.seq_len);
    Weights w;
    load_weights(dir, &c, &w);
    State s;
    state_init(&s, &c);
    fprintf(stderr,
            "decode_reference: d=%d layers=%d heads=%d kv_heads=%d head_dim=%d ffn=%d vocab=%d ctx=%d "
            "eps=%g theta=%g tied=%s threads=%d\n",
            c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim, c.hidden, c.vocab, c.seq_len, c.eps,
            c.theta, c.tied ? "yes" : "no", nthreads);

    int *out = xmalloc(sizeof(int) * (size_t)steps);
    float *all_logits = logits_path ? falloc(mul_size((size_t)steps, (size_t)c.vocab, "--logits")) : NULL;

    double t0 = now();
    for (int i = 0; i < n_prompt; i++) forward(&c, &w, &s, ids[i], i, i == n_prompt - 1);
    double t1 = now();
    int tok = argmax(s.logits, c.vocab);
    for (long k = 0; k < steps; k++) {
        out[k] = tok;
        if (all_logits) memcpy(all_logits + (size_t)k * c.vocab, s.logits, (size_t)c.vocab * sizeof(float));
        forward(&c, &w, &s, tok, n_prompt + (int)k, 1);
        tok = argmax(s.logits, c.vocab);
    }
    double t2 = now();

    printf("tokens: ");
    for (long k = 0; k < steps; k++) printf(k ? ",%d" : "%d", out[k]);
    printf("\n");
    printf("prefill: %.1f tokens/s\n", (double)n_prompt / (t1 - t0));
    printf("%.1f tokens/s\n", (double)steps / (t2 - t1));
    if (all_logits) {
        FILE *f = fopen(logits_path, "wb");
        if (!f) die("cannot create %s: %s", logits_path, strerror(errno));
        size_t n = (size_t)steps * c.vocab;
        if (fwrite(all_logits, sizeof(float), n, f) != n || fclose(f) != 0)
            die("cannot write %s", logits_path);
    }
    return 0;
}
