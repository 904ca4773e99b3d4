# embed.cmake: turns fx_runner.py into a C header, so fx-worker carries its
# Python half inside the binary (nothing to find at run time, and the runner
# can never be out of step with the C side that calls it).
#   cmake -DIN=fx_runner.py -DOUT=fx_runner_py.h -P embed.cmake
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" len)
set(body "")
set(pos 0)
while(pos LESS len)
  string(SUBSTRING "${hex}" ${pos} 48 chunk)   # 24 bytes per line
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," chunk "${chunk}")
  string(APPEND body "    ${chunk}\n")
  math(EXPR pos "${pos} + 48")
endwhile()
file(WRITE "${OUT}.tmp"
  "/* Generated from fx_runner.py by embed.cmake: do not edit. */\n"
  "static const char s_runner_py[] = {\n${body}    0x00\n};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
