/*  fx_worker_fn_test: functions as SPEC 12.1 sends them, through the real
    fx-worker from the fake manager (fx_wtest.h): each strategy (source,
    dill, reference, shell), the pickle5 payload format, bodies sent once
    per version, sys.executable, load errors that name both sides, and the
    provenance every result carries.

        fx_worker_fn_test PATH-TO-fx-worker PATH-TO-python3 [SCENARIO...|all]

    The dill bodies are made here by Debian's Python and dill, as a client
    would make them (a script run with -c is __main__, so dill carries its
    functions by value). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx_wtest.h"

/* A function version id (40 hex digits) made from a seed. */
static void s_version(char *out, unsigned seed)
{
    for (int i = 0; i < FX_OID_LEN; i++)
        out[i] = "0123456789abcdef"[(seed * 2654435761u + (unsigned) i * 40503u) >> 7 & 15];
    out[FX_OID_LEN] = '\0';
}

/* The value's repr, checked against want. */
static void s_check_value(fx_wt_ctx_t *ctx, fx_msg_t *msg, const char *want, const char *what)
{
    if (!msg)
        return;
    char *repr = fx_wt_repr(ctx, msg->results.results[0].value);
    CHECK(strcmp(repr, want) == 0, "%s: value %s, want %s", what, repr, want);
    free(repr);
}

/* Runs the task, which must be OK with this value repr. */
static void s_ok(fx_wt_ctx_t *ctx, const fx_wt_task_spec_t *spec, const char *want, const char *what)
{
    fx_msg_t *msg = fx_wt_expect(ctx, spec, FX_RESULT_OK, 0);
    s_check_value(ctx, msg, want, what);
    fx_msg_destroy(&msg);
}

/* Runs the task, which must end with ERROR code and a text holding part. */
static void s_fails(fx_wt_ctx_t *ctx, const fx_wt_task_spec_t *spec, int code, const char *part)
{
    fx_msg_t *msg = fx_wt_expect(ctx, spec, FX_RESULT_ERROR, code);
    if (msg)
        CHECK(fx_wt_has(msg->results.results[0].error_text, part), "error text %s, want it to say %s",
              msg->results.results[0].error_text, part);
    fx_msg_destroy(&msg);
}

/* The n frames a script wrote as u64le length + bytes each, into out. */
static int s_split(zframe_t *all, zframe_t **out, int n)
{
    size_t at = 0, size = all ? zframe_size(all) : 0;
    const unsigned char *p = all ? zframe_data(all) : NULL;
    for (int i = 0; i < n; i++) {
        uint64_t len = 0;
        if (at + 8 > size)
            return -1;
        for (int b = 7; b >= 0; b--)
            len = len << 8 | p[at + (size_t) b];
        at += 8;
        if (len > size - at)
            return -1;
        out[i] = zframe_new(p + at, (size_t) len);
        at += (size_t) len;
    }
    return at == size ? 0 : -1;
}

/* Python that writes bodies (or payloads) for C to split (s_split). */
#define S_EMIT "import sys\ndef emit(b):\n    sys.stdout.buffer.write(len(b).to_bytes(8, 'little') + b)\n"

/* ------------------------------------------------ scenarios */

/* source+pickle named in full, reference+pickle, shell+pickle, and
   serializers the worker does not take. */
FX_WT_SCENARIO(s_test_strategies, true)
{
    fx_wt_task_spec_t source = {
        .serializer = "source+pickle", .body = "def f(x):\n    return x + 1\n", .args = "((41,), {})"};
    s_ok(ctx, &source, "42", "source+pickle");
    fx_wt_task_spec_t ref = {.serializer = "reference+pickle",
                             .body = "os.path:join",
                             .entry = "os.path:join",
                             .args = "(('a', 'b'), {})"};
    s_ok(ctx, &ref, "'a/b'", "reference+pickle");
    fx_wt_task_spec_t nested = {.serializer = "reference+pickle",
                                .body = "collections:OrderedDict.fromkeys",
                                .args = "(('ab',), {})"};
    s_ok(ctx, &nested, "OrderedDict([('a', None), ('b', None)])", "a qualname with a dot");
    fx_wt_task_spec_t shell = {.kind = FX_FN_SHELL,
                               .serializer = "shell+pickle",
                               .entry = "",
                               .body = "echo {0}",
                               .args = "(('hi',), {})"};
    s_ok(ctx, &shell, "{'returncode': 0, 'stdout': 'hi\\n', 'stderr': ''}", "shell+pickle");
    const char *bad[] = {"marshal+pickle", "source+json", "source", "shell+pickle"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fx_wt_task_spec_t spec = {.serializer = bad[i], .body = "def f():\n    return 1\n"};
        s_fails(ctx, &spec, FX_E_LOAD, bad[i]);
    }
}

