/* job.c: job lifetime and the output buffer. */
#include "server/job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int buf_append(tf_buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return TF_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

void buf_close(tf_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

uint64_t job_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int job_new(const char *id, tf_job **out) {
    tf_job *j = calloc(1, sizeof *j);
    if (!j) return TF_ENOMEM;
    j->refs = 1;
    snprintf(j->id, sizeof j->id, "%s", id);
    j->t_arrival_ns = job_now_ns();
    j->status = 200;
    *out = j;
    return 0;
}

void job_ref(tf_job *j) { j->refs++; }

void job_unref(tf_job *j) {
    if (!j || --j->refs > 0) return;
    seq_free(j->seq);
    free(j->prompt_ids);
    for (int i = 0; i < j->n_texts && j->text_ids; i++) free(j->text_ids[i]);
    free(j->text_ids);
    free(j->text_n_ids);
    free(j->probs);
    free(j->cls_attn);
    free(j->text_attn);
    free(j->text_full_tab);
    free(j->text_full);
    req_close(&j->req);
    buf_close(&j->out);
    free(j);
}
