/*  fx_cli_verbs.c: every verb of `fx`, in one table: its words, its
    synopsis (which is also the list of options it takes: fx_cli.c refuses
    any other), a one-line summary, its help and an example. `fx --help`,
    `fx COMMAND --help` and every usage error print from here. */
#include <stdio.h>
#include <string.h>

#include "fx_cli.h"

#define S_BROKER_OPTS "[--creds FILE] [--timeout SECONDS]"
#define S_BROKER_HELP                                                                                        \
    "  --creds FILE       your credentials (from `fx user create`); default $FX_CREDS, else\n"               \
    "                     $FX_HOME/credentials ($FX_HOME is ~/.fx unless set)\n"                             \
    "  --timeout SECONDS  how long to wait for the broker (default 10)\n"
#define S_DIR_HELP                                                                                           \
    "  --dir DIR          the endpoint's folder (default $FX_HOME/endpoints/NAME, where\n"                   \
    "                     $FX_HOME is ~/.fx unless set)\n"

const fx_cli_verb_t fx_cli_verbs[] = {
    {"endpoint configure", "NAME [--creds FILE] [--dir DIR] [--force]", 1, 1,
     "write a commented config.yaml for a new endpoint",
     "  Writes $FX_HOME/endpoints/NAME/config.yaml (folders created, mode 0700): the local\n"
     "  provider, ready to start, and every other key explained in comments, with a Slurm\n"
     "  provider block to uncomment for a cluster.\n"
     "  --creds FILE       the credentials file the endpoint uses to reach the broker\n"
     "                     (default $FX_CREDS, else $FX_HOME/credentials)\n" S_DIR_HELP
     "  --force            overwrite an existing config.yaml\n",
     "fx endpoint configure laptop", fx_cli_endpoint_configure},
    {"endpoint start", "NAME [--detach] [--wait SECONDS] [--dir DIR]", 1, 1,
     "run an endpoint: in the foreground, or as a daemon with --detach",
     "  Runs fx-endpoint on the endpoint's config.yaml. In the foreground it logs to the\n"
     "  terminal until Ctrl-C. With --detach it runs in the background (its own session,\n"
     "  output to DIR/endpoint.log, pid in DIR/endpoint.pid), and fx returns once the\n"
     "  broker welcomed it, or prints why it failed, from its log.\n"
     "  --detach, -d       run as a daemon\n"
     "  --wait SECONDS     with --detach: how long to wait for the endpoint to be ready\n"
     "                     (default 60); after that it is stopped and fx says why\n" S_DIR_HELP,
     "fx endpoint start laptop --detach", fx_cli_endpoint_start},
    {"endpoint stop", "NAME [--wait SECONDS] [--dir DIR]", 1, 1, "stop a running endpoint gracefully",
     "  Sends SIGTERM and waits while the endpoint finishes its running tasks (stop_grace),\n"
     "  stops its managers and cancels its pilot jobs. Run it again to stop at once.\n"
     "  --wait SECONDS     how long to wait (default stop_grace + 5 s + the scheduler's\n"
     "                     cmd_timeout + 10 s)\n" S_DIR_HELP,
     "fx endpoint stop laptop", fx_cli_endpoint_stop},
    {"endpoint list", "[--timeout SECONDS]", 0, 0, "your local endpoints: state here and at the broker",
     "  One line per folder of $FX_HOME/endpoints: its id, whether it runs here (running,\n"
     "  disconnected from the broker, stopped), what the broker says (online/offline,\n"
     "  managers, workers, queued tasks; \"unreachable\" if it does not answer), its blocks\n"
     "  and its last scaling decision. The broker is asked with each endpoint's credentials.\n"
     "  --timeout SECONDS  how long to wait for the broker (default 5)\n",
     "fx endpoint list", fx_cli_endpoint_list},
    {"endpoint logs", "NAME [--follow|-f] [--lines|-n N] [--dir DIR]", 1, 1, "show an endpoint's log",
     "  Prints DIR/endpoint.log (written by `fx endpoint start --detach`: the endpoint's lines\n"
     "  and those of the managers and workers it starts).\n"
     "  --follow, -f       then print what is added, like tail -f, until Ctrl-C\n"
     "  --lines, -n N      only the last N lines first\n" S_DIR_HELP,
     "fx endpoint logs laptop -f", fx_cli_endpoint_logs},
    {"endpoints", "[--limit N] " S_BROKER_OPTS, 0, 0, "the broker's list of your endpoints",
     "  --limit N          at most N rows (default and most: 1000)\n" S_BROKER_HELP, "fx endpoints",
     fx_cli_remote},
    {"functions", "[--limit N] " S_BROKER_OPTS, 0, 0, "the functions you registered",
     "  --limit N          at most N rows (default and most: 1000)\n" S_BROKER_HELP, "fx functions",
     fx_cli_remote},
    {"containers", "[--limit N] " S_BROKER_OPTS, 0, 0, "the containers you registered",
     "  One line per container, oldest first: its id (what a function or task names), name,\n"
     "  runtime and image.\n"
     "  --limit N          at most N rows (default and most: 1000)\n" S_BROKER_HELP, "fx containers",
     fx_cli_remote},
    {"container register",
     "NAME --runtime RUNTIME [--image IMAGE] [--description TEXT] [--id ID] " S_BROKER_OPTS, 1, 1,
     "register a container that functions and tasks can name; prints its id",
     "  A container for workers to run in (SPEC 12.7). Endpoints launch it with their\n"
     "  config's `containers:` entry of this NAME, else the runtime's default template.\n"
     "  --runtime RUNTIME  bwrap, podman, docker, apptainer or singularity\n"
     "  --image IMAGE      a registry reference (docker.io/library/python:3.11), a .sif path,\n"
     "                     or for bwrap a root folder (default: the host's /; every other\n"
     "                     runtime needs one)\n"
     "  --description TEXT shown in `fx containers`\n"
     "  --id ID            register again under this id of yours: updates it (tasks sent\n"
     "                     after that get the new definition)\n" S_BROKER_HELP,
     "fx container register py311 --runtime podman --image docker.io/library/python:3.11",
     fx_cli_container_register},
    {"function log", "ID " S_BROKER_OPTS, 1, 1, "a function's versions, oldest first",
     "  One entry per version: its number, version id (the body's blob in the broker's\n"
     "  registry), the commit that made it, who registered it and when, its strategy.\n" S_BROKER_HELP,
     "fx function log 5f0c7a8e-2b1d-4e6f-9a3c-7d8e9f0a1b2c", fx_cli_function_log},
    {"function show", "ID[@VERSION] " S_BROKER_OPTS, 1, 1, "one version of a function, with its body",
     "  The newest version unless @VERSION names one: a version id from `fx function log`,\n"
     "  or its number (ID@1 is the first).\n" S_BROKER_HELP,
     "fx function show 5f0c7a8e-2b1d-4e6f-9a3c-7d8e9f0a1b2c@1", fx_cli_function_show},
    {"tasks",
     "[--state STATE] [--endpoint ID|NAME] [--function ID|NAME] [--since WHEN] [--limit N] [--before "
     "CURSOR] [--all] " S_BROKER_OPTS,
     0, 0, "your tasks, newest first: function, state, times, endpoint",
     "  States: queued, dispatched (sent to its endpoint), succeeded, failed (with the reason:\n"
     "  exception, cancelled, worker lost, walltime, load error, version mismatch, shell error,\n"
     "  container, error). The broker filters and pages; filters combine.\n"
     "  --state STATE      only tasks in this state, or failed for this reason (exception,\n"
     "                     cancelled, worker-lost, walltime, load-error, ...)\n"
     "  --endpoint ID|NAME only tasks sent to this endpoint\n"
     "  --function ID|NAME only tasks of this function (a name: every function of that name)\n"
     "  --since WHEN       only tasks submitted since then: 2026-12-01T10:00:00Z (UTC), or how\n"
     "                     long ago: 90s, 30m, 2h, 7d\n"
     "  --limit N          tasks a page (default 50; 0: 1000)\n"
     "  --before CURSOR    the next page: the line under a page names its CURSOR\n"
     "  --all              every page, to the oldest task, printed as they come\n" S_BROKER_HELP,
     "fx tasks --state failed --since 2h", fx_cli_tasks},
    {"task show", "TASK_ID " S_BROKER_OPTS, 1, 1, "everything about one task",
     "  Its state (read from its result), error, function, endpoint, attempts and times,\n"
     "  and where its result came from: function version and commit, host, worker, runtime,\n"
     "  container, attempt, and the stamps of each hop.\n" S_BROKER_HELP,
     "fx task show 0b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b9e10", fx_cli_task_show},
    {"result", "TASK_ID [--wait SECONDS] [--raw] " S_BROKER_OPTS, 1, 1,
     "print a task's result, or its error and remote traceback",
     "  The value as this machine's Python shows it ($FX_PYTHON, else python3), what the\n"
     "  function printed on stderr. A task that failed prints its error and the remote\n"
     "  traceback on stderr and exits 1.\n"
     "  --wait SECONDS     wait up to this long for the task to end\n"
     "  --raw              write the value's bytes (a pickle) to stdout instead\n" S_BROKER_HELP,
     "fx result 0b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b9e10 --wait 60", fx_cli_result},
    {"cancel", "TASK_ID... " S_BROKER_OPTS, 1, FX_IDS_MAX, "stop tasks, wherever they are",
     "  A queued task ends at once; a running one is stopped on its worker and ends with\n"
     "  the result `failed (cancelled)`; an ended one is left as it is. Exits 1 if an id is\n"
     "  not one of your tasks.\n" S_BROKER_HELP,
     "fx cancel 0b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b9e10", fx_cli_cancel},
    {"status", "TASK_ID... " S_BROKER_OPTS, 1, FX_IDS_MAX, "the state of tasks, by id",
     "  One line per task: state, endpoint, attempts, and whether its endpoint is online.\n" S_BROKER_HELP,
     "fx status 0b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b9e10", fx_cli_status},
    {"user create",
     "NAME --state DIR --out CREDS --client-addr tcp://HOST:PORT --endpoint-addr tcp://HOST:PORT [--force]",
     1, 1, "create a user in the broker's store (run where the broker runs)",
     "  Writes the user's credentials file (mode 0600) and prints the user id.\n"
     "  --state DIR        the broker's state directory (fx-broker --state)\n"
     "  --out CREDS        the credentials file to write\n"
     "  --client-addr, --endpoint-addr  the broker's two ports as clients and endpoints dial\n"
     "                     them, e.g. tcp://broker.example.org:5551\n"
     "  --force            overwrite an existing --out\n",
     "fx user create alice --state /srv/fx --out ~/.fx/credentials --client-addr tcp://127.0.0.1:5551 "
     "--endpoint-addr tcp://127.0.0.1:5552",
     fx_cli_user_create},
    {"help", "[COMMAND...]", 0, 3, "help on every command, or on one", "", "fx help endpoint start",
     fx_cli_help},
    {NULL, NULL, 0, 0, NULL, NULL, NULL, NULL},
};

