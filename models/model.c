/* DESIGN: the family registry and the generic half of every model: load the
 * config, pick the family row by model_type/architecture, let it load its
 * weights from the checkpoint, then close the checkpoint so the mapped file
 * stops counting against resident memory. model_step validates the batch,
 * runs the family's forward pass once for all sequences, and samples for
 * every sequence whose prompt is fully in its cache. */
#include <limits.h>
#include <stdatomic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/beam.h"
#include "models/model_impl.h"

static const tf_family *const families[] = {
    &tf_family_gpt2,
    &tf_family_llama,
    &tf_family_t5,
    &tf_family_bert,
    &tf_family_distilbert,
};

static const tf_family *family_find(const tf_hf_config *cfg) {
    const char *type = hfc_str(cfg, "model_type", NULL);
    const char *arch = hfc_architecture(cfg);
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        if (type && strcmp(type, families[i]->model_type) == 0) return families[i];
        if (!type && arch && strcmp(arch, families[i]->architecture) == 0) return families[i];
    }
    return NULL;
}

static void basename_into(char *dst, size_t cap, const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t start = n;
    while (start > 0 && dir[start - 1] != '/') start--;
    size_t len = n - start < cap - 1 ? n - start : cap - 1;
    memcpy(dst, dir + start, len);
    dst[len] = 0;
}

