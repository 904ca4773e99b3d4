#!/bin/sh
# fxb_cold_start.sh SECONDS LOG COMMAND...: the image start of fx-bench's
# routing experiment. Runs inside the container (bwrap) before the worker:
# notes one cold start in LOG (a folder bound read-write into the
# container), waits SECONDS to stand for an image that takes that long to
# start (1.8 s: Docker on EC2, in the funcX authors' data), then becomes
# the worker.
delay=$1 log=$2
shift 2
echo "$$" >>"$log/cold-starts"
sleep "$delay"
exec "$@"
