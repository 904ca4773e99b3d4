/*  fx_ix_log.h: one-line log messages of fx-endpoint, on stderr.

    stdout carries only the lines other programs parse ("fx-endpoint: ready
    ..."), so everything else goes to stderr, prefixed with the program name
    and a level so that a person reading a mixed log knows who spoke. */
#ifndef FX_IX_LOG_H
#define FX_IX_LOG_H

#include <stdio.h>

#define fx_ix_log(level, ...)                                                                                \
    do {                                                                                                     \
        fprintf(stderr, "fx-endpoint: " level ": " __VA_ARGS__);                                             \
        fputc('\n', stderr);                                                                                 \
    } while (0)

#define fx_ix_info(...) fx_ix_log("info", __VA_ARGS__)
#define fx_ix_warn(...) fx_ix_log("warning", __VA_ARGS__)
#define fx_ix_error(...) fx_ix_log("error", __VA_ARGS__)

#endif
