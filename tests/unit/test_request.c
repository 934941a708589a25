#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "server/request.h"

static const tf_req_limits lim = {.max_new_tokens = 100};

static int parse(tf_req_api api, const char *body, tf_gen_request *r, tf_http_error *e) {
    return req_parse(api, body, strlen(body), &lim, r, e);
}

START_TEST(generate_fields_and_defaults) {
    tf_gen_request r;
    tf_http_error e;
    ck_assert_int_eq(parse(REQ_GENERATE, "{\"prompt\":\"hi\"}", &r, &e), 0);
    ck_assert_str_eq(r.prompt, "hi");
    ck_assert_int_eq(r.params.max_new_tokens, 16);
    ck_assert(r.params.temperature == 0.0f);
    ck_assert_int_eq(r.seed_given, 0);
    req_close(&r);
    ck_assert_int_eq(parse(REQ_GENERATE,
                           "{\"prompt\":\"a\\u0000b\",\"max_new_tokens\":5,\"temperature\":0.7,\"top_k\":3,"
                           "\"top_p\":0.9,\"seed\":42,\"repetition_penalty\":1.2,\"stop\":[\"x\",\"yz\"],"
                           "\"stream\":true,\"logprobs\":true,\"model\":\"m\"}",
                           &r, &e),
                     0);
    ck_assert_uint_eq(r.prompt_len, 3); /* embedded NUL kept */
    ck_assert_int_eq(r.params.max_new_tokens, 5);
    ck_assert_int_eq(r.params.top_k, 3);
    ck_assert(r.params.seed == 42 && r.seed_given);
    ck_assert_int_eq(r.params.n_stop, 2);
    ck_assert_str_eq(r.params.stop[1], "yz");
    ck_assert(r.stream && r.logprobs);
    ck_assert_str_eq(r.model, "m");
    req_close(&r);
}
END_TEST

START_TEST(openai_dialect) {
    tf_gen_request r;
    tf_http_error e;
    ck_assert_int_eq(parse(REQ_COMPLETIONS,
                           "{\"prompt\":[\"p\"],\"max_tokens\":7,\"stop\":\"s\",\"n\":1,\"echo\":false,"
                           "\"logprobs\":null,\"seed\":null}",
                           &r, &e),
                     0);
    ck_assert_str_eq(r.prompt, "p");
    ck_assert_int_eq(r.params.max_new_tokens, 7);
    ck_assert(r.params.temperature == 1.0f); /* OpenAI's default */
    ck_assert_int_eq(r.params.n_stop, 1);
    req_close(&r);
}
END_TEST

static void refused(tf_req_api api, const char *body, tf_herr_kind kind, const char *needle) {
    tf_gen_request r;
    tf_http_error e;
    ck_assert_int_lt(parse(api, body, &r, &e), 0);
    ck_assert_msg(e.kind == kind, "%s: kind %d, message %s", body, e.kind, e.msg);
    ck_assert_msg(strstr(e.msg, needle) != NULL, "%s: '%s' lacks '%s'", body, e.msg, needle);
    ck_assert_ptr_null(r.prompt); /* nothing leaks on refusal */
}

