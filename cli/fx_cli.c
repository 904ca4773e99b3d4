/*  fx_cli.c: the `fx` command: arguments, usage errors, dispatch. main() is
    thin: it splits the command line into options and words, finds the verb
    the words name (fx_cli_verbs.c), checks that the verb takes the options
    given and the number of operands it got, and runs it. Options may come
    anywhere. A usage error exits 2 with the verb's usage; --help anywhere
    prints the help of the verb (or group, or the whole command) the words
    name, and exits 0. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_cli.h"

typedef enum { S_FLAG, S_TEXT, S_NUMBER } s_kind_t;

/* Every option of every verb; a verb takes those its synopsis names. */
static const struct {
    const char *name;  /* "--wait" */
    const char *alias; /* "-f", or NULL */
    s_kind_t kind;
    size_t offset;      /* into fx_cli_args_t */
    long min, max;      /* S_NUMBER */
    const char *expect; /* S_NUMBER: what to say about a bad value */
} s_options[] = {
    {"--creds", NULL, S_TEXT, offsetof(fx_cli_args_t, creds), 0, 0, NULL},
    {"--timeout", NULL, S_NUMBER, offsetof(fx_cli_args_t, timeout_s), 1, 3600, "whole seconds, 1 to 3600"},
    {"--limit", NULL, S_NUMBER, offsetof(fx_cli_args_t, limit), 0, FX_LIST_ROWS_MAX,
     "a number from 0 to 1000"},
    {"--state", NULL, S_TEXT, offsetof(fx_cli_args_t, state), 0, 0, NULL},
    {"--out", NULL, S_TEXT, offsetof(fx_cli_args_t, out), 0, 0, NULL},
    {"--client-addr", NULL, S_TEXT, offsetof(fx_cli_args_t, client_addr), 0, 0, NULL},
    {"--endpoint-addr", NULL, S_TEXT, offsetof(fx_cli_args_t, endpoint_addr), 0, 0, NULL},
    {"--force", NULL, S_FLAG, offsetof(fx_cli_args_t, force), 0, 0, NULL},
    {"--dir", NULL, S_TEXT, offsetof(fx_cli_args_t, dir), 0, 0, NULL},
    {"--detach", "-d", S_FLAG, offsetof(fx_cli_args_t, detach), 0, 0, NULL},
    {"--wait", NULL, S_NUMBER, offsetof(fx_cli_args_t, wait_s), 1, 86400, "whole seconds, 1 to 86400"},
    {"--follow", "-f", S_FLAG, offsetof(fx_cli_args_t, follow), 0, 0, NULL},
    {"--lines", "-n", S_NUMBER, offsetof(fx_cli_args_t, lines), 0, 1000000,
     "a number of lines, 0 to 1000000"},
    {"--endpoint", NULL, S_TEXT, offsetof(fx_cli_args_t, endpoint), 0, 0, NULL},
    {"--function", NULL, S_TEXT, offsetof(fx_cli_args_t, function), 0, 0, NULL},
    {"--since", NULL, S_TEXT, offsetof(fx_cli_args_t, since), 0, 0, NULL},
    {"--before", NULL, S_TEXT, offsetof(fx_cli_args_t, before), 0, 0, NULL},
    {"--all", NULL, S_FLAG, offsetof(fx_cli_args_t, all), 0, 0, NULL},
    {"--raw", NULL, S_FLAG, offsetof(fx_cli_args_t, raw), 0, 0, NULL},
    {"--runtime", NULL, S_TEXT, offsetof(fx_cli_args_t, runtime), 0, 0, NULL},
    {"--image", NULL, S_TEXT, offsetof(fx_cli_args_t, image), 0, 0, NULL},
    {"--description", NULL, S_TEXT, offsetof(fx_cli_args_t, description), 0, 0, NULL},
    {"--id", NULL, S_TEXT, offsetof(fx_cli_args_t, id), 0, 0, NULL},
};
#define S_OPTIONS (sizeof s_options / sizeof s_options[0])

/* What the command line holds, before the verb is known. */
typedef struct {
    fx_cli_args_t args;
    char **words; /* every word that is not an option or an option's value */
    int nwords;
    bool help;
    bool given[S_OPTIONS];
    char problem[512]; /* the first thing wrong, "" if none */
} s_line_t;

