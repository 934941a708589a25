/* safetensors.c: validated mmap reader for safetensors checkpoints (the writer is
 * safetensors_write.c).
 *
 * DESIGN
 * - Each file is mmap'd once (PROT_READ, MAP_PRIVATE) and its header parsed with
 *   jansson; the parsed header stays alive so tensor and dtype names are views of
 *   it rather than copies.
 * - Validation happens in st_file_load before a tensor reaches the checkpoint's
 *   table: a tensor either passed every check or the open fails. Overlap is found
 *   by sorting the file's tensors by offset once (n log n), not pairwise.
 * - The checkpoint keeps one table of all tensors sorted by name, so lookups are a
 *   binary search; prefix lookups compare (prefix, name) piecewise and allocate
 *   nothing.
 * - The file format is little-endian; so are all targets we build for (checked at
 *   compile time below), so F32 data is copied as bytes.
 */
#include "models/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/half.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

/* Tensor names in messages are cut so the file name and the reason still fit. */
#define NAME_FMT "%.80s"

typedef struct st_dtype_info {
    const char *name;
    size_t size;
    tf_st_dtype dtype;
} st_dtype_info;

/* The dtypes of the safetensors spec; sizes validate data_offsets even for
 * dtypes we never convert. */
static const st_dtype_info st_dtypes[] = {
    {.name = "F32", .size = 4, .dtype = TF_ST_F32},     {.name = "F16", .size = 2, .dtype = TF_ST_F16},
    {.name = "BF16", .size = 2, .dtype = TF_ST_BF16},   {.name = "F64", .size = 8, .dtype = TF_ST_OTHER},
    {.name = "I64", .size = 8, .dtype = TF_ST_OTHER},   {.name = "U64", .size = 8, .dtype = TF_ST_OTHER},
    {.name = "I32", .size = 4, .dtype = TF_ST_OTHER},   {.name = "U32", .size = 4, .dtype = TF_ST_OTHER},
    {.name = "I16", .size = 2, .dtype = TF_ST_OTHER},   {.name = "U16", .size = 2, .dtype = TF_ST_OTHER},
    {.name = "I8", .size = 1, .dtype = TF_ST_OTHER},    {.name = "U8", .size = 1, .dtype = TF_ST_OTHER},
    {.name = "BOOL", .size = 1, .dtype = TF_ST_OTHER},  {.name = "F8_E4M3", .size = 1, .dtype = TF_ST_OTHER},
    {.name = "F8_E5M2", .size = 1, .dtype = TF_ST_OTHER},
};

static const st_dtype_info *st_dtype_lookup(const char *name) {
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(st_dtypes[i].name, name) == 0) return &st_dtypes[i];
    return NULL;
}

size_t st_dtype_size(const char *dtype_name) {
    const st_dtype_info *d = dtype_name ? st_dtype_lookup(dtype_name) : NULL;
    return d ? d->size : 0;
}

const char *st_shape_str(int n_dims, const int64_t *shape, char *buf, size_t buf_size) {
    size_t len = 0;
    if (buf_size == 0) return buf;
    buf[0] = 0;
    for (int i = -1; i <= n_dims && len < buf_size; i++) {
        int w;
        if (i < 0) w = snprintf(buf + len, buf_size - len, "[");
        else if (i == n_dims) w = snprintf(buf + len, buf_size - len, "]");
        else w = snprintf(buf + len, buf_size - len, "%s%lld", i ? ", " : "", (long long)shape[i]);
        if (w < 0) break;
        len += (size_t)w;
    }
    return buf;
}

// --- files -----------------------------------------------------------------------------------

typedef struct st_file {
    char *path;          /* owned */
    void *map;           /* owned mapping of the whole file */
    size_t map_bytes;
    json_t *header;      /* owned; tensor and dtype names are views of it */
    json_t *metadata;    /* borrowed from header; NULL if absent */
} st_file;

