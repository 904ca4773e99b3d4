/*  fx_testkit.c: the scenario runner and deadline policy of fx's C tests
    (fx_testkit.h). */
#include "fx_testkit.h"

#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "fx_check.h"

static const fx_scenario_t *s_find(const fx_scenario_t *scenarios, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(scenarios[i].name, name) == 0)
            return &scenarios[i];
    return NULL;
}

static void s_run_one(const fx_scenario_t *s, void *ctx)
{
    int before = fx_check_failures;
    s->run(ctx);
    printf("%s: %s\n", s->name, fx_check_failures == before ? "ok" : "FAILED");
    fflush(stdout);
}

int fx_test_main(const char *program, int argc, char **argv, const fx_scenario_t *scenarios, size_t count,
                 void *ctx)
{
    bool all = argc == 0 || (argc == 1 && strcmp(argv[0], "all") == 0);
    if (!all) {
        int unknown = 0;
        for (int i = 0; i < argc; i++)
            if (!s_find(scenarios, count, argv[i])) {
                fprintf(stderr, "%s: no scenario named '%s'\n", program, argv[i]);
                unknown++;
            }
        if (unknown) {
            fprintf(stderr, "%s: known scenarios:", program);
            for (size_t i = 0; i < count; i++)
                fprintf(stderr, " %s", scenarios[i].name);
            fprintf(stderr, " (or all)\n");
            return 2;
        }
    }
    if (all) {
        for (size_t i = 0; i < count; i++)
            if (!scenarios[i].by_name_only)
                s_run_one(&scenarios[i], ctx);
    }
    else {
        for (int i = 0; i < argc; i++)
            s_run_one(s_find(scenarios, count, argv[i]), ctx);
    }
    printf("%s: %s\n", program, fx_check_failures ? "FAILED" : "all checks passed");
    return fx_check_failures ? 1 : 0;
}

double fx_test_slow(void)
{
    static double slow = 0;
    if (slow == 0) {
        const char *text = getenv("FX_TEST_SLOW");
        char *end = NULL;
        double v = text ? strtod(text, &end) : 1;
        if (text && (end == text || *end != '\0' || v < 1)) {
            fprintf(stderr, "FX_TEST_SLOW=%s is not a number >= 1; using 1\n", text);
            v = 1;
        }
        slow = v;
    }
    return slow;
}

int64_t fx_test_ms(int64_t ms)
{
    return (int64_t) ((double) ms * fx_test_slow());
}

int64_t fx_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t fx_test_deadline(int64_t ms)
{
    return fx_test_now_ms() + fx_test_ms(ms);
}

bool fx_test_wait_file(const char *path, int64_t ms)
{
    char folder[PATH_MAX];
    snprintf(folder, sizeof folder, "%s", path);
    int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    /* watch first, then look: a file made in between still wakes us */
    if (fd < 0 || inotify_add_watch(fd, dirname(folder), IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
        if (fd >= 0)
            close(fd);
        return access(path, F_OK) == 0;
    }
    int64_t deadline = fx_test_deadline(ms);
    bool there = access(path, F_OK) == 0;
    while (!there) {
        int64_t left = deadline - fx_test_now_ms();
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int) left) > 0) {
            char events[4096];
            while (read(fd, events, sizeof events) > 0) {
            }
        }
        there = access(path, F_OK) == 0;
    }
    close(fd);
    return there;
}
