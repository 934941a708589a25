/* DESIGN: a sequence owns everything one request needs across steps — its
 * tokens, its KV cache (allocated once for prompt + max_new_tokens, so a step
 * never allocates), its RNG and its generated text. The text is kept as raw
 * token bytes; stop strings are searched only in the window the newest token
 * could have completed, and text_stable_len holds back the bytes that could
 * still become a stop string or are an unfinished UTF-8 character, so a
 * streaming client never receives text that is later retracted. */
#include <stdlib.h>
#include <string.h>

#include "models/beam.h"
#include "models/model_impl.h"

void gen_params_default(tf_gen_params *p) {
    memset(p, 0, sizeof *p);
    p->max_new_tokens = 16;
    p->temperature = 0.0f;
    p->top_k = 0;
    p->top_p = 1.0f;
    p->seed = 0;
    p->repetition_penalty = 1.0f;
    p->num_beams = 1;
    p->length_penalty = 1.0f;
}

int gen_params_check(const tf_gen_params *p, tf_err *err) {
    if (p->max_new_tokens < 1 || p->max_new_tokens > 1 << 20)
        return err_set(err, TF_ERANGE, "max_new_tokens must be between 1 and %d", 1 << 20);
    if (!(p->temperature >= 0.0f && p->temperature <= 100.0f))
        return err_set(err, TF_ERANGE, "temperature must be between 0 and 100");
    if (p->top_k < 0 || p->top_k > 1 << 20)
        return err_set(err, TF_ERANGE, "top_k must be between 0 and %d", 1 << 20);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return err_set(err, TF_ERANGE, "top_p must be greater than 0 and at most 1");
    if (!(p->repetition_penalty > 0.0f && p->repetition_penalty <= 100.0f))
        return err_set(err, TF_ERANGE, "repetition_penalty must be greater than 0 and at most 100");
    if (p->n_stop < 0 || p->n_stop > TF_MAX_STOP)
        return err_set(err, TF_ERANGE, "stop may hold at most %d strings", TF_MAX_STOP);
    if (p->num_beams < 1 || p->num_beams > TF_MAX_BEAMS)
        return err_set(err, TF_ERANGE, "num_beams must be between 1 and %d", TF_MAX_BEAMS);
    if (!(p->length_penalty >= -10.0f && p->length_penalty <= 10.0f))
        return err_set(err, TF_ERANGE, "length_penalty must be between -10 and 10");
    if (p->no_repeat_ngram_size < 0 || p->no_repeat_ngram_size > 64)
        return err_set(err, TF_ERANGE, "no_repeat_ngram_size must be between 0 and 64");
    if (p->min_new_tokens < 0 || p->min_new_tokens > p->max_new_tokens)
        return err_set(err, TF_ERANGE, "min_new_tokens must be between 0 and max_new_tokens (%d)",
                       p->max_new_tokens);
    for (int i = 0; i < p->n_stop; i++) {
        size_t n = p->stop[i] ? strlen(p->stop[i]) : 0;
        if (n == 0 || n > 256)
            return err_set(err, TF_ERANGE, "each stop string must be 1 to 256 bytes long");
    }
    return 0;
}

