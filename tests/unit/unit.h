/* What every Check suite here shares: run one suite in-process and turn failures into the
 * exit status ctest reads. */
#ifndef ATTACHD_TESTS_UNIT_H
#define ATTACHD_TESTS_UNIT_H

#include <check.h>
#include <stdlib.h>

static inline int unit_run(Suite *suite)
{
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int nfailed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
