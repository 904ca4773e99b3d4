/*  fx_registry.c: function bodies in a bare git repository, through
    libgit2 (fx_registry.h). */
#include "fx_registry.h"

#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_BRANCH "refs/heads/main"

struct _fx_registry_t {
    git_repository *repo;
    uint64_t commits;
};

/* libgit2 keeps a global init count; each open registry holds one. */
static void s_git_error(char *err, size_t errlen, const char *what)
{
    const git_error *e = git_error_last();
    snprintf(err, errlen, "%s: %s", what, e && e->message ? e->message : "unknown libgit2 error");
}

fx_registry_t *fx_registry_open(const char *path, char *err, size_t errlen)
{
    git_libgit2_init();
    /* The broker commits sqlite rows that point at these objects: they must
       be on disk first. */
    git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
    fx_registry_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        git_libgit2_shutdown();
        return NULL;
    }
    if (git_repository_open_bare(&self->repo, path) != 0) {
        git_repository_init_options opts;
        git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
        opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
        opts.initial_head = "main";
        opts.description = "fx function registry: one path per function, one commit per version";
        if (git_repository_init_ext(&self->repo, path, &opts) != 0) {
            char what[512];
            snprintf(what, sizeof what, "cannot create the function registry %s", path);
            s_git_error(err, errlen, what);
            free(self);
            git_libgit2_shutdown();
            return NULL;
        }
    }
    return self;
}

void fx_registry_destroy(fx_registry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    git_repository_free((*self_p)->repo);
    free(*self_p);
    *self_p = NULL;
    git_libgit2_shutdown();
}

/* The head commit and its tree, or NULLs while the branch is unborn. */
static int s_head(fx_registry_t *self, git_commit **commit_p, git_tree **tree_p)
{
    *commit_p = NULL;
    *tree_p = NULL;
    git_oid oid;
    int rc = git_reference_name_to_id(&oid, self->repo, S_BRANCH);
    if (rc == GIT_ENOTFOUND)
        return 0;
    if (rc != 0 || git_commit_lookup(commit_p, self->repo, &oid) != 0)
        return -1;
    return git_commit_tree(tree_p, *commit_p);
}

/* A copy of tree (or an empty builder) with `name` set to oid, written;
   new_oid gets the new tree. */
static int s_tree_with(git_repository *repo, const git_tree *tree, const char *name, const git_oid *oid,
                       git_filemode_t mode, git_oid *new_oid)
{
    git_treebuilder *bld = NULL;
    int rc = git_treebuilder_new(&bld, repo, tree);
    if (rc == 0)
        rc = git_treebuilder_insert(NULL, bld, name, oid, mode);
    if (rc == 0)
        rc = git_treebuilder_write(new_oid, bld);
    git_treebuilder_free(bld);
    return rc;
}

static void s_make_signature_parts(const fx_registry_author_t *who, char *email, size_t cap)
{
    if (who->author_email && *who->author_email)
        snprintf(email, cap, "%s", who->author_email);
    else
        snprintf(email, cap, "%s@fx", who->user_id && *who->user_id ? who->user_id : "unknown");
}