/* dill bodies as a scientist's script makes them: a closure over a
   helper, a module constant and `math` imported at module level; a
   lambda; a default argument. Each runs twice (the second time from the
   cache, body empty, on the fast path). */
FX_WT_SCENARIO(s_test_dill, true)
{
    zframe_t *all =
        fx_wt_python(ctx,
                     S_EMIT "import dill, math\n"
                            "K = 3\n"
                            "def helper(x):\n    return x * K\n"
                            "def make(n):\n"
                            "    def inner(x):\n        return helper(x) + n + math.floor(math.pi)\n"
                            "    return inner\n"
                            "emit(dill.dumps(make(10), recurse=True))\n"
                            "emit(dill.dumps(lambda y: y ** 2, recurse=True))\n"
                            "def scaled(x, by=K * 2):\n    return x * by\n"
                            "emit(dill.dumps(scaled, recurse=True))\n",
                     NULL);
    zframe_t *bodies[3] = {NULL, NULL, NULL};
    REQUIRE(all && s_split(all, bodies, 3) == 0, "the dill bodies");
    const char *args[] = {"((2,), {})", "((7,), {})", "((5,), {})"};
    const char *want[] = {"19", "49", "30"};
    for (int i = 0; i < 3; i++) {
        char version[FX_OID_LEN + 1];
        s_version(version, 100 + (unsigned) i);
        fx_wt_task_spec_t spec = {.serializer = "dill+pickle",
                                  .version = version,
                                  .dill_version = "0.3.6",
                                  .entry = i == 1 ? "<lambda>" : "f",
                                  .body_frame = bodies[i],
                                  .args = args[i]};
        s_ok(ctx, &spec, want[i], "dill, first run");
        zframe_t *empty = zframe_new_empty();
        spec.body_frame = empty;
        s_ok(ctx, &spec, want[i], "dill, from the cache");
        zframe_destroy(&empty);
    }
done:
    for (int i = 0; i < 3; i++)
        zframe_destroy(&bodies[i]);
    zframe_destroy(&all);
}

/* A dill body this worker's dill cannot load names both dill versions; a
   module missing on the endpoint names the module and says so. */
FX_WT_SCENARIO(s_test_dill_mismatch, true)
{
    char version[FX_OID_LEN + 1];
    s_version(version, 200);
    zframe_t *broken = zframe_new("\x80\x04\x95garbage from dill 0.1.9", 27);
    fx_wt_task_spec_t spec = {
        .serializer = "dill+pickle", .version = version, .dill_version = "0.1.9", .body_frame = broken};
    fx_msg_t *msg = fx_wt_expect(ctx, &spec, FX_RESULT_ERROR, FX_E_LOAD);
    if (msg) {
        const fx_result_t *r = &msg->results.results[0];
        const char *dill = strstr(r->worker_runtime, "dill ");
        CHECK(dill, "worker runtime %s names no dill", r->worker_runtime);
        CHECK(fx_wt_has(r->error_text, "dill 0.1.9") && dill && fx_wt_has(r->error_text, dill) &&
                  fx_wt_has(r->error_text, "endpoint"),
              "error text %s (worker %s)", r->error_text, r->worker_runtime);
    }
    fx_msg_destroy(&msg);
    zframe_destroy(&broken);
    /* a function whose module exists where it was made, not on the endpoint */
    zframe_t *body = fx_wt_python(ctx,
                                  S_EMIT "import dill, os, tempfile\n"
                                         "d = tempfile.mkdtemp()\n"
                                         "open(os.path.join(d, 'fx_only_on_client_7.py'), 'w').write("
                                         "'def g(x):\\n    return x + 1\\n')\n"
                                         "sys.path.insert(0, d)\n"
                                         "import fx_only_on_client_7\n"
                                         "def f(x):\n    return fx_only_on_client_7.g(x)\n"
                                         "emit(dill.dumps(f, recurse=True))\n",
                                  NULL);
    zframe_t *one = NULL;
    REQUIRE(body && s_split(body, &one, 1) == 0, "the dill body");
    s_version(version, 201);
    fx_wt_task_spec_t missing = {
        .serializer = "dill+pickle", .version = version, .dill_version = "0.3.6", .body_frame = one};
    s_fails(ctx, &missing, FX_E_LOAD, "'fx_only_on_client_7' is not installed on the endpoint");
done:
    zframe_destroy(&one);
    zframe_destroy(&body);
}

