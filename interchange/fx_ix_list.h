/*  fx_ix_list.h: the interchange's one intrusive list.

    A doubly linked ring with a sentinel: the node lives inside the record
    (a task, a manager, a result), so adding, removing and moving a record
    costs two pointer writes and no allocation, and a record finds its own
    place without a search. The interchange keeps every per-task and
    per-manager list this way (the FIFO, each manager's tasks in flight, the
    managers by last heard and by last sent, the routing strategy's ready
    lists, the results pending and unacknowledged): every step of a task's
    way through it is O(1).

    A list is initialised in place and never moved (its sentinel points at
    itself). A node that is in no list has next == NULL. A record is in at
    most one list per node it embeds. */
#ifndef FX_IX_LIST_H
#define FX_IX_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct fx_ix_node_t {
    struct fx_ix_node_t *prev, *next;
} fx_ix_node_t;

typedef struct {
    fx_ix_node_t head; /* sentinel: head.next is the first node, head.prev the last */
    size_t size;
} fx_ix_list_t;

/* The record that embeds node as its member `member`. */
#define FX_IX_RECORD(node, type, member) ((type *) (void *) ((char *) (node) -offsetof(type, member)))

static inline void fx_ix_list_init(fx_ix_list_t *list)
{
    list->head.prev = list->head.next = &list->head;
    list->size = 0;
}

static inline bool fx_ix_node_linked(const fx_ix_node_t *node)
{
    return node->next != NULL;
}

/* Links node (in no list) before at (a node of list, or its sentinel). */
static inline void fx_ix_list_insert_before(fx_ix_list_t *list, fx_ix_node_t *at, fx_ix_node_t *node)
{
    node->next = at;
    node->prev = at->prev;
    at->prev->next = node;
    at->prev = node;
    list->size++;
}

static inline void fx_ix_list_push_back(fx_ix_list_t *list, fx_ix_node_t *node)
{
    fx_ix_list_insert_before(list, &list->head, node);
}

static inline void fx_ix_list_push_front(fx_ix_list_t *list, fx_ix_node_t *node)
{
    fx_ix_list_insert_before(list, list->head.next, node);
}

/* Unlinks node from list (it must be in it). */
static inline void fx_ix_list_remove(fx_ix_list_t *list, fx_ix_node_t *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = NULL;
    list->size--;
}

/* Moves node (in list) to its back. */
static inline void fx_ix_list_move_back(fx_ix_list_t *list, fx_ix_node_t *node)
{
    if (list->head.prev == node)
        return;
    fx_ix_list_remove(list, node);
    fx_ix_list_push_back(list, node);
}

/* First and last node, or NULL if the list is empty; the node after and
   before node, or NULL at the end. */
static inline fx_ix_node_t *fx_ix_list_first(const fx_ix_list_t *list)
{
    return list->size ? list->head.next : NULL;
}

static inline fx_ix_node_t *fx_ix_list_last(const fx_ix_list_t *list)
{
    return list->size ? list->head.prev : NULL;
}

static inline fx_ix_node_t *fx_ix_list_next(const fx_ix_list_t *list, const fx_ix_node_t *node)
{
    return node->next == &list->head ? NULL : node->next;
}

static inline fx_ix_node_t *fx_ix_list_prev(const fx_ix_list_t *list, const fx_ix_node_t *node)
{
    return node->prev == &list->head ? NULL : node->prev;
}

/* Moves every node of from to the front of to (in from's order); from is
   left empty. */
static inline void fx_ix_list_splice_front(fx_ix_list_t *to, fx_ix_list_t *from)
{
    if (!from->size)
        return;
    fx_ix_node_t *first = from->head.next, *last = from->head.prev;
    last->next = to->head.next;
    to->head.next->prev = last;
    first->prev = &to->head;
    to->head.next = first;
    to->size += from->size;
    fx_ix_list_init(from);
}

/* The same, to the back of to. */
static inline void fx_ix_list_splice_back(fx_ix_list_t *to, fx_ix_list_t *from)
{
    if (!from->size)
        return;
    fx_ix_node_t *first = from->head.next, *last = from->head.prev;
    first->prev = to->head.prev;
    to->head.prev->next = first;
    last->next = &to->head;
    to->head.prev = last;
    to->size += from->size;
    fx_ix_list_init(from);
}

#endif
