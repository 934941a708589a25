/* Tests for models/safetensors.c. Malformed files are made here, in a fresh temporary
 * directory per test; each must be refused with the right code and a message naming
 * the file. Run under valgrind or ASan to also prove nothing is read out of bounds. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/safetensors.h"

static char tmp_dir[64];

static void tmp_setup(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/tf_st_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static void tmp_teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *tmp_path(const char *name, char *buf, size_t n) {
    snprintf(buf, n, "%s/%s", tmp_dir, name);
    return buf;
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* A safetensors file: u64 header_len (as given), the header text, n_data bytes of data. */
static void write_st(const char *path, uint64_t header_len, const char *header, size_t n_data) {
    size_t n_header = strlen(header);
    unsigned char *buf = calloc(1, 8 + n_header + n_data + 1);
    memcpy(buf, &header_len, 8);
    memcpy(buf + 8, header, n_header);
    for (size_t i = 0; i < n_data; i++) buf[8 + n_header + i] = (unsigned char)i;
    write_bytes(path, buf, 8 + n_header + n_data);
    free(buf);
}

static void write_st_auto(const char *path, const char *header, size_t n_data) {
    write_st(path, strlen(header), header, n_data);
}

static void expect_open_fails(const char *path, int code) {
    tf_ckpt *c = (tf_ckpt *)1;
    tf_err err = {0};
    int rc = ckpt_open_file(path, &c, &err);
    ck_assert_msg(rc == code, "%s: rc %s, want %s (%s)", path, err_name(rc), err_name(code), err.msg);
    ck_assert_int_eq(err.code, code);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
}

// --- malformed files -------------------------------------------------------------------------

typedef struct bad_case {
    const char *file;
    const char *header;   /* NULL: header_len alone, no text */
    int64_t header_len;   /* -1: strlen(header) */
    size_t n_data;
    int code;
    const char *needle;   /* must also appear in the message (NULL: only the file) */
} bad_case;

#define T1(body) "{\"t\":" body "}"
static const bad_case bad_cases[] = {
    {.file = "len_past_file.st", .header = "{}", .header_len = 100, .code = TF_EFORMAT, .needle = "header length"},
    {.file = "len_huge.st", .header = "{}", .header_len = INT64_MIN /* 2^63 */, .code = TF_EFORMAT, .needle = "header length"},
    {.file = "bad_json.st", .header = "{\"a\": ", .header_len = -1, .code = TF_EFORMAT, .needle = "JSON"},
    {.file = "trailing.st", .header = "{} x", .header_len = -1, .code = TF_EFORMAT, .needle = "JSON"},
    {.file = "not_object.st", .header = "[1, 2]", .header_len = -1, .code = TF_EFORMAT, .needle = "not an object"},
    {.file = "entry_not_object.st", .header = T1("3"), .header_len = -1, .code = TF_EFORMAT, .needle = "'t'"},
    {.file = "no_shape.st", .header = T1("{\"dtype\":\"F32\",\"data_offsets\":[0,4]}"), .header_len = -1, .n_data = 4,
     .code = TF_EFORMAT, .needle = "shape"},
    {.file = "neg_shape.st", .header = T1("{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}"), .header_len = -1,
     .n_data = 4, .code = TF_EFORMAT, .needle = "shape[0]"},
    {.file = "real_shape.st", .header = T1("{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}"), .header_len = -1,
     .n_data = 4, .code = TF_EFORMAT, .needle = "shape[0]"},
    {.file = "str_shape.st", .header = T1("{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}"), .header_len = -1,
     .n_data = 4, .code = TF_EFORMAT, .needle = "shape"},
    {.file = "nine_dims.st", .header = T1("{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}"),
     .header_len = -1, .n_data = 4, .code = TF_EFORMAT, .needle = "dimensions"},
    {.file = "past_end.st", .header = T1("{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}"), .header_len = -1,
     .n_data = 12, .code = TF_EFORMAT, .needle = "past the data"},
    {.file = "inverted.st", .header = T1("{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}"), .header_len = -1,
     .n_data = 12, .code = TF_EFORMAT, .needle = "inverted"},
    {.file = "neg_offset.st", .header = T1("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}"), .header_len = -1,
     .n_data = 12, .code = TF_EFORMAT, .needle = "data_offsets"},
    {.file = "one_offset.st", .header = T1("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}"), .header_len = -1,
     .n_data = 12, .code = TF_EFORMAT, .needle = "data_offsets"},
    {.file = "size_mismatch.st", .header = T1("{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}"),
     .header_len = -1, .n_data = 16, .code = TF_EFORMAT, .needle = "needs 16"},
    {.file = "overlap.st",
     .header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[6,10]}}",
     .header_len = -1, .n_data = 16, .code = TF_EFORMAT, .needle = "overlap"},
    {.file = "same_range.st",
     .header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     .header_len = -1, .n_data = 8, .code = TF_EFORMAT, .needle = "overlap"},
    {.file = "shape_overflow.st",
     .header = T1("{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,0]}"),
     .header_len = -1, .code = TF_EFORMAT, .needle = "overflow"},
    {.file = "bytes_overflow.st", /* numel fits in 64 bits, numel * 4 does not */
     .header = T1("{\"dtype\":\"F32\",\"shape\":[4611686018427387905],\"data_offsets\":[0,4]}"), .header_len = -1,
     .n_data = 4, .code = TF_EFORMAT, .needle = "overflow"},
    {.file = "dtype_number.st", .header = T1("{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}"), .header_len = -1,
     .n_data = 4, .code = TF_EFORMAT, .needle = "dtype"},
    {.file = "dup_key.st",
     .header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     .header_len = -1, .n_data = 8, .code = TF_EFORMAT, .needle = "duplicate"},
    {.file = "meta_not_str.st", .header = "{\"__metadata__\":{\"format\":1}}", .header_len = -1, .code = TF_EFORMAT,
     .needle = "__metadata__"},
    {.file = "len_zero.st", .header = "", .header_len = 0, .n_data = 8, .code = TF_EFORMAT, .needle = "JSON"},
};