static void s_vfail(const char *fmt, va_list ap)
{
    fputs("fx: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void fx_cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vfail(fmt, ap);
    va_end(ap);
}

/* A whole number in [min, max]; false if the text is anything else. */
static bool s_number(const char *text, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static void s_problem(s_line_t *line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Keep the first problem of the line. */
static void s_problem(s_line_t *line, const char *fmt, ...)
{
    if (line->problem[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line->problem, sizeof line->problem, fmt, ap);
    va_end(ap);
}

static int s_option_index(const char *word)
{
    for (size_t i = 0; i < S_OPTIONS; i++)
        if (strcmp(word, s_options[i].name) == 0 ||
            (s_options[i].alias && strcmp(word, s_options[i].alias) == 0))
            return (int) i;
    return -1;
}

/* Split argv into options and words. The first problem is kept, not
   reported: --help later on the line still gets its help. */
static void s_split(int argc, char **argv, s_line_t *line)
{
    fx_cli_args_t *a = &line->args;
    a->timeout_s = a->limit = a->wait_s = a->lines = FX_CLI_UNSET;
    for (int i = 1; i < argc; i++) {
        const char *w = argv[i];
        if (strcmp(w, "--help") == 0 || strcmp(w, "-h") == 0) {
            line->help = true;
            continue;
        }
        if (strcmp(w, "--") == 0) { /* the rest are words, even if they start with '-' */
            while (++i < argc)
                line->words[line->nwords++] = argv[i];
            break;
        }
        if (w[0] != '-' || w[1] == '\0') {
            line->words[line->nwords++] = argv[i];
            continue;
        }
        int o = s_option_index(w);
        if (o < 0) {
            s_problem(line, "unknown option '%s'", w);
            continue;
        }
        line->given[o] = true;
        char *field = (char *) a + s_options[o].offset;
        if (s_options[o].kind == S_FLAG) {
            *(bool *) field = true;
            continue;
        }
        if (i + 1 >= argc || argv[i + 1][0] == '\0') {
            s_problem(line, "%s needs a value", w);
            continue;
        }
        const char *value = argv[++i];
        if (s_options[o].kind == S_TEXT)
            *(const char **) field = value;
        else if (!s_number(value, s_options[o].min, s_options[o].max, (long *) field))
            s_problem(line, "%s takes %s, not '%s'", w, s_options[o].expect, value);
    }
}

/* How many words of `words` (space separated) match the line's words. */
static int s_match(const char *words, char **w, int n)
{
    int matched = 0;
    const char *p = words;
    while (*p) {
        size_t len = strcspn(p, " ");
        if (matched >= n || strlen(w[matched]) != len || strncmp(w[matched], p, len) != 0)
            return -1;
        matched++;
        p += len;
        while (*p == ' ')
            p++;
    }
    return matched;
}

/* The verb whose words start the line (the longest match), or NULL. */
static const fx_cli_verb_t *s_find_verb(const s_line_t *line, int *used)
{
    const fx_cli_verb_t *best = NULL;
    *used = 0;
    for (const fx_cli_verb_t *v = fx_cli_verbs; v->words; v++) {
        int m = s_match(v->words, line->words, line->nwords);
        if (m > *used) {
            best = v;
            *used = m;
        }
    }
    return best;
}

/* True if the verb's synopsis names option o (as "--name" or its alias,
   followed by a space, ']', '|' or the end). */
static bool s_takes(const fx_cli_verb_t *verb, size_t o)
{
    const char *names[2] = {s_options[o].name, s_options[o].alias};
    for (int k = 0; k < 2; k++) {
        if (!names[k])
            continue;
        size_t len = strlen(names[k]);
        for (const char *p = strstr(verb->synopsis, names[k]); p; p = strstr(p + 1, names[k])) {
            bool start = p == verb->synopsis || strchr(" [|", p[-1]);
            if (start && strchr(" ]|", p[len]) != NULL)
                return true;
        }
    }
    return false;
}

int fx_cli_usage_error(const fx_cli_verb_t *verb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vfail(fmt, ap);
    va_end(ap);
    if (verb) {
        fx_cli_usage_verb(stderr, verb, false);
        fprintf(stderr, "(`fx %s --help` says more; `fx --help` lists every command)\n", verb->words);
    }
    else
        fx_cli_usage_all(stderr);
    return FX_CLI_USAGE;
}

/* True if word starts verbs of several words ("endpoint", "user"). */
static bool s_is_group(const char *word)
{
    size_t len = strlen(word);
    for (const fx_cli_verb_t *v = fx_cli_verbs; v->words; v++)
        if (strncmp(v->words, word, len) == 0 && v->words[len] == ' ')
            return true;
    return false;
}

/* The words matched no verb: a group's word alone ("fx endpoint"), a
   group with an unknown verb, or nothing known. */
static int s_no_verb(const s_line_t *line)
{
    if (line->nwords == 0)
        return fx_cli_usage_error(NULL, "a command is needed");
    const char *first = line->words[0];
    if (s_is_group(first)) {
        if (line->nwords == 1)
            fprintf(stderr, "fx: '%s' needs a command\n", first);
        else
            fprintf(stderr, "fx: 'fx %s' has no command '%s'\n", first, line->words[1]);
        fprintf(stderr, "usage:\n");
        fx_cli_usage_group(stderr, first);
        return FX_CLI_USAGE;
    }
    return fx_cli_usage_error(NULL, "unknown command '%s'", first);
}

/* --help: the verb's help, a group's verbs, or everything. */
static int s_help(const s_line_t *line)
{
    int used = 0;
    const fx_cli_verb_t *verb = s_find_verb(line, &used);
    if (verb && strcmp(verb->words, "help") == 0 && line->nwords > 1) { /* fx help endpoint start */
        s_line_t rest = {.words = line->words + 1, .nwords = line->nwords - 1, .help = true};
        return s_help(&rest);
    }
    if (verb) {
        fx_cli_usage_verb(stdout, verb, true);
        return FX_CLI_OK;
    }
    if (line->nwords > 0 && fx_cli_usage_group(stdout, line->words[0]) > 0)
        return FX_CLI_OK;
    fx_cli_usage_all(stdout);
    return FX_CLI_OK;
}

int fx_cli_help(const fx_cli_args_t *args)
{
    s_line_t line = {.words = args->argv, .nwords = args->argc, .help = true};
    int used = 0;
    if (args->argc > 0 && !s_find_verb(&line, &used) && !s_is_group(args->argv[0]))
        return fx_cli_usage_error(NULL, "no command named '%s'", args->argv[0]);
    return s_help(&line);
}

/* The verb given the line: options it takes, operand counts. */
static int s_check(const s_line_t *line, const fx_cli_verb_t *verb, int used)
{
    if (line->problem[0])
        return fx_cli_usage_error(verb, "%s", line->problem);
    for (size_t o = 0; o < S_OPTIONS; o++)
        if (line->given[o] && !s_takes(verb, o))
            return fx_cli_usage_error(verb, "'fx %s' does not take %s", verb->words, s_options[o].name);
    int operands = line->nwords - used;
    if (operands < verb->min_operands) {
        const char *what = verb->synopsis;
        size_t len = strcspn(what, " [");
        return fx_cli_usage_error(verb, "'fx %s' needs %.*s", verb->words, (int) (len ? len : strlen(what)),
                                  what);
    }
    if (verb->max_operands >= 0 && operands > verb->max_operands) {
        if (verb->max_operands == 0)
            return fx_cli_usage_error(verb, "'fx %s' takes no further words (got '%s')", verb->words,
                                      line->words[used]);
        return fx_cli_usage_error(verb, "'fx %s' takes %d %s (got %d)", verb->words, verb->max_operands,
                                  verb->max_operands == 1 ? "word" : "words", operands);
    }
    return FX_CLI_OK;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--version") == 0) {
            printf("fx %s\n", FX_VERSION);
            return FX_CLI_OK;
        }
    s_line_t line = {0};
    line.words = calloc((size_t) argc + 1, sizeof(char *));
    if (!line.words) {
        fx_cli_fail("out of memory");
        return FX_CLI_FAILED;
    }
    s_split(argc, argv, &line);
    int rc;
    int used = 0;
    const fx_cli_verb_t *verb = s_find_verb(&line, &used);
    if (line.help)
        rc = s_help(&line);
    else if (!verb)
        rc = line.problem[0] && line.nwords == 0 ? fx_cli_usage_error(NULL, "%s", line.problem)
                                                 : s_no_verb(&line);
    else if ((rc = s_check(&line, verb, used)) == FX_CLI_OK) {
        line.args.verb = verb;
        line.args.argc = line.nwords - used;
        line.args.argv = line.words + used;
        rc = verb->run(&line.args);
    }
    free(line.words);
    return rc;
}
