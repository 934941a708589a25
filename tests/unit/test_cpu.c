#include <check.h>
#include <string.h>

#include "core/cpu.h"

START_TEST(isa_names_round_trip) {
    for (int i = 0; i < TF_ISA_COUNT; i++)
        ck_assert_int_eq(cpu_isa_parse(cpu_isa_name((tf_isa)i)), i);
    ck_assert_str_eq(cpu_isa_name(TF_ISA_VNNI), "vnni");
    ck_assert_str_eq(cpu_isa_name((tf_isa)99), "?");
    ck_assert_int_eq(cpu_isa_parse("sse9"), -1);
    ck_assert_int_eq(cpu_isa_parse(NULL), -1);
}
END_TEST

START_TEST(force_only_lowers) {
    ck_assert_int_eq(cpu_isa_resolve(TF_ISA_VNNI, "ref", 0), TF_ISA_REF);
    ck_assert_int_eq(cpu_isa_resolve(TF_ISA_VNNI, "avx2", 0), TF_ISA_AVX2);
    ck_assert_int_eq(cpu_isa_resolve(TF_ISA_AVX2, "vnni", 0), TF_ISA_AVX2);
    ck_assert_int_eq(cpu_isa_resolve(TF_ISA_REF, "avx2", 0), TF_ISA_REF);
    ck_assert_int_eq(cpu_isa_resolve(TF_ISA_AVX2, "bogus", 0), TF_ISA_AVX2);
    ck_assert_int_eq(cpu_isa_resolve(TF_ISA_AVX2, "", 0), TF_ISA_AVX2);
    ck_assert_int_eq(cpu_isa_resolve(TF_ISA_AVX2, NULL, 0), TF_ISA_AVX2);
}
END_TEST

START_TEST(chosen_isa_is_supported) {
    tf_isa isa = cpu_isa();
    ck_assert(cpu_isa_supported(isa));
    ck_assert_int_le(isa, cpu_isa_detect());
    ck_assert(cpu_isa_supported(TF_ISA_REF));
    ck_assert(!cpu_isa_supported((tf_isa)TF_ISA_COUNT));
    ck_assert_int_eq(cpu_isa(), isa); /* cached */
    ck_assert_int_ge(cpu_count_online(), 1);
}
END_TEST

Suite *cpu_suite(void) {
    Suite *s = suite_create("cpu");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, isa_names_round_trip);
    tcase_add_test(tc, force_only_lowers);
    tcase_add_test(tc, chosen_isa_is_supported);
    suite_add_tcase(s, tc);
    return s;
}
