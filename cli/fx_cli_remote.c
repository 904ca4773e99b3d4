/*  fx_cli_remote.c: the broker's listings of endpoints, functions and
    containers (LIST), printed as the broker makes them. */
#include <stdio.h>
#include <string.h>

#include "fx_cli.h"

int fx_cli_remote(const fx_cli_args_t *args)
{
    const char *what = args->verb->words;
    fx_cli_link_t *link = fx_cli_link_for(args);
    if (!link)
        return FX_CLI_FAILED;
    char err[1024];
    int list = strcmp(what, "endpoints") == 0    ? FX_LIST_ENDPOINTS
               : strcmp(what, "containers") == 0 ? FX_LIST_CONTAINERS
                                                 : FX_LIST_FUNCTIONS;
    fx_msg_t *reply = fx_cli_list(link, list, args->limit > 0 ? (uint32_t) args->limit : 0, err, sizeof err);
    fx_cli_link_destroy(&link);
    if (!reply) {
        fx_cli_fail("%s", err);
        return FX_CLI_FAILED;
    }
    if (reply->list_reply.rows <= 1)
        printf("(no %s)\n", what);
    else
        fx_cli_table_print(stdout, reply->list_reply.cells, reply->list_reply.rows, reply->list_reply.cols);
    fx_msg_destroy(&reply);
    return FX_CLI_OK;
}
