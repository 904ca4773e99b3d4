# FX_PY_TEST_ENV: the environment of a test that imports fx._fx from the
# build tree with ${FX_PYTHON}, and the tests' own _fxtest (the fake broker,
# python/tests/ext) from beside it. Included by python/, cli/ and test/.
set(FX_PY_TEST_ENV
  "PYTHONPATH=${CMAKE_BINARY_DIR}/python:${CMAKE_BINARY_DIR}/python-test"
  "PYTHONDONTWRITEBYTECODE=1"
  "FX_BIN_DIR=${CMAKE_BINARY_DIR}/bin")
if(FX_SANITIZE)
  # The interpreter is not instrumented: the ASan runtime must come first.
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
    OUTPUT_VARIABLE fx_asan OUTPUT_STRIP_TRAILING_WHITESPACE)
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libubsan.so
    OUTPUT_VARIABLE fx_ubsan OUTPUT_STRIP_TRAILING_WHITESPACE)
  list(APPEND FX_PY_TEST_ENV "LD_PRELOAD=${fx_asan} ${fx_ubsan}"
    "ASAN_OPTIONS=detect_leaks=0")
endif()
