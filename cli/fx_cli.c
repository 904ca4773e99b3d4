/*  fx_cli.c: the `fx` command: arguments, usage, dispatch. main() is thin. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_cli.h"

static const char *s_usage = "usage:\n"
                             "  fx user create NAME --state DIR --out CREDS --client-addr tcp://HOST:PORT\n"
                             "                      --endpoint-addr tcp://HOST:PORT [--force]\n"
                             "      create a user in the broker's state directory (run where the broker\n"
                             "      runs), write their credentials file (mode 0600), print the user id\n"
                             "  fx [--creds FILE] [--timeout SECONDS] endpoints [--limit N]\n"
                             "  fx [--creds FILE] [--timeout SECONDS] functions [--limit N]\n"
                             "  fx [--creds FILE] [--timeout SECONDS] tasks [--limit N]\n"
                             "  fx [--creds FILE] [--timeout SECONDS] status TASK_ID...\n"
                             "      ask the broker (credentials: --creds, else $FX_CREDS, else\n"
                             "      ~/.fx/credentials; default timeout 10 s)\n"
                             "  fx --help | --version\n";

void fx_cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fx: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int s_usage_error(const char *fmt, const char *arg)
{
    fputs("fx: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    fputs(s_usage, stderr);
    return FX_CLI_USAGE;
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

/* Options may come anywhere; everything else is a word of the command. */
static int s_parse(int argc, char **argv, fx_cli_args_t *args)
{
    args->timeout_ms = FX_CLI_TIMEOUT_MS;
    args->argv = calloc((size_t) argc + 1, sizeof(char *));
    if (args->argv == NULL)
        return FX_CLI_FAILED;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **target = NULL;
        if (strcmp(a, "--creds") == 0)
            target = &args->creds;
        else if (strcmp(a, "--state") == 0)
            target = &args->state;
        else if (strcmp(a, "--out") == 0)
            target = &args->out;
        else if (strcmp(a, "--client-addr") == 0)
            target = &args->client_addr;
        else if (strcmp(a, "--endpoint-addr") == 0)
            target = &args->endpoint_addr;
        else if (strcmp(a, "--force") == 0) {
            args->force = true;
            continue;
        }
        else if (strcmp(a, "--timeout") == 0 || strcmp(a, "--limit") == 0) {
            long v = 0;
            bool timeout = strcmp(a, "--timeout") == 0;
            if (i + 1 >= argc)
                return s_usage_error("%s needs a value", a);
            if (!s_number(argv[++i], timeout ? 1 : 0, timeout ? 3600 : FX_LIST_ROWS_MAX, &v))
                return s_usage_error(timeout ? "--timeout takes whole seconds, 1 to 3600, not '%s'"
                                             : "--limit takes a number from 0 to 1000, not '%s'",
                                     argv[i]);
            if (timeout)
                args->timeout_ms = v * 1000;
            else
                args->limit = (uint32_t) v;
            continue;
        }
        else if (a[0] == '-' && a[1] != '\0')
            return s_usage_error("unknown option '%s'", a);
        else {
            args->argv[args->argc++] = argv[i];
            continue;
        }
        if (i + 1 >= argc || argv[i + 1][0] == '\0')
            return s_usage_error("%s needs a value", a);
        *target = argv[++i];
    }
    return FX_CLI_OK;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(s_usage, stdout);
            return FX_CLI_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("fx %s\n", FX_VERSION);
            return FX_CLI_OK;
        }
    }
    fx_cli_args_t args = {0};
    int rc = s_parse(argc, argv, &args);
    if (rc != FX_CLI_OK)
        goto cleanup;
    if (args.argc == 0) {
        rc = s_usage_error("%s", "a command is needed");
        goto cleanup;
    }
    const char *cmd = args.argv[0];
    if (strcmp(cmd, "user") == 0) {
        if (args.argc < 2 || strcmp(args.argv[1], "create") != 0)
            rc = s_usage_error("'fx user' knows one command: create (not '%s')",
                               args.argc < 2 ? "" : args.argv[1]);
        else if (args.argc != 3)
            rc = s_usage_error("%s", "fx user create takes exactly one NAME");
        else if (!args.state || !args.out || !args.client_addr || !args.endpoint_addr)
            rc = s_usage_error("%s", "fx user create needs --state, --out, --client-addr and "
                                     "--endpoint-addr");
        else
            rc = fx_cli_user_create(&args);
    }
    else if (strcmp(cmd, "endpoints") == 0 || strcmp(cmd, "functions") == 0 || strcmp(cmd, "tasks") == 0) {
        if (args.argc != 1)
            rc = s_usage_error("'%s' takes no further words", cmd);
        else
            rc = fx_cli_remote(&args);
    }
    else if (strcmp(cmd, "status") == 0) {
        if (args.argc < 2)
            rc = s_usage_error("%s", "status needs at least one TASK_ID");
        else if (args.argc - 1 > FX_IDS_MAX)
            rc = s_usage_error("%s", "too many task ids for one status request (limit 4096)");
        else {
            rc = FX_CLI_OK;
            for (int i = 1; i < args.argc && rc == FX_CLI_OK; i++)
                if (!fx_id_valid(args.argv[i]))
                    rc = s_usage_error("'%s' is not a task id (a lowercase UUID)", args.argv[i]);
            if (rc == FX_CLI_OK)
                rc = fx_cli_remote(&args);
        }
    }
    else
        rc = s_usage_error("unknown command '%s'", cmd);
cleanup:
    free(args.argv);
    return rc;
}
