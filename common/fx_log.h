/*  fx_log.h: the one logger of every fx process.

    A line is   TIME LEVEL COMPONENT[PID] text
    for example 2026-12-01T08:15:10.123Z info fx-broker[4242] endpoint 6f1c... online
    with the time in UTC to the millisecond, so lines from the processes of
    one federation sort into one story. Ids go in the text as `key=value`
    (task=..., endpoint=..., manager=...), which keeps lines greppable by id.

    Lines go to stderr until fx_log_open() names a file (then to the file,
    appended, line-buffered). stdout is never used: it carries only the lines
    other programs parse ("fx-endpoint: ready endpoint_id=..."). One write
    per line, so lines of processes sharing a file do not interleave. */
#ifndef FX_LOG_H
#define FX_LOG_H

#include <stdarg.h>

typedef enum {
    FX_LOG_DEBUG = 0,
    FX_LOG_INFO = 1,
    FX_LOG_WARN = 2,
    FX_LOG_ERROR = 3,
} fx_log_level_t;

/* Names the component in every line ("fx-broker") and reads FX_LOG_LEVEL
   (debug, info, warning, error; default info). Call once, early in main. */
void fx_log_init(const char *component);

/* Sends lines to path (created 0600 if missing, appended) instead of
   stderr. 0, or -1 with errno (lines keep going to stderr). */
int fx_log_open(const char *path);

/* Lines below level are dropped. */
void fx_log_set_level(fx_log_level_t level);
fx_log_level_t fx_log_get_level(void);

/* Parses "debug" / "info" / "warning" / "error"; -1 for anything else. */
int fx_log_level_parse(const char *text);

void fx_log(fx_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fx_vlog(fx_log_level_t level, const char *fmt, va_list ap);

#define fx_debug(...) fx_log(FX_LOG_DEBUG, __VA_ARGS__)
#define fx_info(...) fx_log(FX_LOG_INFO, __VA_ARGS__)
#define fx_warn(...) fx_log(FX_LOG_WARN, __VA_ARGS__)
#define fx_error(...) fx_log(FX_LOG_ERROR, __VA_ARGS__)

#endif