struct tf_ckpt {
    st_file *files;       /* owned, [n_files] */
    int n_files;
    tf_st_tensor *tensors; /* owned, [n_tensors], sorted by name */
    int n_tensors;
};

static void st_file_close(st_file *f) {
    if (f->map) munmap(f->map, f->map_bytes);
    json_decref(f->header);
    free(f->path);
    memset(f, 0, sizeof *f);
}

static int st_offset_cmp(const void *a, const void *b) {
    const tf_st_tensor *x = a, *y = b;
    const char *px = x->data, *py = y->data;
    if (px != py) return px < py ? -1 : 1;
    return x->n_bytes < y->n_bytes ? -1 : x->n_bytes > y->n_bytes;
}

/* Validates one header entry into t (data pointers relative to data/data_bytes). */
static int st_parse_tensor(const char *path, const char *name, json_t *v, const uint8_t *data,
                           size_t data_bytes, tf_st_tensor *t, tf_err *err) {
    if (!json_is_object(v)) return err_set(err, TF_EFORMAT, "%s: tensor '" NAME_FMT "': entry is not an object", path, name);
    json_t *jd = json_object_get(v, "dtype");
    json_t *js = json_object_get(v, "shape");
    json_t *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd))
        return err_set(err, TF_EFORMAT, "%s: tensor '" NAME_FMT "': dtype missing or not a string", path, name);
    if (!json_is_array(js))
        return err_set(err, TF_EFORMAT, "%s: tensor '" NAME_FMT "': shape missing or not an array", path, name);
    if (!json_is_array(jo) || json_array_size(jo) != 2)
        return err_set(err, TF_EFORMAT, "%s: tensor '" NAME_FMT "': data_offsets must be an array [begin, end]", path, name);

    memset(t, 0, sizeof *t);
    t->name = name;
    t->file = path;
    t->dtype_name = json_string_value(jd);
    const st_dtype_info *dt = st_dtype_lookup(t->dtype_name);
    t->dtype = dt ? dt->dtype : TF_ST_OTHER;

    size_t n_dims = json_array_size(js);
    if (n_dims > TF_ST_MAX_DIMS)
        return err_set(err, TF_EFORMAT, "%s: tensor '" NAME_FMT "': %zu dimensions (at most %d)", path, name, n_dims, TF_ST_MAX_DIMS);
    t->n_dims = (int)n_dims;
    uint64_t numel = 1;
    int overflow = 0;
    for (size_t i = 0; i < n_dims; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return err_set(err, TF_EFORMAT, "%s: tensor '" NAME_FMT "': shape[%zu] is not a non-negative integer", path, name, i);
        t->shape[i] = (int64_t)json_integer_value(d);
        overflow |= __builtin_mul_overflow(numel, (uint64_t)t->shape[i], &numel);
    }
    if (overflow || numel > (uint64_t)INT64_MAX)
        return err_set(err, TF_EFORMAT, "%s: tensor '" NAME_FMT "': element count of the shape overflows", path, name);

    json_t *jb = json_array_get(jo, 0), *je = json_array_get(jo, 1);
    if (!json_is_integer(jb) || !json_is_integer(je) || json_integer_value(jb) < 0 || json_integer_value(je) < 0)
        return err_set(err, TF_EFORMAT, "%s: tensor '" NAME_FMT "': data_offsets must be non-negative integers", path, name);
    uint64_t b = (uint64_t)json_integer_value(jb), e = (uint64_t)json_integer_value(je);
    if (b > e)
        return err_set(err, TF_EFORMAT, "%s: tensor '" NAME_FMT "': data_offsets [%llu, %llu] are inverted", path, name,
                       (unsigned long long)b, (unsigned long long)e);
    if (e > data_bytes)
        return err_set(err, TF_EFORMAT, "%s: tensor '" NAME_FMT "': data_offsets end %llu is past the data section (%zu bytes)",
                       path, name, (unsigned long long)e, data_bytes);
    if (dt) {
        uint64_t want;
        if (__builtin_mul_overflow(numel, (uint64_t)dt->size, &want))
            return err_set(err, TF_EFORMAT, "%s: tensor '" NAME_FMT "': byte size of the shape overflows", path, name);
        if (want != e - b)
            return err_set(err, TF_EFORMAT, "%s: tensor '" NAME_FMT "': data_offsets span %llu bytes but %s of %llu elements needs %llu",
                           path, name, (unsigned long long)(e - b), dt->name, (unsigned long long)numel,
                           (unsigned long long)want);
    }
    t->data = data + b;
    t->n_bytes = (size_t)(e - b);
    return 0;
}

