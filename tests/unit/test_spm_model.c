/* The SentencePiece ModelProto reader: hand-encoded messages (fields, defaults, negative
 * ids, unknown fields skipped), malformed input refused, and the real t5-small
 * spiece.model from ../shared when present. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/spm_model.h"

typedef struct buf {
    uint8_t b[512];
    size_t n;
} buf;

static void varint(buf *o, uint64_t v) {
    do {
        uint8_t c = v & 0x7F;
        v >>= 7;
        o->b[o->n++] = (uint8_t)(c | (v ? 0x80 : 0));
    } while (v);
}
static void key(buf *o, int field, int wire) { varint(o, (uint64_t)field << 3 | (uint64_t)wire); }
static void bytes(buf *o, int field, const void *p, size_t n) {
    key(o, field, 2);
    varint(o, n);
    memcpy(o->b + o->n, p, n);
    o->n += n;
}
static void f32(buf *o, int field, float f) {
    key(o, field, 5);
    memcpy(o->b + o->n, &f, 4);
    o->n += 4;
}
static void piece(buf *o, const char *s, float score, int type) {
    buf p = {0};
    bytes(&p, 1, s, strlen(s));
    f32(&p, 2, score);
    if (type) key(&p, 3, 0), varint(&p, (uint64_t)type);
    bytes(o, 1, p.b, p.n);
}

START_TEST(hand_encoded_model) {
    buf m = {0};
    piece(&m, "<unk>", 0, SPM_UNKNOWN);
    piece(&m, "<s>", 0, SPM_CONTROL);
    piece(&m, "\xE2\x96\x81the", -3.5f, 0);
    piece(&m, "<0x41>", 0, SPM_BYTE);
    buf tr = {0};
    key(&tr, 3, 0), varint(&tr, SPM_MODEL_BPE);
    key(&tr, 35, 0), varint(&tr, 1);
    key(&tr, 42, 0), varint(&tr, (uint64_t)(int64_t)-1); /* eos_id -1: ten-byte varint */
    key(&tr, 43, 0), varint(&tr, 2);
    key(&tr, 99, 1), memset(tr.b + tr.n, 7, 8), tr.n += 8; /* unknown fixed64 field */
    bytes(&m, 2, tr.b, tr.n);
    buf nm = {0};
    bytes(&nm, 1, "identity", 8);
    bytes(&nm, 2, "\x04\x00\x00\x00xxxxAB", 10);
    key(&nm, 3, 0), varint(&nm, 0);
    bytes(&m, 3, nm.b, nm.n);
    bytes(&m, 77, "ignored", 7); /* unknown field */

    spm_model sm;
    tf_err err = {0};
    ck_assert_msg(spm_model_parse(m.b, m.n, "test", &sm, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(sm.n_pieces, 4);
    ck_assert_str_eq(sm.pieces[2].piece, "\xE2\x96\x81the");
    ck_assert_uint_eq(sm.pieces[2].len, 6);
    ck_assert(sm.pieces[2].score == -3.5f);
    ck_assert_int_eq(sm.pieces[2].type, SPM_NORMAL); /* the default */
    ck_assert_int_eq(sm.pieces[0].type, SPM_UNKNOWN);
    ck_assert_int_eq(sm.pieces[3].type, SPM_BYTE);
    ck_assert_int_eq(sm.model_type, SPM_MODEL_BPE);
    ck_assert_int_eq(sm.byte_fallback, 1);
    ck_assert_int_eq(sm.unk_id, 0); /* defaults */
    ck_assert_int_eq(sm.bos_id, 1);
    ck_assert_int_eq(sm.eos_id, -1);
    ck_assert_int_eq(sm.pad_id, 2);
    ck_assert_str_eq(sm.norm_name, "identity");
    ck_assert_uint_eq(sm.charsmap_len, 10);
    ck_assert_int_eq(sm.add_dummy_prefix, 0);
    ck_assert_int_eq(sm.remove_extra_whitespaces, 1);
    ck_assert_int_eq(sm.escape_whitespaces, 1);
    spm_model_close(&sm);
    spm_model_close(&sm); /* closing twice is harmless */
}
END_TEST

START_TEST(malformed_models_are_refused) {
    tf_err err = {0};
    spm_model sm;
    buf m = {0};
    piece(&m, "a", -1, 0);
    /* every truncation of a valid message is malformed or has no pieces */
    for (size_t n = 0; n + 1 < m.n; n++)
        ck_assert_int_eq(spm_model_parse(m.b, n, "t", &sm, &err), TF_EFORMAT);
    /* a length running past the end */
    const uint8_t over[] = {0x0A, 0x7F, 0x0A, 0x01, 'a'};
    ck_assert_int_eq(spm_model_parse(over, sizeof over, "t", &sm, &err), TF_EFORMAT);
    /* a piece that is not UTF-8 */
    buf bad = {0};
    piece(&bad, "\xC3", -1, 0);
    ck_assert_int_eq(spm_model_parse(bad.b, bad.n, "t", &sm, &err), TF_EFORMAT);
    ck_assert(strstr(err.msg, "UTF-8"));
    /* an unknown piece type, and an id outside the pieces */
    buf ty = {0};
    piece(&ty, "a", -1, 9);
    ck_assert_int_eq(spm_model_parse(ty.b, ty.n, "t", &sm, &err), TF_EFORMAT);
    buf id = {0};
    piece(&id, "a", -1, 0);
    buf tr = {0};
    key(&tr, 40, 0), varint(&tr, 5);
    bytes(&id, 2, tr.b, tr.n);
    ck_assert_int_eq(spm_model_parse(id.b, id.n, "t", &sm, &err), TF_EFORMAT);
    ck_assert(strstr(err.msg, "unk_id"));
    /* groups are not protobuf that sentencepiece writes */
    const uint8_t group[] = {0x0B};
    ck_assert_int_eq(spm_model_parse(group, 1, "t", &sm, &err), TF_EFORMAT);
    ck_assert_int_eq(spm_model_load("/nonexistent/spiece.model", &sm, &err), TF_EIO);
}
END_TEST

START_TEST(t5_small_spiece) {
    const char *path = "../shared/data/hf/t5-small/spiece.model";
    if (access(path, R_OK) != 0) {
        printf("test_spm_model: SKIP t5-small: %s is absent\n", path);
        return;
    }
    spm_model sm;
    tf_err err = {0};
    ck_assert_msg(spm_model_load(path, &sm, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(sm.n_pieces, 32000);
    ck_assert_int_eq(sm.model_type, SPM_MODEL_UNIGRAM);
    ck_assert_int_eq(sm.pad_id, 0);
    ck_assert_int_eq(sm.eos_id, 1);
    ck_assert_int_eq(sm.unk_id, 2);
    ck_assert_int_eq(sm.bos_id, -1);
    ck_assert_str_eq(sm.pieces[1].piece, "</s>");
    ck_assert_int_eq(sm.pieces[1].type, SPM_CONTROL);
    ck_assert_int_eq(sm.pieces[2].type, SPM_UNKNOWN);
    ck_assert_str_eq(sm.pieces[3].piece, "\xE2\x96\x81");
    ck_assert_str_eq(sm.pieces[8].piece, "\xE2\x96\x81the");
    ck_assert_str_eq(sm.norm_name, "nmt_nfkc");
    ck_assert(sm.charsmap_len > 1000);
    ck_assert(sm.add_dummy_prefix && sm.remove_extra_whitespaces && sm.escape_whitespaces);
    ck_assert_int_eq(sm.byte_fallback, 0);
    spm_model_close(&sm);
}
END_TEST

Suite *spm_model_suite(void) {
    Suite *s = suite_create("spm_model");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, hand_encoded_model);
    tcase_add_test(tc, malformed_models_are_refused);
    tcase_add_test(tc, t5_small_spiece);
    suite_add_tcase(s, tc);
    return s;
}