START_TEST(malformed_file_is_refused) {
    const bad_case *bc = &bad_cases[_i];
    char path[128];
    tmp_path(bc->file, path, sizeof path);
    write_st(path, bc->header_len == -1 ? strlen(bc->header) : (uint64_t)bc->header_len, bc->header, bc->n_data);
    expect_open_fails(path, bc->code);
    tf_ckpt *c = NULL;
    tf_err err = {0};
    ckpt_open_file(path, &c, &err);
    ck_assert_msg(strstr(err.msg, bc->needle) != NULL, "%s: '%s' not in: %s", bc->file, bc->needle, err.msg);
}
END_TEST

START_TEST(short_files_are_refused) {
    char path[128];
    write_bytes(tmp_path("empty.st", path, sizeof path), "", 0);
    expect_open_fails(path, TF_EFORMAT);
    write_bytes(tmp_path("five.st", path, sizeof path), "\x02\0\0\0\0", 5); /* truncated length field */
    expect_open_fails(path, TF_EFORMAT);
    expect_open_fails(tmp_path("absent.st", path, sizeof path), TF_ENOTFOUND);
    expect_open_fails(tmp_dir, TF_EFORMAT); /* a directory is not a regular file */
}
END_TEST

/* A correct file cut short: the data section no longer holds the last tensor. */
START_TEST(truncated_data_section_is_refused) {
    char path[128];
    float x[6] = {1, 2, 3, 4, 5, 6};
    tf_st_write_item it[2] = {{.name = "a", .dtype = TF_ST_F32, .n_dims = 1, .shape = {2}, .data = x},
                              {.name = "b", .dtype = TF_ST_F32, .n_dims = 1, .shape = {4}, .data = x + 2}};
    tf_err err = {0};
    ck_assert_int_eq(st_write(tmp_path("cut.st", path, sizeof path), it, 2, &err), 0);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(truncate(path, sb.st_size - 1), 0);
    expect_open_fails(path, TF_EFORMAT);
}
END_TEST

// --- sharded checkpoints ---------------------------------------------------------------------

static void write_shard(const char *name, const char *tensor, float v) {
    char path[128];
    float x[2] = {v, v};
    tf_st_write_item it = {.name = tensor, .dtype = TF_ST_F32, .n_dims = 1, .shape = {2}, .data = x};
    tf_err err = {0};
    ck_assert_int_eq(st_write(tmp_path(name, path, sizeof path), &it, 1, &err), 0);
}

static void write_index(const char *json) {
    char path[128];
    write_bytes(tmp_path("model.safetensors.index.json", path, sizeof path), json, strlen(json));
}