/* Maps and validates path; appends its tensors to *tensors (grown as needed). */
static int st_file_load(st_file *f, const char *path, tf_st_tensor **tensors, int *n_tensors, tf_err *err) {
    int rc = 0, fd = -1;
    memset(f, 0, sizeof *f);
    if (!(f->path = strdup(path))) return err_set(err, TF_ENOMEM, "%s: out of memory", path);
    path = f->path;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, errno == ENOENT ? TF_ENOTFOUND : TF_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        rc = err_set(err, TF_EIO, "%s: cannot stat: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        rc = err_set(err, TF_EFORMAT, "%s: not a regular file", path);
        goto out;
    }
    if (sb.st_size < 8) {
        rc = err_set(err, TF_EFORMAT, "%s: %lld bytes, too short for a safetensors header", path, (long long)sb.st_size);
        goto out;
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        rc = err_set(err, TF_EFORMAT, "%s: file too large to map", path);
        goto out;
    }
    f->map_bytes = (size_t)sb.st_size;
    f->map = mmap(NULL, f->map_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        rc = err_set(err, TF_EIO, "%s: cannot mmap: %s", path, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;

    const uint8_t *base = f->map;
    uint64_t n_header = 0;
    memcpy(&n_header, base, 8);
    if (n_header > f->map_bytes - 8 || n_header > TF_ST_MAX_HEADER_BYTES)
        return err_set(err, TF_EFORMAT, "%s: header length %llu exceeds the file (%zu bytes) or the %llu-byte limit", path,
                       (unsigned long long)n_header, f->map_bytes, (unsigned long long)TF_ST_MAX_HEADER_BYTES);
    json_error_t je;
    /* Without JSON_DISABLE_EOF_CHECK jansson refuses anything but whitespace after
     * the value; the writer pads the header with spaces for alignment. */
    f->header = json_loadb((const char *)base + 8, (size_t)n_header, JSON_REJECT_DUPLICATES, &je);
    if (!f->header)
        return err_set(err, TF_EFORMAT, "%s: header is not valid JSON: %s (line %d)", path, je.text, je.line);
    if (!json_is_object(f->header)) return err_set(err, TF_EFORMAT, "%s: header JSON is not an object", path);

    const uint8_t *data = base + 8 + n_header;
    size_t data_bytes = f->map_bytes - 8 - (size_t)n_header;
    size_t n_new = json_object_size(f->header);
    tf_st_tensor *grown = realloc(*tensors, ((size_t)*n_tensors + n_new + 1) * sizeof **tensors);
    if (!grown) return err_set(err, TF_ENOMEM, "%s: out of memory", path);
    *tensors = grown;
    tf_st_tensor *mine = grown + *n_tensors;
    size_t n_mine = 0;

    const char *key;
    json_t *v;
    json_object_foreach(f->header, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(v)) return err_set(err, TF_EFORMAT, "%s: __metadata__ is not an object", path);
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv) {
                if (!json_is_string(mv))
                    return err_set(err, TF_EFORMAT, "%s: __metadata__ value '" NAME_FMT "' is not a string", path, mk);
            }
            f->metadata = v;
            continue;
        }
        if ((rc = st_parse_tensor(path, key, v, data, data_bytes, &mine[n_mine], err)) < 0) return rc;
        n_mine++;
    }

    /* Sorted by start (then length), any overlap shows up between neighbours. */
    qsort(mine, n_mine, sizeof *mine, st_offset_cmp);
    for (size_t i = 1; i < n_mine; i++) {
        const char *prev_end = (const char *)mine[i - 1].data + mine[i - 1].n_bytes;
        if ((const char *)mine[i].data < prev_end)
            return err_set(err, TF_EFORMAT, "%s: tensors '" NAME_FMT "' and '" NAME_FMT "' overlap", path, mine[i - 1].name,
                           mine[i].name);
    }
    *n_tensors += (int)n_mine;
    return 0;
