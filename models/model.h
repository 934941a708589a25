/* model.h: the whole contract between server/ and the engine.
 *
 * The server sees models only through this header: load a checkpoint
 * directory, tokenize, create one tf_seq per request, and advance any set of
 * sequences together with model_step (continuous batching: sequences join and
 * leave between steps). Sampling, stop strings, incremental detokenization and
 * finish reasons live inside the sequence, so the CLI and the daemon behave
 * identically for the same seed.
 *
 *     tf_model *m;  tf_seq *s;  tf_err err = {0};
 *     tf_model_opts o = {.use_int8 = 1, .n_threads = 2};
 *     model_load("models/bundled/gpt2", &o, &m, &err);
 *     model_tokenize(m, "Hello", 5, &ids, &n, &err);
 *     tf_gen_params p;  gen_params_default(&p);  p.max_new_tokens = 16;
 *     seq_new(m, ids, n, &p, &s, &err);
 *     while (!seq_finished(s)) {
 *         tf_seq *one[1] = {s};  int n_tok[1] = {seq_next_chunk(s, 512)};
 *         tf_batch b = {.n_seqs = 1, .seqs = one, .n_tokens = n_tok};
 *         if (model_step(m, &b, &err) < 0) break;
 *     }
 *     tf_seq_state st;  seq_state(s, &st);   // st.text, st.finish, ...
 *     seq_free(s);  model_free(m);
 *
 * Thread-safety: a tf_model is read-only after load except inside model_step and
 * model_classify, which one thread at a time may call per model. model_tokenize/detokenize
 * and model_info are safe from any thread at any time. A tf_seq is touched by
 * one thread at a time (the step worker during a step, its owner between). seq_new and
 * seq_free change only the model's KV budget counter, which is atomic, so they may run
 * beside a step of other sequences.
 */
#ifndef TF_MODELS_MODEL_H
#define TF_MODELS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/attention.h" /* tf_attn_stats */
#include "core/err.h"

typedef struct tf_model tf_model;
typedef struct tf_seq tf_seq;

/* Tasks a model can serve, as bits of tf_model_info.tasks. */
enum {
    TF_TASK_GENERATE = 1u << 0,
    TF_TASK_TRANSLATE = 1u << 1,
    TF_TASK_SUMMARIZE = 1u << 2,
    TF_TASK_SENTIMENT = 1u << 3,
};

/* Element type of the decoder's attention cache (self-attention K/V of GPT-2 and Llama;
 * T5's decoder self- and cross-attention K/V). fp16 halves the bytes a decode step reads
 * from the cache and the memory a sequence holds; the attention itself computes in fp32.
 * AUTO: f16 with int8 weights (fp16 rounding, ~5e-4 relative, is far below the int8
 * weights' own error), f32 with fp32 weights (which then stay faithful to transformers). */
typedef enum tf_kv_cache_dtype {
    TF_KV_CACHE_AUTO = 0,
    TF_KV_CACHE_F32 = 1,
    TF_KV_CACHE_F16 = 2,
} tf_kv_cache_dtype;

typedef struct tf_model_opts {
    int use_int8;  /* 1: int8 weights (default), 0: fp32 */
    int n_threads; /* compute threads; 0 = number of online CPUs */
    /* KV cache bytes all live sequences of this model may hold together; 0 = unlimited.
     * seq_new refuses a sequence that would go over it (TF_EFULL; see seq_kv_need). */
    size_t kv_budget_bytes;
    tf_kv_cache_dtype kv_cache_dtype; /* 0 = AUTO */
} tf_model_opts;

/* "auto", "f16", "f32" -> TF_KV_CACHE_*; -1 for anything else (NULL included). */
int model_kv_cache_dtype_parse(const char *name);