void fx_cli_usage_verb(FILE *out, const fx_cli_verb_t *verb, bool full)
{
    fprintf(out, "usage: fx %s %s\n", verb->words, verb->synopsis);
    if (!full)
        return;
    fprintf(out, "  %s\n%s  example: %s\n", verb->summary, verb->help, verb->example);
}

/* One verb as a line of the overview, with its example below it. */
static void s_overview_line(FILE *out, const fx_cli_verb_t *v)
{
    char head[64];
    snprintf(head, sizeof head, "%s", v->words);
    fprintf(out, "  %-20s %s\n  %-20s   e.g. %s\n", head, v->summary, "", v->example);
}

int fx_cli_usage_group(FILE *out, const char *group)
{
    int n = 0;
    size_t len = strlen(group);
    for (const fx_cli_verb_t *v = fx_cli_verbs; v->words; v++)
        if (strncmp(v->words, group, len) == 0 && v->words[len] == ' ') {
            if (n++ == 0)
                fprintf(out, "fx %s: %s\n", group,
                        strcmp(group, "endpoint") == 0 ? "endpoints on this machine" : "commands");
            fprintf(out, "  fx %s %s\n      %s\n      e.g. %s\n", v->words, v->synopsis, v->summary,
                    v->example);
        }
    if (n)
        fprintf(out, "(`fx %s COMMAND --help` says more about one)\n", group);
    return n;
}

void fx_cli_usage_all(FILE *out)
{
    fprintf(out, "usage: fx COMMAND [ARGS] [OPTIONS]     (options may come anywhere)\n"
                 "\n"
                 "fx runs Python functions on your endpoints through an fx broker.\n"
                 "\n"
                 "commands:\n");
    for (const fx_cli_verb_t *v = fx_cli_verbs; v->words; v++)
        s_overview_line(out, v);
    fprintf(out, "\n"
                 "`fx COMMAND --help` shows a command's options, e.g. fx endpoint start --help.\n"
                 "fx --version prints the version. Exit status: 0 done, 1 failed, 2 bad usage.\n");
}