out:
    if (fd >= 0) close(fd);
    return rc;
}

// --- checkpoint ------------------------------------------------------------------------------

static int st_name_cmp(const void *a, const void *b) {
    return strcmp(((const tf_st_tensor *)a)->name, ((const tf_st_tensor *)b)->name);
}

/* Compares the string prefix+name (without building it) with s. */
static int st_cmp2(const char *prefix, const char *name, const char *s) {
    for (; *prefix; prefix++, s++)
        if (*prefix != *s) return (unsigned char)*prefix - (unsigned char)*s;
    return strcmp(name, s);
}

static const tf_st_tensor *st_bsearch(const tf_ckpt *c, const char *prefix, const char *name) {
    int lo = 0, hi = c->n_tensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int d = st_cmp2(prefix, name, c->tensors[mid].name);
        if (d == 0) return &c->tensors[mid];
        if (d < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const tf_st_tensor *ckpt_find(const tf_ckpt *c, const char *name, const char *const *prefixes) {
    if (!c || !name) return NULL;
    const tf_st_tensor *t = st_bsearch(c, "", name);
    for (int i = 0; !t && prefixes && prefixes[i]; i++) t = st_bsearch(c, prefixes[i], name);
    return t;
}

int ckpt_n_tensors(const tf_ckpt *c) {
    return c ? c->n_tensors : 0;
}

const tf_st_tensor *ckpt_tensor(const tf_ckpt *c, int i) {
    return c && i >= 0 && i < c->n_tensors ? &c->tensors[i] : NULL;
}

const char *ckpt_metadata(const tf_ckpt *c, const tf_st_tensor *t, const char *key) {
    if (!c || !t) return NULL;
    for (int i = 0; i < c->n_files; i++)
        if (c->files[i].path == t->file && c->files[i].metadata)
            return json_string_value(json_object_get(c->files[i].metadata, key));
    return NULL;
}

void ckpt_close(tf_ckpt *c) {
    if (!c) return;
    for (int i = 0; i < c->n_files; i++) st_file_close(&c->files[i]);
    free(c->files);
    free(c->tensors);
    free(c);
}

/* Sorts the table by name and refuses duplicates (possible across shards). */
static int ckpt_finish(tf_ckpt *c, tf_err *err) {
    qsort(c->tensors, (size_t)c->n_tensors, sizeof *c->tensors, st_name_cmp);
    for (int i = 1; i < c->n_tensors; i++)
        if (strcmp(c->tensors[i - 1].name, c->tensors[i].name) == 0)
            return err_set(err, TF_EFORMAT, "%s: tensor '" NAME_FMT "' also appears in %s", c->tensors[i].file,
                           c->tensors[i].name, c->tensors[i - 1].file);
    return 0;
}

static int ckpt_add_file(tf_ckpt *c, const char *path, tf_err *err) {
    st_file *grown = realloc(c->files, ((size_t)c->n_files + 1) * sizeof *grown);
    if (!grown) return err_set(err, TF_ENOMEM, "%s: out of memory", path);
    c->files = grown;
    int rc = st_file_load(&c->files[c->n_files], path, &c->tensors, &c->n_tensors, err);
    c->n_files++; /* counted even on failure so ckpt_close releases what was mapped */
    return rc;
}

int ckpt_open_file(const char *path, tf_ckpt **out, tf_err *err) {
    *out = NULL;
    tf_ckpt *c = calloc(1, sizeof *c);
    if (!c) return err_set(err, TF_ENOMEM, "%s: out of memory", path);
    int rc = ckpt_add_file(c, path, err);
    if (rc == 0) rc = ckpt_finish(c, err);
    if (rc < 0) {
        ckpt_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Shard names come from a file we do not trust: only plain names inside dir. */
static int st_plain_name(const char *s) {
    return s[0] && strchr(s, '/') == NULL && strchr(s, '\\') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int ckpt_open_index(tf_ckpt *c, const char *dir, const char *index_path, tf_err *err) {
    json_error_t je;
    json_t *root = json_load_file(index_path, JSON_REJECT_DUPLICATES, &je);
    if (!root) return err_set(err, TF_EFORMAT, "%s: not valid JSON: %s (line %d)", index_path, je.text, je.line);
    int rc = 0;
    char *shard_path = NULL;
    json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(map) || json_object_size(map) == 0) {
        rc = err_set(err, TF_EFORMAT, "%s: weight_map missing, empty or not an object", index_path);
        goto done;
    }
    const char *name;
    json_t *v;
    json_object_foreach(map, name, v) {
        const char *file = json_string_value(v);
        if (!file || !st_plain_name(file)) {
            rc = err_set(err, TF_EFORMAT, "%s: tensor '" NAME_FMT "': shard must be a plain file name in the directory",
                         index_path, name);
            goto done;
        }
        int seen = 0;
        for (int i = 0; i < c->n_files && !seen; i++) {
            const char *slash = strrchr(c->files[i].path, '/');
            seen = strcmp(slash ? slash + 1 : c->files[i].path, file) == 0;
        }
        if (seen) continue;
        if (!(shard_path = path_join(dir, file))) {
            rc = err_set(err, TF_ENOMEM, "%s: out of memory", index_path);
            goto done;
        }
        if ((rc = ckpt_add_file(c, shard_path, err)) < 0) goto done;
        free(shard_path);
        shard_path = NULL;
    }
    if ((rc = ckpt_finish(c, err)) < 0) goto done;
    /* Every tensor the index promises must be in the shard it names. */
    json_object_foreach(map, name, v) {
        const tf_st_tensor *t = st_bsearch(c, "", name);
        const char *file = json_string_value(v), *slash = t ? strrchr(t->file, '/') : NULL;
        if (!t || strcmp(slash ? slash + 1 : t->file, file) != 0) {
            rc = err_set(err, TF_EFORMAT, "%s: tensor '" NAME_FMT "' listed by %s is missing from it", file, name, index_path);
            goto done;
        }
    }
done:
    free(shard_path);
    json_decref(root);
    return rc;
}

int ckpt_open(const char *dir, tf_ckpt **out, tf_err *err) {
    *out = NULL;
    int rc = 0;
    char *single = path_join(dir, "model.safetensors");
    char *index = path_join(dir, "model.safetensors.index.json");
    tf_ckpt *c = calloc(1, sizeof *c);
    if (!single || !index || !c) {
        rc = err_set(err, TF_ENOMEM, "%s: out of memory", dir);
        goto done;
    }
    if (access(single, F_OK) == 0) {
        if ((rc = ckpt_add_file(c, single, err)) == 0) rc = ckpt_finish(c, err);
    } else if (access(index, F_OK) == 0) {
        rc = ckpt_open_index(c, dir, index, err);
    } else {
        rc = err_set(err, TF_ENOTFOUND, "%s: no model.safetensors or model.safetensors.index.json", dir);
    }
done:
    free(single);
    free(index);
    if (rc < 0) {
        ckpt_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

// --- reading ---------------------------------------------------------------------------------

int ckpt_read_f32(const tf_ckpt *c, const tf_st_tensor *t, int expect_n_dims, const int64_t *expect_shape,
                  float *dst, size_t n, tf_err *err) {
    (void)c;
    if (!t) return err_set(err, TF_EINVALID, "ckpt_read_f32: no tensor");
    char want[160], have[160];
    if (expect_n_dims >= 0) {
        int same = expect_n_dims == t->n_dims;
        for (int i = 0; same && i < t->n_dims; i++) same = expect_shape[i] == t->shape[i];
        if (!same)
            return err_set(err, TF_EFORMAT, "%s: tensor '" NAME_FMT "': expected shape %s, found %s", t->file, t->name,
                           st_shape_str(expect_n_dims, expect_shape, want, sizeof want),
                           st_shape_str(t->n_dims, t->shape, have, sizeof have));
    }
    size_t esize;
    switch (t->dtype) {
    case TF_ST_F32: esize = 4; break;
    case TF_ST_F16:
    case TF_ST_BF16: esize = 2; break;
    default:
        return err_set(err, TF_EUNSUPPORTED, "%s: tensor '" NAME_FMT "': dtype %s cannot be converted to fp32 (F32, F16, BF16 only)",
                       t->file, t->name, t->dtype_name);
    }
    if (t->n_bytes / esize != n)
        return err_set(err, TF_EINVALID, "%s: tensor '" NAME_FMT "': has %zu elements, caller expects %zu", t->file, t->name,
                       t->n_bytes / esize, n);
    /* The caller holds a copy afterwards; keeping the file pages resident as well would
     * double the load-time footprint (a 500 MB fp32 GPT-2 next to its int8 copy), so
     * pages are dropped as soon as a chunk is converted. MAP_PRIVATE pages we never
     * wrote re-read from the file if touched again, so this is invisible to readers. */
    const uint8_t *src = t->data;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t dropped = (uintptr_t)src & ~(page - 1);
    const size_t chunk = (size_t)1 << 18;
    for (size_t i = 0; i < n; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        if (t->dtype == TF_ST_F32) {
            memcpy(dst + i, src + 4 * i, 4 * k);
        } else {
            /* Data may be unaligned: stage through an aligned buffer. */
            uint16_t buf[2048];
            for (size_t j = i; j < i + k; j += 2048) {
                size_t m = i + k - j < 2048 ? i + k - j : 2048;
                memcpy(buf, src + 2 * j, 2 * m);
                if (t->dtype == TF_ST_F16) half_f16_to_f32_row(buf, dst + j, m);
                else half_bf16_to_f32_row(buf, dst + j, m);
            }
        }
        uintptr_t done = (uintptr_t)(src + (i + k) * esize);
        uintptr_t upto = i + k == n ? (done + page - 1) & ~(page - 1) : done & ~(page - 1);
        if (upto > dropped) {
            madvise((void *)dropped, upto - dropped, MADV_DONTNEED);
            dropped = upto;
        }
    }
    return 0;
}

int ckpt_load_f32(const tf_ckpt *c, const char *name, const char *const *prefixes, int n_dims,
                  int64_t d0, int64_t d1, float **out, tf_err *err) {
    *out = NULL;
    const tf_st_tensor *t = ckpt_find(c, name, prefixes);
    if (!t) return err_set(err, TF_ENOTFOUND, "checkpoint has no tensor \"%s\"", name);
    int64_t shape[2] = {d0, d1};
    size_t n = (size_t)d0 * (size_t)(n_dims == 2 ? d1 : 1);
    float *buf = malloc(sizeof(float) * (n > 0 ? n : 1));
    if (!buf) return err_set(err, TF_ENOMEM, "tensor %s", name);
    int rc = ckpt_read_f32(c, t, n_dims, shape, buf, n, err);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}