static void expect_dir_fails(int code, const char *needle) {
    tf_ckpt *c = NULL;
    tf_err err = {0};
    int rc = ckpt_open(tmp_dir, &c, &err);
    ck_assert_msg(rc == code, "rc %s, want %s (%s)", err_name(rc), err_name(code), err.msg);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "'%s' not in: %s", needle, err.msg);
}

START_TEST(sharded_checkpoint_loads) {
    write_shard("s1.safetensors", "transformer.wte.weight", 1.0f);
    write_shard("s2.safetensors", "transformer.wpe.weight", 2.0f);
    write_index("{\"metadata\":{\"total_size\":16},\"weight_map\":{\"transformer.wte.weight\":\"s1.safetensors\","
                "\"transformer.wpe.weight\":\"s2.safetensors\"}}");
    tf_ckpt *c = NULL;
    tf_err err = {0};
    ck_assert_msg(ckpt_open(tmp_dir, &c, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ckpt_n_tensors(c), 2);
    static const char *const pfx[] = {"transformer.", NULL};
    const tf_st_tensor *t = ckpt_find(c, "wpe.weight", pfx);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(strstr(t->file, "s2.safetensors"));
    float got[2];
    ck_assert_int_eq(ckpt_read_f32(c, t, 1, (int64_t[]){2}, got, 2, &err), 0);
    ck_assert(got[0] == 2.0f && got[1] == 2.0f);
    ck_assert_ptr_null(ckpt_find(c, "wpe.weight", NULL));
    ckpt_close(c);
}
END_TEST

START_TEST(index_with_missing_shard_is_refused) {
    write_shard("s1.safetensors", "a", 1.0f);
    write_index("{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s9.safetensors\"}}");
    expect_dir_fails(TF_ENOTFOUND, "s9.safetensors");
}
END_TEST

START_TEST(index_with_path_traversal_is_refused) {
    write_shard("s1.safetensors", "a", 1.0f);
    write_index("{\"weight_map\":{\"a\":\"../s1.safetensors\"}}");
    expect_dir_fails(TF_EFORMAT, "model.safetensors.index.json");
    write_index("{\"weight_map\":{\"a\":\"/etc/passwd\"}}");
    expect_dir_fails(TF_EFORMAT, "plain file name");
    write_index("{\"weight_map\":{\"a\":\"..\"}}");
    expect_dir_fails(TF_EFORMAT, "plain file name");
}
END_TEST

START_TEST(index_tensor_missing_from_shard_is_refused) {
    write_shard("s1.safetensors", "a", 1.0f);
    write_shard("s2.safetensors", "b", 1.0f);
    write_index("{\"weight_map\":{\"a\":\"s1.safetensors\",\"c\":\"s1.safetensors\",\"b\":\"s2.safetensors\"}}");
    expect_dir_fails(TF_EFORMAT, "'c'");
}
END_TEST

START_TEST(index_tensor_in_two_shards_is_refused) {
    write_shard("s1.safetensors", "a", 1.0f);
    write_shard("s2.safetensors", "a", 2.0f);
    write_index("{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\"}}");
    expect_dir_fails(TF_EFORMAT, "also appears");
}
END_TEST

START_TEST(bad_index_json_is_refused) {
    write_index("{\"weight_map\": 3}");
    expect_dir_fails(TF_EFORMAT, "weight_map");
    write_index("{\"weight_map\":");
    expect_dir_fails(TF_EFORMAT, "model.safetensors.index.json");
}
END_TEST

START_TEST(empty_directory_is_not_found) {
    expect_dir_fails(TF_ENOTFOUND, tmp_dir);
}
END_TEST

// --- round trips -----------------------------------------------------------------------------

START_TEST(write_read_round_trip) {
    char path[128];
    /* Representable in every dtype (few significant bits, in range). */
    float a[6] = {0.0f, -1.5f, 0.25f, 3.0f, -0.0078125f, 96.0f};
    /* F16 ties: 1+2^-11 is halfway between 1 and 1+2^-10 (even: 1); 1+3*2^-11 is
     * halfway between 1+2^-10 and 1+2^-9 (even: 1+2^-9). Same idea for BF16 with 2^-8. */
    float h[3] = {1.0f + 0x1p-11f, 1.0f + 0x3p-11f, 70000.0f};
    float b[3] = {1.0f + 0x1p-8f, 1.0f + 0x3p-8f, 1e30f};
    float scalar = 42.0f;
    tf_st_write_item items[] = {
        {.name = "transformer.a32", .dtype = TF_ST_F32, .n_dims = 2, .shape = {2, 3}, .data = a},
        {.name = "a16", .dtype = TF_ST_F16, .n_dims = 2, .shape = {3, 2}, .data = a},
        {.name = "abf", .dtype = TF_ST_BF16, .n_dims = 1, .shape = {6}, .data = a},
        {.name = "h", .dtype = TF_ST_F16, .n_dims = 1, .shape = {3}, .data = h},
        {.name = "b", .dtype = TF_ST_BF16, .n_dims = 1, .shape = {3}, .data = b},
        {.name = "scalar", .dtype = TF_ST_F32, .n_dims = 0, .data = &scalar},
        {.name = "empty", .dtype = TF_ST_F16, .n_dims = 2, .shape = {0, 4}, .data = NULL},
    };
    tf_err err = {0};
    ck_assert_msg(st_write(tmp_path("model.safetensors", path, sizeof path), items, 7, &err) == 0, "%s", err.msg);

    /* The header is padded so data starts 8-byte aligned, as torch writes it. */
    FILE *f = fopen(path, "rb");
    uint64_t n_header = 0;
    ck_assert_uint_eq(fread(&n_header, 8, 1, f), 1);
    fclose(f);
    ck_assert_uint_eq(n_header % 8, 0);

    tf_ckpt *c = NULL;
    ck_assert_msg(ckpt_open(tmp_dir, &c, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ckpt_n_tensors(c), 7);
    for (int i = 1; i < 7; i++) ck_assert_int_lt(strcmp(ckpt_tensor(c, i - 1)->name, ckpt_tensor(c, i)->name), 0);
    ck_assert_ptr_null(ckpt_tensor(c, 7));
    ck_assert_ptr_null(ckpt_tensor(c, -1));
    ck_assert_str_eq(ckpt_metadata(c, ckpt_tensor(c, 0), "format"), "pt");

    static const char *const pfx[] = {"nope.", "transformer.", NULL};
    const tf_st_tensor *t = ckpt_find(c, "a32", pfx);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->name, "transformer.a32");
    ck_assert_str_eq(t->dtype_name, "F32");
    ck_assert_ptr_eq(ckpt_find(c, "transformer.a32", NULL), t);
    ck_assert_ptr_null(ckpt_find(c, "a3", pfx));
    ck_assert_ptr_null(ckpt_find(c, "a32", NULL));

    float got[6];
    static const char *const names[3] = {"a32", "a16", "abf"};
    static const tf_st_dtype dts[3] = {TF_ST_F32, TF_ST_F16, TF_ST_BF16};
    for (int k = 0; k < 3; k++) {
        t = ckpt_find(c, names[k], pfx);
        ck_assert_int_eq(t->dtype, dts[k]);
        ck_assert_uint_eq(t->n_bytes, k == 0 ? 24 : 12);
        memset(got, 0xff, sizeof got);
        ck_assert_msg(ckpt_read_f32(c, t, -1, NULL, got, 6, &err) == 0, "%s", err.msg);
        for (int i = 0; i < 6; i++) ck_assert_msg(got[i] == a[i], "%s[%d]: %g", names[k], i, got[i]);
    }
    ck_assert_int_eq(ckpt_read_f32(c, ckpt_find(c, "h", NULL), 1, (int64_t[]){3}, got, 3, &err), 0);
    ck_assert(got[0] == 1.0f && got[1] == 1.0f + 0x1p-9f && isinf(got[2]));
    ck_assert_int_eq(ckpt_read_f32(c, ckpt_find(c, "b", NULL), 1, (int64_t[]){3}, got, 3, &err), 0);
    ck_assert(got[0] == 1.0f && got[1] == 1.0f + 0x1p-6f);
    ck_assert(fabsf(got[2] - 1e30f) < 1e30f * 0x1p-8f);
    ck_assert_int_eq(ckpt_read_f32(c, ckpt_find(c, "scalar", NULL), 0, NULL, got, 1, &err), 0);
    ck_assert(got[0] == 42.0f);
    t = ckpt_find(c, "empty", NULL);
    ck_assert_int_eq(t->n_dims, 2);
    ck_assert_int_eq(ckpt_read_f32(c, t, 2, (int64_t[]){0, 4}, got, 0, &err), 0);
    ckpt_close(c);
}
END_TEST

START_TEST(read_checks_shape_and_count) {
    char path[128];
    float a[6] = {1, 2, 3, 4, 5, 6};
    tf_st_write_item it = {.name = "h.0.attn.c_attn.weight", .dtype = TF_ST_F32, .n_dims = 2, .shape = {2, 3}, .data = a};
    tf_err err = {0};
    ck_assert_int_eq(st_write(tmp_path("w.safetensors", path, sizeof path), &it, 1, &err), 0);
    tf_ckpt *c = NULL;
    ck_assert_int_eq(ckpt_open_file(path, &c, &err), 0);
    const tf_st_tensor *t = ckpt_find(c, "h.0.attn.c_attn.weight", NULL);
    float got[6];
    ck_assert_int_eq(ckpt_read_f32(c, t, 2, (int64_t[]){3, 2}, got, 6, &err), TF_EFORMAT);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "h.0.attn.c_attn.weight") && strstr(err.msg, "[3, 2]") &&
                      strstr(err.msg, "[2, 3]"), "%s", err.msg);
    ck_assert_int_eq(ckpt_read_f32(c, t, 1, (int64_t[]){6}, got, 6, &err), TF_EFORMAT);
    ck_assert_int_eq(ckpt_read_f32(c, t, 2, (int64_t[]){2, 3}, got, 5, &err), TF_EINVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_int_eq(ckpt_read_f32(c, NULL, -1, NULL, got, 6, &err), TF_EINVALID);
    ckpt_close(c);
}
END_TEST

