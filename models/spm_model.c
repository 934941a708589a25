/* DESIGN: a tiny protobuf wire-format walker (varint, fixed32, fixed64, length-
 * delimited) and three message decoders. Two passes over the pieces: the first counts
 * them and sizes the arena, so the second never reallocates and views stay valid. */
#include "models/spm_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/unicode.h"

#define SPM_MAX_FILE_BYTES ((long)64 << 20)
#define SPM_MAX_PIECES (1 << 22)

typedef struct pb {
    const uint8_t *p, *end;
} pb;

typedef struct pb_field {
    uint32_t num;
    int wire;
    uint64_t v;          /* varint / fixed value */
    const uint8_t *data; /* length-delimited payload */
    size_t len;
} pb_field;

static int pb_varint(pb *b, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end) return -1;
        uint8_t c = *b->p++;
        v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Next field, or 0 at the end of the message; -1 when malformed. */
static int pb_next(pb *b, pb_field *f) {
    if (b->p >= b->end) return 0;
    uint64_t key;
    if (pb_varint(b, &key) < 0 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX) return -1;
    f->num = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    f->data = NULL;
    f->len = 0;
    switch (f->wire) {
    case 0:
        return pb_varint(b, &f->v) < 0 ? -1 : 1;
    case 1:
        if (b->end - b->p < 8) return -1;
        memcpy(&f->v, b->p, 8);
        b->p += 8;
        return 1;
    case 5: {
        if (b->end - b->p < 4) return -1;
        uint32_t w;
        memcpy(&w, b->p, 4);
        f->v = w;
        b->p += 4;
        return 1;
    }
    case 2: {
        uint64_t n;
        if (pb_varint(b, &n) < 0 || n > (uint64_t)(b->end - b->p)) return -1;
        f->data = b->p;
        f->len = (size_t)n;
        b->p += n;
        return 1;
    }
    default: /* groups (3, 4) are not used by sentencepiece */
        return -1;
    }
}

static int32_t as_int32(uint64_t v) { return (int32_t)(uint32_t)v; } /* negatives are sign-extended */

static float as_float(uint64_t v) {
    uint32_t w = (uint32_t)v;
    float f;
    memcpy(&f, &w, 4);
    return f;
}

/* ---- messages ----------------------------------------------------------------------- */

static int parse_piece(const uint8_t *data, size_t len, spm_piece *pc, char **arena_pos,
                       const char *what, int index, tf_err *err) {
    pb b = {data, data + len};
    pb_field f;
    int r, have_piece = 0;
    pc->score = 0;
    pc->type = SPM_NORMAL;
    while ((r = pb_next(&b, &f)) > 0) {
        if (f.num == 1 && f.wire == 2) {
            if (uni_valid_prefix(f.data, f.len) != f.len || memchr(f.data, 0, f.len))
                return err_set(err, TF_EFORMAT, "%s: piece %d is not valid UTF-8", what, index);
            memcpy(*arena_pos, f.data, f.len);
            (*arena_pos)[f.len] = 0;
            pc->piece = *arena_pos;
            pc->len = (uint32_t)f.len;
            *arena_pos += f.len + 1;
            have_piece = 1;
        } else if (f.num == 2 && f.wire == 5) {
            pc->score = as_float(f.v);
        } else if (f.num == 3 && f.wire == 0) {
            if (f.v < SPM_NORMAL || f.v > SPM_BYTE)
                return err_set(err, TF_EFORMAT, "%s: piece %d has unknown type %llu", what, index,
                               (unsigned long long)f.v);
            pc->type = (int)f.v;
        }
    }
    if (r < 0) return err_set(err, TF_EFORMAT, "%s: piece %d is malformed", what, index);
    if (!have_piece) return err_set(err, TF_EFORMAT, "%s: piece %d has no string", what, index);
    return 0;
}

static int parse_trainer(const uint8_t *data, size_t len, spm_model *m, const char *what,
                         tf_err *err) {
    pb b = {data, data + len};
    pb_field f;
    int r;
    while ((r = pb_next(&b, &f)) > 0) {
        if (f.wire != 0) continue;
        switch (f.num) {
        case 3: m->model_type = (int)f.v; break;
        case 35: m->byte_fallback = f.v != 0; break;
        case 40: m->unk_id = as_int32(f.v); break;
        case 41: m->bos_id = as_int32(f.v); break;
        case 42: m->eos_id = as_int32(f.v); break;
        case 43: m->pad_id = as_int32(f.v); break;
        default: break;
        }
    }
    return r < 0 ? err_set(err, TF_EFORMAT, "%s: trainer_spec is malformed", what) : 0;
}

