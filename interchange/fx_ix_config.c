/*  fx_ix_config.c: config.yaml -> fx_ix_config_t (fx_ix_config.h), through
    libyaml's document loader, which keeps every node's line and column.

    Each section is a table of the keys it takes; a reader per value type
    (number, duration, string, path, lines, ...) checks the value and, on
    the first problem, writes one sentence naming the file, the line and
    column, the key and what was expected. A key with an empty or null
    value counts as not given. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "fx_container.h"
#include "fx_file.h"
#include "fx_ix_address.h"
#include "fx_ix_config.h"

/* Every section's keys fit one bit each of a seen-mask. */
#define S_KEYS_MAX 32

typedef struct {
    const char *origin;  /* the file, in messages */
    char base[PATH_MAX]; /* relative paths start here ("" = the current folder) */
    yaml_document_t *doc;
    fx_ix_config_t *cfg;
    char *err;
    size_t errlen;
} s_ctx_t;

/* ------------------------------------------------------------ messages */

/* "FILE:LINE:COL: KEY: ..." into err; returns -1. */
__attribute__((format(printf, 4, 5))) static int s_fail(s_ctx_t *c, const yaml_node_t *node, const char *key,
                                                        const char *fmt, ...)
{
    size_t len =
        (size_t) snprintf(c->err, c->errlen, "%s:%zu:%zu: %s: ", c->origin,
                          node ? node->start_mark.line + 1 : 1, node ? node->start_mark.column + 1 : 1, key);
    if (len < c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + len, c->errlen - len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* What a node is, for "expected X, got Y". */
static const char *s_got(const yaml_node_t *n, char *buf, size_t cap)
{
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping (key: value lines)";
    if (n->type != YAML_SCALAR_NODE)
        return "nothing";
    snprintf(buf, cap, "\"%.*s\"%s", n->data.scalar.length > 60 ? 60 : (int) n->data.scalar.length,
             (const char *) n->data.scalar.value, n->data.scalar.length > 60 ? "..." : "");
    return buf;
}

static int s_expected(s_ctx_t *c, const yaml_node_t *n, const char *key, const char *what)
{
    char buf[96];
    return s_fail(c, n, key, "expected %s, got %s", what, s_got(n, buf, sizeof buf));
}

/* Edit distance of a and b, capped at 3 (only "close" matters). */
static int s_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 3;
    int row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int) j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int) i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb] < 3 ? row[lb] : 3;
}

/* ------------------------------------------------------------ scalars */

static bool s_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *) n->data.scalar.value;
    return !*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

/* The text of a scalar node; NULL (err set) for anything else. */
static const char *s_text(s_ctx_t *c, const yaml_node_t *n, const char *key, const char *what)
{
    if (n->type != YAML_SCALAR_NODE) {
        s_expected(c, n, key, what);
        return NULL;
    }
    if (strlen((const char *) n->data.scalar.value) != n->data.scalar.length) {
        s_fail(c, n, key, "contains a NUL character; expected %s", what);
        return NULL;
    }
    return (const char *) n->data.scalar.value;
}

static int s_int(s_ctx_t *c, const yaml_node_t *n, const char *key, long lo, long hi, int *out)
{
    char what[96];
    snprintf(what, sizeof what, "a whole number from %ld to %ld", lo, hi);
    const char *t = s_text(c, n, key, what);
    if (!t)
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(t, &end, 10);
    if (!*t || *end || errno || v < lo || v > hi || isspace((unsigned char) *t))
        return s_expected(c, n, key, what);
    *out = (int) v;
    return 0;
}

