#!/bin/sh
# valgrind-fx-manager.sh: stands in for fx-manager in the valgrind-only
# manager tests (manager/CMakeLists.txt): runs the real one, named by
# FX_MANAGER_REAL, under valgrind with the suite's suppressions
# (FX_VALGRIND_SUPP); an error or a definite leak makes it exit 99, which
# the test sees as the manager not exiting 0. Its workers run as usual.
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --suppressions="$FX_VALGRIND_SUPP" "$FX_MANAGER_REAL" "$@"
