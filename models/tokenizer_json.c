/* tokenizer_json.c: loading tokenizer.json (the "fast" format) for the three models.
 *
 * The model object picks the path: "WordPiece" (models/tok_wordpiece.c), SentencePiece-style
 * BPE (byte_fallback / "▁" normalizer or Metaspace; models/tok_spm_bpe.c), else byte-level
 * BPE, whose vocab and merges are fed through the shared building steps here. All three
 * share the one added_tokens parser and the one post_processor parser (tok_template).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer_impl.h"

static int check_model(json_t *model, const char *path, tf_err *err) {
    json_t *type = json_object_get(model, "type");
    if (type && (!json_is_string(type) || strcmp(json_string_value(type), "BPE") != 0))
        return err_set(err, TF_EUNSUPPORTED, "%s: model.type \"%s\" (only BPE)", path,
                       tok_type_of(model));
    json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout) && json_number_value(dropout) != 0.0)
        return err_set(err, TF_EUNSUPPORTED, "%s: model.dropout (BPE dropout)", path);
    static const char *const empty_fields[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(model, empty_fields[i]);
        if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0))
            return err_set(err, TF_EUNSUPPORTED, "%s: model.%s", path, empty_fields[i]);
    }
    if (tok_bool_field(model, "byte_fallback", 0))
        return err_set(err, TF_EUNSUPPORTED, "%s: model.byte_fallback", path);
    return 0;
}

static int check_pipeline(tf_tokenizer *t, json_t *root, const char *path, tf_err *err) {
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm))
        return err_set(err, TF_EUNSUPPORTED, "%s: normalizer \"%s\"", path, tok_type_of(norm));
    json_t *pre = json_object_get(root, "pre_tokenizer");
    if (!json_is_object(pre) || strcmp(tok_type_of(pre), "ByteLevel") != 0)
        return err_set(err, TF_EUNSUPPORTED, "%s: pre_tokenizer \"%s\" (only ByteLevel)", path,
                       json_is_object(pre) ? tok_type_of(pre) : "null");
    t->add_prefix_space = tok_bool_field(pre, "add_prefix_space", 0);
    t->use_regex = tok_bool_field(pre, "use_regex", 1);
    json_t *dec = json_object_get(root, "decoder");
    if (dec && !json_is_null(dec) && strcmp(tok_type_of(dec), "ByteLevel") != 0)
        return err_set(err, TF_EUNSUPPORTED, "%s: decoder \"%s\" (only ByteLevel)", path,
                       tok_type_of(dec));
    return 0;
}

/* "added_tokens": [{"id", "content", "lstrip", "rstrip", "single_word", ...}]. */
static int add_added_tokens(tf_tokenizer *t, json_t *added, const char *path, tf_err *err) {
    size_t i;
    json_t *m;
    if (added && !json_is_array(added))
        return err_set(err, TF_EFORMAT, "%s: added_tokens is not an array", path);
    json_array_foreach(added, i, m) {
        json_t *id = json_object_get(m, "id");
        const char *content = json_string_value(json_object_get(m, "content"));
        if (!json_is_integer(id) || !content)
            return err_set(err, TF_EFORMAT, "%s: added_tokens[%zu] needs an integer id and a content",
                           path, i);
        json_int_t v = json_integer_value(id);
        if (v < 0 || v >= TOK_MAX_ID)
            return err_set(err, TF_EFORMAT, "%s: added_tokens[%zu].id %lld outside [0, %d)", path, i,
                           (long long)v, TOK_MAX_ID);
        /* single_word needs word-boundary rules we do not implement; refuse, don't guess. */
        int rc = tok_bool_field(m, "single_word", 0)
                     ? err_set(err, TF_EUNSUPPORTED, "%s: added_tokens[%zu].single_word", path, i)
                     : tok_add_special(t, content, (int32_t)v, tok_bool_field(m, "lstrip", 0),
                                       tok_bool_field(m, "rstrip", 0), path, err);
        if (rc < 0) return rc;
    }
    return 0;
}

/* A template's special token "[CLS]": the ids of the post-processor's own table when it has
 * them (one token may stand for several ids), else the token of that name. */
