/*  fx_container.c: runtimes, their default templates, and the rendering of
    a template into the argv of one launch (fx_container.h). */
#include "fx_container.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    const char *name, *program, *template_text;
    const char *env_flag;    /* before each K=V (bwrap: --setenv K V) */
    const char *bind_flag;   /* before each bind */
} s_runtime_t;

static const s_runtime_t s_runtimes[FX_RUNTIME_COUNT] = {
    [FX_RUNTIME_NONE] = {"none", NULL, "{command}", NULL, NULL},
    [FX_RUNTIME_BWRAP] = {"bwrap", "bwrap",
                          "bwrap --die-with-parent --unshare-pid --unshare-uts --unshare-ipc --hostname {name} "
                          "--ro-bind {image} / --dev /dev --proc /proc --tmpfs /tmp {binds} {env} {command}",
                          "--setenv", NULL},
    [FX_RUNTIME_PODMAN] = {"podman", "podman",
                           "podman run --rm --interactive --network none --hostname {name} --preserve-fds {fds} "
                           "{binds} {env} {image} {command}",
                           "-e", "-v"},
    [FX_RUNTIME_DOCKER] = {"docker", "docker",
                           "docker run --rm --interactive --network none --hostname {name} {binds} {env} {image} "
                           "{command}",
                           "-e", "-v"},
    [FX_RUNTIME_APPTAINER] = {"apptainer", "apptainer", "apptainer exec --containall --no-home {binds} {env} {image} {command}",
                              "--env", "--bind"},
    [FX_RUNTIME_SINGULARITY] = {"singularity", "singularity",
                                "singularity exec --containall --no-home {binds} {env} {image} {command}", "--env",
                                "--bind"},
};

int fx_runtime_parse(const char *name, fx_runtime_t *out)
{
    for (int i = 0; name && i < FX_RUNTIME_COUNT; i++)
        if (strcmp(name, s_runtimes[i].name) == 0) {
            *out = (fx_runtime_t) i;
            return 0;
        }
    return -1;
}

const char *fx_runtime_name(fx_runtime_t rt) { return rt < FX_RUNTIME_COUNT ? s_runtimes[rt].name : "?"; }
const char *fx_runtime_program(fx_runtime_t rt) { return rt < FX_RUNTIME_COUNT ? s_runtimes[rt].program : NULL; }
const char *fx_container_default_template(fx_runtime_t rt)
{
    return rt < FX_RUNTIME_COUNT ? s_runtimes[rt].template_text : NULL;
}

bool fx_runtime_available(fx_runtime_t rt, char *why, size_t whylen)
{
    const char *prog = fx_runtime_program(rt);
    if (!prog)
        return true;
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR); /* writable: a program whose --version cannot write fails */
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execlp(prog, prog, "--version", (char *) NULL);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0) {
        snprintf(why, whylen, "cannot run %s --version", prog);
        return false;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return true;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        snprintf(why, whylen, "%s is not installed (not on PATH)", prog);
    else
        snprintf(why, whylen, "%s --version failed (status %d)", prog, status);
    return false;
}

/* ---- rendering --------------------------------------------------------- */

typedef struct {
    char **v;
    size_t n, cap;
    int failed;
} s_argv_t;