START_TEST(types_are_400_ranges_are_422) {
    refused(REQ_GENERATE, "{", HERR_INVALID_JSON, "line 1");
    refused(REQ_GENERATE, "7", HERR_INVALID_JSON, "object");
    refused(REQ_GENERATE, "{\"prompt\":\"a\",\"prompt\":\"b\"}", HERR_INVALID_JSON, "duplicate");
    refused(REQ_GENERATE, "{}", HERR_INVALID_FIELD, "prompt is required");
    refused(REQ_GENERATE, "{\"prompt\":1}", HERR_INVALID_FIELD, "prompt");
    refused(REQ_GENERATE, "{\"prompt\":\"x\",\"top_k\":2.5}", HERR_INVALID_FIELD, "top_k must be an integer");
    refused(REQ_GENERATE, "{\"prompt\":\"x\",\"stop\":\"s\"}", HERR_INVALID_FIELD, "stop must be an array");
    refused(REQ_GENERATE, "{\"prompt\":\"x\",\"stop\":[\"a\",2]}", HERR_INVALID_FIELD, "stop[1]");
    refused(REQ_GENERATE, "{\"prompt\":\"x\",\"extra\":1}", HERR_INVALID_FIELD, "unknown field 'extra'");
    refused(REQ_GENERATE, "{\"prompt\":\"x\",\"max_new_tokens\":101}", HERR_OUT_OF_RANGE,
            "max_new_tokens must be between 1 and 100 (the server's max_new_tokens limit), got 101");
    refused(REQ_COMPLETIONS, "{\"prompt\":\"x\",\"max_tokens\":0}", HERR_OUT_OF_RANGE,
            "max_tokens must be between 1 and 100 (the server's max_new_tokens limit), got 0");
    refused(REQ_GENERATE, "{\"prompt\":\"x\",\"top_p\":0}", HERR_OUT_OF_RANGE, "top_p must be in (0, 1]");
    refused(REQ_GENERATE, "{\"prompt\":\"x\",\"temperature\":-0.1}", HERR_OUT_OF_RANGE, "temperature");
    refused(REQ_GENERATE, "{\"prompt\":\"x\",\"seed\":-1}", HERR_OUT_OF_RANGE, "seed");
    refused(REQ_GENERATE, "{\"prompt\":\"\"}", HERR_OUT_OF_RANGE, "empty");
    refused(REQ_GENERATE, "{\"prompt\":\"x\",\"stop\":[\"\"]}", HERR_OUT_OF_RANGE, "stop[0]");
    refused(REQ_GENERATE, "{\"prompt\":\"x\",\"stop\":[\"a\\u0000\"]}", HERR_OUT_OF_RANGE, "U+0000");
    /* an array of strings is the right type: its length is a limit (422), its elements' type is not */
    refused(REQ_COMPLETIONS, "{\"prompt\":[\"a\",\"b\"]}", HERR_OUT_OF_RANGE,
            "exactly one string (one prompt per request), got 2");
    refused(REQ_COMPLETIONS, "{\"prompt\":[]}", HERR_OUT_OF_RANGE,
            "exactly one string (one prompt per request), got 0");
    refused(REQ_COMPLETIONS, "{\"prompt\":[\"\"]}", HERR_OUT_OF_RANGE, "empty");
    refused(REQ_COMPLETIONS, "{\"prompt\":[\"a\",1]}", HERR_INVALID_FIELD, "prompt[1] must be a string");
    refused(REQ_COMPLETIONS, "{\"prompt\":[[\"a\"]]}", HERR_INVALID_FIELD, "prompt[0]");
    refused(REQ_COMPLETIONS, "{\"prompt\":\"x\",\"temperature\":2.5}", HERR_OUT_OF_RANGE, "temperature");
    /* Well-formed JSON whose number fits neither a double nor 64 bits: out of range, not malformed. */
    refused(REQ_GENERATE, "{\"prompt\":\"x\",\"seed\":18446744073709551616}", HERR_OUT_OF_RANGE, "number out of range");
    refused(REQ_GENERATE, "{\"prompt\":\"x\",\"temperature\":-1e999}", HERR_OUT_OF_RANGE, "line 1, column");
    refused(REQ_GENERATE, "{\"prompt\":\"x\",\"seed\":1e}", HERR_INVALID_JSON, "malformed");
}
END_TEST

START_TEST(too_many_stops_and_error_body) {
    refused(REQ_GENERATE,
            "{\"prompt\":\"x\",\"stop\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\","
            "\"13\",\"14\",\"15\",\"16\",\"17\"]}",
            HERR_OUT_OF_RANGE, "at most 16");
    tf_http_error e;
    herr_set(&e, HERR_QUEUE_FULL, "full \"now\"");
    char *b = herr_body(&e);
    ck_assert_str_eq(b, "{\"error\":{\"type\":\"queue_full\",\"message\":\"full \\\"now\\\"\"}}");
    ck_assert_int_eq(herr_status(HERR_QUEUE_FULL), 429);
    free(b);
    herr_set(&e, HERR_INVALID_FIELD, "bad \xff byte");
    b = herr_body(&e); /* not UTF-8: repaired, the message kept */
    ck_assert_str_eq(b, "{\"error\":{\"type\":\"invalid_field\",\"message\":\"bad \xef\xbf\xbd byte\"}}");
    free(b);
    herr_set(&e, HERR_MODEL_NOT_FOUND, "model '%.4s'", "a\xc3\xa9\xc3\xa9"); /* cut inside a character */
    b = herr_body(&e);
    ck_assert_str_eq(b, "{\"error\":{\"type\":\"model_not_found\",\"message\":\"model 'a\xc3\xa9\xef\xbf\xbd'\"}}");
    free(b);
}
END_TEST

