/*  fx_container_test.c: templates rendered for every runtime (exact argv),
    what a bad template says, and real bubblewrap launches: the command runs
    inside (its own hostname, its own /tmp, the marker in its environment, a
    read-only root) and keeps an inherited descriptor, the way a worker
    keeps its link to the manager. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_check.h"
#include "fx_container.h"
#include "fx_testkit.h"

/* argv joined with '|' between words, for exact comparisons. */
static void s_join(char **argv, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    for (char **p = argv; p && *p && n < cap; p++)
        n += (size_t) snprintf(out + n, cap - n, "%s%s", p == argv ? "" : "|", *p);
}

static char *const s_cmd[] = {"fx-worker", "--link-fd", "3", NULL};
static char *const s_env[] = {"FX_MARK=inside", "PYTHONPATH=/opt/fx lib", NULL};
static const fx_bind_t s_binds[] = {{"/data", "/data", true}, {"/scratch/u", "/scratch", false}};

static void s_expect(fx_runtime_t rt, const char *image, const char *template_text, const char *want)
{
    fx_launch_t l = {.runtime = rt, .name = "torch", .image = image, .template_text = template_text,
                     .command = s_cmd, .env = s_env, .binds = s_binds, .binds_count = 2, .preserve_fds = 1};
    char err[256], got[4096];
    char **argv = fx_container_render(&l, err, sizeof err);
    CHECK(argv != NULL, "%s renders: %s", fx_runtime_name(rt), err);
    s_join(argv, got, sizeof got);
    CHECK(strcmp(got, want) == 0, "%s:\n  got  %s\n  want %s", fx_runtime_name(rt), got, want);
    fx_container_argv_free(&argv);
    CHECK(argv == NULL, "freed and cleared");
}

static void s_render_defaults(void *ctx)
{
    (void) ctx;
    s_expect(FX_RUNTIME_NONE, NULL, NULL, "fx-worker|--link-fd|3");
    s_expect(FX_RUNTIME_BWRAP, NULL, NULL,
             "bwrap|--die-with-parent|--unshare-pid|--unshare-uts|--unshare-ipc|--hostname|torch|--ro-bind|/|/|"
             "--dev|/dev|--proc|/proc|--tmpfs|/tmp|--ro-bind|/data|/data|--bind|/scratch/u|/scratch|"
             "--setenv|FX_MARK|inside|--setenv|PYTHONPATH|/opt/fx lib|fx-worker|--link-fd|3");
    s_expect(FX_RUNTIME_PODMAN, "docker.io/pytorch/pytorch:2.1", NULL,
             "podman|run|--rm|--interactive|--network|none|--hostname|torch|--preserve-fds|1|"
             "-v|/data:/data:ro|-v|/scratch/u:/scratch|-e|FX_MARK=inside|-e|PYTHONPATH=/opt/fx lib|"
             "docker.io/pytorch/pytorch:2.1|fx-worker|--link-fd|3");
    s_expect(FX_RUNTIME_DOCKER, "pytorch/pytorch:2.1", NULL,
             "docker|run|--rm|--interactive|--network|none|--hostname|torch|-v|/data:/data:ro|-v|/scratch/u:/scratch|"
             "-e|FX_MARK=inside|-e|PYTHONPATH=/opt/fx lib|pytorch/pytorch:2.1|fx-worker|--link-fd|3");
    s_expect(FX_RUNTIME_APPTAINER, "/images/torch.sif", NULL,
             "apptainer|exec|--containall|--no-home|--bind|/data:/data:ro|--bind|/scratch/u:/scratch|"
             "--env|FX_MARK=inside|--env|PYTHONPATH=/opt/fx lib|/images/torch.sif|fx-worker|--link-fd|3");
    s_expect(FX_RUNTIME_SINGULARITY, "/images/torch.sif", NULL,
             "singularity|exec|--containall|--no-home|--bind|/data:/data:ro|--bind|/scratch/u:/scratch|"
             "--env|FX_MARK=inside|--env|PYTHONPATH=/opt/fx lib|/images/torch.sif|fx-worker|--link-fd|3");
    /* a site's own template: placeholders inside words, quotes, literal braces */
    s_expect(FX_RUNTIME_APPTAINER, "/images/torch.sif",
             "apptainer exec --nv \"--overlay {image}.overlay\" {{x}} {image} {command}",
             "apptainer|exec|--nv|--overlay /images/torch.sif.overlay|{x}|/images/torch.sif|fx-worker|--link-fd|3");
    fx_runtime_t rt;
    CHECK(fx_runtime_parse("podman", &rt) == 0 && rt == FX_RUNTIME_PODMAN, "podman parses");
    CHECK(fx_runtime_parse("lxc", &rt) == -1, "lxc is not a runtime");
}