/* Other dtypes load (their sizes are still validated) but do not convert. */
START_TEST(other_dtypes_load_but_do_not_convert) {
    char path[128];
    write_st_auto(tmp_path("o.st", path, sizeof path),
                  "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                  "\"odd\":{\"dtype\":\"X7\",\"shape\":[3],\"data_offsets\":[16,21]}}",
                  21);
    tf_ckpt *c = NULL;
    tf_err err = {0};
    ck_assert_msg(ckpt_open_file(path, &c, &err) == 0, "%s", err.msg);
    const tf_st_tensor *t = ckpt_find(c, "ids", NULL);
    ck_assert_int_eq(t->dtype, TF_ST_OTHER);
    ck_assert_str_eq(t->dtype_name, "I64");
    float got[4];
    ck_assert_int_eq(ckpt_read_f32(c, t, -1, NULL, got, 2, &err), TF_EUNSUPPORTED);
    ck_assert_msg(strstr(err.msg, "I64") && strstr(err.msg, "ids") && strstr(err.msg, path), "%s", err.msg);
    t = ckpt_find(c, "odd", NULL);
    ck_assert_uint_eq(t->n_bytes, 5);
    ck_assert_int_eq(ckpt_read_f32(c, t, -1, NULL, got, 3, &err), TF_EUNSUPPORTED);
    ckpt_close(c);
    ck_assert_uint_eq(st_dtype_size("BF16"), 2);
    ck_assert_uint_eq(st_dtype_size("X7"), 0);
}
END_TEST