int seq_new(tf_model *m, const int32_t *prompt, int n_prompt, const tf_gen_params *p,
            tf_seq **out, tf_err *err) {
    *out = NULL;
    int rc = gen_params_check(p, err);
    if (rc < 0) return rc;
    if (!m->family->forward)
        return err_set(err, TF_EUNSUPPORTED, "model %s (%s) does not generate text", m->name,
                       m->family->architecture);
    const int n_ctx = m->info.n_ctx;
    const int encdec = m->family->encoder_decoder;
    if (p->num_beams > 1 && !m->family->beams)
        return err_set(err, TF_EUNSUPPORTED, "num_beams > 1: %s models decode without beam search",
                       m->family->model_type);
    int32_t bos = m->bos_id;
    if (encdec && n_prompt > n_ctx)
        return err_set(err, TF_ETOOLONG, "the input has %d tokens; this model reads at most %d",
                       n_prompt, n_ctx);
    if (encdec && n_prompt == 0) return err_set(err, TF_EINVALID, "the input is empty");
    if (n_prompt == 0) {
        /* transformers cannot start from nothing either; GPT-2 conventionally starts an
         * unconditional sample from <|endoftext|>. */
        if (bos < 0) return err_set(err, TF_EINVALID, "the prompt is empty");
        prompt = &bos;
        n_prompt = 1;
    }
    if (!encdec && n_prompt >= n_ctx)
        return err_set(err, TF_ETOOLONG,
                       "the prompt has %d tokens; this model allows at most %d (%d positions, "
                       "one kept for the first new token)",
                       n_prompt, n_ctx - 1, n_ctx);
    for (int i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= m->info.vocab_size)
            return err_set(err, TF_ERANGE, "token id %d at position %d is outside the vocabulary",
                           prompt[i], i);

    tf_seq *s = calloc(1, sizeof *s);
    if (!s) return err_set(err, TF_ENOMEM, "sequence");
    s->model = m;
    /* The budget is charged before anything large is allocated: a sequence that does
     * not fit costs nothing (the scheduler retries it when others have finished). */
    const size_t kv_need = seq_kv_need(m, n_prompt, p);
    if ((rc = kv_budget_reserve(m, kv_need, err)) < 0) {
        free(s);
        return rc;
    }
    s->kv_reserved = kv_need;
    s->n_prompt = s->n_tokens = n_prompt;
    s->max_new_tokens = p->max_new_tokens;
    s->ignore_eos = p->ignore_eos;
    long long cap = (long long)n_prompt + p->max_new_tokens;
    s->n_cap = seq_n_cap(m, n_prompt, p->max_new_tokens);
    s->min_new_tokens = p->min_new_tokens;
    s->no_repeat_ngram = p->no_repeat_ngram_size;
    s->tokens = malloc(sizeof(int32_t) * (size_t)s->n_cap);
    s->logprobs = malloc(sizeof(float) * (size_t)(s->n_cap - n_prompt));
    s->kv_bytes = seq_kv_half_bytes(m, s->n_cap);
    s->k = malloc(s->kv_bytes ? s->kv_bytes : 1);
    s->v = malloc(s->kv_bytes ? s->kv_bytes : 1);
    s->kv_bytes *= 2;
    s->text_cap = 256;
    s->text = malloc(s->text_cap);
    /* Encoder-decoder families keep their statistics in their own state (seq_init). */
    if (p->attn_summary && !encdec)
        s->attn = calloc((size_t)m->kv_n_layer * (size_t)(m->attn_n_head > 0 ? m->attn_n_head : 1),
                         sizeof(tf_attn_stats));
    if (!s->tokens || !s->logprobs || !s->k || !s->v || !s->text || (p->attn_summary && !encdec && !s->attn))
        goto nomem;
    if (p->num_beams > 1 &&
        (rc = beam_new(p, m->info.vocab_size, m->eos_id, m->decoder_start_id, &s->beam, err)) < 0) {
        seq_free(s);
        return rc;
    }
    /* Encoder-decoder families keep their weights in their own state (seq_init). */
    if (p->attn_full && !encdec &&
        (rc = attn_capture_alloc(m->kv_n_layer, m->attn_n_head, &p->attn_sel, s->n_cap,
                                 &s->attn_rows, &s->attn_cap, err)) < 0) {
        seq_free(s);
        return rc;
    }
    if (m->family->seq_init && (rc = m->family->seq_init(s, p, err)) < 0) {
        seq_free(s);
        return rc;
    }
    memcpy(s->tokens, prompt, sizeof(int32_t) * (size_t)n_prompt);
    s->sampler = (tf_sampler){.temperature = p->temperature,
                              .top_k = p->top_k,
                              .top_p = p->top_p,
                              .repetition_penalty = p->repetition_penalty};
    rng_seed(&s->rng, p->seed);
    for (int i = 0; i < p->n_stop; i++) {
        s->stop[i] = strdup(p->stop[i]);
        if (!s->stop[i]) goto nomem;
        s->n_stop = i + 1;
        size_t n = strlen(p->stop[i]);
        if (n > s->stop_max_len) s->stop_max_len = n;
    }
    s->text[0] = 0;
    *out = s;
    return 0;
nomem:
    seq_free(s);
    return err_set(err, TF_ENOMEM, "KV cache for %d positions (%zu bytes)", (int)cap, kv_need);
}

void seq_free(tf_seq *s) {
    if (!s) return;
    kv_budget_release(s->model, s->kv_reserved);
    if (s->fam && s->model->family->seq_release) s->model->family->seq_release(s);
    beam_free(s->beam);
    free(s->tokens);
    free(s->logprobs);
    free(s->k);
    free(s->v);
    for (int i = 0; i < s->n_stop; i++) free(s->stop[i]);
    free(s->text);
    free(s->attn);
    free(s->attn_cap);
    free(s->attn_rows);
    free(s);
}

int seq_finished(const tf_seq *s) { return s->finish != TF_FINISH_NONE; }

int seq_next_chunk(const tf_seq *s, int max_tokens) {
    if (s->finish != TF_FINISH_NONE) return 0;
    int pending = s->n_tokens - s->n_past;
    /* A beam sequence feeds one token per beam; its tokens stay in the beam state until
     * it finishes. */
    if (s->beam && s->n_past >= s->n_prompt) return 1;
    if (max_tokens < 1) max_tokens = 1;
    return pending < max_tokens ? pending : max_tokens;
}

