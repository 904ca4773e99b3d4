/*  fx_container.h: how a worker is started inside a container.

    A container is launched from a template: a command line whose words may
    hold placeholders, filled in for one launch and then executed directly
    (execvp: no shell ever reads the result, so an image name or an argument
    can never inject shell syntax):

      {image}    the image (or, for bwrap, the root folder; default "/")
      {name}     the container's name (also the sandbox's hostname)
      {command}  the worker command: as a word of its own, replaced by all of
                 the command's words; required
      {env}      as a word of its own: the environment, in the runtime's own
                 flags (bwrap --setenv K V, podman/docker -e K=V, apptainer
                 --env K=V)
      {binds}    as a word of its own: the bind mounts, likewise
      {fds}      podman: how many inherited descriptors beyond 0-2 to keep
      {{ }}      a literal brace
    Words are split at blanks; "double quotes" keep blanks inside a word.
    For FX_RUNTIME_NONE, {env} and {binds} add nothing: the caller sets the
    environment of the child itself.

    Each runtime has a default template (fx_container_default_template) that
    endpoint configs may replace. The worker's link to its manager is an
    inherited file descriptor (SPEC 2.4): runtimes that exec in place
    (bwrap, apptainer) keep it; podman is told to with --preserve-fds; docker
    cannot pass one through its daemon: its template renders and is checked,
    but a worker link through docker is future work (SPEC 13). */
#ifndef FX_CONTAINER_H
#define FX_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    FX_RUNTIME_NONE,   /* on the host */
    FX_RUNTIME_BWRAP,
    FX_RUNTIME_PODMAN,
    FX_RUNTIME_DOCKER,
    FX_RUNTIME_APPTAINER,
    FX_RUNTIME_SINGULARITY,
    FX_RUNTIME_COUNT
} fx_runtime_t;

/* "bwrap" -> FX_RUNTIME_BWRAP; 0, or -1 for an unknown name. */
int fx_runtime_parse(const char *name, fx_runtime_t *out);
const char *fx_runtime_name(fx_runtime_t rt);
/* The program a runtime's default template runs ("bwrap", "podman", ...);
   NULL for FX_RUNTIME_NONE. */
const char *fx_runtime_program(fx_runtime_t rt);
/* The default template of a runtime; "{command}" for FX_RUNTIME_NONE. */
const char *fx_container_default_template(fx_runtime_t rt);
/* Whether the runtime's program is on PATH and answers --version; if not,
   why not in why. */
bool fx_runtime_available(fx_runtime_t rt, char *why, size_t whylen);

/* A bind mount: host path src at dst inside, read-only or not. */
typedef struct {
    const char *src, *dst;
    bool read_only;
} fx_bind_t;

/* What one launch needs. */
typedef struct {
    fx_runtime_t runtime;
    const char *name;            /* the container's name */
    const char *image;           /* may be NULL or "" for bwrap and none */
    const char *template_text;   /* NULL or "": the runtime's default */
    char *const *command;        /* the worker's argv, NULL-terminated */
    char *const *env;            /* "K=V" entries set inside, NULL-terminated; may be NULL */
    const fx_bind_t *binds;      /* may be NULL */
    size_t binds_count;
    int preserve_fds;            /* podman: inherited descriptors beyond 0-2 to keep */
} fx_launch_t;

/* Checks a template's placeholders (for config files): 0, or -1 with a
   sentence naming the bad placeholder or the missing {command}. */
int fx_container_template_check(const char *template_text, char *err, size_t errlen);

/* The argv of one launch, NULL-terminated, every string and the vector
   malloc'd (free with fx_container_argv_free). NULL with a sentence in err
   on a bad template, a missing image or a missing command. */
char **fx_container_render(const fx_launch_t *launch, char *err, size_t errlen);
void fx_container_argv_free(char ***argv_p);

#endif