static int template_token(tf_tokenizer *t, json_t *pp, const char *name, int after,
                          const char *path, tf_err *err) {
    json_t *ids = json_object_get(json_object_get(json_object_get(pp, "special_tokens"), name), "ids");
    if (json_is_array(ids) && json_array_size(ids) > 0) {
        size_t k;
        json_t *id;
        json_array_foreach(ids, k, id) {
            json_int_t v = json_is_integer(id) ? json_integer_value(id) : -1;
            if (v < 0 || v >= tok_vocab_size(t))
                return err_set(err, TF_EFORMAT, "%s: post_processor.special_tokens \"%.64s\" has "
                               "an id outside the vocab", path, name);
            int rc = tok_template_push(&t->tmpl, after, (int32_t)v, path, err);
            if (rc < 0) return rc;
        }
        return 0;
    }
    int32_t id = tok_find(t, name);
    if (id < 0)
        return err_set(err, TF_EFORMAT, "%s: post_processor token \"%.64s\" has no id", path, name);
    return tok_template_push(&t->tmpl, after, id, path, err);
}

/* The single-sequence post-processor: TemplateProcessing, or BertProcessing /
 * RobertaProcessing (which for one sequence are "cls $A sep"; the rest of Roberta's options
 * only move offsets). Null and ByteLevel (offsets only) add nothing. */
static int parse_template(tf_tokenizer *t, json_t *pp, const char *path, tf_err *err) {
    memset(&t->tmpl, 0, sizeof t->tmpl);
    if (!pp || json_is_null(pp) || strcmp(tok_type_of(pp), "ByteLevel") == 0) return 0;
    const char *type = tok_type_of(pp);
    if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
        json_t *cls = json_object_get(pp, "cls"), *sep = json_object_get(pp, "sep");
        if (!json_is_integer(json_array_get(cls, 1)) || !json_is_integer(json_array_get(sep, 1)))
            return err_set(err, TF_EFORMAT, "%s: post_processor needs cls and sep [token, id]", path);
        int rc = tok_template_push(&t->tmpl, 0, (int32_t)json_integer_value(json_array_get(cls, 1)),
                                   path, err);
        return rc < 0 ? rc : tok_template_push(&t->tmpl, 1,
                                               (int32_t)json_integer_value(json_array_get(sep, 1)),
                                               path, err);
    }
    if (strcmp(type, "TemplateProcessing") != 0)
        return err_set(err, TF_EUNSUPPORTED, "%s: post_processor \"%s\"", path, type);
    json_t *single = json_object_get(pp, "single");
    if (!json_is_array(single))
        return err_set(err, TF_EFORMAT, "%s: post_processor.single is not an array", path);
    int seen_a = 0;
    size_t i;
    json_t *piece;
    json_array_foreach(single, i, piece) {
        if (json_object_get(piece, "Sequence")) {
            if (seen_a++)
                return err_set(err, TF_EUNSUPPORTED, "%s: post_processor.single repeats $A", path);
            continue;
        }
        const char *name = json_string_value(json_object_get(json_object_get(piece, "SpecialToken"), "id"));
        if (!name)
            return err_set(err, TF_EFORMAT, "%s: post_processor.single[%zu] names no special token",
                           path, i);
        int rc = template_token(t, pp, name, seen_a, path, err);
        if (rc < 0) return rc;
    }
    if (!seen_a) return err_set(err, TF_EFORMAT, "%s: post_processor.single has no $A", path);
    return 0;
}

static int load_wordpiece(tf_tokenizer *t, json_t *root, const char *path, tf_err *err) {
    if (!(t->wp = malloc(sizeof *t->wp))) return err_set(err, TF_ENOMEM, "out of memory");
    wp_init(t->wp);
    int rc = wp_load_json(t->wp, &t->bpe, root, path, err);
    if (rc < 0) return rc;
    json_t *dec = json_object_get(root, "decoder");
    if (dec && !json_is_null(dec) && strcmp(tok_type_of(dec), "WordPiece") != 0)
        return err_set(err, TF_EUNSUPPORTED, "%s: decoder \"%s\" (WordPiece: only WordPiece)", path,
                       tok_type_of(dec));
    return add_added_tokens(t, json_object_get(root, "added_tokens"), path, err);
}