/* Nothing a user gives (image, arguments) is ever split or read by a shell. */
static void s_render_no_injection(void *ctx)
{
    (void) ctx;
    char **argv = NULL;
    char *const cmd[] = {"python3", "-c", "print(1); import os", NULL};
    fx_launch_t l = {.runtime = FX_RUNTIME_DOCKER, .name = "x", .image = "img; rm -rf /", .command = cmd};
    char err[256], got[1024];
    argv = fx_container_render(&l, err, sizeof err);
    REQUIRE(argv != NULL, "renders: %s", err);
    s_join(argv, got, sizeof got);
    CHECK(strstr(got, "|img; rm -rf /|python3|-c|print(1); import os") != NULL, "one word each: %s", got);
done:
    fx_container_argv_free(&argv);
}

static void s_bad(fx_runtime_t rt, const char *image, const char *t, const char *says)
{
    fx_launch_t l = {.runtime = rt, .name = "c1", .image = image, .template_text = t, .command = s_cmd};
    char err[256] = "";
    char **argv = fx_container_render(&l, err, sizeof err);
    CHECK(argv == NULL, "%s is refused", t ? t : "(default)");
    CHECK(strstr(err, says) != NULL, "error for %s names the problem: %s", t ? t : "(default)", err);
    fx_container_argv_free(&argv);
}

static void s_template_errors(void *ctx)
{
    (void) ctx;
    s_bad(FX_RUNTIME_BWRAP, NULL, "bwrap --ro-bind / / fx-worker", "no {command}");
    s_bad(FX_RUNTIME_BWRAP, NULL, "bwrap {imag} {command}", "unknown placeholder near \"{imag}");
    s_bad(FX_RUNTIME_BWRAP, NULL, "bwrap --x{command} ", "{command} must be a word of its own");
    s_bad(FX_RUNTIME_BWRAP, NULL, "bwrap \"{command}", "open \"");
    s_bad(FX_RUNTIME_BWRAP, NULL, "bwrap } {command}", "lone }");
    s_bad(FX_RUNTIME_PODMAN, "", NULL, "container c1: runtime podman needs an image");
    fx_launch_t l = {.runtime = FX_RUNTIME_BWRAP, .name = "c1"};
    char err[256];
    CHECK(fx_container_render(&l, err, sizeof err) == NULL && strstr(err, "no worker command"), "%s", err);
    CHECK(fx_container_template_check("{command}", err, sizeof err) == 0, "a bare {command} is fine");
    CHECK(fx_container_template_check("run {nope} {command}", err, sizeof err) == -1 && strstr(err, "{nope}"),
          "check names the placeholder: %s", err);
}

static void s_runtime_probe(void *ctx)
{
    (void) ctx;
    char why[256] = "";
    CHECK(fx_runtime_available(FX_RUNTIME_NONE, why, sizeof why), "none is always there");
    /* a runtime that is surely absent: singularity is not packaged in Debian 12 */
    if (!fx_runtime_available(FX_RUNTIME_SINGULARITY, why, sizeof why))
        CHECK(strstr(why, "singularity") != NULL, "the reason names the program: %s", why);
}

