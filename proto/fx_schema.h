/*  fx_schema.h: the one description of every fx message, in wire order.

    Each message type has a schema: its body fields, in the order SPEC.md
    section 5 lists them, with their kind, their limits and where they live
    in fx_msg_t. Batch fields point at the schema of their records. The
    codec (fx_codec.c), the message life cycle (fx_msg.c) and the Python
    codec (python/src/fx_pycodec.c) all walk this table, so adding a field to
    a message is one edit here (plus fx_msg.h's struct and SPEC.md).

    Field names are the SPEC's. A field of kind FX_FIELD_FRAME is not in the
    msgpack body: it is the next payload frame, in record order. */
#ifndef FX_SCHEMA_H
#define FX_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "fx_msg.h"

typedef enum {
    FX_FIELD_U8 = 1, /* unsigned, range [min, max] */
    FX_FIELD_U16,
    FX_FIELD_U32,
    FX_FIELD_STR,    /* fixed char array of capacity max (incl. NUL) */
    FX_FIELD_ID,     /* fx_id_text_t, a canonical id */
    FX_FIELD_ID_OPT, /* fx_id_text_t, a canonical id or "" */
    FX_FIELD_KEY,    /* z85 key text, FX_KEY_LEN characters */
    FX_FIELD_TEXT,   /* heap char *, nil or a str of at most FX_TEXT_MAX bytes */
    FX_FIELD_FRAME,  /* zframe_t *: a payload frame, not in the body */
    FX_FIELD_BATCH,  /* uint32 count at offset, record array pointer at offset2 */
    FX_FIELD_TABLE,  /* LIST_REPLY's table (rows, cols, cells) */
    FX_FIELD_TIMES,  /* uint64_t[FX_TIMES_MAX]: an array of at most that many uints, the rest 0 */
    FX_FIELD_U64,    /* uint64_t, any value */
    FX_FIELD_OID,    /* fx_oid_text_t: FX_OID_LEN lowercase hex digits, or "" */
} fx_field_kind_t;

typedef struct fx_schema fx_schema_t;

typedef struct {
    fx_field_kind_t kind;
    const char *name;           /* as in SPEC.md */
    size_t offset;              /* in the message (or record) */
    size_t offset2;             /* FX_FIELD_BATCH: the record pointer */
    uint32_t min, max;          /* integers: range; STR: capacity incl. NUL */
    const fx_schema_t *record;  /* FX_FIELD_BATCH: its records */
} fx_field_t;

struct fx_schema {
    const char *name;           /* message type name ("SUBMIT"), record name ("task") */
    size_t record_size;         /* records: bytes per record */
    uint32_t max_count;         /* records: most of them in one message */
    int nfields;
    const fx_field_t *fields;
};

/* The schema of message type `type`, or NULL outside
   FX_MSG_TYPE_FIRST..FX_MSG_TYPE_LAST. */
const fx_schema_t *fx_schema_of(int type);

/* Payload frames one record (or message) of this schema carries
   (FX_FIELD_FRAME fields at its top level). */
int fx_schema_frames(const fx_schema_t *schema);

/* Fields of the msgpack body (every field but FX_FIELD_FRAME). */
int fx_schema_body_fields(const fx_schema_t *schema);

/* The message's batch field (at most one per message), or NULL. */
const fx_field_t *fx_schema_batch(const fx_schema_t *schema);

/* The field named `name`, or NULL. */
const fx_field_t *fx_schema_field(const fx_schema_t *schema, const char *name);

#endif