int fx_registry_put(fx_registry_t *self, const char *function_id, const void *body, size_t len,
                    const fx_registry_author_t *who, fx_object_id_t blob_out, fx_object_id_t commit_out,
                    bool *committed, char *err, size_t errlen)
{
    int rc = -1;
    git_commit *head = NULL;
    git_tree *root = NULL, *fan_tree = NULL, *new_root = NULL;
    git_signature *author = NULL, *committer = NULL;
    git_oid blob, fan_oid, root_oid, commit;
    char fan[3] = { function_id[0], function_id[1], '\0' };
    *committed = false;
    blob_out[0] = commit_out[0] = '\0';
    if (strlen(function_id) < 2 || strchr(function_id, '/')) {
        snprintf(err, errlen, "function id '%s' cannot name a path in the registry", function_id);
        return -1;
    }
    if (git_blob_create_from_buffer(&blob, self->repo, body, len) != 0) {
        s_git_error(err, errlen, "cannot store the function body");
        goto done;
    }
    git_oid_tostr(blob_out, FX_OBJECT_ID_LEN + 1, &blob);
    if (s_head(self, &head, &root) != 0) {
        s_git_error(err, errlen, "cannot read the registry's head");
        goto done;
    }
    /* The same body at the same path: this version exists already. */
    const git_tree_entry *fan_entry = root ? git_tree_entry_byname(root, fan) : NULL;
    if (fan_entry && git_tree_lookup(&fan_tree, self->repo, git_tree_entry_id(fan_entry)) != 0) {
        s_git_error(err, errlen, "cannot read the registry's tree");
        goto done;
    }
    const git_tree_entry *current = fan_tree ? git_tree_entry_byname(fan_tree, function_id) : NULL;
    if (current && git_oid_equal(git_tree_entry_id(current), &blob)) {
        rc = 0;
        goto done;
    }
    if (s_tree_with(self->repo, fan_tree, function_id, &blob, GIT_FILEMODE_BLOB, &fan_oid) != 0 ||
        s_tree_with(self->repo, root, fan, &fan_oid, GIT_FILEMODE_TREE, &root_oid) != 0 ||
        git_tree_lookup(&new_root, self->repo, &root_oid) != 0) {
        s_git_error(err, errlen, "cannot write the registry's tree");
        goto done;
    }
    char email[256];
    s_make_signature_parts(who, email, sizeof email);
    git_time_t when = who->when_s ? (git_time_t) who->when_s : (git_time_t) time(NULL);
    const char *name = who->author_name && *who->author_name ? who->author_name : email;
    if (git_signature_new(&author, name, email, when, 0) != 0 ||
        git_signature_new(&committer, "fx-broker", "broker@fx", when, 0) != 0) {
        s_git_error(err, errlen, "cannot make the commit's signature");
        goto done;
    }
    char message[2048];
    snprintf(message, sizeof message, "%s%s\n\nfunction %s\n%s%s", current ? "update " : "register ",
             who->function_name && *who->function_name ? who->function_name : function_id, function_id,
             who->description && *who->description ? "\n" : "", who->description ? who->description : "");
    const git_commit *parents[1] = { head };
    if (git_commit_create(&commit, self->repo, S_BRANCH, author, committer, "UTF-8", message, new_root,
                          head ? 1 : 0, parents) != 0) {
        s_git_error(err, errlen, "cannot commit to the registry");
        goto done;
    }
    git_oid_tostr(commit_out, FX_OBJECT_ID_LEN + 1, &commit);
    *committed = true;
    self->commits++;
    rc = 0;
done:
    git_signature_free(author);
    git_signature_free(committer);
    git_tree_free(new_root);
    git_tree_free(fan_tree);
    git_tree_free(root);
    git_commit_free(head);
    return rc;
}

int fx_registry_get(fx_registry_t *self, const char *blob_id, void **body_p, size_t *len_p, char *err,
                    size_t errlen)
{
    *body_p = NULL;
    *len_p = 0;
    git_oid oid;
    git_blob *blob = NULL;
    if (strlen(blob_id) != FX_OBJECT_ID_LEN || git_oid_fromstr(&oid, blob_id) != 0)
        return 1;
    int rc = git_blob_lookup(&blob, self->repo, &oid);
    if (rc == GIT_ENOTFOUND)
        return 1;
    if (rc != 0) {
        s_git_error(err, errlen, "cannot read a function body from the registry");
        return -1;
    }
    size_t len = (size_t) git_blob_rawsize(blob);
    void *copy = malloc(len ? len : 1);
    if (!copy) {
        git_blob_free(blob);
        snprintf(err, errlen, "out of memory reading a %zu-byte function body", len);
        return -1;
    }
    memcpy(copy, git_blob_rawcontent(blob), len);
    git_blob_free(blob);
    *body_p = copy;
    *len_p = len;
    return 0;
}

bool fx_registry_has(fx_registry_t *self, const char *object_id)
{
    git_oid oid;
    git_odb *odb = NULL;
    if (strlen(object_id) != FX_OBJECT_ID_LEN || git_oid_fromstr(&oid, object_id) != 0)
        return false;
    if (git_repository_odb(&odb, self->repo) != 0)
        return false;
    bool has = git_odb_exists(odb, &oid) == 1;
    git_odb_free(odb);
    return has;
}

void fx_registry_head(fx_registry_t *self, fx_object_id_t out)
{
    git_oid oid;
    out[0] = '\0';
    if (git_reference_name_to_id(&oid, self->repo, S_BRANCH) == 0)
        git_oid_tostr(out, FX_OBJECT_ID_LEN + 1, &oid);
}

uint64_t fx_registry_commits(const fx_registry_t *self)
{
    return self->commits;
}