/* A reference to a module the endpoint lacks; a ModuleNotFoundError the
   function raises itself is an exception with its remote traceback. */
FX_WT_SCENARIO(s_test_reference_missing, true)
{
    fx_wt_task_spec_t spec = {.serializer = "reference+pickle", .body = "fx_not_here_9.sub:run"};
    s_fails(ctx, &spec, FX_E_LOAD, "module 'fx_not_here_9' is not installed on the endpoint");
    fx_wt_task_spec_t attr = {.serializer = "reference+pickle", .body = "os.path:no_such_fn"};
    s_fails(ctx, &attr, FX_E_LOAD, "'no_such_fn'");
    fx_wt_task_spec_t raised = {.serializer = "source+pickle",
                                .body = "def f():\n    import fx_not_here_10\n"};
    fx_msg_t *msg = fx_wt_expect(ctx, &raised, FX_RESULT_EXCEPTION, 0);
    if (msg) {
        const fx_result_t *r = &msg->results.results[0];
        char *out = fx_wt_frame_text(r->output);
        CHECK(r->error_text &&
                  strcmp(r->error_text, "ModuleNotFoundError: No module named 'fx_not_here_10'") == 0,
              "error text %s", r->error_text);
        CHECK(fx_wt_has(out, "--- remote traceback ---\n") && fx_wt_has(out, "import fx_not_here_10"),
              "output %s", out);
        free(out);
    }
    fx_msg_destroy(&msg);
}

/* pickle5: a numpy array in and out of band, read through a view of the
   task's frame (no copy), the result framed the same way. */