typedef struct tf_model_info {
    const char *name;         /* directory basename */
    const char *family;       /* "gpt2" */
    const char *architecture; /* "GPT2LMHeadModel" */
    const char *dtype;        /* "int8" | "fp32" */
    const char *kv_cache_dtype; /* "f16" | "f32"; "none" for models without a KV cache */
    unsigned tasks;           /* TF_TASK_* bits */
    int64_t n_params;
    int n_ctx;                /* maximum positions (prompt + generated) */
    int vocab_size;
    int eos_id;               /* -1 if none */
    size_t weight_bytes;      /* resident weight memory */
    int n_threads;
    /* Self-attention geometry the attention statistics and "full" weights are indexed by
     * (tf_seq_state.attn, tf_cls_attn): layers, and query heads per layer; 0 when the family
     * reports none. */
    int attn_n_layer, attn_n_head;
    /* Encoder-decoder models (tf_attn_encdec, tf_attn_encdec_full): encoder layers,
     * decoder layers, heads per layer (the same in both stacks); 0 elsewhere. */
    int encdec_n_enc_layer, encdec_n_dec_layer, encdec_n_head;
} tf_model_info;

int model_load(const char *dir, const tf_model_opts *opts, tf_model **out, tf_err *err);
void model_free(tf_model *m); /* NULL is a no-op */
/* Only the tokenizer of a checkpoint directory (tokenizer.json or the slow files; neither
 * config.json nor weights are needed): model_tokenize, model_detokenize and model_info work,
 * everything else answers TF_EUNSUPPORTED. For tools that only need ids. */
int model_load_tokenizer(const char *dir, tf_model **out, tf_err *err);
const tf_model_info *model_info(const tf_model *m);

/* text: any bytes; invalid UTF-8 is replaced by U+FFFD. *ids is malloc'd; free() it. */
int model_tokenize(const tf_model *m, const char *text, size_t len, int32_t **ids, int *n_ids,
                   tf_err *err);
/* *text is malloc'd and NUL-terminated; free() it. Exact inverse for byte-level BPE. */
int model_detokenize(const tf_model *m, const int32_t *ids, int n_ids, char **text, size_t *len,
                     tf_err *err);

/* ---- generation ---------------------------------------------------------------------- */

#define TF_MAX_STOP 16

/* The (layer, head) pairs whose full attention weights a request keeps: every listed layer
 * times every listed head. Indices must be in range and distinct; n = 0 means all. */
typedef struct tf_attn_select {
    const int *layers; /* borrowed, [n_layers] */
    int n_layers;
    const int *heads;  /* borrowed, [n_heads] */
    int n_heads;
} tf_attn_select;

typedef struct tf_gen_params {
    int max_new_tokens;        /* >= 1 */
    float temperature;         /* 0 = greedy */
    int top_k;                 /* 0 = off */
    float top_p;               /* 1 = off; (0, 1] */
    uint64_t seed;             /* same seed, same text */
    float repetition_penalty;  /* 1 = off; HF semantics (divide positive, multiply negative) */
    int ignore_eos;            /* benchmarks: keep going past EOS */
    int attn_summary;          /* collect per-layer/head attention statistics */
    /* Encoder-decoder beam search with attn_summary: also keep each beam's decoder-side
     * statistics apart, so that tf_seq_state.attn_encdec_hyp describes the returned
     * hypothesis alone (attn_encdec still sums every beam). Costs 2 x num_beams copies of
     * them (decoder layers x heads x (source tokens floats + ~100 bytes) each). Nothing
     * to do without beams, where the two are the same. */
    int attn_per_beam;
    /* Keep the softmax rows of attn_sel's (layer, head) pairs for every position fed (see
     * tf_seq_state.attn_full): (n_prompt + max_new_tokens)^2 floats per pair, so the caller
     * bounds the selection. Off by default: the kernels then copy nothing. Encoder-decoder
     * families keep three kinds instead (tf_attn_encdec_full); under beam search the
     * decoder and cross rows of every beam are kept until the search ends (num_beams times
     * the memory), and the returned hypothesis's are handed out. Classifiers use
     * model_classify_attn. */
    int attn_full;
    tf_attn_select attn_sel;   /* borrowed for seq_new only */
    int n_stop;                /* <= TF_MAX_STOP */
    const char *stop[TF_MAX_STOP]; /* borrowed; seq_new copies them */
    /* Beam search and length controls (transformers' generate() semantics). The defaults
     * (1, 1, 0, 0, 0) leave decoding exactly as without them. Beam search needs a family
     * that reorders its caches (T5); elsewhere num_beams > 1 is TF_EUNSUPPORTED. With
     * beams, sampling knobs are ignored and the text appears when the sequence finishes. */
    int num_beams;             /* 1 = off; at most TF_MAX_BEAMS */
    float length_penalty;      /* beam hypothesis score = sum(logprob) / length^length_penalty */
    int early_stopping;        /* beams: stop as soon as num_beams hypotheses have ended */
    int no_repeat_ngram_size;  /* 0 = off; no n-gram of this size occurs twice */
    int min_new_tokens;        /* EOS is forbidden before this many new tokens */
} tf_gen_params;

