/* tok_spm_bpe_impl.h: the SentencePiece-BPE tables shared by their loader
 * (tok_spm_bpe.c) and the encoder (tok_spm_bpe_encode.c). Internal to models/. */
#ifndef TF_MODELS_TOK_SPM_BPE_IMPL_H
#define TF_MODELS_TOK_SPM_BPE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "models/tok_spm_bpe.h"

#define META "\xE2\x96\x81" /* U+2581, SentencePiece's visible space */
#define META_LEN 3

struct tok_spm {
    int32_t n_ids;
    uint32_t *off, *len;         /* owned, [n_ids]: piece in arena, UINT32_MAX off for holes */
    uint32_t *dec_off, *dec_len; /* owned, [n_ids]: decoded bytes in arena */
    char *arena;                 /* owned */
    size_t arena_len, arena_cap;
    int32_t *slots;              /* owned, piece -> id, open addressing, -1 empty */
    uint32_t slot_mask;
    uint64_t *pair_key;          /* owned, (left << 32 | right), UINT64_MAX empty */
    int32_t *pair_rank, *pair_id;
    uint32_t pair_mask, n_pairs;
    int32_t byte_id[256];        /* <0xNN> ids, -1 when absent */
    int32_t unk_id;              /* -1 when none */
    int byte_fallback, fuse_unk, ignore_merges;
    int prepend;                 /* 0 never, 1 every segment, 2 only a segment at the text start */
    int prepend_always_doubles;  /* legacy Prepend normalizer: "▁" even before a leading "▁" */
    int split;                   /* Metaspace split: one word per "▁" */
    int strip_lead;
    int escape;                  /* spaces become "▁" (SentencePiece escape_whitespaces) */
};

/* The merge of (a, b): its rank, and its id in *merged; -1 when a and b do not merge. */
int32_t spm_pair_find(const tok_spm *t, int32_t a, int32_t b, int32_t *merged);

#endif
