#include <check.h>

#include "server/sched_plan.h"

START_TEST(decodes_first_then_prefill_chunks_in_order) {
    int want[] = {1, 300, 1, 50}, pre[] = {0, 1, 0, 1}, grant[4];
    ck_assert_int_eq(plan_step(want, pre, 4, 256, grant), 256);
    ck_assert_int_eq(grant[0], 1);
    ck_assert_int_eq(grant[1], 254); /* cut short, continues next step */
    ck_assert_int_eq(grant[2], 1);
    ck_assert_int_eq(grant[3], 0);   /* budget spent: waits a step */
}
END_TEST

START_TEST(everything_fits) {
    int want[] = {10, 1, 0}, pre[] = {1, 0, 0}, grant[3];
    ck_assert_int_eq(plan_step(want, pre, 3, 512, grant), 11);
    ck_assert_int_eq(grant[0], 10);
    ck_assert_int_eq(grant[1], 1);
    ck_assert_int_eq(grant[2], 0); /* finished sequence feeds nothing */
}
END_TEST

START_TEST(budget_smaller_than_decodes) {
    int want[] = {1, 1, 1}, pre[] = {0, 0, 0}, grant[3];
    ck_assert_int_eq(plan_step(want, pre, 3, 2, grant), 2);
    ck_assert_int_eq(grant[0] + grant[1] + grant[2], 2);
    ck_assert_int_eq(plan_step(want, pre, 0, 2, grant), 0);
}
END_TEST

START_TEST(admission_respects_free_slots) {
    ck_assert_int_eq(plan_admit(0, 5, 4), 4);
    ck_assert_int_eq(plan_admit(3, 5, 4), 1);
    ck_assert_int_eq(plan_admit(4, 5, 4), 0);
    ck_assert_int_eq(plan_admit(6, 5, 4), 0);
    ck_assert_int_eq(plan_admit(1, 2, 8), 2);
}
END_TEST

Suite *sched_plan_suite(void) {
    Suite *s = suite_create("sched_plan");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, decodes_first_then_prefill_chunks_in_order);
    tcase_add_test(tc, everything_fits);
    tcase_add_test(tc, admission_respects_free_slots);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("limits");
    tcase_add_test(tl, budget_smaller_than_decodes);
    suite_add_tcase(s, tl);
    return s;
}