/* Header padding chosen so that every read is unaligned. */
START_TEST(unaligned_data_reads) {
    char path[128];
    char hdr[160] = "{\"f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"g\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[9,11]}}";
    while ((8 + strlen(hdr)) % 4 != 3) strcat(hdr, " "); /* f at 4k+3, g at an odd address */
    size_t n = strlen(hdr);
    unsigned char buf[256] = {0};
    uint64_t len = n;
    float f[2] = {1.25f, -7.0f};
    uint16_t g = 0xc100; /* -2.5 */
    memcpy(buf, &len, 8);
    memcpy(buf + 8, hdr, n);
    memcpy(buf + 8 + n, f, 8);
    memcpy(buf + 8 + n + 9, &g, 2);
    write_bytes(tmp_path("u.st", path, sizeof path), buf, 8 + n + 11);
    tf_ckpt *c = NULL;
    tf_err err = {0};
    ck_assert_msg(ckpt_open_file(path, &c, &err) == 0, "%s", err.msg);
    float got[2];
    ck_assert_int_eq(ckpt_read_f32(c, ckpt_find(c, "f", NULL), 1, (int64_t[]){2}, got, 2, &err), 0);
    ck_assert(got[0] == 1.25f && got[1] == -7.0f);
    ck_assert_int_eq(ckpt_read_f32(c, ckpt_find(c, "g", NULL), 1, (int64_t[]){1}, got, 1, &err), 0);
    ck_assert(got[0] == -2.5f);
    /* Reading again after the pages were dropped gives the same values. */
    ck_assert_int_eq(ckpt_read_f32(c, ckpt_find(c, "f", NULL), -1, NULL, got, 2, &err), 0);
    ck_assert(got[0] == 1.25f && got[1] == -7.0f);
    ckpt_close(c);
}
END_TEST

