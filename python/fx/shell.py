"""fx.shell: shell functions, run by an endpoint with /bin/sh -c.

ShellFunction("echo {x} {0}") registers the template; each argument is passed
through shlex.quote(str(v)) before str.format, so arguments cannot inject
shell syntax. The result is a ShellResult (returncode, stdout, stderr); a
non-zero return code is a normal result, not an exception.
"""
import dataclasses
import shlex
import subprocess

__all__ = ["ShellFunction", "ShellResult"]


@dataclasses.dataclass(frozen=True)
class ShellResult:
    returncode: int
    stdout: str
    stderr: str
    cmd: str = ""


class ShellFunction:
    """A command template. walltime (seconds, optional) bounds each run."""

    def __init__(self, cmd, walltime=None, name=None):
        if not isinstance(cmd, str) or not cmd.strip():
            raise ValueError("ShellFunction needs a non-empty command template string")
        self.cmd = cmd
        self.walltime = walltime
        self.name = name or "shell"

    def format(self, *args, **kwargs):
        """The command line for these arguments, quoted as an endpoint quotes it."""
        qargs = [shlex.quote(str(a)) for a in args]
        qkwargs = {k: shlex.quote(str(v)) for k, v in kwargs.items()}
        return self.cmd.format(*qargs, **qkwargs)

    def __call__(self, *args, **kwargs):
        """Run locally, the way an endpoint runs it (for trying a template out)."""
        line = self.format(*args, **kwargs)
        proc = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True,
                              errors="replace", timeout=self.walltime)
        return ShellResult(proc.returncode, proc.stdout, proc.stderr, line)

    def __repr__(self):
        return f"ShellFunction({self.cmd!r})"