/* 500ms, 30s, 5m, 1h, 2d; a bare number is seconds. */
static int s_duration(s_ctx_t *c, const yaml_node_t *n, const char *key, int64_t lo_ms, int64_t hi_ms,
                      int64_t *out)
{
    char what[160];
    snprintf(what, sizeof what, "a duration such as 500ms, 30s, 5m or 1h (from %lld ms to %lld s)",
             (long long) lo_ms, (long long) (hi_ms / 1000));
    const char *t = s_text(c, n, key, what);
    if (!t)
        return -1;
    char *end = NULL;
    errno = 0;
    long long v = isdigit((unsigned char) *t) ? strtoll(t, &end, 10) : -1;
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    int64_t scale = 0;
    for (size_t i = 0; v >= 0 && end && i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].unit) == 0)
            scale = units[i].ms;
    if (v < 0 || errno || !scale || v > hi_ms || v * scale < lo_ms || v * scale > hi_ms)
        return s_expected(c, n, key, what);
    *out = v * scale;
    return 0;
}

static int s_string(s_ctx_t *c, const yaml_node_t *n, const char *key, char *out, size_t cap)
{
    char what[64];
    snprintf(what, sizeof what, "a string of at most %zu bytes", cap - 1);
    const char *t = s_text(c, n, key, what);
    if (!t)
        return -1;
    if (strlen(t) >= cap)
        return s_fail(c, n, key, "is %zu bytes long; expected %s", strlen(t), what);
    snprintf(out, cap, "%s", t);
    return 0;
}

/* One of names (count of them); *out = its index. */
static int s_enum(s_ctx_t *c, const yaml_node_t *n, const char *key, const char *const *names, size_t count,
                  int *out)
{
    char what[256] = "one of";
    for (size_t i = 0; i < count; i++)
        snprintf(what + strlen(what), sizeof what - strlen(what), "%s %s", i ? "," : "", names[i]);
    const char *t = s_text(c, n, key, what);
    if (!t)
        return -1;
    for (size_t i = 0; i < count; i++)
        if (strcmp(t, names[i]) == 0) {
            *out = (int) i;
            return 0;
        }
    return s_expected(c, n, key, what);
}

/* A path: ~/ is $HOME, a relative one starts at the file's folder. */
static int s_path(s_ctx_t *c, const yaml_node_t *n, const char *key, char *out, size_t cap)
{
    const char *t = s_text(c, n, key, "a file path");
    if (!t)
        return -1;
    const char *home = getenv("HOME");
    int len;
    if (strncmp(t, "~/", 2) == 0 && home && *home)
        len = snprintf(out, cap, "%s/%s", home, t + 2);
    else if (t[0] != '/' && c->base[0])
        len = snprintf(out, cap, "%s/%s", c->base, t);
    else
        len = snprintf(out, cap, "%s", t);
    if (len < 0 || (size_t) len >= cap)
        return s_fail(c, n, key, "the path is too long (at most %zu bytes)", cap - 1);
    return 0;
}

/* Lines: a list of strings, or one string (a block scalar: one line each). */
static int s_add_lines(s_ctx_t *c, const yaml_node_t *n, const char *key, const char *text, char ***lines,
                       size_t *count)
{
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t) (nl - p) : strlen(p);
        if (*count == FX_IX_LINES_MAX)
            return s_fail(c, n, key, "more than %d lines", FX_IX_LINES_MAX);
        if (len >= FX_IX_LINE_MAX)
            return s_fail(c, n, key, "a line of %zu bytes; expected at most %d", len, FX_IX_LINE_MAX - 1);
        char **grown = realloc(*lines, (*count + 1) * sizeof *grown);
        if (!grown || !(grown[*count] = strndup(p, len))) {
            if (grown)
                *lines = grown;
            return s_fail(c, n, key, "out of memory");
        }
        *lines = grown;
        (*count)++;
        p += len + (nl != NULL);
    }
    return 0;
}