/* The header may end exactly at the end of the file (no data) and hold only metadata. */
START_TEST(boundary_files_load) {
    char path[128];
    write_st_auto(tmp_path("meta.st", path, sizeof path), "{\"__metadata__\":{\"format\":\"pt\"}}  ", 0);
    tf_ckpt *c = NULL;
    tf_err err = {0};
    ck_assert_msg(ckpt_open_file(path, &c, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ckpt_n_tensors(c), 0);
    ckpt_close(c);
    ckpt_close(NULL);
}
END_TEST

START_TEST(real_tiny_gpt2_loads) {
    const char *dir = "../shared/data/models/sshleifer-tiny-gpt2";
    if (access(dir, R_OK) != 0) {
        printf("SKIP real_tiny_gpt2_loads: %s is absent\n", dir);
        return;
    }
    tf_ckpt *c = NULL;
    tf_err err = {0};
    ck_assert_msg(ckpt_open(dir, &c, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ckpt_n_tensors(c), 28);
    static const char *const pfx[] = {"transformer.", NULL};
    const tf_st_tensor *wte = ckpt_find(c, "wte.weight", pfx);
    ck_assert_ptr_nonnull(wte);
    ck_assert_int_eq(wte->n_dims, 2);
    ck_assert_int_eq(wte->shape[0], 50257);
    ck_assert_int_eq(wte->shape[1], 2);
    const tf_st_tensor *t = ckpt_find(c, "h.0.attn.c_attn.weight", pfx);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->name, "transformer.h.0.attn.c_attn.weight");
    float w[12];
    ck_assert_msg(ckpt_read_f32(c, t, 2, (int64_t[]){2, 6}, w, 12, &err) == 0, "%s", err.msg);
    float nonzero = 0;
    for (int i = 0; i < 12; i++) {
        ck_assert(isfinite(w[i]));
        nonzero += fabsf(w[i]);
    }
    ck_assert(nonzero > 0);
    ck_assert_str_eq(ckpt_metadata(c, t, "format"), "pt");
    ckpt_close(c);
}
END_TEST

/* More elements than one conversion chunk (2^18), so the page dropping between chunks runs. */
START_TEST(large_tensor_reads_in_chunks) {
    char path[128];
    enum { N = 600001 };
    float *x = malloc(N * sizeof *x), *got = malloc(N * sizeof *got);
    for (int i = 0; i < N; i++) x[i] = (float)(i % 2048) - 1024.0f; /* exact in F16 and F32, 11 bits */
    tf_st_write_item it[2] = {{.name = "f16", .dtype = TF_ST_F16, .n_dims = 1, .shape = {N}, .data = x},
                              {.name = "f32", .dtype = TF_ST_F32, .n_dims = 2, .shape = {1, N}, .data = x}};
    tf_err err = {0};
    ck_assert_int_eq(st_write(tmp_path("big.st", path, sizeof path), it, 2, &err), 0);
    tf_ckpt *c = NULL;
    ck_assert_int_eq(ckpt_open_file(path, &c, &err), 0);
    for (int k = 0; k < 2; k++) {
        memset(got, 0, N * sizeof *got);
        ck_assert_int_eq(ckpt_read_f32(c, ckpt_find(c, it[k].name, NULL), -1, NULL, got, N, &err), 0);
        ck_assert_int_eq(memcmp(got, x, N * sizeof *x), 0);
    }
    ckpt_close(c);
    free(x);
    free(got);
}
END_TEST

/* The bench model maker: its output must load and have GPT-2's layout. */
START_TEST(mkgpt2_output_loads) {
    const char *tool = "build/tools/mkgpt2";
    if (access(tool, X_OK) != 0) {
        printf("SKIP mkgpt2_output_loads: %s not built\n", tool);
        return;
    }
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s --out %s --n-layer 2 --n-embd 8 --n-head 2 --n-positions 16 --vocab 50 --dtype f16",
             tool, tmp_dir);
    ck_assert_int_eq(system(cmd), 0);
    tf_ckpt *c = NULL;
    tf_err err = {0};
    ck_assert_msg(ckpt_open(tmp_dir, &c, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ckpt_n_tensors(c), 4 + 12 * 2);
    ck_assert_ptr_null(ckpt_find(c, "lm_head.weight", NULL));
    static const struct { const char *name; int n_dims; int64_t shape[2]; } want[] = {
        {"wte.weight", 2, {50, 8}},           {"wpe.weight", 2, {16, 8}},
        {"h.1.attn.c_attn.weight", 2, {8, 24}}, {"h.1.attn.c_attn.bias", 1, {24}},
        {"h.1.mlp.c_fc.weight", 2, {8, 32}},  {"h.1.mlp.c_proj.weight", 2, {32, 8}},
        {"h.0.ln_1.weight", 1, {8}},          {"ln_f.bias", 1, {8}},
    };
    float buf[400];
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const tf_st_tensor *t = ckpt_find(c, want[i].name, NULL);
        ck_assert_msg(t != NULL, "%s missing", want[i].name);
        ck_assert_int_eq(t->dtype, TF_ST_F16);
        size_t n = (size_t)want[i].shape[0] * (want[i].n_dims == 2 ? (size_t)want[i].shape[1] : 1);
        ck_assert_msg(ckpt_read_f32(c, t, want[i].n_dims, want[i].shape, buf, n, &err) == 0, "%s", err.msg);
        if (strstr(want[i].name, "ln_1.weight")) ck_assert(buf[0] == 1.0f && buf[7] == 1.0f);
        if (strstr(want[i].name, "bias")) ck_assert(buf[0] == 0.0f);
        if (!strcmp(want[i].name, "wte.weight")) {
            double s2 = 0;
            for (size_t j = 0; j < n; j++) s2 += (double)buf[j] * buf[j];
            ck_assert(sqrt(s2 / n) > 0.015 && sqrt(s2 / n) < 0.025); /* std 0.02, 400 samples */
        }
    }
    ckpt_close(c);
    char cfg[128];
    FILE *f = fopen(tmp_path("config.json", cfg, sizeof cfg), "r");
    ck_assert_ptr_nonnull(f);
    char text[2048] = {0};
    ck_assert_uint_gt(fread(text, 1, sizeof text - 1, f), 0);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "\"eos_token_id\": 49")); /* 50256 clamped to vocab - 1 */
    ck_assert_ptr_nonnull(strstr(text, "\"n_inner\": null"));
    ck_assert_ptr_nonnull(strstr(text, "GPT2LMHeadModel"));
}
END_TEST

