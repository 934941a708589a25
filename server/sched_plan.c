/* sched_plan.c: the batching policy (see sched_plan.h). */
#include "server/sched_plan.h"

int plan_step(const int *want, const int *prefill, int n, int max_tokens, int *grant) {
    int used = 0;
    for (int i = 0; i < n; i++) {
        grant[i] = 0;
        if (!prefill[i] && want[i] > 0 && used < max_tokens) {
            grant[i] = 1; /* decode feeds exactly one token */
            used++;
        }
    }
    for (int i = 0; i < n; i++) {
        if (!prefill[i] || want[i] <= 0 || used >= max_tokens) continue;
        int g = want[i] < max_tokens - used ? want[i] : max_tokens - used;
        grant[i] = g;
        used += g;
    }
    return used;
}

int plan_admit(int n_running, int n_queued, int max_batch) {
    int free_slots = max_batch - n_running;
    if (free_slots < 0) free_slots = 0;
    return n_queued < free_slots ? n_queued : free_slots;
}
