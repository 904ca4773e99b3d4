"""fx: federated function-as-a-service. Register a Python function once,
run it by endpoint id on any machine that runs an fx endpoint.

    import fx
    with fx.Client("~/.fx/credentials") as client:
        fid = client.register_function(my_function)
        tid = client.run(1, 2, endpoint_id=EP, function_id=fid)
        print(client.get_result(tid, timeout=60))

    with fx.Executor(endpoint_id=EP, client=client) as ex:
        print(list(ex.map(my_function, range(100))))
"""
from . import _fx
from ._fx import new_id, id_valid, key_valid, keypair_new, load_credentials
from .errors import (ClientClosed, ConnectionError, DeserializationError, Error, FxError,
                     PayloadTooLarge, ProtocolError, RequestError, TaskCancelled, TaskError,
                     TaskFailed, TimeoutError)
from .shell import ShellFunction, ShellResult
from .client import (Batch, Client, CONTAINER_RUNTIMES, Registration, TASK_STATES, TaskFuture,
                     default_credentials_path, unpack_result)
from .executor import Executor
from . import states

__version__ = _fx.VERSION

# The protocol's limits (proto/fx_limits.h).
PROTO_VERSION = _fx.PROTO_VERSION
ID_LEN = _fx.ID_LEN
KEY_LEN = _fx.KEY_LEN
HEADER_MAX = _fx.HEADER_MAX
BATCH_MAX = _fx.BATCH_MAX
IDS_MAX = _fx.IDS_MAX
PAYLOAD_MAX = _fx.PAYLOAD_MAX
NAME_MAX = _fx.NAME_MAX
VERSION_MAX = _fx.VERSION_MAX
TEXT_MAX = _fx.TEXT_MAX
OUTPUT_MAX = _fx.OUTPUT_MAX
LIST_ROWS_MAX = _fx.LIST_ROWS_MAX

limits = {name: getattr(_fx, name) for name in (
    "PROTO_VERSION", "ID_LEN", "KEY_LEN", "HEADER_MAX", "BATCH_MAX", "IDS_MAX",
    "PAYLOAD_MAX", "NAME_MAX", "VERSION_MAX", "TEXT_MAX", "CONTAINERS_MAX",
    "LIST_ROWS_MAX", "LIST_COLS_MAX", "OUTPUT_MAX", "FRAMES_MAX", "RETRIES_DEFAULT",
    "RETRIES_MAX", "HEARTBEAT_MS_DEFAULT", "HEARTBEAT_MISSED_DEFAULT")}

__all__ = [
    "Client", "Executor", "Batch", "Registration", "TaskFuture", "ShellFunction", "ShellResult",
    "Error", "FxError", "ConnectionError", "TimeoutError", "PayloadTooLarge", "ProtocolError",
    "RequestError", "TaskFailed", "TaskError", "TaskCancelled", "DeserializationError",
    "ClientClosed", "new_id", "id_valid", "key_valid", "keypair_new", "load_credentials", "limits",
    "TASK_STATES", "CONTAINER_RUNTIMES", "default_credentials_path", "unpack_result", "states",
]