Suite *safetensors_suite(void) {
    Suite *s = suite_create("safetensors");
    TCase *lim = tcase_create("limits");
    tcase_add_checked_fixture(lim, tmp_setup, tmp_teardown);
    tcase_add_loop_test(lim, malformed_file_is_refused, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(lim, short_files_are_refused);
    tcase_add_test(lim, truncated_data_section_is_refused);
    tcase_add_test(lim, index_with_missing_shard_is_refused);
    tcase_add_test(lim, index_with_path_traversal_is_refused);
    tcase_add_test(lim, index_tensor_missing_from_shard_is_refused);
    tcase_add_test(lim, index_tensor_in_two_shards_is_refused);
    tcase_add_test(lim, bad_index_json_is_refused);
    tcase_add_test(lim, empty_directory_is_not_found);
    suite_add_tcase(s, lim);
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, tmp_setup, tmp_teardown);
    tcase_add_test(core, sharded_checkpoint_loads);
    tcase_add_test(core, write_read_round_trip);
    tcase_add_test(core, read_checks_shape_and_count);
    tcase_add_test(core, other_dtypes_load_but_do_not_convert);
    tcase_add_test(core, unaligned_data_reads);
    tcase_add_test(core, boundary_files_load);
    tcase_add_test(core, real_tiny_gpt2_loads);
    tcase_add_test(core, large_tensor_reads_in_chunks);
    tcase_add_test(core, mkgpt2_output_loads);
    suite_add_tcase(s, core);
    return s;
}
