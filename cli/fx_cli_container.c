/*  fx_cli_container.c: `fx container register NAME --runtime R [--image I]
    [--description TEXT] [--id ID]` (issue 10, SPEC 5.33): a container
    record at the broker under an id minted here (or the given one of
    yours, which updates it); prints the id. The broker checks the runtime
    and the image and says what is wrong; `fx containers` lists them
    (fx_cli_remote.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_cli.h"

int fx_cli_container_register(const fx_cli_args_t *args)
{
    if (!args->runtime)
        return fx_cli_usage_error(args->verb,
                                  "--runtime is required: bwrap, podman, docker, apptainer or singularity");
    fx_id_text_t id;
    if (args->id && !fx_id_valid(args->id))
        return fx_cli_usage_error(args->verb, "--id %s is not a container id (`fx containers` lists yours)",
                                  args->id);
    if (args->id)
        fx_strlcpy(id, args->id, sizeof id);
    else
        fx_id_new(id);
    fx_msg_t *req = fx_msg_new(FX_MSG_REGISTER_CONTAINER);
    if (req) {
        memcpy(req->register_container.container_id, id, sizeof id);
        if (fx_strlcpy(req->register_container.name, args->argv[0], sizeof req->register_container.name) ||
            fx_strlcpy(req->register_container.runtime, args->runtime, sizeof req->register_container.runtime) ||
            fx_strlcpy(req->register_container.image, args->image ? args->image : "",
                       sizeof req->register_container.image)) {
            fx_msg_destroy(&req);
            return fx_cli_usage_error(args->verb, "the name (%d bytes), runtime or image (%d bytes) is too long",
                                      FX_NAME_MAX, FX_IMAGE_MAX);
        }
        req->register_container.description = args->description ? strdup(args->description) : NULL;
    }
    fx_cli_link_t *link = fx_cli_link_for(args);
    if (!link) {
        fx_msg_destroy(&req);
        return FX_CLI_FAILED;
    }
    char err[1024];
    fx_msg_t *reply = fx_cli_link_call(link, &req, FX_MSG_CONTAINER_REGISTERED, err, sizeof err);
    fx_cli_link_destroy(&link);
    if (!reply) {
        fx_cli_fail("%s", err);
        return FX_CLI_FAILED;
    }
    printf("%s\n", reply->container_registered.container_id);
    fx_msg_destroy(&reply);
    return FX_CLI_OK;
}
