/*  fx_ix_launch.c: the container flags every manager the endpoint starts
    gets (fx_ix_provider.h, fx_ix_launch_flags), from the endpoint config
    (SPEC 12.7): the local provider puts them on fx-manager's command line,
    the batch providers into each node's script. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_container.h"
#include "fx_ix_provider.h"

typedef struct {
    char **argv;
    size_t count, cap;
    bool oom;
} s_flags_t;

static void s_push(s_flags_t *f, const char *text)
{
    if (f->oom)
        return;
    if (f->count + 2 > f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 16;
        char **more = realloc(f->argv, cap * sizeof *more);
        if (!more) {
            f->oom = true;
            return;
        }
        f->argv = more;
        f->cap = cap;
    }
    if (!(f->argv[f->count] = strdup(text))) {
        f->oom = true;
        return;
    }
    f->argv[++f->count] = NULL;
}

static void s_push_number(s_flags_t *f, const char *flag, long long value)
{
    char text[32];
    snprintf(text, sizeof text, "%lld", value);
    s_push(f, flag);
    s_push(f, text);
}

/* template with {image} replaced by image (as one word: in double quotes
   if it has blanks); {{ and }} are left as they are. -1 if it does not fit
   or the image holds a double quote. */
static int s_with_image(const char *template_text, const char *image, char *out, size_t cap)
{
    bool quote = strpbrk(image, " \t") != NULL;
    if (strchr(image, '"'))
        return -1;
    size_t n = 0;
    for (const char *p = template_text; *p;) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            if (n + 2 >= cap)
                return -1;
            out[n++] = *p++;
            out[n++] = *p++;
            continue;
        }
        if (strncmp(p, "{image}", 7) == 0) {
            int w = snprintf(out + n, cap - n, quote ? "\"%s\"" : "%s", image);
            if (w < 0 || (size_t) w >= cap - n)
                return -1;
            n += (size_t) w;
            p += 7;
            continue;
        }
        if (n + 1 >= cap)
            return -1;
        out[n++] = *p++;
    }
    out[n] = '\0';
    return 0;
}

char **fx_ix_launch_flags(const fx_ix_manager_opts_t *opts, char *err, size_t errlen)
{
    s_flags_t f = {.argv = calloc(16, sizeof(char *)), .cap = 16, .oom = false};
    f.oom = f.argv == NULL;
    if (opts->strategy && opts->strategy[0]) {
        s_push(&f, "--container-strategy");
        s_push(&f, opts->strategy);
    }
    if (opts->max_workers_per_container >= 0)
        s_push_number(&f, "--max-workers-per-container", opts->max_workers_per_container);
    if (opts->idle_ms >= 0)
        s_push_number(&f, "--container-idle-ms", opts->idle_ms);
    if (opts->start_timeout_ms >= 0)
        s_push_number(&f, "--container-start-timeout-ms", opts->start_timeout_ms);
    for (size_t i = 0; i < opts->containers_count; i++) {
        const fx_ix_container_conf_t *ct = &opts->containers[i];
        fx_runtime_t rt = FX_RUNTIME_NONE;
        fx_runtime_parse(ct->runtime, &rt); /* the config checked it */
        const char *t = ct->template_text[0] ? ct->template_text : fx_container_default_template(rt);
        char text[FX_NAME_MAX + 1 + 2 * FX_IX_LINE_MAX];
        int len = snprintf(text, sizeof text, "%s=", ct->name);
        if (ct->image[0] ? s_with_image(t, ct->image, text + len, sizeof text - (size_t) len) != 0
                         : snprintf(text + len, sizeof text - (size_t) len, "%s", t) >= (int) (sizeof text) - len) {
            snprintf(err, errlen, "containers: %s: its image %s cannot be written into its template", ct->name,
                     ct->image);
            fx_ix_launch_flags_free(&f.argv);
            return NULL;
        }
        s_push(&f, "--container-template");
        s_push(&f, text);
    }
    if (f.oom) {
        snprintf(err, errlen, "out of memory");
        fx_ix_launch_flags_free(&f.argv);
        return NULL;
    }
    return f.argv; /* argv[count] is NULL: calloc'd, and each push ends it */
}

void fx_ix_launch_flags_free(char ***flags_p)
{
    if (!flags_p || !*flags_p)
        return;
    for (char **p = *flags_p; *p; p++)
        free(*p);
    free(*flags_p);
    *flags_p = NULL;
}
