/* tokenizer_files.c: the "slow" tokenizer files: vocab.json + merges.txt (GPT2Tokenizer),
 * vocab.txt (BertTokenizer), and the special tokens of added_tokens.json,
 * tokenizer_config.json and special_tokens_map.json, including LlamaTokenizer's
 * add_bos_token / add_eos_token, which rebuild the template around the text.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/tokenizer_impl.h"

static int read_file(const char *path, char **out, size_t *len, tf_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, TF_EIO, "%s: %s", path, strerror(errno));
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || size > TOK_MAX_FILE_BYTES || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return err_set(err, TF_EFORMAT, "%s: unreadable or larger than %ld bytes", path,
                       TOK_MAX_FILE_BYTES);
    }
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return err_set(err, TF_ENOMEM, "%s: out of memory", path);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) {
        free(buf);
        return err_set(err, TF_EIO, "%s: short read", path);
    }
    buf[size] = 0;
    *out = buf;
    *len = (size_t)size;
    return 0;
}

/* merges.txt: one "left right" per line; the "#version" header and blank lines are skipped
 * (the HF Rust reader does the same). */
static int load_merges_txt(tf_tokenizer *t, const char *path, tf_err *err) {
    char *text = NULL, *buf = NULL;
    size_t len = 0, cap = 0, rank = 0;
    int rc = read_file(path, &text, &len, err);
    if (rc < 0) return rc;
    for (size_t pos = 0; pos < len && rc == 0;) {
        char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - pos;
        if (n && text[pos + n - 1] == '\r') n--;
        if (n && !(n >= 8 && memcmp(text + pos, "#version", 8) == 0))
            rc = tok_add_merge_line(t, text + pos, n, rank++, &buf, &cap, path, err);
        pos = end + 1;
    }
    free(buf);
    free(text);
    return rc;
}

/* A special token value: "text" or {"content": "text", "lstrip": .., "rstrip": ..}. */
static int add_special_value(tf_tokenizer *t, json_t *v, int32_t id, const char *what, tf_err *err) {
    if (json_is_string(v)) return tok_add_special(t, json_string_value(v), id, 0, 0, what, err);
    const char *content = json_string_value(json_object_get(v, "content"));
    if (!content) return 0; /* null: no such token */
    return tok_add_special(t, content, id, tok_bool_field(v, "lstrip", 0),
                           tok_bool_field(v, "rstrip", 0), what, err);
}

/* bos, eos, unk first: GPT2Tokenizer defaults those three (tok_load_slow). */
static const char *const special_keys[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                           "pad_token", "cls_token", "mask_token"};

static int add_specials_from(tf_tokenizer *t, json_t *cfg, const char *what, tf_err *err) {
    int rc = 0;
    json_t *dec = json_object_get(cfg, "added_tokens_decoder");
    const char *key;
    json_t *v;
    json_object_foreach(dec, key, v) {
        char *end;
        long id = strtol(key, &end, 10);
        if (*key == 0 || *end || id < 0 || id >= TOK_MAX_ID)
            return err_set(err, TF_EFORMAT, "%s: added_tokens_decoder key \"%.32s\" is not an id "
                           "in [0, %d)", what, key, TOK_MAX_ID);
        if ((rc = add_special_value(t, v, (int32_t)id, what, err)) < 0) return rc;
    }
    for (size_t i = 0; i < sizeof special_keys / sizeof special_keys[0]; i++)
        if ((rc = add_special_value(t, json_object_get(cfg, special_keys[i]), -1, what, err)) < 0)
            return rc;
    size_t i;
    json_array_foreach(json_object_get(cfg, "additional_special_tokens"), i, v)
        if ((rc = add_special_value(t, v, -1, what, err)) < 0) return rc;
    return 0;
}

int tok_load_slow(tf_tokenizer *t, const char *dir, tf_err *err) {
    char path[PATH_MAX];
    json_t *j = NULL;
    int rc;
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    if ((rc = tok_json_file(path, &j, err)) < 0) return rc;
    rc = tok_add_vocab(t, j, path, err);
    json_decref(j);
    if (rc < 0) return rc;
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    if ((rc = load_merges_txt(t, path, err)) < 0) return rc;
    /* added_tokens.json first: its ids are explicit; named-only specials resolve after. */
    snprintf(path, sizeof path, "%s/added_tokens.json", dir);
    if (access(path, F_OK) == 0) {
        if ((rc = tok_json_file(path, &j, err)) < 0) return rc;
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v) {
            json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
            rc = id < 0 || id >= TOK_MAX_ID
                     ? err_set(err, TF_EFORMAT, "%s: \"%.64s\" has a bad id", path, key)
                     : tok_add_special(t, key, (int32_t)id, 0, 0, path, err);
            if (rc < 0) break;
        }
        json_decref(j);
        if (rc < 0) return rc;
    }
    static const char *const cfg_files[] = {"tokenizer_config.json", "special_tokens_map.json"};
    int named_specials = 0;
    for (size_t f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, cfg_files[f]);
        if (access(path, F_OK) != 0) continue;
        if ((rc = tok_json_file(path, &j, err)) < 0) return rc;
        if (f == 0) t->add_prefix_space = tok_bool_field(j, "add_prefix_space", 0);
        for (size_t k = 0; k < 3; k++) named_specials += json_object_get(j, special_keys[k]) != NULL;
        rc = add_specials_from(t, j, path, err);
        json_decref(j);
        if (rc < 0) return rc;
    }
    /* GPT2Tokenizer's own defaults: bos = eos = unk = "<|endoftext|>" unless a config names
     * them, so a bare vocab.json + merges.txt still knows its end-of-text token. */
    if (!named_specials && bpe_find(&t->bpe, "<|endoftext|>", 13) >= 0 &&
        (rc = tok_add_special(t, "<|endoftext|>", -1, 0, 0, "vocab.json", err)) < 0)
        return rc;
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    return bpe_finish(&t->bpe, path, err);
}