static int s_lines(s_ctx_t *c, const yaml_node_t *n, const char *key, char ***lines, size_t *count)
{
    static const char what[] = "a list of lines (or one multi-line string)";
    if (n->type == YAML_SCALAR_NODE) {
        const char *t = s_text(c, n, key, what);
        return t ? s_add_lines(c, n, key, t, lines, count) : -1;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return s_expected(c, n, key, what);
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
        yaml_node_t *item = yaml_document_get_node(c->doc, *i);
        char where[128];
        snprintf(where, sizeof where, "%s[%td]", key, i - n->data.sequence.items.start);
        const char *t = item ? s_text(c, item, where, "a line of text") : NULL;
        if (!t || s_add_lines(c, item, where, t, lines, count) != 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ mappings */

/* One key of a mapping: which of names it is (index), or -1 with err set.
   seen catches a key given twice. */
static int s_key(s_ctx_t *c, const yaml_node_t *k, const char *section, const char *const *names,
                 size_t count, uint32_t *seen)
{
    char path[160];
    if (k->type != YAML_SCALAR_NODE) {
        snprintf(path, sizeof path, "%s", section[0] ? section : "(top level)");
        return s_fail(c, k, path, "a key must be a plain word, not %s",
                      k->type == YAML_SEQUENCE_NODE ? "a list" : "a mapping");
    }
    const char *name = (const char *) k->data.scalar.value;
    snprintf(path, sizeof path, "%s%s%s", section, section[0] ? "." : "", name);
    for (size_t i = 0; i < count; i++)
        if (strcmp(name, names[i]) == 0) {
            if (*seen & (1u << i))
                return s_fail(c, k, path, "given twice; keep one");
            *seen |= 1u << i;
            return (int) i;
        }
    char keys[512] = "";
    const char *close = NULL;
    for (size_t i = 0; i < count; i++) {
        snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%s%s", i ? ", " : "", names[i]);
        if (!close && s_distance(name, names[i]) <= 2)
            close = names[i];
    }
    if (close)
        return s_fail(c, k, path, "unknown key; did you mean %s? (%s takes: %s)", close,
                      section[0] ? section : "the top level", keys);
    return s_fail(c, k, path, "unknown key; %s takes: %s", section[0] ? section : "the top level", keys);
}

static int s_mapping(s_ctx_t *c, const yaml_node_t *n, const char *key)
{
    return n->type == YAML_MAPPING_NODE ? 0 : s_expected(c, n, key, "a mapping (key: value lines)");
}

/* ------------------------------------------------------------ provider */

enum {
    S_LOCAL = 1 << FX_IX_PROVIDER_LOCAL,
    S_SLURM = 1 << FX_IX_PROVIDER_SLURM,
    S_PBS = 1 << FX_IX_PROVIDER_PBS
};
enum { S_ALL = S_LOCAL | S_SLURM | S_PBS, S_BATCH = S_SLURM | S_PBS };

static const char *const s_provider_keys[] = {
    "type",        "nodes_per_block", "init_blocks", "min_blocks",    "max_blocks",
    "worker_init", "partition",       "queue",       "account",       "scheduler_options",
    "walltime",    "launcher",        "cmd_timeout", "cpus_per_node",
};
static const unsigned s_provider_kinds[] = {
    S_ALL, S_ALL,   S_ALL,   S_ALL,   S_ALL,   S_ALL,   S_SLURM,
    S_PBS, S_BATCH, S_BATCH, S_BATCH, S_BATCH, S_BATCH, S_PBS,
};
#define S_PROVIDER_KEYS (sizeof s_provider_keys / sizeof s_provider_keys[0])

static const char *const s_provider_names[] = {"local", "slurm", "pbs"};

const char *fx_ix_provider_name(fx_ix_provider_kind_t kind)
{
    return kind >= FX_IX_PROVIDER_LOCAL && kind <= FX_IX_PROVIDER_PBS ? s_provider_names[kind - 1] : "none";
}

/* [D-]HH:MM:SS, minutes and seconds below 60. */
static bool s_walltime_ok(const char *t)
{
    const char *p = t;
    const char *dash = strchr(t, '-');
    if (dash) {
        if (dash == t)
            return false;
        for (; p < dash; p++)
            if (!isdigit((unsigned char) *p))
                return false;
        p++;
    }
    size_t hours = strspn(p, "0123456789");
    if (hours == 0 || hours > 4 || p[hours] != ':')
        return false;
    p += hours + 1;
    for (int part = 0; part < 2; part++, p += 3) {
        if (!isdigit((unsigned char) p[0]) || !isdigit((unsigned char) p[1]) || p[0] > '5')
            return false;
        if (part == 0 ? p[2] != ':' : p[2] != '\0')
            return false;
    }
    return true;
}

/* The provider section's type comes first: it decides which keys the
   other lines may use. */
static int s_provider_type(s_ctx_t *c, const yaml_node_t *n, fx_ix_provider_conf_t *p)
{
    for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, pair->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE ||
            strcmp((const char *) k->data.scalar.value, "type") != 0)
            continue;
        if (s_is_null(v))
            break;
        int kind;
        if (s_enum(c, v, "provider.type", s_provider_names, 3, &kind) != 0)
            return -1;
        p->kind = (fx_ix_provider_kind_t) (kind + 1);
        return 0;
    }
    return s_fail(c, n, "provider.type", "missing; expected local, slurm or pbs");
}

static int s_provider_value(s_ctx_t *c, int key, const yaml_node_t *v, const char *path,
                            fx_ix_provider_conf_t *p)
{
    static const char *const launchers[] = {"srun", "mpiexec"};
    int launcher;
    switch (key) {
    case 0:
        return 0; /* type: read first */
    case 1:
        return s_int(c, v, path, 1, FX_IX_NODES_PER_BLOCK_MAX, &p->nodes_per_block);
    case 2:
        return s_int(c, v, path, 0, FX_IX_BLOCKS_MAX, &p->init_blocks);
    case 3:
        return s_int(c, v, path, 0, FX_IX_BLOCKS_MAX, &p->min_blocks);
    case 4:
        return s_int(c, v, path, 0, FX_IX_BLOCKS_MAX, &p->max_blocks);
    case 5:
        return s_lines(c, v, path, &p->worker_init, &p->worker_init_count);
    case 6:
        return s_string(c, v, path, p->partition, sizeof p->partition);
    case 7:
        return s_string(c, v, path, p->queue, sizeof p->queue);
    case 8:
        return s_string(c, v, path, p->account, sizeof p->account);
    case 9:
        return s_lines(c, v, path, &p->scheduler_options, &p->scheduler_options_count);
    case 10:
        if (s_string(c, v, path, p->walltime, sizeof p->walltime) != 0)
            return -1;
        return s_walltime_ok(p->walltime) ? 0 : s_expected(c, v, path, "a walltime HH:MM:SS or D-HH:MM:SS");
    case 11:
        if (s_enum(c, v, path, launchers, 2, &launcher) != 0)
            return -1;
        p->launcher = launcher == 0 ? FX_IX_LAUNCH_SRUN : FX_IX_LAUNCH_MPIEXEC;
        return 0;
    case 12:
        return s_duration(c, v, path, 1000, 3600 * 1000, &p->cmd_timeout_ms);
    case 13:
        return s_int(c, v, path, 1, 1 << 16, &p->cpus_per_node);
    }
    return 0;
}

/* Which providers take key i, for "not an option of" messages. */
static void s_kinds_text(unsigned kinds, char *out, size_t cap)
{
    out[0] = '\0';
    for (int k = FX_IX_PROVIDER_LOCAL; k <= FX_IX_PROVIDER_PBS; k++)
        if (kinds & (1u << k))
            snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? " and " : "",
                     s_provider_names[k - 1]);
}

