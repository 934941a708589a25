/* sched_plan.h: which sequences feed how many tokens in the next step (prefix plan_).
 *
 * The continuous batcher's policy, kept free of the model so it can be tested
 * alone. Decoding sequences (want == 1 after their prompt) always go first, so
 * a long new prompt never stalls the tokens of running ones; prompt chunks then
 * share what is left of the token budget in arrival order, and a chunk may be
 * cut short (prefill continues next step).
 *
 *     int want[] = {1, 300, 1}, grant[3];
 *     int total = plan_step(want, is_prefill, 3, 256, grant); // grant = {1, 254, 1}
 *
 * Thread-safety: pure function.
 */
#ifndef TF_SERVER_SCHED_PLAN_H
#define TF_SERVER_SCHED_PLAN_H

/* want[i]: tokens sequence i could feed (seq_next_chunk, already capped at the
 * prefill chunk); prefill[i]: nonzero while its prompt is incomplete. Writes grant[i] in [0, want[i]] and returns the total, which is <= max_tokens. */
int plan_step(const int *want, const int *prefill, int n, int max_tokens, int *grant);

/* How many queued requests can join now: free batch slots, but no more than
 * max_batch - n_running and never negative. */
int plan_admit(int n_running, int n_queued, int max_batch);

#endif