START_TEST(attention_fields) {
    tf_gen_request r;
    tf_http_error e;
    ck_assert_int_eq(parse(REQ_GENERATE,
                           "{\"prompt\":\"hi\",\"return_attention\":\"full\",\"attention_layers\":[1,0],"
                           "\"attention_heads\":[3]}",
                           &r, &e),
                     0);
    ck_assert_int_eq(r.return_attention, ATTN_RET_FULL);
    ck_assert_int_eq(r.attn_pick.n_layers, 2);
    ck_assert_int_eq(r.attn_pick.layers[0], 1);
    ck_assert_int_eq(r.attn_pick.n_heads, 1);
    req_close(&r);
    ck_assert_int_eq(parse(REQ_GENERATE, "{\"prompt\":\"hi\",\"attention_heads\":[-1]}", &r, &e), -1);
    ck_assert_int_eq(e.kind, HERR_OUT_OF_RANGE);
    ck_assert_int_eq(parse(REQ_GENERATE, "{\"prompt\":\"hi\",\"attention_layers\":\"all\"}", &r, &e), -1);
    ck_assert_int_eq(e.kind, HERR_INVALID_FIELD);
    /* not part of the OpenAI dialect: ignored there */
    ck_assert_int_eq(parse(REQ_COMPLETIONS, "{\"prompt\":\"hi\",\"attention_layers\":\"all\"}", &r, &e), 0);
    ck_assert_int_eq(r.attn_pick.n_layers, 0);
    req_close(&r);
    tf_sentiment_request q;
    const char *body = "{\"text\":\"good\",\"return_attention\":\"summary\",\"attention_layers\":[0]}";
    ck_assert_int_eq(req_parse_sentiment(body, strlen(body), 4, &q, &e), 0);
    ck_assert_int_eq(q.return_attention, ATTN_RET_SUMMARY);
    ck_assert_int_eq(q.attn_pick.n_layers, 1);
    req_sentiment_close(&q);
    body = "{\"text\":\"good\",\"attention_heads\":[0,0]}";
    ck_assert_int_eq(req_parse_sentiment(body, strlen(body), 4, &q, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "lists 0 twice"));
}
END_TEST

static void sentiment_refused(const char *body, tf_herr_kind kind, const char *needle) {
    tf_sentiment_request q;
    tf_http_error e;
    ck_assert_int_eq(req_parse_sentiment(body, strlen(body), 4, &q, &e), -1);
    ck_assert_msg(e.kind == kind, "%s: kind %d, message %s", body, e.kind, e.msg);
    ck_assert_msg(strstr(e.msg, needle) != NULL, "%s: '%s' lacks '%s'", body, e.msg, needle);
    ck_assert_ptr_null(q.texts);
}

/* The API's rule: shape (type, unknown, missing, both) 400; a value of the right type that
 * breaks a limit (an empty text or list) 422; more texts than the server takes 413. */
START_TEST(sentiment_texts_rule) {
    sentiment_refused("{}", HERR_INVALID_FIELD, "exactly one of text");
    sentiment_refused("{\"text\":\"a\",\"texts\":[\"b\"]}", HERR_INVALID_FIELD, "exactly one of text");
    sentiment_refused("{\"texts\":\"a\"}", HERR_INVALID_FIELD, "texts must be an array");
    sentiment_refused("{\"text\":5}", HERR_INVALID_FIELD, "text must be a string");
    sentiment_refused("{\"texts\":[\"\",7]}", HERR_INVALID_FIELD, "texts[1] must be a string"); /* type first */
    sentiment_refused("{\"text\":\"\"}", HERR_OUT_OF_RANGE, "text must not be empty");
    sentiment_refused("{\"texts\":[]}", HERR_OUT_OF_RANGE, "at least one string");
    sentiment_refused("{\"texts\":[\"a\",\"\"]}", HERR_OUT_OF_RANGE, "texts[1] must not be empty");
    sentiment_refused("{\"texts\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", HERR_TOO_MANY_TEXTS, "at most 4");
}
END_TEST

Suite *request_suite(void) {
    Suite *s = suite_create("request");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, generate_fields_and_defaults);
    tcase_add_test(tc, openai_dialect);
    tcase_add_test(tc, attention_fields);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("limits");
    tcase_add_test(tl, types_are_400_ranges_are_422);
    tcase_add_test(tl, too_many_stops_and_error_body);
    tcase_add_test(tl, sentiment_texts_rule);
    suite_add_tcase(s, tl);
    return s;
}