static int s_provider(s_ctx_t *c, const yaml_node_t *n)
{
    fx_ix_provider_conf_t *p = &c->cfg->provider;
    if (s_mapping(c, n, "provider") != 0 || s_provider_type(c, n, p) != 0)
        return -1;
    const yaml_node_t *at[S_PROVIDER_KEYS] = {0};
    uint32_t seen = 0;
    for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, pair->value);
        int key = s_key(c, k, "provider", s_provider_keys, S_PROVIDER_KEYS, &seen);
        if (key < 0)
            return -1;
        char path[96];
        snprintf(path, sizeof path, "provider.%s", s_provider_keys[key]);
        if (!(s_provider_kinds[key] & (1u << p->kind))) {
            char kinds[64];
            s_kinds_text(s_provider_kinds[key], kinds, sizeof kinds);
            return s_fail(c, k, path, "not an option of provider %s (only of %s)",
                          fx_ix_provider_name(p->kind), kinds);
        }
        at[key] = v;
        if (!s_is_null(v) && s_provider_value(c, key, v, path, p) != 0)
            return -1;
    }
    if (p->min_blocks != FX_IX_UNSET && p->max_blocks != FX_IX_UNSET && p->min_blocks > p->max_blocks)
        return s_fail(c, at[4], "provider.max_blocks",
                      "%d is below min_blocks %d; expected max_blocks >= min_blocks", p->max_blocks,
                      p->min_blocks);
    if (p->init_blocks != FX_IX_UNSET && p->max_blocks != FX_IX_UNSET && p->init_blocks > p->max_blocks)
        return s_fail(c, at[2], "provider.init_blocks",
                      "%d is above max_blocks %d; expected init_blocks <= max_blocks", p->init_blocks,
                      p->max_blocks);
    return 0;
}

