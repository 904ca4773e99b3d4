"""fx.functions: how a Python function's body travels (SPEC 12.1.1).

Three strategies; the client picks one per function version and records it
in REGISTER_FUNCTION's `serializer`:

- `reference`: `module:qualname`, for a function the endpoint can import:
  defined at the top level of an *installed* module (the standard library,
  site-packages, dist-packages), or a builtin. A function of the user's own
  module (a file beside the script, a test module) is sent by value: the
  endpoint has no copy of that file;
- `source`: the function's own source text, when that is all it needs (no
  global names but builtins, no closure, no default or annotation that is
  not a plain literal);
- `dill`: `dill.dumps(fn, recurse=True)`, the function by value with the
  globals, helpers, classes, closures and defaults it uses; lambdas and
  functions typed at a prompt (which have no source) go this way.

choose() makes the automatic choice; body() builds the body of a given
strategy. What cannot travel (an open file, a socket, a lock, among the
globals and closure variables the function reaches) is refused by check()
with the offending name, before dill is asked: dill would pickle some of
them into something that fails on the endpoint.
"""
import ast
import builtins
import dis
import inspect
import io
import os
import site
import socket
import sys
import sysconfig
import textwrap
import threading
import types

from .errors import Error

__all__ = ["STRATEGIES", "choose", "body", "check", "dill_version", "reference_of"]

STRATEGIES = ("source", "dill", "reference")

# Types whose instances hold an operating-system resource or a thread's
# state: copying them by value to another host is meaningless.
_LOCKS = (type(threading.Lock()), type(threading.RLock()), threading.Condition,
          threading.Semaphore, threading.Event, threading.Barrier)
_LITERALS = (type(None), bool, int, float, complex, str, bytes)


def dill_version():
    """The installed dill's version, "" if there is none."""
    try:
        import dill
    except ImportError:
        return ""
    return getattr(dill, "__version__", "")


def _is_builtin_function(fn):
    owner = getattr(fn, "__self__", None)
    return inspect.isbuiltin(fn) and (owner is None or inspect.ismodule(owner))


def reference_of(fn):
    """`module:qualname` if fn can be imported by name (its module is not
    __main__, it is not a lambda or a nested function, and the name leads
    back to fn itself here), else None."""
    module = getattr(fn, "__module__", None) or ("builtins" if _is_builtin_function(fn) else None)
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return None
    # a decorated function (numpy's) has a closure: the name leading back to
    # fn itself below is what makes it importable
    mod = sys.modules.get(module)
    if mod is None or getattr(mod, "__spec__", None) is None and module != "builtins":
        return None
    found = mod
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if found is not fn:
        return None
    return f"{module}:{qualname}"


def _installed_roots():
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    try:
        roots |= set(site.getsitepackages())
    except AttributeError:   # a virtualenv's old site.py
        pass
    return tuple(os.path.realpath(r) + os.sep for r in roots)


def installed(module_name):
    """Whether the module comes with Python or from an installed package
    (so an endpoint with the same packages has it), not from the user's own
    files."""
    mod = sys.modules.get(module_name)
    path = getattr(mod, "__file__", None)
    if mod is None:
        return False
    if path is None:   # builtin, frozen or a namespace package: part of Python itself
        return getattr(mod, "__spec__", None) is None or mod.__spec__.origin in ("built-in", "frozen")
    return os.path.realpath(path).startswith(_installed_roots())


def _by_value(fn, memo=None):
    """A copy of fn that dill pickles by value. dill sends a function of an
    importable module by name, which fails on an endpoint without that
    module's file; the copy claims __main__ and carries, instead of its
    module's whole namespace, the globals it uses, with the functions of the
    same module among them copied the same way (helpers)."""
    memo = {} if memo is None else memo
    if id(fn) in memo:
        return memo[id(fn)]
    module = fn.__module__
    scope = {"__builtins__": builtins}
    copy = types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__)
    memo[id(fn)] = copy
    copy.__kwdefaults__ = fn.__kwdefaults__
    copy.__qualname__ = fn.__qualname__
    copy.__annotations__ = dict(fn.__annotations__)
    copy.__doc__ = fn.__doc__
    copy.__module__ = "__main__"
    for name in _code_globals(fn.__code__):
        if name in fn.__globals__:
            value = fn.__globals__[name]
            if inspect.isfunction(value) and value.__module__ == module:
                value = _by_value(value, memo)
            scope[name] = value
    return copy


def _code_globals(code):
    """The global names a code object and the code nested in it load."""
    names = set()
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL"):
            names.add(ins.argval)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_globals(const)
    return names


def _plain(value):
    """A default or annotation the source alone can rebuild."""
    if isinstance(value, _LITERALS):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(_plain(v) for v in value)
    return isinstance(value, type) and getattr(builtins, value.__name__, None) is value


def _source(fn):
    """The dedented source of fn without its decorators, or None."""
    try:
        text = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return None
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    node = tree.body[0] if tree.body else None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name != fn.__name__:
        return None
    if node.decorator_list:
        text = "".join(text.splitlines(True)[node.lineno - 1:])
    return text