/* Length of the longest suffix of text that is a proper prefix of some stop string. */
static size_t stop_prefix_tail(const tf_seq *s) {
    size_t best = 0;
    for (int i = 0; i < s->n_stop; i++) {
        size_t n = strlen(s->stop[i]);
        for (size_t k = n - 1; k > best; k--)
            if (k <= s->text_len && memcmp(s->text + s->text_len - k, s->stop[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

/* Bytes at the end of text[0, len) that start an unfinished UTF-8 character. */
static size_t utf8_incomplete_tail(const char *text, size_t len) {
    for (size_t back = 1; back <= 4 && back <= len; back++) {
        unsigned char c = (unsigned char)text[len - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation byte: keep looking for the lead */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

static int text_append(tf_seq *s, const char *bytes, size_t n) {
    if (s->text_len + n + 1 > s->text_cap) {
        size_t cap = s->text_cap * 2;
        while (cap < s->text_len + n + 1) cap *= 2;
        char *t = realloc(s->text, cap);
        if (!t) return -1;
        s->text = t;
        s->text_cap = cap;
    }
    memcpy(s->text + s->text_len, bytes, n);
    s->text_len += n;
    s->text[s->text_len] = 0;
    return 0;
}

void seq_append_token(tf_seq *s, int32_t id, float logprob) {
    /* A finished sequence takes nothing more (and n_cap bounds the token array). */
    if (s->finish != TF_FINISH_NONE || s->n_tokens >= s->n_cap) return;
    const int n_gen = s->n_tokens - s->n_prompt;
    s->tokens[s->n_tokens++] = id;
    s->logprobs[n_gen] = logprob;
    if (id == s->model->eos_id && !s->ignore_eos) {
        s->finish = TF_FINISH_STOP;
        return;
    }
    const char *bytes;
    size_t n;
    if (tok_token_bytes(s->model->tok, id, &bytes, &n) == 0 && n > 0) {
        if (n_gen == 0 && bytes[0] == ' ' && tok_strips_leading_space(s->model->tok))
            bytes++, n--; /* Metaspace: the first word's "▁" is not text */
        size_t old_len = s->text_len;
        if (text_append(s, bytes, n) < 0) {
            s->finish = TF_FINISH_LENGTH; /* out of memory for text: end cleanly */
            return;
        }
        /* A stop string can only newly appear in a window ending in the new bytes. */
        size_t from = old_len >= s->stop_max_len ? old_len - s->stop_max_len + 1 : 0;
        for (int i = 0; i < s->n_stop; i++) {
            const char *hit = memmem(s->text + from, s->text_len - from, s->stop[i],
                                     strlen(s->stop[i]));
            if (hit) {
                s->text_len = (size_t)(hit - s->text);
                s->text[s->text_len] = 0;
                s->finish = TF_FINISH_STOP;
                return;
            }
        }
    }
    if (s->n_tokens - s->n_prompt >= s->max_new_tokens || s->n_tokens >= s->n_cap)
        s->finish = TF_FINISH_LENGTH;
}

void seq_finish_beam(tf_seq *s) {
    const int32_t *tok;
    const float *lp;
    int n, eos;
    float eos_lp;
    beam_best(s->beam, &tok, &lp, &n, &eos, &eos_lp);
    for (int i = 0; i < n && s->finish == TF_FINISH_NONE; i++) seq_append_token(s, tok[i], lp[i]);
    if (eos && s->finish == TF_FINISH_NONE) seq_append_token(s, s->model->eos_id, eos_lp);
    if (s->finish == TF_FINISH_NONE) s->finish = TF_FINISH_LENGTH;
    if (s->model->family->seq_beam_done) s->model->family->seq_beam_done(s);
}

void seq_state(const tf_seq *s, tf_seq_state *out) {
    out->n_prompt = s->n_prompt;
    out->n_prefilled = s->n_past < s->n_prompt ? s->n_past : s->n_prompt;
    out->n_generated = s->n_tokens - s->n_prompt;
    out->finish = s->finish;
    out->tokens = s->tokens + s->n_prompt;
    out->logprobs = s->logprobs;
    out->text = s->text;
    out->text_len = s->text_len;
    if (s->finish != TF_FINISH_NONE) {
        out->text_stable_len = s->text_len;
    } else {
        size_t hold = stop_prefix_tail(s);
        size_t utf8 = utf8_incomplete_tail(s->text, s->text_len - hold);
        out->text_stable_len = s->text_len - hold - utf8;
    }
    out->kv_bytes = s->kv_bytes;
    out->attn = s->attn;
    out->attn_n_layer = s->attn ? s->model->kv_n_layer : 0;
    out->attn_n_head = s->attn ? s->model->attn_n_head : 0;
    out->attn_encdec = s->attn_encdec;
    out->attn_encdec_hyp = s->beam ? s->attn_encdec_hyp : s->attn_encdec;
    out->attn_encdec_full = s->attn_encdec_full;
    out->attn_full = (const float *const *)s->attn_cap;
    out->attn_full_ld = s->attn_cap ? s->n_cap : 0;
    out->attn_full_rows = s->attn_cap ? s->n_past : 0;
}