/* ------------------------------------------------------------ containers */

/* The runtimes an entry may name (container/fx_container.h). */
static const char s_runtimes_text[] = "none, bwrap, podman, docker, apptainer or singularity";

/* A template: fx_container_template_check's placeholders, {command} required. */
static int s_template(s_ctx_t *c, const yaml_node_t *v, const char *path, const char *t)
{
    char why[512];
    if (fx_container_template_check(t, why, sizeof why) == 0)
        return 0;
    return s_fail(c, v, path, "%s; expected a command line such as \"apptainer exec {image} {command}\"", why);
}

static int s_container(s_ctx_t *c, const yaml_node_t *k, const yaml_node_t *n, fx_ix_container_conf_t *ct)
{
    static const char *const keys[] = {"runtime", "image", "template"};
    char section[FX_NAME_MAX + 16], path[FX_NAME_MAX + 32];
    snprintf(section, sizeof section, "containers.%s", ct->name);
    if (s_mapping(c, n, section) != 0)
        return -1;
    uint32_t seen = 0;
    fx_runtime_t runtime = FX_RUNTIME_COUNT;
    for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
        yaml_node_t *key_node = yaml_document_get_node(c->doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, pair->value);
        int key = s_key(c, key_node, section, keys, 3, &seen);
        if (key < 0)
            return -1;
        snprintf(path, sizeof path, "%s.%s", section, keys[key]);
        if (s_is_null(v))
            continue;
        if (key == 0) {
            char what[96];
            snprintf(what, sizeof what, "one of %s", s_runtimes_text);
            const char *t = s_text(c, v, path, what);
            if (!t)
                return -1;
            if (fx_runtime_parse(t, &runtime) != 0)
                return s_expected(c, v, path, what);
        }
        if (key == 1 && s_string(c, v, path, ct->image, sizeof ct->image) != 0)
            return -1;
        if (key == 2 && (s_string(c, v, path, ct->template_text, sizeof ct->template_text) != 0 ||
                         s_template(c, v, path, ct->template_text) != 0))
            return -1;
    }
    snprintf(path, sizeof path, "%s.runtime", section);
    if (runtime == FX_RUNTIME_COUNT)
        return s_fail(c, k, path, "missing; expected one of %s", s_runtimes_text);
    snprintf(ct->runtime, sizeof ct->runtime, "%s", fx_runtime_name(runtime));
    snprintf(path, sizeof path, "%s.image", section);
    if (!ct->image[0] && runtime != FX_RUNTIME_NONE && runtime != FX_RUNTIME_BWRAP)
        return s_fail(c, k, path, "missing; runtime %s needs an image", fx_runtime_name(runtime));
    return 0;
}