def _source_is_enough(fn):
    if not inspect.isfunction(fn) or fn.__name__ == "<lambda>" or fn.__closure__:
        return False
    defaults = tuple(fn.__defaults__ or ()) + tuple((fn.__kwdefaults__ or {}).values())
    if not all(_plain(d) for d in defaults):
        return False
    if not all(_plain(a) or isinstance(a, str) for a in fn.__annotations__.values()):
        return False
    if any(not hasattr(builtins, name) or name in fn.__globals__
           for name in _code_globals(fn.__code__)):
        return False
    return _source(fn) is not None


def choose(fn):
    """The strategy fx uses for fn when the caller names none."""
    if reference_of(fn) is not None and installed(fn.__module__):
        return "reference"
    if _source_is_enough(fn):
        return "source"
    return "dill"


def _what(value):
    """Why value cannot travel (a short noun phrase), or None."""
    if isinstance(value, io.IOBase):
        name = getattr(value, "name", None)
        return "an open file" + (f" ({name!r})" if isinstance(name, str) else "")
    if isinstance(value, socket.socket):
        return "a socket"
    if isinstance(value, _LOCKS):
        return f"a lock ({type(value).__name__})"
    if isinstance(value, (types.GeneratorType, types.FrameType)):
        return f"a running {type(value).__name__}"
    return None


def _find(value, depth, seen):
    """(path suffix, reason) of something in value that cannot travel."""
    if id(value) in seen or depth > 3:
        return None
    seen.add(id(value))
    why = _what(value)
    if why:
        return "", why
    items = ()
    if isinstance(value, dict):
        items = ((f"[{k!r}]", v) for k, v in value.items())
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = ((f"[{i}]", v) for i, v in enumerate(value))
    elif not isinstance(value, (type, types.ModuleType, types.FunctionType)) and \
            hasattr(value, "__dict__") and type(value).__module__ == "__main__":
        items = ((f".{k}", v) for k, v in vars(value).items())
    for suffix, item in items:
        hit = _find(item, depth + 1, seen)
        if hit:
            return suffix + hit[0], hit[1]
    return None


def check(fn):
    """Raise fx.Error naming the first global, closure variable or default
    fn reaches (through helper functions of the same module too) that
    cannot travel to an endpoint."""
    top = getattr(fn, "__name__", repr(fn))
    todo, done, seen = [fn], set(), set()
    while todo:
        f = todo.pop()
        if id(f) in done or not inspect.isfunction(f):
            continue
        done.add(id(f))
        named = []
        code = f.__code__
        for name, cell in zip(code.co_freevars, f.__closure__ or ()):
            try:
                named.append(("closure variable", name, cell.cell_contents))
            except ValueError:          # an empty cell
                pass
        for name in sorted(_code_globals(code)):
            if name in f.__globals__:
                named.append(("global", name, f.__globals__[name]))
        for i, d in enumerate(f.__defaults__ or ()):
            named.append(("default", code.co_varnames[code.co_argcount - len(f.__defaults__) + i], d))
        for what, name, value in named:
            hit = _find(value, 0, seen)
            if hit:
                via = "" if f is fn else f" (through {f.__name__})"
                raise Error(f"cannot register {top}: it uses the {what} '{name}{hit[0]}'{via}, "
                            f"{hit[1]}, which cannot travel to an endpoint; create it inside "
                            f"the function instead")
            if inspect.isfunction(value) and value.__module__ == f.__module__:
                todo.append(value)


def body(fn, strategy):
    """(entry, body bytes, dill_version) of fn sent by strategy."""
    if strategy == "reference":
        ref = reference_of(fn)
        if ref is None:
            raise Error(f"cannot send {getattr(fn, '__qualname__', fn)!r} by reference: the "
                        f"endpoint could not import it by module and name (it lives in "
                        f"{getattr(fn, '__module__', None)!r}, or is a lambda or closure)")
        return ref, ref.encode(), ""
    if not inspect.isfunction(fn):
        raise Error(f"cannot register {fn!r}: fx registers Python functions (def or lambda), "
                    f"importable callables, or fx.ShellFunction")
    if strategy == "source":
        text = _source(fn)
        if text is None:
            raise Error(f"cannot send {fn.__name__} as source: its source text is not "
                        f"available (typed at a prompt, or a lambda); use strategy='dill'")
        return fn.__name__, text.encode(), ""
    if strategy == "dill":
        try:
            import dill
        except ImportError:
            raise Error(f"{fn.__name__} needs the dill strategy (it uses globals, a closure "
                        f"or has no source), but dill is not installed here (apt install "
                        f"python3-dill)") from None
        check(fn)
        try:
            data = dill.dumps(fn if fn.__module__ == "__main__" else _by_value(fn), recurse=True)
        except Exception as exc:
            raise Error(f"cannot register {fn.__name__}: dill cannot serialize it: "
                        f"{type(exc).__name__}: {exc}") from exc
        return fn.__name__, data, dill_version()
    raise ValueError(f"unknown strategy {strategy!r}: one of {', '.join(STRATEGIES)}")