#define TF_MAX_BEAMS 32

/* Greedy, 16 new tokens, no stops, no beams. */
void gen_params_default(tf_gen_params *p);
/* Checks every field against its bounds; the message names the field and the range. */
int gen_params_check(const tf_gen_params *p, tf_err *err);

typedef enum tf_finish {
    TF_FINISH_NONE = 0,  /* still running */
    TF_FINISH_STOP,      /* EOS or a stop string */
    TF_FINISH_LENGTH,    /* max_new_tokens or the context limit */
} tf_finish;

/* Allocates the sequence's KV cache for n_prompt + max_new_tokens positions.
 * TF_ETOOLONG if the prompt (plus one new token) does not fit the model. TF_EFULL when
 * the cache would take the model's live sequences over tf_model_opts.kv_budget_bytes:
 * nothing is allocated, and the same call succeeds once enough sequences are freed
 * (unless seq_kv_need alone exceeds the budget). */
int seq_new(tf_model *m, const int32_t *prompt, int n_prompt, const tf_gen_params *p,
            tf_seq **out, tf_err *err);
void seq_free(tf_seq *s); /* NULL is a no-op; releases the KV cache */

/* ---- KV cache accounting (models/kv_budget.c) --------------------------------------------
 * Bytes seq_new would reserve for a sequence with this prompt length and these (valid)
 * params: every cache it allocates for them (decoder K/V; for encoder-decoder models the
 * cross-attention K/V and one self-attention cache per beam), at the model's own bytes per
 * element. Equal to the kv_bytes that seq_state reports once it exists. Lets a caller
 * judge a request against the budget before creating anything.
 *
 *     size_t need = seq_kv_need(m, n_ids, &p);
 *     if (model_kv_budget(m) && need > model_kv_budget(m)) -> refuse: it can never fit
 *
 * Thread-safety: any thread, any time (reserved is an atomic snapshot). */
size_t seq_kv_need(const tf_model *m, int n_prompt, const tf_gen_params *p);
size_t model_kv_budget(const tf_model *m);   /* tf_model_opts.kv_budget_bytes; 0 = unlimited */
size_t model_kv_reserved(const tf_model *m); /* held by the model's live sequences now */

/* The attention statistics of one encoder-decoder sequence, summed inside the kernels.
 * tf_seq_state.attn_encdec, under beam search: every live beam's rows are added to the
 * same sums, so the means describe the whole search (what attention monitoring judges).
 * Repeated focus is counted within each beam: a beam compares its step with its own
 * previous step (a new beam inherits its parent's), never with a sibling's.
 * tf_seq_state.attn_encdec_hyp (tf_gen_params.attn_per_beam): the same over the returned
 * hypothesis's own steps only, as one beam would have counted them. */
typedef struct tf_attn_encdec {
    const tf_attn_stats *enc;   /* [n_enc_layer][n_head]: encoder self-attention, one row per input token */
    const tf_attn_stats *dec;   /* [n_dec_layer][n_head]: decoder self-attention (prompt = the start token) */
    const tf_attn_stats *cross; /* [n_dec_layer][n_head]: cross-attention (every key is a source token) */
    /* [n_dec_layer][n_head]: coverage[n_src] summed over rows, n_steps rows, n_repeat rows
     * whose largest weight fell on the same source position as the beam's previous row.
     * The first decoder position has one row (beams fan out after it), so
     * n_steps - 1 rows could repeat. */
    const tf_attn_cross *cover;
    int n_enc_layer, n_dec_layer, n_head;
    int n_src;   /* encoder input tokens */
    int n_steps; /* decoder positions fed per beam (attn_encdec_hyp: by the hypothesis) */
} tf_attn_encdec;