int tok_load_vocab_txt(tf_tokenizer *t, const char *dir, tf_err *err) {
    char path[PATH_MAX];
    if (!(t->wp = malloc(sizeof *t->wp))) return err_set(err, TF_ENOMEM, "out of memory");
    wp_init(t->wp);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    int rc = wp_load_vocab_txt(&t->bpe, path, err);
    if (rc < 0) return rc;
    /* BertTokenizer's defaults, unless a config names others. */
    const char *unk = "[UNK]", *cls = "[CLS]", *sep = "[SEP]";
    static const char *const defaults[] = {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (bpe_find(&t->bpe, defaults[i], strlen(defaults[i])) >= 0 &&
            (rc = tok_add_special(t, defaults[i], -1, 0, 0, path, err)) < 0)
            return rc;
    static const char *const cfg_files[] = {"tokenizer_config.json", "special_tokens_map.json"};
    json_t *cfgs[2] = {NULL, NULL};
    for (size_t f = 0; f < 2 && rc == 0; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, cfg_files[f]);
        if (access(path, F_OK) != 0) continue;
        if ((rc = tok_json_file(path, &cfgs[f], err)) < 0) break;
        if (f == 0) wp_config_slow(t->wp, cfgs[f]);
        if ((rc = add_specials_from(t, cfgs[f], path, err)) < 0) break;
        const char **names[] = {&unk, &cls, &sep};
        const char *keys[] = {"unk_token", "cls_token", "sep_token"};
        for (int k = 0; k < 3; k++) {
            const char *s = tok_config_token(cfgs[f], keys[k]);
            if (s) *names[k] = s;
        }
    }
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    if (rc == 0) rc = wp_set_unk(t->wp, &t->bpe, unk, path, err);
    /* BertTokenizer.build_inputs_with_special_tokens: [CLS] text [SEP]. */
    if (rc == 0) {
        int32_t cls_id = bpe_find(&t->bpe, cls, strlen(cls)), sep_id = bpe_find(&t->bpe, sep, strlen(sep));
        if (cls_id < 0 || sep_id < 0)
            rc = err_set(err, TF_EFORMAT, "%s: no \"%.32s\" or \"%.32s\" token", path, cls, sep);
        else if ((rc = tok_template_push(&t->tmpl, 0, cls_id, path, err)) == 0)
            rc = tok_template_push(&t->tmpl, 1, sep_id, path, err);
    }
    json_decref(cfgs[0]);
    json_decref(cfgs[1]);
    return rc;
}

int tok_load_spm_config(tf_tokenizer *t, const char *dir, tf_err *err) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (access(path, F_OK) != 0) return 0;
    json_t *cfg;
    int rc = tok_json_file(path, &cfg, err);
    if (rc < 0) return rc;
    static const char *const flags[2] = {"add_bos_token", "add_eos_token"};
    static const char *const names[2] = {"bos_token", "eos_token"};
    for (int i = 0; i < 2 && rc == 0; i++) {
        json_t *flag = json_object_get(cfg, flags[i]);
        if (!json_is_boolean(flag)) continue;
        /* LlamaTokenizer(Fast) rebuilds that side of its template from the flag, so it
         * overrides tokenizer.json's post_processor. */
        *(i == 0 ? &t->tmpl.n_pre : &t->tmpl.n_suf) = 0;
        if (!json_is_true(flag)) continue;
        const char *name = tok_config_token(cfg, names[i]);
        int32_t id = name ? tok_find(t, name) : -1;
        rc = id < 0 ? err_set(err, TF_EFORMAT, "%s: %s is true but %s names no known token", path,
                              flags[i], names[i])
                    : tok_template_push(&t->tmpl, i, id, path, err);
    }
    json_decref(cfg);
    return rc;
}

/* spiece.model (T5's SentencePiece protobuf) when there is no tokenizer.json. */
int tok_load_spiece(tf_tokenizer *t, const char *dir, tf_err *err) {
    if (!(t->ug = calloc(1, sizeof *t->ug))) return err_set(err, TF_ENOMEM, "out of memory");
    int rc = ug_load_spiece(t->ug, dir, err);
    for (int i = 0; rc == 0 && i < t->ug->n_specials; i++)
        rc = tok_add_special(t, t->ug->specials[i].content, t->ug->specials[i].id, 0, 0,
                             "spiece.model", err);
    if (rc == 0) rc = ug_finish(t->ug, "spiece.model", err);
    if (rc == 0 && t->ug->append_id >= 0)
        rc = tok_template_push(&t->tmpl, 1, t->ug->append_id, "spiece.model", err);
    return rc;
}