static int s_containers(s_ctx_t *c, const yaml_node_t *n)
{
    if (s_mapping(c, n, "containers") != 0)
        return -1;
    size_t count = (size_t) (n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (count > FX_CONTAINERS_MAX)
        return s_fail(c, n, "containers", "%zu containers; expected at most %d", count, FX_CONTAINERS_MAX);
    c->cfg->containers = calloc(count ? count : 1, sizeof *c->cfg->containers);
    if (!c->cfg->containers)
        return s_fail(c, n, "containers", "out of memory");
    for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, pair->value);
        fx_ix_container_conf_t *ct = &c->cfg->containers[c->cfg->containers_count];
        const char *name = s_text(c, k, "containers", "a container name");
        if (!name)
            return -1;
        if (!*name || strlen(name) > FX_NAME_MAX)
            return s_fail(c, k, "containers", "a container name must be 1 to %d bytes", FX_NAME_MAX);
        for (size_t i = 0; i < c->cfg->containers_count; i++)
            if (strcmp(c->cfg->containers[i].name, name) == 0)
                return s_fail(c, k, "containers", "%s is given twice; keep one", name);
        snprintf(ct->name, sizeof ct->name, "%s", name);
        if (s_container(c, k, v, ct) != 0)
            return -1;
        c->cfg->containers_count++;
    }
    return 0;
}

/* ------------------------------------------------------------ the top level */

static int s_allowed(s_ctx_t *c, const yaml_node_t *n)
{
    static const char what[] = "a list of function ids (as `fx functions` shows them)";
    if (n->type != YAML_SEQUENCE_NODE)
        return s_expected(c, n, "allowed_functions", what);
    size_t count = (size_t) (n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0)
        return s_fail(c, n, "allowed_functions",
                      "an empty list would refuse every task; leave the key out "
                      "to allow every function");
    if (count > FX_IX_ALLOWED_MAX)
        return s_fail(c, n, "allowed_functions", "%zu ids; expected at most %d", count, FX_IX_ALLOWED_MAX);
    c->cfg->allowed_functions = calloc(count, sizeof *c->cfg->allowed_functions);
    if (!c->cfg->allowed_functions)
        return s_fail(c, n, "allowed_functions", "out of memory");
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
        yaml_node_t *item = yaml_document_get_node(c->doc, *i);
        char where[64];
        snprintf(where, sizeof where, "allowed_functions[%td]", i - n->data.sequence.items.start);
        const char *t = s_text(c, item, where, "a function id");
        if (!t)
            return -1;
        if (!fx_id_valid(t))
            return s_expected(c, item, where,
                              "a function id (a lowercase UUID such as "
                              "0b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b9e10)");
        memcpy(c->cfg->allowed_functions[c->cfg->allowed_functions_count++], t, FX_ID_LEN + 1);
    }
    return 0;
}

static const char *const s_top_keys[] = {
    "name",
    "credentials",
    "address",
    "workers_per_node",
    "prefetch",
    "heartbeat_period",
    "heartbeat_threshold",
    "idle_time",
    "stop_grace",
    "provider",
    "containers",
    "allowed_functions",
    "routing",
    "container_strategy",
    "max_workers_per_container",
    "container_idle_time",
    "container_start_timeout",
    "queue_depth",
};
#define S_TOP_KEYS (sizeof s_top_keys / sizeof s_top_keys[0])

