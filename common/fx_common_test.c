/*  fx_common_test.c: scenarios for libfxcommon (logger, files, clocks). */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx_check.h"
#include "fx_clock.h"
#include "fx_file.h"
#include "fx_log.h"
#include "fx_memory.h"
#include "fx_testkit.h"

static char s_dir[256];

static void s_make_dir(void)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/fx_common_test.XXXXXX");
    if (!mkdtemp(s_dir))
        s_dir[0] = '\0';
}

static int s_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void scenario_atomic_write(void *ctx)
{
    char path[512];
    snprintf(path, sizeof path, "%s/secret", s_dir);
    mode_t old = umask(077 ^ 0777); /* a permissive umask must not widen 0600, a strict one not narrow it */
    CHECK(fx_file_write_atomic(path, "one", 3, 0600, 1) == 0);
    umask(old);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode %o", st.st_mode & 0777);
    CHECK(fx_file_write_atomic(path, "second", 6, 0640, 0) == 0);
    char *data = NULL;
    size_t len = 0;
    CHECK(fx_file_read(path, 100, &data, &len) == 0 && len == 6 && strcmp(data, "second") == 0);
    free(data);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
    CHECK(s_count_entries(s_dir) == 1, "a temporary file was left behind");
    char missing[512];
    snprintf(missing, sizeof missing, "%s/no/such/folder/file", s_dir);
    CHECK(fx_file_write_atomic(missing, "x", 1, 0600, 0) == -1 && errno == ENOENT);
    unlink(path);
}

static void scenario_mkdirs(void *ctx)
{
    char path[512];
    snprintf(path, sizeof path, "%s/a/b/c/", s_dir);
    CHECK(fx_file_mkdirs(path, 0700) == 0);
    CHECK(fx_file_mkdirs(path, 0700) == 0, "existing folders are fine");
    struct stat st;
    snprintf(path, sizeof path, "%s/a/b/c", s_dir);
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
    char file[512];
    snprintf(file, sizeof file, "%s/a/file", s_dir);
    CHECK(fx_file_write_atomic(file, "x", 1, 0600, 0) == 0);
    snprintf(path, sizeof path, "%s/a/file/d", s_dir);
    CHECK(fx_file_mkdirs(path, 0700) == -1 && errno == ENOTDIR);
    unlink(file);
    snprintf(path, sizeof path, "%s/a/b/c", s_dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/a/b", s_dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/a", s_dir);
    rmdir(path);
}

static void scenario_read_limit(void *ctx)
{
    char path[512];
    snprintf(path, sizeof path, "%s/big", s_dir);
    size_t n = 10000;
    char *big = malloc(n);
    memset(big, 'x', n);
    CHECK(fx_file_write_atomic(path, big, n, 0600, 0) == 0);
    char *data = NULL;
    CHECK(fx_file_read(path, n - 1, &data, NULL) == -1 && errno == EFBIG && data == NULL);
    size_t len = 0;
    CHECK(fx_file_read(path, n, &data, &len) == 0 && len == n);
    free(data);
    free(big);
    CHECK(fx_file_read("/nonexistent/fx", 10, &data, NULL) == -1 && errno == ENOENT);
    unlink(path);
}

static void scenario_log_lines(void *ctx)
{
    char path[512];
    snprintf(path, sizeof path, "%s/log", s_dir);
    fx_log_init("fx-test");
    CHECK(fx_log_open(path) == 0);
    fx_log_set_level(FX_LOG_INFO);
    fx_debug("hidden %d", 1);
    fx_info("task=%s started", "abc");
    errno = EPIPE;
    fx_warn("two\nlines\n");
    CHECK(errno == EPIPE, "logging kept errno");
    char longtext[6000];
    memset(longtext, 'y', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    fx_error("%s", longtext);
    char *data = NULL;
    REQUIRE(fx_file_read(path, 1 << 20, &data, NULL) == 0);
    CHECK(strstr(data, "hidden") == NULL, "debug below the level was written");
    char want[64];
    snprintf(want, sizeof want, " info fx-test[%d] task=abc started\n", (int) getpid());
    CHECK(strstr(data, want) != NULL, "no line like '%s' in:\n%s", want, data);
    CHECK(data[4] == '-' && data[10] == 'T' && strstr(data, "Z info ") != NULL, "time stamp: %.30s", data);
    CHECK(strstr(data, " warning fx-test[") != NULL && strstr(data, "two\nlines\n") != NULL);
    char *err = strstr(data, " error fx-test[");
    CHECK(err && strstr(err, "...\n") && strlen(strchr(err, '\n') ? err : "") < 4200, "long line cut");
    int lines = 0;
    for (char *p = data; *p; p++)
        lines += *p == '\n';
    CHECK(lines == 4, "%d lines", lines);
    CHECK(fx_log_level_parse("warning") == FX_LOG_WARN && fx_log_level_parse("DEBUG") == FX_LOG_DEBUG &&
          fx_log_level_parse("loud") == -1);
done:
    free(data);
    unlink(path);
}

static void scenario_clocks(void *ctx)
{
    int64_t a = fx_now_us(), b = fx_now_us();
    CHECK(b >= a);
    CHECK(fx_now_ms() >= a / 1000 - 1);
    CHECK(fx_wall_us() > (int64_t) 1700000000 * 1000000, "the wall clock is in the past");
    char dir[512];
    CHECK(fx_self_dir(dir, sizeof dir) == 0 && dir[0] == '/');
}

/* After fx_memory_tune a 4 MiB buffer comes from the heap, not from a
   mapping of its own (glibc counts those in mallinfo2's hblks), and the
   memory freed stays for the next one. Only glibc's own allocator can be
   asked: under ASan or valgrind malloc is theirs, and this says so. */
static void scenario_memory_tune(void *ctx)
{
    (void) ctx;
#if defined(__SANITIZE_ADDRESS__) || !defined(__GLIBC__)
    printf("memory_tune: not checked: the allocator is not glibc's in this build\n");
#else
    if (getenv("LD_PRELOAD") && strstr(getenv("LD_PRELOAD"), "vgpreload")) {
        printf("memory_tune: not checked: valgrind's allocator\n");
        return;
    }
    fx_memory_tune();
    size_t mapped = mallinfo2().hblks;
    char *a = malloc(4 << 20);
    CHECK(a != NULL);
    if (a)
        memset(a, 1, 4 << 20);
    CHECK(mallinfo2().hblks == mapped, "a 4 MiB buffer got a mapping of its own (hblks %zu -> %zu)", mapped,
          mallinfo2().hblks);
    free(a);
    size_t kept = mallinfo2().fordblks;
    CHECK(kept >= (size_t) (4 << 20), "the freed 4 MiB went back to the kernel (free in the heap: %zu)", kept);
#endif
}

int main(int argc, char **argv)
{
    static const fx_scenario_t scenarios[] = {
        { "atomic_write", scenario_atomic_write, false },
        { "mkdirs", scenario_mkdirs, false },
        { "read_limit", scenario_read_limit, false },
        { "log_lines", scenario_log_lines, false },
        { "clocks", scenario_clocks, false },
        { "memory_tune", scenario_memory_tune, false },
    };
    s_make_dir();
    if (!s_dir[0]) {
        perror("mkdtemp");
        return 1;
    }
    int rc = fx_test_main("fx_common_test", argc - 1, argv + 1, scenarios, sizeof scenarios / sizeof scenarios[0],
                          NULL);
    rmdir(s_dir);
    return rc;
}