FX_WT_SCENARIO(s_test_pickle5, true)
{
    zframe_t *all = fx_wt_python(ctx,
                                 S_EMIT "import pickle, numpy as np\n"
                                        "def fxp5(obj):\n"
                                        "    bufs = []\n"
                                        "    s = pickle.dumps(obj, protocol=5, buffer_callback=bufs.append)\n"
                                        "    views = [b.raw() for b in bufs]\n"
                                        "    return b''.join([b'FXP5', len(views).to_bytes(4, 'little')] + "
                                        "[len(v).to_bytes(8, 'little') for v in views] + "
                                        "[len(s).to_bytes(8, 'little'), s] + views)\n"
                                        "emit(fxp5(((np.arange(1000000, dtype=np.float64),), {})))\n",
                                 NULL);
    zframe_t *payload = NULL;
    REQUIRE(all && s_split(all, &payload, 1) == 0, "the pickle5 payload");
    CHECK(zframe_size(payload) > 8000000, "the array is not out of band: %zu bytes", zframe_size(payload));
    fx_wt_task_spec_t spec = {
        .serializer = "source+pickle5",
        .body = "import numpy as np\n"
                "def f(a):\n"
                "    b = a\n"
                "    while isinstance(b, np.ndarray):\n"
                "        b = b.base\n"
                "    assert isinstance(b, memoryview) and a.flags.writeable, (type(b), a.flags)\n"
                "    return a * 2\n",
        .payload_frame = payload};
    fx_msg_t *msg = fx_wt_expect(ctx, &spec, FX_RESULT_OK, 0);
    if (msg) {
        zframe_t *value = msg->results.results[0].value;
        CHECK(zframe_size(value) > 8000000 && memcmp(zframe_data(value), "FXP5\x01\0\0\0", 8) == 0,
              "the result is not FXP5 with one buffer (%zu bytes)", zframe_size(value));
        zframe_t *check = fx_wt_python(ctx,
                                       "import sys, pickle, numpy as np\n"
                                       "d = memoryview(sys.stdin.buffer.read())\n"
                                       "n = int.from_bytes(d[4:8], 'little')\n"
                                       "lens = [int.from_bytes(d[8 + 8 * i:16 + 8 * i], 'little') "
                                       "for i in range(n + 1)]\n"
                                       "at = 16 + 8 * n\n"
                                       "s = d[at:at + lens[n]]\n"
                                       "at += lens[n]\n"
                                       "a = pickle.loads(s, buffers=[d[at:at + lens[0]]])\n"
                                       "print(bool((a == np.arange(1000000) * 2).all()), a.dtype, end='')\n",
                                       value);
        char *text = check ? zframe_strdup(check) : strdup("");
        CHECK(strcmp(text, "True float64") == 0, "the result array: %s", text);
        free(text);
        zframe_destroy(&check);
    }
    fx_msg_destroy(&msg);
    /* an exception's value and a shell task's are in the task's format too */
    zframe_t *none = fx_wt_python(ctx,
                                  S_EMIT "import pickle\n"
                                         "emit(b'FXP5' + (0).to_bytes(4, 'little') + "
                                         "len(pickle.dumps(((), {}), protocol=5)).to_bytes(8, 'little') + "
                                         "pickle.dumps(((), {}), protocol=5))\n",
                                  NULL);
    zframe_t *empty_args = NULL;
    REQUIRE(none && s_split(none, &empty_args, 1) == 0, "the empty pickle5 payload");
    fx_wt_task_spec_t raises = {.serializer = "source+pickle5",
                                .body = "def f():\n    raise KeyError('k')\n",
                                .payload_frame = empty_args};
    msg = fx_wt_expect(ctx, &raises, FX_RESULT_EXCEPTION, 0);
    if (msg)
        CHECK(zframe_size(msg->results.results[0].value) > 4 &&
                  memcmp(zframe_data(msg->results.results[0].value), "FXP5", 4) == 0,
              "the exception is not FXP5-framed");
    fx_msg_destroy(&msg);
    fx_wt_task_spec_t bad = {.serializer = "source+pickle5",
                             .body = "def f():\n    return 1\n",
                             .raw_payload = "FXP5 but nothing after"};
    msg = fx_wt_expect(ctx, &bad, FX_RESULT_ERROR, FX_E_LOAD);
    fx_msg_destroy(&msg);
done:
    zframe_destroy(&empty_args);
    zframe_destroy(&none);
    zframe_destroy(&payload);
    zframe_destroy(&all);
}

/* sys.executable inside a task runs. */
FX_WT_SCENARIO(s_test_executable, true)
{
    fx_wt_task_spec_t spec = {.body = "import subprocess, sys\n"
                                      "def f():\n"
                                      "    r = subprocess.run([sys.executable, '-c', 'import sys; print(6 * "
                                      "7, sys.version_info[:2])'],\n"
                                      "                       capture_output=True, text=True)\n"
                                      "    return r.stdout.strip(), sys.version_info[:2]\n"};
    s_ok(ctx, &spec, "('42 (3, 11)', (3, 11))", "subprocess.run([sys.executable, ...])");
}

/* Bodies by version (SPEC 12.1.4): sent once, then empty; a version the
   worker has not cached, sent without its body, is FX_E_LOAD (no crash);
   a second function under another version is its own. */