static int parse_normalizer(const uint8_t *data, size_t len, spm_model *m, const char *what,
                            tf_err *err) {
    pb b = {data, data + len};
    pb_field f;
    int r;
    while ((r = pb_next(&b, &f)) > 0) {
        if (f.num == 1 && f.wire == 2) {
            char *s = malloc(f.len + 1);
            if (!s) return err_set(err, TF_ENOMEM, "%s: normalizer name", what);
            memcpy(s, f.data, f.len);
            s[f.len] = 0;
            free(m->norm_name);
            m->norm_name = s;
        } else if (f.num == 2 && f.wire == 2) {
            free(m->charsmap);
            m->charsmap = NULL;
            m->charsmap_len = 0;
            if (f.len) {
                if (!(m->charsmap = malloc(f.len))) return err_set(err, TF_ENOMEM, "%s: charsmap", what);
                memcpy(m->charsmap, f.data, f.len);
                m->charsmap_len = f.len;
            }
        } else if (f.wire == 0 && f.num == 3) {
            m->add_dummy_prefix = f.v != 0;
        } else if (f.wire == 0 && f.num == 4) {
            m->remove_extra_whitespaces = f.v != 0;
        } else if (f.wire == 0 && f.num == 5) {
            m->escape_whitespaces = f.v != 0;
        }
    }
    return r < 0 ? err_set(err, TF_EFORMAT, "%s: normalizer_spec is malformed", what) : 0;
}

int spm_model_parse(const uint8_t *buf, size_t len, const char *what, spm_model *out,
                    tf_err *err) {
    memset(out, 0, sizeof *out);
    out->model_type = SPM_MODEL_UNIGRAM;
    out->unk_id = 0;
    out->bos_id = 1;
    out->eos_id = 2;
    out->pad_id = -1;
    out->add_dummy_prefix = out->remove_extra_whitespaces = out->escape_whitespaces = 1;
    int rc = 0;

    /* pass 1: count pieces and their bytes */
    pb b = {buf, buf + len};
    pb_field f;
    int r;
    size_t n_pieces = 0, bytes = 0;
    while ((r = pb_next(&b, &f)) > 0)
        if (f.num == 1 && f.wire == 2) {
            n_pieces++;
            bytes += f.len + 1; /* the piece string is shorter than its message */
        }
    if (r < 0) {
        rc = err_set(err, TF_EFORMAT, "%s: not a SentencePiece model (malformed protobuf)", what);
        goto fail;
    }
    if (n_pieces == 0 || n_pieces > SPM_MAX_PIECES) {
        rc = err_set(err, TF_EFORMAT, "%s: %zu pieces (want 1 to %d)", what, n_pieces, SPM_MAX_PIECES);
        goto fail;
    }
    out->pieces = calloc(n_pieces, sizeof *out->pieces);
    out->arena = malloc(bytes);
    if (!out->pieces || !out->arena) {
        rc = err_set(err, TF_ENOMEM, "%s: %zu pieces", what, n_pieces);
        goto fail;
    }

    /* pass 2: decode */
    char *pos = out->arena;
    b = (pb){buf, buf + len};
    while ((r = pb_next(&b, &f)) > 0) {
        if (f.wire != 2) continue;
        if (f.num == 1)
            rc = parse_piece(f.data, f.len, &out->pieces[out->n_pieces], &pos, what, out->n_pieces,
                             err), out->n_pieces++;
        else if (f.num == 2)
            rc = parse_trainer(f.data, f.len, out, what, err);
        else if (f.num == 3)
            rc = parse_normalizer(f.data, f.len, out, what, err);
        if (rc < 0) goto fail;
    }
    if (!out->norm_name && !(out->norm_name = calloc(1, 1))) {
        rc = err_set(err, TF_ENOMEM, "%s", what);
        goto fail;
    }
    int *ids[] = {&out->unk_id, &out->bos_id, &out->eos_id, &out->pad_id};
    static const char *const id_names[] = {"unk_id", "bos_id", "eos_id", "pad_id"};
    for (int i = 0; i < 4; i++)
        if (*ids[i] < -1 || *ids[i] >= out->n_pieces) {
            rc = err_set(err, TF_EFORMAT, "%s: trainer_spec.%s %d is outside [-1, %d)", what,
                         id_names[i], *ids[i], out->n_pieces);
            goto fail;
        }
    return 0;
fail:
    spm_model_close(out);
    return rc;
}

int spm_model_load(const char *path, spm_model *out, tf_err *err) {
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) return err_set(err, TF_EIO, "%s: %s", path, strerror(errno));
    long size = -1;
    if (fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
    if (size <= 0 || size > SPM_MAX_FILE_BYTES || fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return err_set(err, TF_EFORMAT, "%s: empty, unreadable or larger than %ld bytes", path,
                       SPM_MAX_FILE_BYTES);
    }
    uint8_t *buf = malloc((size_t)size);
    if (!buf) {
        fclose(fp);
        return err_set(err, TF_ENOMEM, "%s", path);
    }
    size_t got = fread(buf, 1, (size_t)size, fp);
    fclose(fp);
    int rc = got == (size_t)size ? spm_model_parse(buf, got, path, out, err)
                                 : err_set(err, TF_EIO, "%s: short read", path);
    free(buf);
    return rc;
}

void spm_model_close(spm_model *m) {
    if (!m) return;
    free(m->pieces);
    free(m->arena);
    free(m->norm_name);
    free(m->charsmap);
    memset(m, 0, sizeof *m);
}
