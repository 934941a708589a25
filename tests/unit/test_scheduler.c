/* Scheduler tests on the real engine with the in-repo tiny GPT-2 (tests/fixtures/e2e-gpt2). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "server/scheduler.h"

#define MODEL_DIR "tests/fixtures/e2e-gpt2"

typedef struct result {
    int done, n_token_events, failed;
    tf_herr_kind kind;
    char text[1024];
    tf_finish finish;
} result;

static void on_event(tf_job *j, tf_job_event ev) {
    result *r = j->owner;
    if (ev == JOB_EV_TOKENS) {
        r->n_token_events++;
        return;
    }
    r->done = 1;
    r->failed = j->failed;
    r->kind = j->err.kind;
    if (!j->failed) {
        tf_seq_state st;
        seq_state(j->seq, &st);
        snprintf(r->text, sizeof r->text, "%.*s", (int)st.text_len, st.text);
        r->finish = st.finish;
    }
}

typedef struct fixture {
    uv_loop_t loop;
    tf_model *model;
    tf_metrics *met;
    tf_sched *s;
} fixture;

static int fx_queue_wait_ms = 60000, fx_request_timeout_ms = 0;
static size_t fx_kv_budget = 0;

static void fx_open(fixture *f, int max_batch, int max_tokens, int chunk, int max_queue) {
    tf_err err = {0};
    tf_model_opts o = {.use_int8 = 1, .n_threads = 1, .kv_budget_bytes = fx_kv_budget};
    ck_assert_msg(model_load(MODEL_DIR, &o, &f->model, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(met_new(&f->met), 0);
    uv_loop_init(&f->loop);
    tf_sched_opts so = {.max_batch = max_batch, .max_batched_tokens = max_tokens, .prefill_chunk = chunk,
                        .max_queue = max_queue, .max_queue_wait_ms = fx_queue_wait_ms,
                        .request_timeout_ms = fx_request_timeout_ms};
    ck_assert_int_eq(sched_new(&f->loop, f->model, &so, f->met, &f->s, &err), 0);
}

static void fx_close(fixture *f) {
    sched_close(f->s);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    sched_free(f->s);
    ck_assert_int_eq(uv_loop_close(&f->loop), 0);
    met_free(f->met);
    model_free(f->model);
}

static tf_job *make_job(fixture *f, const char *body, result *r) {
    tf_job *j;
    tf_http_error e;
    tf_req_limits lim = {.max_new_tokens = 1000};
    ck_assert_int_eq(job_new("t", &j), 0);
    ck_assert_msg(req_parse(REQ_GENERATE, body, strlen(body), &lim, &j->req, &e) == 0, "%s", e.msg);
    tf_err err = {0};
    ck_assert_int_eq(model_tokenize(f->model, j->req.prompt, j->req.prompt_len, &j->prompt_ids, &j->n_prompt, &err), 0);
    j->on_event = on_event;
    j->owner = r;
    j->model_name = "e2e";
    return j;
}

static void run_until_done(fixture *f, result *r, int n) {
    for (int guard = 0; guard < 100000; guard++) {
        int all = 1;
        for (int i = 0; i < n; i++) all &= r[i].done;
        if (all) return;
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    ck_abort_msg("jobs did not finish");
}

#define N_JOBS 6
static const char *bodies[N_JOBS] = {
    "{\"prompt\":\"Hello there\",\"max_new_tokens\":12}",
    "{\"prompt\":\"A much longer prompt that needs several prefill chunks\",\"max_new_tokens\":9,\"seed\":5,"
    "\"temperature\":0.9}",
    "{\"prompt\":\"x\",\"max_new_tokens\":20,\"seed\":9,\"temperature\":1.1,\"top_k\":20}",
    "{\"prompt\":\"Once upon a time\",\"max_new_tokens\":3}",
    "{\"prompt\":\"zzz\",\"max_new_tokens\":15,\"seed\":1,\"temperature\":0.7,\"top_p\":0.8}",
    "{\"prompt\":\"The end\",\"max_new_tokens\":7,\"repetition_penalty\":1.5}",
};

START_TEST(batched_results_equal_one_at_a_time) {
    result alone[N_JOBS], batched[N_JOBS];
    memset(alone, 0, sizeof alone);
    memset(batched, 0, sizeof batched);
    fixture f1;
    fx_open(&f1, 1, 512, 256, 64);
    for (int i = 0; i < N_JOBS; i++) {
        tf_job *j = make_job(&f1, bodies[i], &alone[i]);
        tf_http_error e;
        ck_assert_int_eq(sched_submit(f1.s, j, &e), 0);
        job_unref(j);
        run_until_done(&f1, &alone[i], 1);
    }
    fx_close(&f1);

    /* Small budgets force chunked prefill next to decodes in the same step. */
    fixture f;
    fx_open(&f, 4, 8, 3, 64);
    for (int i = 0; i < N_JOBS; i++) {
        tf_job *j = make_job(&f, bodies[i], &batched[i]);
        tf_http_error e;
        ck_assert_int_eq(sched_submit(f.s, j, &e), 0);
        job_unref(j);
    }
    run_until_done(&f, batched, N_JOBS);
    double steps = met_get(f.met, MET_BATCH_SIZE, NULL);
    double tokens = met_get(f.met, MET_GENERATED_TOKENS, NULL);
    int generated = 0;
    for (int i = 0; i < N_JOBS; i++) {
        ck_assert_int_eq(batched[i].failed, 0);
        ck_assert_msg(strcmp(alone[i].text, batched[i].text) == 0, "job %d: '%s' vs '%s'", i, alone[i].text,
                      batched[i].text);
        ck_assert_int_eq(alone[i].finish, batched[i].finish);
        ck_assert_int_gt(batched[i].n_token_events, 0); /* every token is reported, the last one too */
        generated += batched[i].n_token_events;
    }
    ck_assert(tokens == generated);
    ck_assert_msg(steps < tokens, "steps %g, tokens %g: nothing was batched", steps, tokens);
    ck_assert(met_get(f.met, MET_RUNNING, NULL) == 0);
    ck_assert(met_get(f.met, MET_KV_BYTES, NULL) == 0);
    fx_close(&f);
}
END_TEST

