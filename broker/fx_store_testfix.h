/*  fx_store_testfix.h: the fixture of the store's tests (st_: store test):
    a store in a fresh temporary directory with two users, their functions
    and endpoints, a result hook that counts, and record builders. Used by
    fx_store_test.c and fx_store_fault_test.c. */
#ifndef FX_STORE_TESTFIX_H
#define FX_STORE_TESTFIX_H

#include "fx_store.h"

/* A store, two users with a function each; Alice has two endpoints, Bob one. */
typedef struct {
    char dir[256];
    fx_store_t *store;
    fx_id_text_t alice, bob;
    fx_id_text_t client;
    fx_id_text_t alice_fn, bob_fn;
    fx_id_text_t alice_ep, alice_ep2, bob_ep;
    int notified;
    char last_owner[64], last_client[64];
} st_fix_t;

/* A fresh store in /tmp/fx_store_test.XXXXXX/state/sub (mkdir -p). */
void st_setup(st_fix_t *fix);
/* Closes the store and removes the directory. */
void st_teardown(st_fix_t *fix);

/* A fresh z85 public key. */
void st_key(char out[FX_KEY_LEN + 1]);

/* A SUBMIT-style task record (payload "p<n>", walltime n s); free its
   payloads with st_free_tasks. */
void st_task(fx_task_t *task, const char *endpoint, const char *function, int n);
void st_free_tasks(fx_task_t *tasks, int n);

/* A result record for task_id (an FX_E_WALLTIME error for FX_RESULT_ERROR). */
void st_result(fx_result_t *r, const char *task_id, int status, const char *value);
void st_free_results(fx_result_t *r, int n);

/* The store's row calls, into messages as the broker makes them (records
   replaced): TASKS for dispatch, RESULTS for pending and fetch. */
int st_dispatch(fx_store_t *store, const char *endpoint_id, uint32_t max, fx_msg_t *tasks);
int st_pending(fx_store_t *store, const char *owner, const char *client_id, int64_t after, uint32_t max,
               fx_msg_t *results, int64_t *seqs);
int st_fetch(fx_store_t *store, const char *owner, const fx_id_text_t *ids, uint32_t count,
             fx_msg_t *results);
int st_mark_pushed(fx_store_t *store, const fx_msg_t *results);

/* The task's state as owner sees it (-1 on a store error). */
int st_state(st_fix_t *fix, const char *owner, const char *task_id, uint32_t *attempts);

#endif