int model_kv_cache_dtype_parse(const char *name) {
    static const char *const names[] = {[TF_KV_CACHE_AUTO] = "auto", [TF_KV_CACHE_F32] = "f32",
                                        [TF_KV_CACHE_F16] = "f16"};
    for (int i = 0; name && i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

int model_load(const char *dir, const tf_model_opts *opts, tf_model **out, tf_err *err) {
    *out = NULL;
    tf_model_opts o = opts ? *opts : (tf_model_opts){.use_int8 = 1};
    tf_hf_config *cfg = NULL;
    tf_ckpt *ck = NULL;
    tf_model *m = calloc(1, sizeof *m);
    if (!m) return err_set(err, TF_ENOMEM, "model");
    int rc = hfc_load(dir, &cfg, err);
    if (rc < 0) goto fail;
    m->family = family_find(cfg);
    if (!m->family) {
        const char *type = hfc_str(cfg, "model_type", "(none)");
        rc = err_set(err, TF_EUNSUPPORTED, "%s/config.json: model_type \"%s\" is not supported "
                     "(supported: gpt2, llama, t5, bert, distilbert)", dir, type);
        goto fail;
    }
    m->kv_budget_bytes = o.kv_budget_bytes;
    m->wtype = o.use_int8 ? TF_WTYPE_Q8 : TF_WTYPE_F32;
    strcpy(m->dtype_name, o.use_int8 ? "int8" : "fp32");
    if (o.kv_cache_dtype < TF_KV_CACHE_AUTO || o.kv_cache_dtype > TF_KV_CACHE_F16) {
        rc = err_set(err, TF_ERANGE, "kv_cache_dtype must be auto, f16 or f32");
        goto fail;
    }
    m->kv_dtype = o.kv_cache_dtype == TF_KV_CACHE_F16 ? TF_KV_F16
                  : o.kv_cache_dtype == TF_KV_CACHE_F32 ? TF_KV_F32
                  : o.use_int8                         ? TF_KV_F16
                                                       : TF_KV_F32;
    basename_into(m->name, sizeof m->name, dir);
    int n_threads = o.n_threads > 0 ? o.n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n_threads < 1) n_threads = 1;
    if ((rc = pool_new(n_threads, &m->pool, err)) < 0) goto fail;
    if ((rc = tok_load(dir, &m->tok, err)) < 0) goto fail;
    if ((rc = ckpt_open(dir, &ck, err)) < 0) goto fail;
    m->bos_id = m->eos_id = -1;
    if ((rc = m->family->load(m, cfg, ck, err)) < 0) goto fail;
    ckpt_close(ck);
    ck = NULL;
    hfc_free(cfg);
    cfg = NULL;
    if (!(m->dws = calloc((size_t)n_threads, sizeof *m->dws))) {
        rc = err_set(err, TF_ENOMEM, "decode workspaces");
        goto fail;
    }
    for (; m->n_dws < n_threads; m->n_dws++)
        if ((rc = decode_ws_init(&m->dws[m->n_dws], m->info.vocab_size, err)) < 0) goto fail;
    m->info.name = m->name;
    m->info.family = m->family->model_type;
    m->info.architecture = m->family->architecture;
    m->info.dtype = m->dtype_name;
    m->info.kv_cache_dtype = !m->family->forward ? "none" : m->kv_dtype == TF_KV_F16 ? "f16" : "f32";
    m->info.tasks = m->family->tasks;
    m->info.eos_id = m->eos_id;
    m->info.n_threads = n_threads;
    m->info.attn_n_layer = m->attn_n_head > 0 ? (m->attn_n_layer ? m->attn_n_layer : m->kv_n_layer) : 0;
    m->info.attn_n_head = m->info.attn_n_layer > 0 ? m->attn_n_head : 0;
    *out = m;
    return 0;
fail:
    ckpt_close(ck);
    hfc_free(cfg);
    model_free(m);
    return rc;
}

/* A family with no computation: what model_load_tokenizer's models report. */
static const tf_family tokenizer_only = {.model_type = "tokenizer", .architecture = "(tokenizer only)"};

int model_load_tokenizer(const char *dir, tf_model **out, tf_err *err) {
    *out = NULL;
    tf_model *m = calloc(1, sizeof *m);
    if (!m) return err_set(err, TF_ENOMEM, "model");
    m->family = &tokenizer_only;
    basename_into(m->name, sizeof m->name, dir);
    int rc = tok_load(dir, &m->tok, err);
    if (rc < 0) {
        model_free(m);
        return rc;
    }
    m->bos_id = m->eos_id = -1;
    m->info.name = m->name;
    m->info.family = m->family->model_type;
    m->info.architecture = m->family->architecture;
    m->info.dtype = "none";
    m->info.kv_cache_dtype = "none";
    m->info.eos_id = -1;
    *out = m;
    return 0;
}

void model_free(tf_model *m) {
    if (!m) return;
    if (m->family && m->impl) m->family->free_impl(m);
    tok_free(m->tok);
    pool_free(m->pool);
    free(m->logits);
    free(m->want);
    free(m->pick_id);
    free(m->pick_logprob);
    free(m->pick_row);
    for (int i = 0; i < m->n_dws; i++) decode_ws_close(&m->dws[i]);
    free(m->dws);
    for (int i = 0; i < m->n_tasks; i++) {
        free(m->tasks[i].key);
        free(m->tasks[i].prefix);
    }
    free(m->tasks);
    for (int i = 0; i < m->n_labels; i++) free(m->labels[i]);
    free(m->labels);
    free(m);
}

const tf_model_info *model_info(const tf_model *m) { return &m->info; }

int model_tokenize(const tf_model *m, const char *text, size_t len, int32_t **ids, int *n_ids,
                   tf_err *err) {
    return tok_encode(m->tok, text, len, ids, n_ids, err);
}

int model_detokenize(const tf_model *m, const int32_t *ids, int n_ids, char **text, size_t *len,
                     tf_err *err) {
    return tok_decode(m->tok, ids, n_ids, text, len, err);
}

static int ensure_step_scratch(tf_model *m, int n_seqs, int n_rows, tf_err *err) {
    if (n_rows > m->logits_rows) {
        float *logits = realloc(m->logits, sizeof(float) * (size_t)n_rows * m->info.vocab_size);
        if (!logits) return err_set(err, TF_ENOMEM, "logits for %d rows", n_rows);
        m->logits = logits;
        m->logits_rows = n_rows;
    }
    if (n_seqs <= m->want_cap) return 0;
    uint8_t *want = realloc(m->want, (size_t)n_seqs);
    if (want) m->want = want;
    int32_t *id = realloc(m->pick_id, sizeof *id * (size_t)n_seqs);
    if (id) m->pick_id = id;
    float *lp = realloc(m->pick_logprob, sizeof *lp * (size_t)n_seqs);
    if (lp) m->pick_logprob = lp;
    int32_t *rows = realloc(m->pick_row, sizeof *rows * (size_t)n_seqs);
    if (rows) m->pick_row = rows;
    if (!want || !id || !lp || !rows) return err_set(err, TF_ENOMEM, "step flags");
    m->want_cap = n_seqs;
    return 0;
}

/* min_new_tokens and no_repeat_ngram_size for greedy/sampled decoding. The n-gram history
 * is what transformers calls input_ids: the prompt and generated tokens for a decoder-only
 * model, the decoder start token and generated tokens for an encoder-decoder. */
static void apply_length_controls(tf_model *m, tf_seq *s, float *logits) {
    const int n_gen = s->n_tokens - s->n_prompt;
    if (n_gen < s->min_new_tokens && m->eos_id >= 0) logits[m->eos_id] = -INFINITY;
    if (s->no_repeat_ngram <= 0) return;
    if (!m->family->encoder_decoder) {
        logits_ban_ngrams(logits, s->tokens, s->n_tokens, s->no_repeat_ngram);
        return;
    }
    /* tokens[n_prompt - 1] is the last encoder token; borrow its slot for the start id */
    int32_t *h = s->tokens + s->n_prompt - 1, saved = *h;
    *h = m->decoder_start_id;
    logits_ban_ngrams(logits, h, n_gen + 1, s->no_repeat_ngram);
    *h = saved;
}

/* Sequence i's sampling, on pool thread ith's workspace: it reads and writes only its own
 * logits row, RNG and result slot, so sequences can pick in any order on any thread. */
typedef struct pick_job {
    tf_model *m;
    tf_batch *b;
    const int32_t *logits_row; /* [n_seqs]; -1: nothing to pick */
    _Atomic int next;          /* next sequence to claim */
} pick_job;

static void pick_worker(void *ctx, int ith, int nth) {
    (void)nth;
    pick_job *j = ctx;
    tf_model *m = j->m;
    /* Claimed one at a time rather than split in advance: a thread that the OS delays
     * does not hold up the others' share. */
    for (int i; (i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) <
                j->b->n_seqs;) {
        if (j->logits_row[i] < 0) continue;
        tf_seq *s = j->b->seqs[i];
        float *logits = m->logits + (size_t)j->logits_row[i] * m->info.vocab_size;
        apply_length_controls(m, s, logits);
        m->pick_id[i] = decode_pick(&s->sampler, logits, m->info.vocab_size, s->tokens,
                                    s->n_tokens, &s->rng, &m->dws[ith], &m->pick_logprob[i]);
    }
}

/* Picks the next token of every sequence that wants one (beam sequences excluded: their
 * step reads all their rows at once). A pick costs a few passes over the vocabulary
 * (~20-60 µs for GPT-2), so a batch of several is split over the pool. */
static void pick_all(tf_model *m, tf_batch *b) {
    int32_t *rows = m->pick_row;
    int row = 0, n_picks = 0;
    for (int i = 0; i < b->n_seqs; i++) {
        tf_seq *s = b->seqs[i];
        rows[i] = m->want[i] && !s->beam ? row : -1;
        n_picks += rows[i] >= 0;
        row += !m->want[i] ? 0 : s->beam ? s->beam->n_live : 1;
    }
    pick_job job = {.m = m, .b = b, .logits_row = rows};
    atomic_init(&job.next, 0);
    if (n_picks >= 2)
        pool_run(m->pool, pick_worker, &job);
    else if (n_picks == 1)
        pick_worker(&job, 0, 1);
}

int model_step(tf_model *m, tf_batch *b, tf_err *err) {
    if (!m->family->forward)
        return err_set(err, TF_EUNSUPPORTED, "model %s (%s) does not generate text", m->name,
                       m->family->architecture);
    if (b->n_seqs <= 0) return 0;
    for (int i = 0; i < b->n_seqs; i++) {
        tf_seq *s = b->seqs[i];
        if (!s || s->model != m)
            return err_set(err, TF_EINVALID, "batch entry %d is not a sequence of this model", i);
        int max = seq_next_chunk(s, INT_MAX);
        if (b->n_tokens[i] < 1 || b->n_tokens[i] > max)
            return err_set(err, TF_EINVALID, "batch entry %d feeds %d tokens; it has %d to feed", i,
                           b->n_tokens[i], max);
        for (int j = 0; j < i; j++)
            if (b->seqs[j] == s)
                return err_set(err, TF_EINVALID, "batch entry %d repeats entry %d", i, j);
    }
    int n_rows = 0;
    for (int i = 0; i < b->n_seqs; i++) n_rows += b->seqs[i]->beam ? b->seqs[i]->beam->n_live : 1;
    int rc = ensure_step_scratch(m, b->n_seqs, n_rows, err);
    if (rc < 0) return rc;
    for (int i = 0; i < b->n_seqs; i++) {
        tf_seq *s = b->seqs[i];
        m->want[i] = s->n_past + b->n_tokens[i] >= s->n_tokens;
    }
    rc = m->family->forward(m, b->seqs, b->n_tokens, b->n_seqs, m->want, m->logits, err);
    if (rc < 0) return rc;
    pick_all(m, b);
    int row = 0;
    for (int i = 0; i < b->n_seqs; i++) {
        if (!m->want[i]) continue;
        tf_seq *s = b->seqs[i];
        if (s->beam) {
            float *logits = m->logits + (size_t)row * m->info.vocab_size;
            row += s->beam->n_live;
            if (beam_step(s->beam, logits)) seq_finish_beam(s);
            continue;
        }
        row++;
        seq_append_token(s, m->pick_id[i], m->pick_logprob[i]);
    }
    return 0;
}

int model_forward_logits(tf_model *m, tf_seq *s, int n_tokens, float *logits, tf_err *err) {
    if (!m->family->forward) return err_set(err, TF_EUNSUPPORTED, "not a generative model");
    if (n_tokens < 1 || n_tokens > s->n_tokens - s->n_past)
        return err_set(err, TF_EINVALID, "cannot feed %d tokens; %d are pending", n_tokens,
                       s->n_tokens - s->n_past);
    const uint8_t want = 1;
    return m->family->forward(m, &s, &n_tokens, 1, &want, logits, err);
}

int model_add_task(tf_model *m, const char *key, const char *prefix, const tf_task_defaults *d,
                   tf_err *err) {
    int i = 0;
    while (i < m->n_tasks && strcmp(m->tasks[i].key, key) != 0) i++;
    if (i == m->n_tasks) {
        tf_task *t = realloc(m->tasks, sizeof *t * (size_t)(m->n_tasks + 1));
        if (!t) return err_set(err, TF_ENOMEM, "task table");
        m->tasks = t;
        memset(&t[i], 0, sizeof t[i]);
        if (!(t[i].key = strdup(key))) return err_set(err, TF_ENOMEM, "task table");
        m->n_tasks++;
    }
    char *p = strdup(prefix);
    if (!p) return err_set(err, TF_ENOMEM, "task prefix");
    free(m->tasks[i].prefix);
    m->tasks[i].prefix = p;
    m->tasks[i].d = d ? *d : (tf_task_defaults){0};
    return 0;
}

static const tf_task *task_find(const tf_model *m, const char *key) {
    for (int i = 0; i < m->n_tasks; i++)
        if (strcmp(m->tasks[i].key, key) == 0) return &m->tasks[i];
    return NULL;
}

const char *model_task_prefix(const tf_model *m, const char *task_key) {
    const tf_task *t = task_find(m, task_key);
    return t ? t->prefix : NULL;
}

const char *model_task_key(const tf_model *m, int i) {
    return i >= 0 && i < m->n_tasks ? m->tasks[i].key : NULL;
}

void model_task_defaults(const tf_model *m, const char *task_key, tf_gen_params *p) {
    const tf_task *t = task_find(m, task_key);
    if (!t) return;
    const tf_task_defaults *d = &t->d;
    if (d->set & TF_TD_BEAMS) p->num_beams = d->num_beams;
    if (d->set & TF_TD_LP) p->length_penalty = d->length_penalty;
    if (d->set & TF_TD_ES) p->early_stopping = d->early_stopping;
    if (d->set & TF_TD_NGRAM) p->no_repeat_ngram_size = d->no_repeat_ngram_size;
    if (d->set & TF_TD_MIN) p->min_new_tokens = d->min_new_tokens;
    if (d->set & TF_TD_MAX) p->max_new_tokens = d->max_new_tokens;
}

// --- classification ---------------------------------------------------------------------

int model_n_labels(const tf_model *m) { return m->n_labels; }

const char *model_label(const tf_model *m, int i) {
    return i >= 0 && i < m->n_labels ? m->labels[i] : NULL;
}

int model_max_tokens(const tf_model *m) { return m->info.n_ctx; }

int model_encode_for_task(const tf_model *m, const char *text, size_t len, int truncate,
                          int32_t **ids, int *n_ids, tf_err *err) {
    int rc = tok_encode(m->tok, text, len, ids, n_ids, err);
    if (rc < 0) return rc;
    const int max = m->info.n_ctx;
    if (*n_ids <= max) return 0;
    int n_pre, n_suf;
    tok_specials_around(m->tok, &n_pre, &n_suf);
    if (!truncate || n_pre + n_suf >= max) {
        rc = err_set(err, TF_ETOOLONG, "text is %d tokens; the model takes at most %d", *n_ids, max);
        free(*ids);
        *ids = NULL;
        *n_ids = 0;
        return rc;
    }
    /* keep the leading specials and the text's start, then the trailing specials */
    memmove(*ids + max - n_suf, *ids + *n_ids - n_suf, sizeof(int32_t) * (size_t)n_suf);
    *n_ids = max;
    return 0;
}

int model_classify(tf_model *m, const int32_t *const *ids, const int *n_ids, int n_texts,
                   float *probs, tf_err *err) {
    return model_classify_attn(m, ids, n_ids, n_texts, NULL, probs, err);
}

int model_classify_attn(tf_model *m, const int32_t *const *ids, const int *n_ids, int n_texts,
                        const tf_cls_attn *attn, float *probs, tf_err *err) {
    if (!m->family->classify || m->n_labels <= 0)
        return err_set(err, TF_EUNSUPPORTED, "model %s (%s) has no classification head", m->name,
                       m->family->architecture);
    if (n_texts <= 0) return 0;
    for (int i = 0; i < n_texts; i++) {
        if (n_ids[i] < 1) return err_set(err, TF_EINVALID, "text %d has no tokens", i);
        if (n_ids[i] > m->info.n_ctx)
            return err_set(err, TF_ETOOLONG, "text %d is %d tokens; the model takes at most %d", i,
                           n_ids[i], m->info.n_ctx);
        for (int j = 0; j < n_ids[i]; j++)
            if (ids[i][j] < 0 || ids[i][j] >= m->info.vocab_size)
                return err_set(err, TF_EINVALID, "text %d: token id %ld outside [0, %d)", i,
                               (long)ids[i][j], m->info.vocab_size);
    }
    return m->family->classify(m, ids, n_ids, n_texts, attn, probs, err);
}
