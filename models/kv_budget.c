/* kv_budget.c: how many KV cache bytes a sequence takes, and the per-model budget they are
 * charged to.
 *
 * DESIGN: a sequence allocates every cache once, for its worst case (prompt +
 * max_new_tokens positions, every beam), so its size is known before it exists and a
 * whole request can be judged at the door. seq_kv_need computes that size with the same
 * helpers seq_new and the families allocate with (seq_kv_half_bytes, the family's
 * seq_kv_need), and test_kv_budget checks the two agree for every family, so a change to
 * the cache layout or element type cannot make the budget count something else than what
 * is allocated. The charge is one atomic counter per model: reserve is a compare-and-swap
 * loop that never lets the sum pass the budget, so no lock is needed whoever calls
 * seq_new / seq_free.
 */
#include <stdatomic.h>

#include "models/model_impl.h"

int seq_n_cap(const tf_model *m, int n_prompt, int max_new_tokens) {
    if (n_prompt < 1 && !m->family->encoder_decoder) n_prompt = 1;
    long long cap = (long long)n_prompt + max_new_tokens;
    return m->family->encoder_decoder || cap < m->info.n_ctx ? (int)cap : m->info.n_ctx;
}

size_t seq_kv_half_bytes(const tf_model *m, int n_cap) {
    return attn_kv_elem_bytes(m->kv_dtype) * (size_t)m->kv_n_layer * (size_t)n_cap * (size_t)m->kv_dim;
}

size_t seq_kv_need(const tf_model *m, int n_prompt, const tf_gen_params *p) {
    if (!m->family || !m->family->forward) return 0; /* classifiers and tokenizers keep no cache */
    size_t n = 2 * seq_kv_half_bytes(m, seq_n_cap(m, n_prompt, p->max_new_tokens));
    if (m->family->seq_kv_need) n += m->family->seq_kv_need(m, n_prompt, p);
    return n;
}

size_t model_kv_budget(const tf_model *m) { return m->kv_budget_bytes; }

size_t model_kv_reserved(const tf_model *m) {
    return atomic_load_explicit(&((tf_model *)m)->kv_reserved_bytes, memory_order_relaxed);
}

int kv_budget_reserve(tf_model *m, size_t n, tf_err *err) {
    const size_t budget = m->kv_budget_bytes;
    size_t cur = atomic_load_explicit(&m->kv_reserved_bytes, memory_order_relaxed);
    do {
        /* written as a subtraction so that no sum can wrap */
        if (budget && (n > budget || cur > budget - n))
            return err_set(err, TF_EFULL,
                           "KV cache budget: the sequence needs %zu bytes, %zu of the model's %zu are "
                           "reserved", n, cur, budget);
    } while (!atomic_compare_exchange_weak_explicit(&m->kv_reserved_bytes, &cur, cur + n, memory_order_relaxed,
                                                    memory_order_relaxed));
    return 0;
}

void kv_budget_release(tf_model *m, size_t n) {
    atomic_fetch_sub_explicit(&m->kv_reserved_bytes, n, memory_order_relaxed);
}
