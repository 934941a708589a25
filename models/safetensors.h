/* safetensors.h: a validated, read-only view of a Hugging Face checkpoint's tensors,
 * and a writer for tests and tools.
 *
 * Prefixes: st_ for one file (the writer), ckpt_ for a checkpoint directory, which
 * is either one model.safetensors or shards listed by model.safetensors.index.json
 * ("weight_map": {tensor name: file name}); like transformers, model.safetensors
 * wins when both exist.
 *
 * Files are mmap'd read-only. Everything a hostile file could lie about is checked
 * at open, before any tensor is handed out: header length against the file size
 * (and a 100 MB cap), the header JSON, every dtype/shape/data_offsets, size ==
 * numel * dtype size, no overlap between tensors, shard names (plain file names
 * only), tensors the index lists but the shard lacks, duplicate names. Tensor data
 * may be unaligned; readers go through memcpy. Every message names the file (and
 * the tensor where there is one).
 *
 * Error codes: TF_ENOTFOUND a checkpoint/shard file is missing; TF_EIO open/stat/
 * mmap/write failed; TF_EFORMAT malformed file or a shape that differs from the
 * expected one; TF_EUNSUPPORTED a dtype that cannot be converted to fp32;
 * TF_EINVALID wrong arguments (e.g. dst size); TF_ENOMEM.
 *
 *     tf_ckpt *ck;  tf_err err = {0};
 *     if (ckpt_open("models/gpt2", &ck, &err) < 0) return err.code;
 *     static const char *const pfx[] = {"transformer.", NULL};
 *     const tf_st_tensor *t = ckpt_find(ck, "wte.weight", pfx);
 *     int64_t shape[2] = {n_vocab, n_embd};
 *     rc = ckpt_read_f32(ck, t, 2, shape, wte, (size_t)n_vocab * n_embd, &err);
 *     ckpt_close(ck);   // after the weights are copied: releases all mappings
 *
 * Thread-safety: a tf_ckpt is read-only after ckpt_open; lookups and reads may
 * run concurrently. ckpt_close must not race with them.
 */
#ifndef TF_MODELS_SAFETENSORS_H
#define TF_MODELS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define TF_ST_MAX_DIMS 8
#define TF_ST_MAX_HEADER_BYTES ((uint64_t)100 * 1024 * 1024)

typedef enum tf_st_dtype { TF_ST_F32, TF_ST_F16, TF_ST_BF16, TF_ST_OTHER } tf_st_dtype;

typedef struct tf_st_tensor {
    const char *name;       /* owned by the checkpoint (view of its parsed header) */
    tf_st_dtype dtype;
    const char *dtype_name; /* as in the header, e.g. "F32", "I64"; owned by the checkpoint */
    int n_dims;             /* 0..8 */
    int64_t shape[TF_ST_MAX_DIMS];
    const void *data;       /* view into the mapping; data + n_bytes lies within the file */
    size_t n_bytes;
    const char *file;       /* path of the file it lives in (for messages); owned by the checkpoint */
} tf_st_tensor;

typedef struct tf_ckpt tf_ckpt;

/* dir/model.safetensors, else dir/model.safetensors.index.json and its shards. */
int ckpt_open(const char *dir, tf_ckpt **out, tf_err *err);
/* One safetensors file at an explicit path (fuzzing, tools). */
int ckpt_open_file(const char *path, tf_ckpt **out, tf_err *err);
void ckpt_close(tf_ckpt *c); /* unmaps everything; NULL ok */

/* Looks up `name`, then each prefix + name (prefixes: NULL-terminated, e.g.
 * {"transformer.", NULL}; the array itself may be NULL). NULL if absent. */
const tf_st_tensor *ckpt_find(const tf_ckpt *c, const char *name, const char *const *prefixes);
/* Tensors in name order; ckpt_tensor returns NULL outside 0..n-1. */
int ckpt_n_tensors(const tf_ckpt *c);
const tf_st_tensor *ckpt_tensor(const tf_ckpt *c, int i);
/* The header's "__metadata__" value for key in the file holding t (NULL if none). */
const char *ckpt_metadata(const tf_ckpt *c, const tf_st_tensor *t, const char *key);

/* Converts t (F32/F16/BF16) to fp32 into dst, which holds exactly n elements
 * (n must equal the element count). Checks n_dims/shape against expect
 * (expect_n_dims = -1 skips that); the error names the file, the tensor, the
 * expected and the actual shape. The tensor's file pages are dropped from memory
 * as they are converted (they re-read from the file if touched again), so loading
 * a model never holds more than ~1 MB of the file resident next to its copy. */
int ckpt_read_f32(const tf_ckpt *c, const tf_st_tensor *t, int expect_n_dims,
                  const int64_t *expect_shape, float *dst, size_t n, tf_err *err);
/* ckpt_find + ckpt_read_f32 into a new array: the tensor must have shape [d0] (n_dims 1)
 * or [d0, d1]. *out is malloc'd; free() it. TF_ENOTFOUND names the tensor. */
int ckpt_load_f32(const tf_ckpt *c, const char *name, const char *const *prefixes, int n_dims,
                  int64_t d0, int64_t d1, float **out, tf_err *err);

/* "[768, 2304]" into buf (always NUL-terminated); returns buf. */
const char *st_shape_str(int n_dims, const int64_t *shape, char *buf, size_t buf_size);
/* Bytes per element of a safetensors dtype name; 0 if unknown. */
size_t st_dtype_size(const char *dtype_name);

/* ---- writer ---------------------------------------------------------------------------- */

typedef struct tf_st_write_item {
    const char *name;
    tf_st_dtype dtype;  /* F32, F16 or BF16 */
    int n_dims;
    int64_t shape[TF_ST_MAX_DIMS];
    const float *data;  /* borrowed, numel elements; narrowing rounds to nearest even */
} tf_st_write_item;

/* Writes items in order, with __metadata__ {"format": "pt"} as torch does. */
int st_write(const char *path, const tf_st_write_item *items, int n_items, tf_err *err);

/* Supplies elements [first, first + n) of item `item`, called in file order
 * (items in order, ascending first). Returns 0 or a negative TF_E* code. */
typedef int (*st_fill_fn)(void *ctx, int item, size_t first, float *dst, size_t n);

/* Streaming form: item data fields are ignored and the data comes from fill, a
 * chunk at a time, so a large checkpoint never sits in memory whole. meta_kv is
 * a NULL-terminated key, value, key, value... list for __metadata__ (NULL: none). */
int st_write_stream(const char *path, const tf_st_write_item *items, int n_items,
                    const char *const *meta_kv, st_fill_fn fill, void *ctx, tf_err *err);

#endif
