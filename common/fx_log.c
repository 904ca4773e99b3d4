/*  fx_log.c: formats and writes log lines (fx_log.h). */
#include "fx_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Longest line written; longer text is cut and ends in "...". */
#define S_LINE_MAX 4096

static char s_component[64] = "fx";
static fx_log_level_t s_level = FX_LOG_INFO;
static int s_fd = STDERR_FILENO;

static const char *s_level_names[] = { "debug", "info", "warning", "error" };

int fx_log_level_parse(const char *text)
{
    for (int i = 0; i < 4; i++)
        if (text && strcasecmp(text, s_level_names[i]) == 0)
            return i;
    if (text && strcasecmp(text, "warn") == 0)
        return FX_LOG_WARN;
    return -1;
}

void fx_log_init(const char *component)
{
    snprintf(s_component, sizeof s_component, "%s", component ? component : "fx");
    const char *env = getenv("FX_LOG_LEVEL");
    if (env && *env) {
        int level = fx_log_level_parse(env);
        if (level < 0)
            fx_log(FX_LOG_WARN, "FX_LOG_LEVEL=%s is not debug, info, warning or error; using info", env);
        else
            s_level = (fx_log_level_t) level;
    }
}

int fx_log_open(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (s_fd != STDERR_FILENO)
        close(s_fd);
    s_fd = fd;
    return 0;
}

void fx_log_set_level(fx_log_level_t level)
{
    s_level = level;
}

fx_log_level_t fx_log_get_level(void)
{
    return s_level;
}

void fx_vlog(fx_log_level_t level, const char *fmt, va_list ap)
{
    if (level < s_level)
        return;
    int saved_errno = errno; /* callers often log and then read errno */
    char line[S_LINE_MAX];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s[%d] ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (tv.tv_usec / 1000),
                     s_level_names[level < 0 || level > 3 ? 1 : level], s_component, (int) getpid());
    if (n < 0)
        n = 0;
    int m = vsnprintf(line + n, sizeof line - (size_t) n - 1, fmt, ap);
    size_t len;
    if (m < 0)
        len = (size_t) n;
    else if ((size_t) m >= sizeof line - (size_t) n - 1) {
        len = sizeof line - 1;
        memcpy(line + len - 4, "...", 3);
        len -= 1;
    }
    else
        len = (size_t) (n + m);
    while (len > (size_t) n && line[len - 1] == '\n')
        len--;
    line[len++] = '\n';
    ssize_t w = write(s_fd, line, len);
    (void) w; /* nowhere better to report a failed log write */
    errno = saved_errno;
}

void fx_log(fx_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fx_vlog(level, fmt, ap);
    va_end(ap);
}