/* Runs argv with stdout to a pipe and extra_fd kept open; returns stdout. */
static char *s_run(char **argv, int extra_fd, int *status)
{
    int out[2];
    if (pipe(out) != 0)
        return NULL;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        if (extra_fd >= 0 && extra_fd != 3) {
            dup2(extra_fd, 3);
            close(extra_fd);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    close(out[1]);
    static char buf[8192];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(out[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t) r;
    buf[n] = 0;
    close(out[0]);
    waitpid(pid, status, 0);
    return buf;
}

static bool s_have_bwrap(void)
{
    char why[256];
    if (fx_runtime_available(FX_RUNTIME_BWRAP, why, sizeof why))
        return true;
    printf("SKIPPED bwrap launches: %s (apt-get install bubblewrap)\n", why);
    return false;
}

static void s_bwrap_isolates(void *ctx)
{
    (void) ctx;
    char **argv = NULL;
    if (!s_have_bwrap())
        return;
    char *const cmd[] = {"/usr/bin/python3", "-c",
                         "import os, socket\n"
                         "try:\n    open('/fx-must-not-exist', 'w'); ro = 'writable'\n"
                         "except OSError: ro = 'read-only'\n"
                         "open('/tmp/own', 'w').write('x')\n"
                         "print(socket.gethostname(), os.environ.get('FX_MARK'), ro, sorted(os.listdir('/tmp')))",
                         NULL};
    char *const env[] = {"FX_MARK=inside-fx", NULL};
    fx_launch_t l = {.runtime = FX_RUNTIME_BWRAP, .name = "fxbox", .command = cmd, .env = env};
    char err[256];
    argv = fx_container_render(&l, err, sizeof err);
    REQUIRE(argv, "renders: %s", err);
    int status = -1;
    char *out = s_run(argv, -1, &status);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "bwrap ran it (status %d)", status);
    CHECK(out && strcmp(out, "fxbox inside-fx read-only ['own']\n") == 0, "inside: %s", out ? out : "(nothing)");
done:
    fx_container_argv_free(&argv);
}

/* The worker's link is an inherited descriptor: it must survive the launch. */
static void s_bwrap_keeps_fd(void *ctx)
{
    (void) ctx;
    char **argv = NULL;
    if (!s_have_bwrap())
        return;
    int link[2];
    REQUIRE(pipe(link) == 0, "pipe");
    char *const cmd[] = {"/usr/bin/python3", "-c", "import os; os.write(3, b'hello manager')", NULL};
    fx_launch_t l = {.runtime = FX_RUNTIME_BWRAP, .name = "fdbox", .command = cmd};
    char err[256];
    argv = fx_container_render(&l, err, sizeof err);
    REQUIRE(argv, "renders: %s", err);
    int status = -1;
    s_run(argv, link[1], &status);
    close(link[1]);
    char buf[64] = "";
    ssize_t n = read(link[0], buf, sizeof buf - 1);
    close(link[0]);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "ran (status %d)", status);
    CHECK(n == 13 && strncmp(buf, "hello manager", 13) == 0, "fd 3 reached the host: %zd '%s'", n, buf);
done:
    fx_container_argv_free(&argv);
}

/* A launch that fails (a missing image root) says so on stderr and exits non-zero. */
static void s_bwrap_failure(void *ctx)
{
    (void) ctx;
    char **argv = NULL;
    if (!s_have_bwrap())
        return;
    char *const cmd[] = {"/usr/bin/true", NULL};
    fx_launch_t l = {.runtime = FX_RUNTIME_BWRAP, .name = "broken", .image = "/fx-no-such-root", .command = cmd};
    char err[256];
    argv = fx_container_render(&l, err, sizeof err);
    REQUIRE(argv, "renders: %s", err);
    int status = -1;
    s_run(argv, -1, &status);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0, "a missing root fails the launch (status %d)", status);
done:
    fx_container_argv_free(&argv);
}

static const fx_scenario_t s_scenarios[] = {
    {"render_defaults", s_render_defaults, false},     {"render_no_injection", s_render_no_injection, false},
    {"template_errors", s_template_errors, false},     {"runtime_probe", s_runtime_probe, false},
    {"bwrap_isolates", s_bwrap_isolates, false},       {"bwrap_keeps_fd", s_bwrap_keeps_fd, false},
    {"bwrap_failure", s_bwrap_failure, false},
};

int main(int argc, char **argv)
{
    return fx_test_main("fx_container_test", argc - 1, argv + 1, s_scenarios,
                        sizeof s_scenarios / sizeof s_scenarios[0], NULL);
}