FX_WT_SCENARIO(s_test_bodies, true)
{
    char v1[FX_OID_LEN + 1], v2[FX_OID_LEN + 1], v3[FX_OID_LEN + 1];
    s_version(v1, 1);
    s_version(v2, 2);
    s_version(v3, 3);
    zframe_t *empty = zframe_new_empty();
    fx_wt_task_spec_t first = {
        .version = v1, .serializer = "source+pickle", .body = "def f():\n    return 'v1'\n"};
    s_ok(ctx, &first, "'v1'", "v1 with its body");
    fx_wt_task_spec_t again = {.version = v1, .serializer = "source+pickle", .body_frame = empty};
    for (int i = 0; i < 3; i++) {
        s_ok(ctx, &again, "'v1'", "v1 without its body");
    }
    fx_wt_task_spec_t other = {
        .version = v2, .serializer = "source+pickle", .body = "def f():\n    return 'v2'\n"};
    s_ok(ctx, &other, "'v2'", "v2");
    s_ok(ctx, &again, "'v1'", "v1 after v2");
    fx_wt_task_spec_t unknown = {.version = v3, .serializer = "source+pickle", .body_frame = empty};
    char why[128];
    snprintf(why, sizeof why, "function version %s: the task came without its body", v3);
    s_fails(ctx, &unknown, FX_E_LOAD, why);
    /* a version whose load failed fails the same way without its body */
    fx_wt_task_spec_t broken = {.version = v3, .serializer = "source+pickle", .body = "def g():\n    pass\n"};
    for (int i = 0; i < 2; i++) {
        s_fails(ctx, &broken, FX_E_LOAD, "defines no 'f'");
        broken.body_frame = empty;
    }
    zframe_destroy(&empty);
}

/* Every result says who ran it and when (SPEC 12.5, 12.6). */
FX_WT_SCENARIO(s_test_provenance, true)
{
    fx_wt_task_spec_t spec = {.body = "def f():\n    return 1\n",
                              .function_id = "7d7f7c2e-5f8a-4c1e-9d1b-1a2b3c4d5e6f"};
    for (int i = 0; i < 2; i++) { /* run(), then the fast path */
        fx_msg_t *msg = fx_wt_expect(ctx, &spec, FX_RESULT_OK, 0);
        if (msg) {
            const fx_result_t *r = &msg->results.results[0];
            CHECK(r->worker_pid == (uint32_t) ctx->pid, "worker_pid %u, worker %d", r->worker_pid,
                  (int) ctx->pid);
            char want[64];
            snprintf(want, sizeof want, "python %s", ctx->python_version);
            CHECK(strncmp(r->worker_runtime, want, strlen(want)) == 0, "worker_runtime %s",
                  r->worker_runtime);
            CHECK(access("/usr/lib/python3/dist-packages/dill", F_OK) != 0 ||
                      fx_wt_has(r->worker_runtime, "; dill 0."),
                  "worker_runtime %s names no dill", r->worker_runtime);
            uint64_t rx = r->times[FX_TIME_MANAGER_RECEIVED], start = r->times[FX_TIME_WORKER_STARTED],
                     end = r->times[FX_TIME_WORKER_FINISHED];
            CHECK(rx && start >= rx && end >= start, "stamps %llu %llu %llu", (unsigned long long) rx,
                  (unsigned long long) start, (unsigned long long) end);
            CHECK(r->host[0] == '\0' && r->container[0] == '\0',
                  "host and container are the manager's to set");
        }
        fx_msg_destroy(&msg);
    }
}

static const fx_scenario_t s_tests[] = {
    {.name = "strategies", .run = s_test_strategies},
    {.name = "dill", .run = s_test_dill},
    {.name = "dill_mismatch", .run = s_test_dill_mismatch},
    {.name = "reference_missing", .run = s_test_reference_missing},
    {.name = "pickle5", .run = s_test_pickle5},
    {.name = "executable", .run = s_test_executable},
    {.name = "bodies", .run = s_test_bodies},
    {.name = "provenance", .run = s_test_provenance},
};

int main(int argc, char **argv)
{
    return fx_wt_main(argc, argv, s_tests, sizeof s_tests / sizeof s_tests[0]);
}