/* The full attention weights of one encoder-decoder sequence (tf_gen_params.attn_full),
 * for attn_sel's layers and heads in each stack: a table entry is NULL for a pair not
 * selected. Decoder positions are the start token, then the generated tokens but the last
 * (sampled, never fed); rows [0, n_rows) are filled. Under beam search they are the
 * returned hypothesis's rows (the steps that produced its tokens, followed back through
 * every reorder), and n_rows is 0 until the sequence has finished. */
typedef struct tf_attn_encdec_full {
    const float *const *enc;   /* [n_enc_layer * n_head]: (n_src x n_src), row i at i * n_src */
    const float *const *dec;   /* [n_dec_layer * n_head]: row p at p * dec_ld, its p + 1 causal weights */
    const float *const *cross; /* [n_dec_layer * n_head]: row p at p * n_src, n_src weights */
    int n_enc_layer, n_dec_layer, n_head;
    int n_src, n_rows, dec_ld;
    int32_t dec_start_id; /* the decoder's input at position 0 */
} tf_attn_encdec_full;

typedef struct tf_seq_state {
    int n_prompt;
    int n_prefilled;        /* prompt tokens already in the KV cache */
    int n_generated;
    tf_finish finish;
    const int32_t *tokens;  /* view, [n_generated] generated ids */
    const float *logprobs;  /* view, [n_generated] log p of each chosen id under the model */
    const char *text;       /* view, generated text (a stop string and what follows removed) */
    size_t text_len;
    size_t text_stable_len; /* prefix of text that can be streamed now: whole UTF-8 characters
                             * that can no longer turn into a stop string */
    size_t kv_bytes;        /* KV cache memory this sequence owns */
    /* With attn_summary: [attn_n_layer][attn_n_head] sums over every query row the
     * sequence fed (prompt and generated); NULL otherwise, and for encoder-decoder
     * models, which report through attn_encdec instead. */
    const tf_attn_stats *attn;
    int attn_n_layer, attn_n_head;
    /* Encoder-decoder models with attn_summary: view of the sequence's statistics (kept
     * current by every step); NULL otherwise. */
    const tf_attn_encdec *attn_encdec;
    /* The returned hypothesis's own statistics (tf_attn_encdec): attn_encdec itself without
     * beams; with beams and attn_per_beam, set once the sequence has finished; else NULL. */
    const tf_attn_encdec *attn_encdec_hyp;
    /* Encoder-decoder models with attn_full: view of the sequence's weights; NULL otherwise. */
    const tf_attn_encdec_full *attn_encdec_full;
    /* With attn_full: [attn_n_layer * attn_n_head] row stores, NULL for a pair not selected;
     * the row of the query at position p (prompt positions first, then generated) is
     * attn_full[l * attn_n_head + h] + p * attn_full_ld, its p + 1 causal weights. Rows
     * [0, attn_full_rows) are filled: every position fed, i.e. all but the last generated
     * token, which is sampled but never fed. NULL otherwise. */
    const float *const *attn_full;
    int attn_full_ld, attn_full_rows;
} tf_seq_state;

void seq_state(const tf_seq *s, tf_seq_state *out);
int seq_finished(const tf_seq *s);
/* Tokens the sequence would feed in its next step: the rest of its prompt capped at
 * max_tokens, 1 while decoding, 0 when finished. */
int seq_next_chunk(const tf_seq *s, int max_tokens);

/* One step over a batch: every sequence feeds n_tokens[i] tokens (1..seq_next_chunk)
 * through the model in one pass over the weights. A sequence whose prompt is complete
 * after the step samples its next token, which is appended and checked against EOS,
 * stop strings and max_new_tokens. */
typedef struct tf_batch {
    int n_seqs;
    tf_seq **seqs;  /* borrowed */
    int *n_tokens;  /* borrowed, [n_seqs] */
} tf_batch;

int model_step(tf_model *m, tf_batch *b, tf_err *err);

/* ---- encoder-decoder models (T5) ------------------------------------------------------
 * For a model whose info.tasks has TF_TASK_TRANSLATE or TF_TASK_SUMMARIZE, seq_new's
 * prompt is the ENCODER input (what model_tokenize returned, </s> included) and may hold
 * up to info.n_ctx tokens; the generated tokens come from the decoder. The input may be
 * fed in chunks like a prompt; the step that completes it runs the encoder over all of
 * it, then the decoder's first position (earlier chunks only count as fed). */

