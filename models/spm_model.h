/* spm_model.h: reader for SentencePiece's model file (spiece.model, tokenizer.model).
 *
 * The file is a serialized sentencepiece ModelProto. This module only decodes it into
 * plain C data -- the pieces with their scores and types, the trainer settings that
 * decide the algorithm and the special ids, and the normalizer settings -- and knows
 * nothing of how any algorithm encodes text, so the Unigram (T5) and BPE (Llama)
 * tokenizers both build on it. Unknown fields are skipped, as protobuf requires.
 * Defaults are the proto's own: model_type UNIGRAM, unk 0, bos 1, eos 2, pad -1,
 * add_dummy_prefix / remove_extra_whitespaces / escape_whitespaces true.
 *
 *     spm_model sm;  tf_err err = {0};
 *     if (spm_model_load("dir/spiece.model", &sm, &err) < 0) ...;
 *     for (int i = 0; i < sm.n_pieces; i++) use(sm.pieces[i].piece, sm.pieces[i].score);
 *     spm_model_close(&sm);
 *
 * Input policy: hostile files are expected; every length is checked against the
 * buffer, truncated or malformed messages are TF_EFORMAT naming the field, and a piece
 * that is not valid UTF-8 is refused. Thread-safety: read-only after load.
 */
#ifndef TF_MODELS_SPM_MODEL_H
#define TF_MODELS_SPM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* SentencePiece.Type */
typedef enum spm_piece_type {
    SPM_NORMAL = 1,
    SPM_UNKNOWN = 2,
    SPM_CONTROL = 3,
    SPM_USER_DEFINED = 4,
    SPM_UNUSED = 5,
    SPM_BYTE = 6,
} spm_piece_type;

/* TrainerSpec.ModelType */
typedef enum spm_model_type {
    SPM_MODEL_UNIGRAM = 1,
    SPM_MODEL_BPE = 2,
    SPM_MODEL_WORD = 3,
    SPM_MODEL_CHAR = 4,
} spm_model_type;

typedef struct spm_piece {
    const char *piece; /* view into the model's arena, NUL-terminated UTF-8 */
    uint32_t len;
    float score;
    int type;          /* spm_piece_type */
} spm_piece;

typedef struct spm_model {
    spm_piece *pieces; /* owned, [n_pieces]; the index is the id */
    int n_pieces;
    char *arena;       /* owned: the piece strings */
    /* trainer_spec */
    int model_type;    /* spm_model_type */
    int byte_fallback;
    int unk_id, bos_id, eos_id, pad_id; /* -1 = none */
    /* normalizer_spec */
    char *norm_name;           /* owned, "" when absent (e.g. "nmt_nfkc") */
    uint8_t *charsmap;         /* owned, precompiled_charsmap bytes, NULL when empty */
    size_t charsmap_len;
    int add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
} spm_model;

/* Reads and parses path (at most 64 MiB). */
int spm_model_load(const char *path, spm_model *out, tf_err *err);
/* Parses a buffer; `what` names it in messages. On error *out is left closed. */
int spm_model_parse(const uint8_t *buf, size_t len, const char *what, spm_model *out, tf_err *err);
void spm_model_close(spm_model *m); /* zeroes it; a closed or zeroed model is a no-op */

#endif