static void s_push(s_argv_t *a, const char *word, size_t len)
{
    if (a->failed)
        return;
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        char **v = realloc(a->v, cap * sizeof *v);
        if (!v) {
            a->failed = 1;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    char *copy = strndup(word, len);
    if (!copy) {
        a->failed = 1;
        return;
    }
    a->v[a->n++] = copy;
    a->v[a->n] = NULL;
}

static void s_push_str(s_argv_t *a, const char *word) { s_push(a, word, strlen(word)); }

/* The placeholders, and which must stand alone as a word. */
static const struct {
    const char *text;
    bool whole_word;
} s_holders[] = {{"{image}", false}, {"{name}", false}, {"{fds}", false},
                 {"{command}", true}, {"{env}", true},   {"{binds}", true}};
#define S_HOLDERS (sizeof s_holders / sizeof s_holders[0])

/* Which placeholder starts at p (index), -1 for none, -2 for an unknown one. */
static int s_holder_at(const char *p)
{
    for (size_t i = 0; i < S_HOLDERS; i++)
        if (strncmp(p, s_holders[i].text, strlen(s_holders[i].text)) == 0)
            return (int) i;
    return -2;
}

/* Splits the template into words (blanks; "..." keeps blanks). Calls
   each(word, len, ctx) per word; -1 with err on an open quote. */
static int s_words(const char *t, int (*each)(const char *, size_t, void *), void *ctx, char *err, size_t errlen)
{
    char word[4096];
    size_t len = 0;
    bool in_word = false, quoted = false;
    for (const char *p = t;; p++) {
        if (*p == 0 || (!quoted && (*p == ' ' || *p == '\t' || *p == '\n'))) {
            if (quoted) {
                snprintf(err, errlen, "template has an open \" (close it)");
                return -1;
            }
            word[len] = 0;
            if (in_word && each(word, len, ctx) != 0)
                return -1;
            len = 0;
            in_word = false;
            if (*p == 0)
                return 0;
            continue;
        }
        in_word = true;
        if (*p == '"') {
            quoted = !quoted;
            continue;
        }
        if (len + 1 >= sizeof word) {
            snprintf(err, errlen, "template has a word longer than %zu bytes", sizeof word - 1);
            return -1;
        }
        word[len++] = *p;
    }
}

typedef struct {
    const fx_launch_t *l;
    const s_runtime_t *rt;
    s_argv_t out;
    bool command_seen;
    char *err;
    size_t errlen;
} s_render_t;

static int s_fail(s_render_t *r, const char *fmt, const char *what)
{
    snprintf(r->err, r->errlen, fmt, what);
    return -1;
}

static void s_expand_env(s_render_t *r)
{
    for (char *const *e = r->l->env; r->rt->env_flag && e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        s_push_str(&r->out, r->rt->env_flag);
        if (r->l->runtime == FX_RUNTIME_BWRAP) {
            s_push(&r->out, *e, (size_t) (eq - *e));
            s_push_str(&r->out, eq + 1);
        } else {
            s_push_str(&r->out, *e);
        }
    }
}

static void s_expand_binds(s_render_t *r)
{
    for (size_t i = 0; i < r->l->binds_count && r->l->runtime != FX_RUNTIME_NONE; i++) {
        const fx_bind_t *b = &r->l->binds[i];
        if (r->l->runtime == FX_RUNTIME_BWRAP) {
            s_push_str(&r->out, b->read_only ? "--ro-bind" : "--bind");
            s_push_str(&r->out, b->src);
            s_push_str(&r->out, b->dst);
            continue;
        }
        char spec[8192];
        snprintf(spec, sizeof spec, "%s:%s%s", b->src, b->dst, b->read_only ? ":ro" : "");
        s_push_str(&r->out, r->rt->bind_flag);
        s_push_str(&r->out, spec);
    }
}

/* One word of the template, placeholders filled in. */
static int s_render_word(const char *word, size_t len, void *ctx)
{
    s_render_t *r = ctx;
    char text[8192];
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (word[i] == '{' || word[i] == '}') {
            if (i + 1 < len && word[i + 1] == word[i]) {   /* {{ or }} */
                text[n++] = word[i];
                i += 2;
                continue;
            }
            if (word[i] == '}')
                return s_fail(r, "template has a lone %s (write }} for a literal brace)", "}");
            int h = s_holder_at(word + i);
            if (h == -2)
                return s_fail(r,
                              "template has an unknown placeholder near \"%.40s\"; expected {image}, {name}, "
                              "{fds}, {command}, {env} or {binds}",
                              word + i);
            size_t hl = strlen(s_holders[h].text);
            if (s_holders[h].whole_word) {
                if (len != hl)
                    return s_fail(r, "%s must be a word of its own in the template", s_holders[h].text);
                if (h == 3) {
                    r->command_seen = true;
                    for (char *const *c = r->l->command; c && *c; c++)
                        s_push_str(&r->out, *c);
                } else if (h == 4) {
                    s_expand_env(r);
                } else {
                    s_expand_binds(r);
                }
                return 0;
            }
            char value[4096];
            const char *image = r->l->image && r->l->image[0] ? r->l->image : "/";
            snprintf(value, sizeof value, "%s",
                     h == 0 ? image : h == 1 ? (r->l->name ? r->l->name : "fx") : "");
            if (h == 2)
                snprintf(value, sizeof value, "%d", r->l->preserve_fds);
            size_t vl = strlen(value);
            if (n + vl >= sizeof text)
                return s_fail(r, "a rendered word is longer than %s bytes", "8191");
            memcpy(text + n, value, vl);
            n += vl;
            i += hl;
            continue;
        }
        if (n + 1 >= sizeof text)
            return s_fail(r, "a rendered word is longer than %s bytes", "8191");
        text[n++] = word[i++];
    }
    s_push(&r->out, text, n);
    return 0;
}

static char **s_render(const fx_launch_t *l, const char *t, char *err, size_t errlen)
{
    s_render_t r = {.l = l, .rt = &s_runtimes[l->runtime < FX_RUNTIME_COUNT ? l->runtime : 0], .err = err,
                    .errlen = errlen};
    int rc = s_words(t, s_render_word, &r, err, errlen);
    if (rc == 0 && !r.command_seen) {
        snprintf(err, errlen, "template has no {command}; it must say where the worker command goes");
        rc = -1;
    }
    if (rc == 0 && (r.out.failed || !r.out.v)) {
        snprintf(err, errlen, "out of memory rendering the template");
        rc = -1;
    }
    if (rc != 0) {
        fx_container_argv_free(&r.out.v);
        return NULL;
    }
    return r.out.v;
}

int fx_container_template_check(const char *template_text, char *err, size_t errlen)
{
    static char *const probe[] = {"fx-worker", NULL};
    fx_launch_t l = {.runtime = FX_RUNTIME_BWRAP, .name = "probe", .image = "/", .command = probe};
    char **argv = s_render(&l, template_text, err, errlen);
    int rc = argv ? 0 : -1;
    fx_container_argv_free(&argv);
    return rc;
}

char **fx_container_render(const fx_launch_t *l, char *err, size_t errlen)
{
    err[0] = 0;
    if (l->runtime >= FX_RUNTIME_COUNT) {
        snprintf(err, errlen, "unknown container runtime %d", (int) l->runtime);
        return NULL;
    }
    if (!l->command || !l->command[0]) {
        snprintf(err, errlen, "no worker command to run in container %s", l->name ? l->name : "?");
        return NULL;
    }
    bool needs_image = l->runtime >= FX_RUNTIME_PODMAN;
    if (needs_image && (!l->image || !l->image[0])) {
        snprintf(err, errlen, "container %s: runtime %s needs an image", l->name ? l->name : "?",
                 fx_runtime_name(l->runtime));
        return NULL;
    }
    const char *t = l->template_text && l->template_text[0] ? l->template_text : s_runtimes[l->runtime].template_text;
    return s_render(l, t, err, errlen);
}

void fx_container_argv_free(char ***argv_p)
{
    if (!argv_p || !*argv_p)
        return;
    for (char **p = *argv_p; *p; p++)
        free(*p);
    free(*argv_p);
    *argv_p = NULL;
}