static int s_top_value(s_ctx_t *c, int key, const yaml_node_t *v)
{
    fx_ix_config_t *cfg = c->cfg;
    const char *path = s_top_keys[key];
    char why[1200];
    switch (key) {
    case 0:
        if (s_string(c, v, path, cfg->name, sizeof cfg->name) != 0)
            return -1;
        return 0;
    case 1:
        if (s_path(c, v, path, cfg->credentials, sizeof cfg->credentials) != 0)
            return -1;
        if (access(cfg->credentials, R_OK) != 0)
            return s_fail(c, v, path, "cannot read %s (%s); make one with `fx user create NAME --out FILE`",
                          cfg->credentials, strerror(errno));
        return 0;
    case 2:
        if (s_string(c, v, path, cfg->address, sizeof cfg->address) != 0)
            return -1;
        if (fx_ix_address_resolve(cfg->address, cfg->address_ip, sizeof cfg->address_ip, why, sizeof why) !=
            0)
            return s_fail(c, v, path, "%s", why);
        return 0;
    case 3:
        if (v->type == YAML_SCALAR_NODE && strcmp((const char *) v->data.scalar.value, "auto") == 0) {
            cfg->workers_per_node = FX_IX_WORKERS_AUTO;
            return 0;
        }
        if (s_int(c, v, path, 1, FX_WORKERS_PER_MANAGER_MAX, &cfg->workers_per_node) == 0)
            return 0;
        snprintf(why, sizeof why, "a whole number from 1 to %d, or auto (the node's cores)",
                 FX_WORKERS_PER_MANAGER_MAX);
        return s_expected(c, v, path, why);
    case 4:
        return s_int(c, v, path, 0, FX_IX_PREFETCH_MAX, &cfg->prefetch);
    case 5:
        return s_duration(c, v, path, 10, 3600 * 1000, &cfg->heartbeat_period_ms);
    case 6:
        return s_duration(c, v, path, 10, 100L * 3600 * 1000, &cfg->heartbeat_threshold_ms);
    case 7:
        return s_duration(c, v, path, 0, 30L * 86400 * 1000, &cfg->idle_time_ms);
    case 8:
        return s_duration(c, v, path, 0, 3600 * 1000, &cfg->stop_grace_ms);
    case 9:
        return s_provider(c, v);
    case 10:
        return s_containers(c, v);
    case 11:
        return s_allowed(c, v);
    case 12: {
        static const char *const strategies[] = {"random", "warming-aware", "warm-wait"};
        int which;
        if (s_enum(c, v, path, strategies, 3, &which) != 0)
            return -1;
        snprintf(cfg->routing, sizeof cfg->routing, "%s", strategies[which]);
        return 0;
    }
    case 13: {
        static const char *const strategies[] = {"keep", "lru"};
        int which;
        if (s_enum(c, v, path, strategies, 2, &which) != 0)
            return -1;
        snprintf(cfg->container_strategy, sizeof cfg->container_strategy, "%s", strategies[which]);
        return 0;
    }
    case 14:
        return s_int(c, v, path, 0, FX_WORKERS_PER_MANAGER_MAX, &cfg->max_workers_per_container);
    case 15:
        return s_duration(c, v, path, 0, 30L * 86400 * 1000, &cfg->container_idle_ms);
    case 16:
        return s_duration(c, v, path, 100, 3600 * 1000, &cfg->container_start_timeout_ms);
    case 17:
        return s_int(c, v, path, 0, FX_IX_QUEUE_DEPTH_MAX, &cfg->queue_depth);
    }
    return 0;
}

static int s_document(s_ctx_t *c, const yaml_node_t *root)
{
    if (!root || s_is_null(root))
        return 0; /* an empty file: nothing set */
    if (root->type != YAML_MAPPING_NODE)
        return s_expected(c, root, "(top level)", "a mapping (key: value lines)");
    const yaml_node_t *at[S_TOP_KEYS] = {0};
    uint32_t seen = 0;
    for (yaml_node_pair_t *pair = root->data.mapping.pairs.start; pair < root->data.mapping.pairs.top;
         pair++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, pair->value);
        int key = s_key(c, k, "", s_top_keys, S_TOP_KEYS, &seen);
        if (key < 0)
            return -1;
        at[key] = v;
        if (!s_is_null(v) && s_top_value(c, key, v) != 0)
            return -1;
    }
    fx_ix_config_t *cfg = c->cfg;
    if (cfg->heartbeat_period_ms != FX_IX_UNSET && cfg->heartbeat_threshold_ms != FX_IX_UNSET &&
        cfg->heartbeat_threshold_ms < cfg->heartbeat_period_ms)
        return s_fail(c, at[6], "heartbeat_threshold",
                      "%lld ms is shorter than heartbeat_period (%lld ms); expected at least one period",
                      (long long) cfg->heartbeat_threshold_ms, (long long) cfg->heartbeat_period_ms);
    return 0;
}

/* ------------------------------------------------------------ entry points */

