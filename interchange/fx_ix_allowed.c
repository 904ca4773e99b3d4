/*  fx_ix_allowed.c: the endpoint's allowed_functions (config.yaml). A task
    the broker sends for a function not in the list never reaches a
    manager: it ends here at once with an FX_RESULT_ERROR / FX_E_FORBIDDEN
    result that names the function, sent and kept until acked like any
    result. Without the list every function may run. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_ix_internal.h"
#include "fx_log.h"

zhashx_t *fx_ix_allowed_new(const fx_id_text_t *ids, size_t count)
{
    if (!ids)
        return NULL;
    zhashx_t *set = zhashx_new();
    if (!set)
        return NULL;
    for (size_t i = 0; i < count; i++)
        zhashx_insert(set, ids[i], (void *) 1); /* a repeated id is the same entry */
    return set;
}

bool fx_ix_allowed_check(fx_ix_work_t *w, const fx_task_t *task)
{
    if (!w->allowed || zhashx_lookup(w->allowed, task->function_id))
        return true;
    fx_result_t r = {0};
    memcpy(r.task_id, task->task_id, sizeof r.task_id);
    r.status = FX_RESULT_ERROR;
    r.error_code = FX_E_FORBIDDEN;
    char text[PATH_MAX + 160];
    snprintf(text, sizeof text,
             "function %s is not allowed on this endpoint: it is not in allowed_functions of the endpoint's "
             "config%s%s",
             task->function_id, w->config_path ? " " : "", w->config_path ? w->config_path : "");
    fx_result_set_text(&r, text);
    if (fx_ix_results_add(w->results, &r) != FX_OK)
        free(r.error_text); /* a result for this task is on its way already */
    w->stats.tasks_forbidden++;
    fx_warn("refused task %s: function %s is not in allowed_functions", task->task_id, task->function_id);
    return false;
}
