/*  fx_cli_function.c: the verbs about one function's versions (issue 8),
    over FUNCTION_GET (SPEC 5.29): `fx function log ID` (its history,
    oldest first: number, version, commit, author, when, strategy) and
    `fx function show ID[@VERSION]` (one version's header and body, the
    newest unless named; VERSION is a version id or its number). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fx_cli.h"

/* FUNCTION_GET of id at version ("" = the newest): the FUNCTION_INFO, or
   NULL after saying why. */
static fx_msg_t *s_get(fx_cli_link_t *link, const char *id, const char *version)
{
    char err[1024];
    fx_msg_t *req = fx_msg_new(FX_MSG_FUNCTION_GET);
    if (req) {
        fx_strlcpy(req->function_get.function_id, id, sizeof req->function_get.function_id);
        fx_strlcpy(req->function_get.version, version, sizeof req->function_get.version);
    }
    fx_msg_t *info = fx_cli_link_call(link, &req, FX_MSG_FUNCTION_INFO, err, sizeof err);
    if (!info)
        fx_cli_fail("%s", err);
    return info;
}

/* "2026-12-01 10:00:00 UTC" from microseconds since the epoch. */
static void s_when(uint64_t us, char *out, size_t cap)
{
    time_t s = (time_t) (us / 1000000);
    struct tm tm;
    if (!us || !gmtime_r(&s, &tm) || !strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(out, cap, "-");
}

/* ID or ID@VERSION into id and version; false (after a usage error) if
   the id is not one. */
static bool s_split(const char *arg, fx_id_text_t id, char version[FX_OID_LEN + 16])
{
    const char *at = strchr(arg, '@');
    size_t len = at ? (size_t) (at - arg) : strlen(arg);
    snprintf(version, FX_OID_LEN + 16, "%s", at ? at + 1 : "");
    if (len != FX_ID_LEN)
        return false;
    memcpy(id, arg, len);
    id[len] = '\0';
    return fx_id_valid(id);
}

int fx_cli_function_log(const fx_cli_args_t *args)
{
    fx_id_text_t id;
    char version[FX_OID_LEN + 16];
    if (!s_split(args->argv[0], id, version) || version[0])
        return fx_cli_usage_error(args->verb, "%s is not a function id (`fx functions` lists yours)",
                                  args->argv[0]);
    fx_cli_link_t *link = fx_cli_link_for(args);
    if (!link)
        return FX_CLI_FAILED;
    fx_msg_t *info = s_get(link, id, "");
    int rc = FX_CLI_FAILED;
    if (info) {
        printf("function %s (%s), %u versions, oldest first\n", id, info->function_info.name,
               info->function_info.count);
        for (uint32_t i = 0; i < info->function_info.count; i++) {
            const fx_function_version_t *v = &info->function_info.versions[i];
            char when[40];
            s_when(v->created_us, when, sizeof when);
            printf("%3u  version %s  commit %s\n     %s  by %s  %s%s\n", v->number, v->version,
                   v->commit[0] ? v->commit : "-", when, v->author, v->serializer[0] ? v->serializer : "-",
                   strcmp(v->version, info->function_info.version) == 0 ? "  (newest)" : "");
        }
        rc = FX_CLI_OK;
    }
    fx_msg_destroy(&info);
    fx_cli_link_destroy(&link);
    return rc;
}

int fx_cli_function_show(const fx_cli_args_t *args)
{
    fx_id_text_t id;
    char version[FX_OID_LEN + 16];
    if (!s_split(args->argv[0], id, version))
        return fx_cli_usage_error(args->verb, "%s is not ID or ID@VERSION (`fx functions` lists yours)",
                                  args->argv[0]);
    fx_cli_link_t *link = fx_cli_link_for(args);
    if (!link)
        return FX_CLI_FAILED;
    int rc = FX_CLI_FAILED;
    fx_msg_t *info = NULL;
    /* VERSION may be the number of the history: look it up first */
    char *end = NULL;
    unsigned long number = version[0] ? strtoul(version, &end, 10) : 0;
    bool by_number = version[0] && end && !*end && strlen(version) < 10;
    if (by_number) {
        fx_msg_t *history = s_get(link, id, "");
        for (uint32_t i = 0; history && i < history->function_info.count; i++)
            if (history->function_info.versions[i].number == number)
                snprintf(version, sizeof version, "%s", history->function_info.versions[i].version);
        bool found = history && strlen(version) == FX_OID_LEN;
        if (history && !found)
            fx_cli_fail("function %s has no version %lu (`fx function log %s` lists them)", id, number, id);
        fx_msg_destroy(&history);
        if (!found)
            goto done;
    }
    info = s_get(link, id, version);
    if (!info)
        goto done;
    const fx_function_version_t *v = NULL;
    for (uint32_t i = 0; i < info->function_info.count; i++)
        if (strcmp(info->function_info.versions[i].version, info->function_info.version) == 0)
            v = &info->function_info.versions[i];
    char when[40] = "-";
    if (v)
        s_when(v->created_us, when, sizeof when);
    printf("function    %s (%s)\n", id, info->function_info.name);
    printf("version     %u: %s\n", v ? v->number : 0, info->function_info.version);
    printf("commit      %s\n", v && v->commit[0] ? v->commit : "-");
    printf("registered  %s by %s\n", when, v ? v->author : "-");
    printf("kind        %s, entry %s, strategy %s\n",
           info->function_info.kind == FX_FN_SHELL ? "shell" : "python",
           info->function_info.entry[0] ? info->function_info.entry : "-",
           v && v->serializer[0] ? v->serializer : "-");
    if (info->function_info.description && info->function_info.description[0])
        printf("description %s\n", info->function_info.description);
    printf("---\n");
    zframe_t *body = info->function_info.body;
    size_t len = body ? zframe_size(body) : 0;
    if (len)
        fwrite(zframe_data(body), 1, len, stdout);
    if (len && ((const char *) zframe_data(body))[len - 1] != '\n')
        putchar('\n');
    rc = FX_CLI_OK;
done:
    fx_msg_destroy(&info);
    fx_cli_link_destroy(&link);
    return rc;
}