fx_ix_config_t *fx_ix_config_empty(void)
{
    fx_ix_config_t *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return NULL;
    cfg->workers_per_node = cfg->prefetch = cfg->max_workers_per_container = cfg->queue_depth = FX_IX_UNSET;
    cfg->container_idle_ms = cfg->container_start_timeout_ms = FX_IX_UNSET;
    cfg->heartbeat_period_ms = cfg->heartbeat_threshold_ms = cfg->idle_time_ms = cfg->stop_grace_ms =
        FX_IX_UNSET;
    fx_ix_provider_conf_t *p = &cfg->provider;
    p->nodes_per_block = p->init_blocks = p->min_blocks = p->max_blocks = p->cpus_per_node = FX_IX_UNSET;
    p->cmd_timeout_ms = FX_IX_UNSET;
    return cfg;
}

void fx_ix_config_destroy(fx_ix_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_ix_config_t *cfg = *self_p;
    for (size_t i = 0; i < cfg->provider.scheduler_options_count; i++)
        free(cfg->provider.scheduler_options[i]);
    for (size_t i = 0; i < cfg->provider.worker_init_count; i++)
        free(cfg->provider.worker_init[i]);
    free(cfg->provider.scheduler_options);
    free(cfg->provider.worker_init);
    free(cfg->containers);
    free(cfg->allowed_functions);
    free(cfg);
    *self_p = NULL;
}

/* libyaml's own complaint, with its place. */
static void s_yaml_error(s_ctx_t *c, const yaml_parser_t *p)
{
    const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->mark;
    snprintf(c->err, c->errlen, "%s:%zu:%zu: not valid YAML: %s%s%s", c->origin, m->line + 1, m->column + 1,
             p->problem ? p->problem : "cannot be read", p->context ? " " : "", p->context ? p->context : "");
}

fx_ix_config_t *fx_ix_config_parse(const char *text, size_t len, const char *origin, char *err, size_t errlen)
{
    s_ctx_t c = {.origin = origin ? origin : "config", .err = err, .errlen = errlen};
    const char *slash = origin ? strrchr(origin, '/') : NULL;
    if (slash)
        snprintf(c.base, sizeof c.base, "%.*s", (int) (slash - origin > 0 ? slash - origin : 1), origin);
    if (len > FX_IX_CONFIG_MAX_BYTES) {
        snprintf(err, errlen, "%s: %zu bytes; a config is at most %d", c.origin, len, FX_IX_CONFIG_MAX_BYTES);
        return NULL;
    }
    c.cfg = fx_ix_config_empty();
    yaml_parser_t parser;
    yaml_document_t doc, next;
    if (!c.cfg || !yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "out of memory");
        fx_ix_config_destroy(&c.cfg);
        return NULL;
    }
    if (origin)
        snprintf(c.cfg->path, sizeof c.cfg->path, "%s", origin);
    yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);
    int rc = -1;
    if (!yaml_parser_load(&parser, &doc))
        s_yaml_error(&c, &parser);
    else {
        c.doc = &doc;
        rc = s_document(&c, yaml_document_get_root_node(&doc));
        if (rc == 0 && !yaml_parser_load(&parser, &next)) {
            s_yaml_error(&c, &parser);
            rc = -1;
        }
        else if (rc == 0) {
            yaml_node_t *second = yaml_document_get_root_node(&next);
            if (second) {
                snprintf(err, errlen, "%s:%zu:%zu: a second YAML document; a config is one document",
                         c.origin, second->start_mark.line + 1, second->start_mark.column + 1);
                rc = -1;
            }
            yaml_document_delete(&next);
        }
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    if (rc != 0)
        fx_ix_config_destroy(&c.cfg);
    return c.cfg;
}

fx_ix_config_t *fx_ix_config_load(const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    if (fx_file_read(path, FX_IX_CONFIG_MAX_BYTES, &text, &len) != 0) {
        snprintf(err, errlen, "cannot read the config %s (%s)%s", path, strerror(errno),
                 errno == EFBIG ? "; a config is at most 1 MiB" : "");
        return NULL;
    }
    fx_ix_config_t *cfg = fx_ix_config_parse(text, len, path, err, errlen);
    free(text);
    return cfg;
}