START_TEST(queue_full_cancel_and_drain) {
    fixture f;
    fx_open(&f, 1, 512, 256, 1);
    result r[4];
    memset(r, 0, sizeof r);
    tf_job *j[4];
    tf_http_error e;
    for (int i = 0; i < 4; i++) j[i] = make_job(&f, "{\"prompt\":\"q\",\"max_new_tokens\":200}", &r[i]);
    ck_assert_int_eq(sched_submit(f.s, j[0], &e), 0); /* joins the batch at once */
    ck_assert_int_eq(sched_submit(f.s, j[1], &e), 0); /* waits: the one queue slot */
    ck_assert_int_lt(sched_submit(f.s, j[2], &e), 0);
    ck_assert_int_eq(e.kind, HERR_QUEUE_FULL);
    ck_assert_int_eq(sched_queue_depth(f.s), 1);
    /* A queued job leaves at once when cancelled; a running one at the step boundary. */
    sched_cancel(f.s, j[1]);
    ck_assert_int_eq(sched_queue_depth(f.s), 0);
    sched_cancel(f.s, j[0]);
    for (int guard = 0; guard < 100000 && !sched_idle(f.s); guard++) uv_run(&f.loop, UV_RUN_ONCE);
    ck_assert(sched_idle(f.s));
    ck_assert_int_eq(r[0].done + r[1].done, 0); /* nobody listens to cancelled jobs */
    ck_assert(met_get(f.met, MET_CANCELLED, "reason=\"client_disconnect\"") == 2);
    ck_assert(met_get(f.met, MET_KV_BYTES, NULL) == 0);
    /* Drain with a deadline already past: the running job (its step in flight) and the
     * queued one both fail with 503, and nothing new is admitted. */
    result r4 = {0};
    tf_job *j4 = make_job(&f, "{\"prompt\":\"q\",\"max_new_tokens\":200}", &r4);
    ck_assert_int_eq(sched_submit(f.s, j[3], &e), 0);
    ck_assert_int_eq(sched_submit(f.s, j4, &e), 0);
    ck_assert_int_eq(sched_queue_depth(f.s), 1);
    sched_drain(f.s, job_now_ns());
    ck_assert_int_eq(r4.done, 1); /* queued: failed at once */
    ck_assert_int_eq(r4.kind, HERR_DRAINING);
    ck_assert_int_lt(sched_submit(f.s, j[2], &e), 0);
    ck_assert_int_eq(e.kind, HERR_DRAINING);
    run_until_done(&f, &r[3], 1);
    ck_assert_int_eq(r[3].failed, 1);
    ck_assert_int_eq(r[3].kind, HERR_DRAINING);
    ck_assert(sched_idle(f.s));
    job_unref(j4);
    for (int i = 0; i < 4; i++) job_unref(j[i]);
    fx_close(&f);
}
END_TEST

