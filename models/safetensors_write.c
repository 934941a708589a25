/* safetensors_write.c: writes safetensors files (st_write, st_write_stream): the header
 * padded to a multiple of 8 bytes so the data is aligned, then each tensor's data filled
 * by the caller's callback in chunks, so a converter never holds a whole model in memory
 * twice. A failed write removes the partial file.
 */
#include "models/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/half.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors_write.c assumes a little-endian host"
#endif

/* Tensor names in messages are cut so the file name and the reason still fit. */
#define NAME_FMT "%.80s"


static const char *st_dtype_str(tf_st_dtype d) {
    return d == TF_ST_F32 ? "F32" : d == TF_ST_F16 ? "F16" : d == TF_ST_BF16 ? "BF16" : NULL;
}

static int64_t st_item_numel(const tf_st_write_item *it) {
    int64_t n = 1;
    for (int i = 0; i < it->n_dims; i++) n *= it->shape[i];
    return n;
}

/* Builds the header text (padded with spaces to a multiple of 8 so data is aligned). */
static char *st_header(const char *path, const tf_st_write_item *items, int n_items, const char *const *meta_kv,
                       size_t *len, tf_err *err) {
    json_t *root = json_object();
    char *text = NULL;
    if (!root) goto nomem;
    if (meta_kv && meta_kv[0]) {
        json_t *m = json_object();
        if (json_object_set_new(root, "__metadata__", m) < 0) goto nomem;
        for (int i = 0; meta_kv[i] && meta_kv[i + 1]; i += 2)
            if (json_object_set_new(m, meta_kv[i], json_string(meta_kv[i + 1])) < 0) goto nomem;
    }
    uint64_t off = 0;
    for (int i = 0; i < n_items; i++) {
        const tf_st_write_item *it = &items[i];
        if (!st_dtype_str(it->dtype) || it->n_dims < 0 || it->n_dims > TF_ST_MAX_DIMS || !it->name) {
            json_decref(root);
            err_set(err, TF_EINVALID, "%s: item %d: bad dtype, rank or name", path, i);
            return NULL;
        }
        json_t *shape = json_array();
        for (int d = 0; d < it->n_dims; d++) json_array_append_new(shape, json_integer(it->shape[d]));
        uint64_t bytes = (uint64_t)st_item_numel(it) * (it->dtype == TF_ST_F32 ? 4 : 2);
        json_t *e = json_pack("{s:s, s:o, s:[I,I]}", "dtype", st_dtype_str(it->dtype), "shape", shape, "data_offsets",
                              (json_int_t)off, (json_int_t)(off + bytes));
        if (!e || json_object_set_new(root, it->name, e) < 0) goto nomem;
        off += bytes;
    }
    text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text) goto nomem;
    size_t n = strlen(text), padded = (n + 7) & ~(size_t)7;
    char *p = realloc(text, padded + 1);
    if (!p) {
        free(text);
        err_set(err, TF_ENOMEM, "%s: out of memory building the header", path);
        return NULL;
    }
    memset(p + n, ' ', padded - n);
    p[padded] = 0;
    *len = padded;
    return p;
nomem:
    json_decref(root);
    err_set(err, TF_ENOMEM, "%s: out of memory building the header", path);
    return NULL;
}

int st_write_stream(const char *path, const tf_st_write_item *items, int n_items, const char *const *meta_kv,
                    st_fill_fn fill, void *ctx, tf_err *err) {
    enum { CHUNK = 1 << 16 };
    size_t n_header = 0;
    char *header = st_header(path, items, n_items, meta_kv, &n_header, err);
    if (!header) return err ? err->code : TF_ENOMEM;
    int rc = 0;
    float *fbuf = malloc(CHUNK * sizeof *fbuf);
    uint16_t *hbuf = malloc(CHUNK * sizeof *hbuf);
    FILE *fp = fopen(path, "wb");
    if (!fbuf || !hbuf) {
        rc = err_set(err, TF_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    if (!fp) {
        rc = err_set(err, TF_EIO, "%s: cannot create: %s", path, strerror(errno));
        goto done;
    }
    uint64_t n_le = n_header; /* little-endian host */
    if (fwrite(&n_le, 8, 1, fp) != 1 || fwrite(header, 1, n_header, fp) != n_header) goto write_fail;
    for (int i = 0; i < n_items; i++) {
        size_t numel = (size_t)st_item_numel(&items[i]);
        for (size_t first = 0; first < numel; first += CHUNK) {
            size_t k = numel - first < CHUNK ? numel - first : CHUNK;
            if ((rc = fill(ctx, i, first, fbuf, k)) < 0) {
                err_set(err, rc, "%s: tensor '" NAME_FMT "': data source failed", path, items[i].name);
                goto done;
            }
            size_t ok;
            if (items[i].dtype == TF_ST_F32) {
                ok = fwrite(fbuf, 4, k, fp);
            } else {
                if (items[i].dtype == TF_ST_F16) half_f32_to_f16_row(fbuf, hbuf, k);
                else half_f32_to_bf16_row(fbuf, hbuf, k);
                ok = fwrite(hbuf, 2, k, fp);
            }
            if (ok != k) goto write_fail;
        }
    }
    if (fclose(fp) != 0) {
        fp = NULL;
        goto write_fail;
    }
    fp = NULL;
    goto done;
write_fail:
    rc = err_set(err, TF_EIO, "%s: write failed: %s", path, strerror(errno));
done:
    if (fp) fclose(fp);
    if (rc < 0) unlink(path);
    free(fbuf);
    free(hbuf);
    free(header);
    return rc;
}

static int st_fill_from_items(void *ctx, int item, size_t first, float *dst, size_t n) {
    const tf_st_write_item *items = ctx;
    memcpy(dst, items[item].data + first, n * sizeof *dst);
    return 0;
}

int st_write(const char *path, const tf_st_write_item *items, int n_items, tf_err *err) {
    static const char *const meta[] = {"format", "pt", NULL};
    return st_write_stream(path, items, n_items, meta, st_fill_from_items, (void *)items, err);
}