/* Byte-level BPE: vocab, merges ("a b" strings or ["a", "b"] pairs), added tokens. */
static int load_byte_bpe(tf_tokenizer *t, json_t *root, const char *path, tf_err *err) {
    json_t *model = json_object_get(root, "model");
    json_t *merges = json_object_get(model, "merges");
    int rc;
    if ((rc = check_model(model, path, err)) < 0 || (rc = check_pipeline(t, root, path, err)) < 0)
        return rc;
    if (!json_is_array(merges))
        return err_set(err, TF_EFORMAT, "%s: model.merges is missing or not an array", path);
    t->bpe.ignore_merges = tok_bool_field(model, "ignore_merges", 0);
    if ((rc = tok_add_vocab(t, json_object_get(model, "vocab"), path, err)) < 0) return rc;
    char *buf = NULL;
    size_t cap = 0, i;
    json_t *m;
    json_array_foreach(merges, i, m) {
        if (json_is_string(m)) {
            rc = tok_add_merge_line(t, json_string_value(m), json_string_length(m), i, &buf, &cap,
                                    path, err);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            json_t *l = json_array_get(m, 0), *r = json_array_get(m, 1);
            rc = tok_add_merge(t, json_string_value(l), json_string_length(l), json_string_value(r),
                               json_string_length(r), i, &buf, &cap, path, err);
        } else {
            rc = err_set(err, TF_EFORMAT, "%s: model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]",
                         path, i);
        }
        if (rc < 0) break;
    }
    free(buf);
    if (rc < 0) return rc;
    if ((rc = add_added_tokens(t, json_object_get(root, "added_tokens"), path, err)) < 0) return rc;
    return bpe_finish(&t->bpe, path, err);
}

/* A Unigram tokenizer.json: "type": "Unigram", or the old dialect whose vocab is an array
 * of [piece, score] pairs. */
static int is_unigram(json_t *model) {
    const char *type = json_string_value(json_object_get(model, "type"));
    return type ? strcmp(type, "Unigram") == 0 : json_is_array(json_object_get(model, "vocab"));
}

/* SentencePiece Unigram (T5). Its post-processor's appended special (</s>) is read by
 * ug_load_json and goes into the one template. */
static int load_unigram(tf_tokenizer *t, json_t *root, const char *path, tf_err *err) {
    if (!(t->ug = calloc(1, sizeof *t->ug))) return err_set(err, TF_ENOMEM, "out of memory");
    int rc = ug_load_json(t->ug, root, path, err);
    if (rc == 0) rc = add_added_tokens(t, json_object_get(root, "added_tokens"), path, err);
    if (rc == 0) rc = ug_finish(t->ug, path, err);
    if (rc == 0 && t->ug->append_id >= 0) rc = tok_template_push(&t->tmpl, 1, t->ug->append_id, path, err);
    return rc;
}

int tok_load_fast(tf_tokenizer *t, const char *path, tf_err *err) {
    json_t *root = NULL;
    int rc = tok_json_file(path, &root, err);
    if (rc < 0) return rc;
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(root) || !json_is_object(model)) {
        rc = err_set(err, TF_EFORMAT, "%s: no \"model\" object", path);
    } else if (is_unigram(model)) {
        rc = load_unigram(t, root, path, err);
        json_decref(root);
        return rc;
    } else if (strcmp(tok_type_of(model), "WordPiece") == 0) {
        rc = load_wordpiece(t, root, path, err);
    } else if (spm_bpe_detect(root)) {
        rc = spm_bpe_load(root, path, &t->spm, err);
        if (rc == 0) rc = add_added_tokens(t, json_object_get(root, "added_tokens"), path, err);
    } else {
        rc = load_byte_bpe(t, root, path, err);
    }
    if (rc == 0) rc = parse_template(t, json_object_get(root, "post_processor"), path, err);
    json_decref(root);
    return rc;
}