/* The 100 ms tick enforces both limits (sched_drain runs the same checks at once). */
START_TEST(queue_wait_and_request_deadline) {
    fixture f;
    fx_queue_wait_ms = 1;
    fx_request_timeout_ms = 0;
    fx_open(&f, 1, 512, 256, 8);
    result r[3];
    memset(r, 0, sizeof r);
    tf_http_error e;
    tf_job *a = make_job(&f, "{\"prompt\":\"q\",\"max_new_tokens\":200}", &r[0]);
    tf_job *b = make_job(&f, "{\"prompt\":\"q\",\"max_new_tokens\":200}", &r[1]);
    ck_assert_int_eq(sched_submit(f.s, a, &e), 0);
    ck_assert_int_eq(sched_submit(f.s, b, &e), 0);
    ck_assert_int_eq(sched_queue_depth(f.s), 1); /* b waits behind a (max_batch 1) */
    /* a's step is in flight (the loop has not run), so b is still queued. sched_drain
     * runs the tick's checks at once, deterministically, instead of waiting 100 ms. */
    uv_sleep(5);
    sched_drain(f.s, job_now_ns() + 60000000000ull);
    ck_assert_int_eq(r[1].done, 1);
    ck_assert(r[1].failed == 1 && r[1].kind == HERR_QUEUE_TIMEOUT);
    run_until_done(&f, &r[0], 1);
    job_unref(a);
    job_unref(b);
    fx_close(&f);

    fx_queue_wait_ms = 60000;
    fx_request_timeout_ms = 1;
    fx_open(&f, 1, 512, 256, 8);
    tf_job *c = make_job(&f, "{\"prompt\":\"q\",\"max_new_tokens\":200}", &r[2]);
    ck_assert_int_eq(sched_submit(f.s, c, &e), 0);
    uv_sleep(5);
    sched_drain(f.s, job_now_ns() + 60000000000ull); /* runs the deadline checks now */
    run_until_done(&f, &r[2], 1);
    ck_assert(r[2].failed == 1 && r[2].kind == HERR_TIMEOUT);
    job_unref(c);
    fx_close(&f);
    fx_request_timeout_ms = 0;
}
END_TEST

/* A KV budget for one and a half sequences: the second job has a batch slot but waits in
 * the queue until the first finishes, then both complete; a job over the budget alone is
 * refused at submission. */
START_TEST(kv_budget_wait_and_refuse) {
    static const char *body = "{\"prompt\":\"q\",\"max_new_tokens\":40}";
    fixture f;
    fx_open(&f, 4, 512, 256, 8);
    result r[3];
    memset(r, 0, sizeof r);
    tf_job *a = make_job(&f, body, &r[0]);
    const size_t need = seq_kv_need(f.model, a->n_prompt, &a->req.params);
    fx_close(&f);
    fx_kv_budget = need * 3 / 2;
    fx_open(&f, 4, 512, 256, 8);
    ck_assert(met_get(f.met, MET_KV_BUDGET, "model=\"e2e-gpt2\"") == (double)fx_kv_budget);
    tf_job *b = make_job(&f, body, &r[1]);
    tf_http_error e;
    ck_assert_int_eq(sched_submit(f.s, a, &e), 0);
    ck_assert_int_eq(sched_submit(f.s, b, &e), 0);
    run_until_done(&f, &r[0], 1);
    ck_assert_int_eq(r[1].done, 0); /* a's last step admitted nothing: b still waits or just joined */
    run_until_done(&f, &r[1], 1);
    ck_assert(!r[0].failed && !r[1].failed);
    ck_assert_str_eq(r[0].text, r[1].text);
    ck_assert(met_get(f.met, MET_KV_BUDGET_WAITS, "model=\"e2e-gpt2\"") == 1);
    tf_job *c = make_job(&f, "{\"prompt\":\"q\",\"max_new_tokens\":80}", &r[2]);
    ck_assert_int_lt(sched_submit(f.s, c, &e), 0);
    ck_assert_int_eq(e.kind, HERR_KV_BUDGET_EXCEEDED);
    ck_assert_ptr_nonnull(strstr(e.msg, "kv_budget_bytes"));
    ck_assert_int_eq(sched_queue_depth(f.s), 0);
    job_unref(a);
    job_unref(b);
    job_unref(c);
    fx_close(&f);
    fx_kv_budget = 0;
}
END_TEST

Suite *scheduler_suite(void) {
    Suite *s = suite_create("scheduler");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, batched_results_equal_one_at_a_time);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("limits");
    tcase_set_timeout(tl, 60);
    tcase_add_test(tl, queue_full_cancel_and_drain);
    tcase_add_test(tl, queue_wait_and_request_deadline);
    tcase_add_test(tl, kv_budget_wait_and_refuse);
    suite_add_tcase(s, tl);
    return s;
}
