/*  fx_registry_test.c: scenarios for the git-backed function registry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_check.h"
#include "fx_registry.h"
#include "fx_testkit.h"

static char s_root[256];

static fx_registry_t *s_open(const char *name, char *path, size_t cap)
{
    char err[512];
    snprintf(path, cap, "%s/%s/registry.git", s_root, name);
    fx_registry_t *reg = fx_registry_open(path, err, sizeof err);
    CHECK(reg != NULL, "open %s: %s", path, err);
    return reg;
}

static char *s_get(fx_registry_t *reg, const char *blob)
{
    void *body = NULL;
    size_t len = 0;
    char err[512];
    if (fx_registry_get(reg, blob, &body, &len, err, sizeof err) != 0)
        return NULL;
    char *text = malloc(len + 1);
    memcpy(text, body, len);
    text[len] = '\0';
    free(body);
    return text;
}

static int s_put(fx_registry_t *reg, const char *fid, const char *body, fx_object_id_t blob,
                 fx_object_id_t commit, bool *committed)
{
    char err[512];
    fx_registry_author_t who = { .author_name = "alice", .user_id = "6f1c0000-0000-4000-8000-000000000001",
                                 .function_name = "simulate", .description = "a test function" };
    int rc = fx_registry_put(reg, fid, body, strlen(body), &who, blob, commit, committed, err, sizeof err);
    CHECK(rc == 0, "put: %s", err);
    return rc;
}

/* Three versions of one function: each readable by its blob id, the same
   body twice is one version, history survives a reopen, git sees the
   authors. */
static void scenario_versions(void *ctx)
{
    char path[512];
    const char *fid = "0a1b2c3d-0000-4000-8000-00000000abcd";
    fx_registry_t *reg = s_open("versions", path, sizeof path);
    REQUIRE(reg);
    fx_object_id_t blob[3], commit[3], again_blob, again_commit, head;
    bool committed = false;
    fx_registry_head(reg, head);
    CHECK(head[0] == '\0', "an empty registry has no head");
    s_put(reg, fid, "def f(x):\n    return x + 1\n", blob[0], commit[0], &committed);
    CHECK(committed && strlen(commit[0]) == FX_OBJECT_ID_LEN);
    s_put(reg, fid, "def f(x):\n    return x + 2\n", blob[1], commit[1], &committed);
    CHECK(committed);
    s_put(reg, fid, "def f(x):\n    return x + 2\n", again_blob, again_commit, &committed);
    CHECK(!committed && strcmp(again_blob, blob[1]) == 0 && again_commit[0] == '\0',
          "the same body again is no new version");
    s_put(reg, fid, "def f(x):\n    return x + 3\n", blob[2], commit[2], &committed);
    CHECK(committed && fx_registry_commits(reg) == 3);
    fx_registry_head(reg, head);
    CHECK(strcmp(head, commit[2]) == 0);
    /* another function beside it */
    fx_object_id_t other_blob, other_commit;
    s_put(reg, "0a77-other", "echo {x}", other_blob, other_commit, &committed);
    CHECK(committed);
    fx_registry_destroy(&reg);
    CHECK(reg == NULL);

    reg = s_open("versions", path, sizeof path);
    REQUIRE(reg);
    for (int i = 0; i < 3; i++) {
        char *text = s_get(reg, blob[i]);
        char want[64];
        snprintf(want, sizeof want, "def f(x):\n    return x + %d\n", i + 1);
        CHECK(text && strcmp(text, want) == 0, "version %d: %s", i + 1, text ? text : "(missing)");
        free(text);
        CHECK(fx_registry_has(reg, blob[i]) && fx_registry_has(reg, commit[i]));
    }
    CHECK(!fx_registry_has(reg, "0000000000000000000000000000000000000000"));
    CHECK(!fx_registry_has(reg, "not an id"));
    void *body = NULL;
    size_t len;
    char err[256];
    CHECK(fx_registry_get(reg, "0000000000000000000000000000000000000000", &body, &len, err, sizeof err) == 1);
    fx_registry_destroy(&reg);

    /* git itself reads the history: four commits, all by alice */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "git --git-dir '%s' log --format='%%an %%s' main 2>&1", path);
    FILE *p = popen(cmd, "r");
    char out[4096] = "";
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = '\0';
    if (p)
        pclose(p);
    int lines = 0;
    for (char *c = out; *c; c++)
        lines += *c == '\n';
    CHECK(lines == 4 && strstr(out, "alice register simulate") && strstr(out, "alice update simulate"),
          "git log says:\n%s", out);
    snprintf(cmd, sizeof cmd, "git --git-dir '%s' show main:0a/%s", path, fid);
    p = popen(cmd, "r");
    n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = '\0';
    if (p)
        pclose(p);
    CHECK(strcmp(out, "def f(x):\n    return x + 3\n") == 0, "the path holds the newest version: %s", out);
done:
    fx_registry_destroy(&reg);
}

static void scenario_bad_ids(void *ctx)
{
    char path[512];
    fx_registry_t *reg = s_open("bad", path, sizeof path);
    REQUIRE(reg);
    fx_object_id_t blob, commit;
    bool committed = true;
    char err[512];
    fx_registry_author_t who = { .user_id = "u" };
    CHECK(fx_registry_put(reg, "a/b", "x", 1, &who, blob, commit, &committed, err, sizeof err) == -1 &&
          strstr(err, "a/b") && !committed);
    CHECK(fx_registry_put(reg, "a", "x", 1, &who, blob, commit, &committed, err, sizeof err) == -1);
    /* an empty body is a version too */
    CHECK(fx_registry_put(reg, "abcd", "", 0, &who, blob, commit, &committed, err, sizeof err) == 0 && committed);
    void *body = NULL;
    size_t len = 99;
    CHECK(fx_registry_get(reg, blob, &body, &len, err, sizeof err) == 0 && len == 0);
    free(body);
done:
    fx_registry_destroy(&reg);
}

static void scenario_unwritable(void *ctx)
{
    char err[512];
    fx_registry_t *reg = fx_registry_open("/proc/fx-no-such/registry.git", err, sizeof err);
    CHECK(reg == NULL && strstr(err, "cannot create the function registry"), "%s", err);
    fx_registry_destroy(&reg);
}

int main(int argc, char **argv)
{
    static const fx_scenario_t scenarios[] = {
        { "versions", scenario_versions, false },
        { "bad_ids", scenario_bad_ids, false },
        { "unwritable", scenario_unwritable, false },
    };
    snprintf(s_root, sizeof s_root, "/tmp/fx_registry_test.XXXXXX");
    if (!mkdtemp(s_root)) {
        perror("mkdtemp");
        return 1;
    }
    int rc = fx_test_main("fx_registry_test", argc - 1, argv + 1, scenarios,
                          sizeof scenarios / sizeof scenarios[0], NULL);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s_root);
    return rc;
}
