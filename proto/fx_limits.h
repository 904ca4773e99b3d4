/*  fx_limits.h: every limit of the wire protocol and of the services, each
    with its reason. Decoders check against these before they allocate; the
    services check them before they store. proto/SPEC.md section "Limits"
    mirrors this file. */
#ifndef FX_LIMITS_H
#define FX_LIMITS_H

/* Protocol version carried in every header frame. A peer speaking another
   version gets ERROR(FX_E_VERSION) naming both versions. */
#define FX_PROTO_VERSION 2

/* Canonical text form of an id: 8-4-4-4-12 lowercase hex, 36 chars. */
#define FX_ID_LEN 36

/* z85 text of a Curve25519 key. */
#define FX_KEY_LEN 40

/* A function version: the hex id of its git blob in the registry (SHA-1). */
#define FX_OID_LEN 40

/* The msgpack header frame. The largest legitimate header is a full SUBMIT
   or TASKS batch: FX_BATCH_MAX records of a few hundred bytes each. 4 MiB
   leaves room for that and bounds what one malformed frame can cost. */
#define FX_HEADER_MAX (4u * 1024 * 1024)

/* Tasks or results in one batch message. Large enough that a batch
   amortises the per-message cost (one sqlite transaction, one syscall);
   small enough that one message stays a few MiB of header. Clients split
   larger submissions into several batches. */
#define FX_BATCH_MAX 4096

/* Ids listed in RESULTS_ACK, STATUS and FETCH: same reasoning as batches. */
#define FX_IDS_MAX FX_BATCH_MAX

/* One payload (function body, arguments, result value, captured output).
   10 MiB is what funcX allows by default; data bigger than that belongs in a
   data store, not in the task queue. */
#define FX_PAYLOAD_MAX (10u * 1024 * 1024)

/* ZMQ_MAXMSGSIZE for every socket that receives from a peer: the largest
   frame fx sends is a payload; under CURVE libzmq checks the boxed size
   (payload + 33 bytes of box overhead), so allow a margin. */
#define FX_WIRE_FRAME_MAX ((int64_t) FX_PAYLOAD_MAX + 64 * 1024)

/* Names: function names, endpoint names, host names, container names,
   Python entry points, serializer names, version strings. */
#define FX_NAME_MAX 128

/* Short version strings ("3.11.2", "0.1.0"). */
#define FX_VERSION_MAX 32

/* Human text in ERROR and in error results (a remote traceback travels in
   the result's output frame, not here). */
#define FX_TEXT_MAX 4096

/* Containers a manager may announce, and container records in one
   CAPACITY, CONTAINERS or ENDPOINT_STATUS. */
#define FX_CONTAINERS_MAX 64

/* A container's runtime name ("apptainer") and image reference or path. */
#define FX_RUNTIME_NAME_MAX 16
#define FX_IMAGE_MAX 512

/* Launches of one container that fail in a row before a manager stops
   trying it (SPEC 12.7.4). */
#define FX_LAUNCH_FAILURES_MAX 3

/* LIST_REPLY: rows and columns of the generic table. */
#define FX_LIST_ROWS_MAX 1000
#define FX_LIST_COLS_MAX 16

/* Captured stdout/stderr of one task, per stream; the rest is cut with a
   marker saying so. */
#define FX_OUTPUT_MAX (64u * 1024)

/* Retries of a task whose worker dies while running it (kill -9, OOM,
   segfault in an extension). Only a worker's death counts: the loss of a
   manager, an endpoint or the broker requeues the task without counting,
   because the task was not at fault. The default lets a task survive one
   unlucky node; a task that kills its worker every time ends after
   1 + FX_RETRIES_DEFAULT runs with FX_E_WORKER_LOST naming the attempts. */
#define FX_RETRIES_DEFAULT 2
#define FX_RETRIES_MAX 100

/* Timestamps one task or result record carries (fx_time_t, SPEC 12.5):
   one per hop event, so a round trip can be broken down per hop. */
#define FX_TIMES_MAX 16

/* Heartbeats, on every TCP link both ways: the period, and how many periods
   of silence make a peer lost. 1 s x 3 detects a dead peer within ~3 s while
   costing one small message per second per link. Configurable per process
   (--heartbeat-ms, --heartbeat-missed); WELCOME tells the peer the period. */
#define FX_HEARTBEAT_MS_DEFAULT 1000
#define FX_HEARTBEAT_MISSED_DEFAULT 3

/* Tasks one user may have queued (not yet finished) in the broker. Queued
   tasks live in sqlite, not in RAM, so this bounds disk, not memory; the
   default leaves room for a million queued tasks per user. */
#define FX_QUEUED_PER_USER_DEFAULT 2000000

/* Payload bytes in one batch message a service builds from its queue
   (TASKS to an endpoint, RESULTS to a client): with FX_PAYLOAD_MAX frames a
   full FX_BATCH_MAX batch could reach tens of GiB, so batches stop at this
   many payload bytes (a single record bigger than this still goes, alone). */
#define FX_BATCH_BYTES_MAX (32u * 1024 * 1024)

/* Results pushed to one client session and not yet acknowledged: pushing
   stops here until acks come, so a client that does not read cannot make
   the broker queue its whole backlog in the socket. */
#define FX_PUSH_WINDOW FX_BATCH_MAX

/* Largest CREDIT window the broker honours from an endpoint: more is
   treated as this much. Bounds what one endpoint can make the broker hold in
   its send queue (window x FX_PAYLOAD_MAX in the worst case). */
#define FX_ENDPOINT_WINDOW_MAX 65536

/* Largest CREDIT window an interchange accepts from one manager (more is a
   bad field): no node holds a million tasks, and the sum over managers must
   fit the uint32 the interchange announces. */
#define FX_MANAGER_WINDOW_MAX (1u << 20)

/* Workers per manager: one process and one ipc connection each; a node with
   more cores than this runs several managers. */
#define FX_WORKERS_PER_MANAGER_MAX 1024

/* ERROR replies to one misbehaving peer: a burst, then a rate per second.
   A broken or hostile peer must not make a service spend its time on error
   replies or fill its log; generous for a client that merely makes
   mistakes. */
#define FX_ERRORS_BURST 200
#define FX_ERRORS_PER_SECOND 100

/* Payload frames in one message: two per batch record, and a few spare. */
#define FX_FRAMES_MAX (2 * FX_BATCH_MAX + 4)

#endif
