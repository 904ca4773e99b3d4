/*  fx_registry.h: function bodies, versioned in a git repository.

    The broker keeps every body it has been given in a bare git repository
    in its state folder (STATE/registry.git), written through libgit2. Each
    function has one path, FANOUT/FUNCTION_ID (FANOUT = its id's first two
    characters, so no tree grows past a few hundred entries); each
    registration that changes a body is one commit on refs/heads/main whose
    author is the user. A version is addressed by the id of its blob; the
    commit that introduced it is its provenance. `git --git-dir
    STATE/registry.git log` shows the history with its authors.

    The registry holds bytes only; the broker's sqlite rows point at blob and
    commit ids. Write order (the broker's): the objects and the ref first,
    durably (libgit2's fsync of the git folder is on), then the sqlite row, so
    a crash at any point leaves at worst an orphan object, never a row
    pointing at a missing one. fx_registry_has() lets the broker check its
    rows at start. */
#ifndef FX_REGISTRY_H
#define FX_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A git object id in hex, NUL-terminated. */
#define FX_OBJECT_ID_LEN 40
typedef char fx_object_id_t[FX_OBJECT_ID_LEN + 1];

typedef struct _fx_registry_t fx_registry_t;

/* Opens the bare repository at path, creating it (and its parents) if it
   does not exist. NULL with a sentence in err on failure. */
fx_registry_t *fx_registry_open(const char *path, char *err, size_t errlen);
void fx_registry_destroy(fx_registry_t **self_p);

/* Who made a version, for the commit. */
typedef struct {
    const char *author_name;   /* the user's name (or id) */
    const char *author_email;  /* "" is fine: "<user_id>@fx" is made up then */
    const char *user_id;
    const char *function_name; /* first line of the commit message */
    const char *description;   /* rest of the message; may be NULL */
    int64_t when_s;            /* seconds since the epoch; 0 = now */
} fx_registry_author_t;

/* Stores body as the new version of function_id. blob_out gets the
   version's blob id. If the function's path already holds exactly this
   body, nothing is committed and *committed is false; otherwise a commit
   is made, commit_out gets its id and *committed is true. 0, or -1 with a
   sentence in err. */
int fx_registry_put(fx_registry_t *self, const char *function_id, const void *body, size_t len,
                    const fx_registry_author_t *who, fx_object_id_t blob_out, fx_object_id_t commit_out,
                    bool *committed, char *err, size_t errlen);

/* Reads the blob blob_id into a new buffer (caller frees). 0, 1 if there is
   no such blob, -1 with a sentence in err. */
int fx_registry_get(fx_registry_t *self, const char *blob_id, void **body_p, size_t *len_p, char *err,
                    size_t errlen);

/* True if the object (blob or commit) is in the repository. */
bool fx_registry_has(fx_registry_t *self, const char *object_id);

/* The commit refs/heads/main points at ("" while the repository is empty). */
void fx_registry_head(fx_registry_t *self, fx_object_id_t out);

/* Commits this process made (for tests and the status report). */
uint64_t fx_registry_commits(const fx_registry_t *self);

#endif