/* The text a task's input is prefixed with: task_key "summarization" or
 * "translation_<src>_to_<tgt>" (e.g. "translation_en_to_de"). From config.json's
 * task_specific_params, else the family's built-in table. NULL: the model does not do it. */
const char *model_task_prefix(const tf_model *m, const char *task_key);
/* Enumerates the task keys (for listing supported language pairs); NULL past the end. */
const char *model_task_key(const tf_model *m, int i);
/* Overlays the task's generation defaults from task_specific_params onto p (what
 * transformers' pipelines use): num_beams, length_penalty, early_stopping,
 * no_repeat_ngram_size, and min_length / max_length as new-token counts (the lengths
 * count the decoder start token). Fields the config does not give are left alone; the
 * caller then applies what the request says. */
void model_task_defaults(const tf_model *m, const char *task_key, tf_gen_params *p);

/* ---- conversion ------------------------------------------------------------------------ */

/* A llama2.c checkpoint (legacy .bin: 7 int32 header, fp32 weights) and its tok*.bin
 * tokenizer into a Hugging Face LlamaForCausalLM directory out_dir (created if absent):
 * config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
 * generation_config.json. models/llama2c.c. */
int model_convert_llama2c(const char *checkpoint, const char *tokenizer, const char *out_dir,
                          tf_err *err);

/* ---- classification (encoder models; info.tasks has TF_TASK_SENTIMENT) ------------------
 *
 *     int32_t *ids;  int n;
 *     model_encode_for_task(m, "great movie", 11, 1, &ids, &n, &err);  // [CLS] great movie [SEP]
 *     float p[n_labels];
 *     const int32_t *batch[1] = {ids};
 *     model_classify(m, batch, &n, 1, p, &err);                        // softmax over labels
 *     printf("%s %.3f\n", model_label(m, ops_argmax(p)), ...);
 *
 * model_tokenize gives the same ids (the tokenizer's post-processor adds [CLS]/[SEP]);
 * model_encode_for_task adds the length rule. */

/* Labels of the classification head (config.json id2label); 0 for other models. */
int model_n_labels(const tf_model *m);
/* Label i (0 <= i < n_labels); "LABEL_i" when config.json names none. */
const char *model_label(const tf_model *m, int i);
/* Longest input, special tokens included (max_position_embeddings). */
int model_max_tokens(const tf_model *m);

/* The ids the classifier receives for one text. More than model_max_tokens ids: with
 * truncate the text part is cut (the special tokens stay, as HF truncation=True does),
 * without it TF_ETOOLONG with both lengths in the message. *ids is malloc'd; free() it. */
int model_encode_for_task(const tf_model *m, const char *text, size_t len, int truncate,
                          int32_t **ids, int *n_ids, tf_err *err);

/* One batch of texts through the encoder and head: probs[i * n_labels + j] = p(label j |
 * text i). Texts may differ in length: they are packed, never padded, and each attends
 * only to itself. TF_EUNSUPPORTED for models without a classification head; TF_EINVALID
 * for an empty text or an id out of range; TF_ETOOLONG above model_max_tokens. Same
 * threading rule as model_step: one thread at a time per model (the step worker). */
int model_classify(tf_model *m, const int32_t *const *ids, const int *n_ids, int n_texts,
                   float *probs, tf_err *err);

/* What a classify call records about one text's self-attention (info.attn_n_layer x
 * info.attn_n_head pairs, indexed l * attn_n_head + h). Written by the call; the caller
 * owns the memory and zeroes the stats. */
typedef struct tf_cls_attn {
    tf_attn_stats *stats; /* NULL, or [pairs] sums over the text's rows (every row sees every key) */
    float *const *full;   /* NULL, or [pairs] stores, NULL for a pair not wanted: row i of a
                           * store is query position i's n_ids weights (an n_ids x n_ids matrix) */
} tf_cls_attn;

/* model_classify that also fills attn[i] for text i (attn NULL: as model_classify). */
int model_classify_attn(tf_model *m, const int32_t *const *ids, const int *n_ids, int n_texts,
                        const tf_cls_attn *attn, float *probs, tf_err *err);

#endif
