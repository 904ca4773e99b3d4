"""The client installs as the README says, and the README's first Python
example runs as printed (issue 8): a wheel built offline from a copy of the
tree, installed into a fresh venv that sees Debian's numpy and dill, and the
example run by that venv's Python against a real broker and endpoint, with
only its endpoint id filled in.

The build happens in a copy so that the source tree gets no build/ or
egg-info. The venv's Python runs without the sanitizer preload of the test
environment: the wheel is an ordinary build, as a user's would be.
"""
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))

PYTHON = "/usr/bin/python3"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _plain_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "PYTHONPATH", "ASAN_OPTIONS", "PYTHONDONTWRITEBYTECODE")}
    env.update(extra)
    return env


def _run(argv, timeout, **kw):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n"
                    f"{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A wheel built from a copy of the tree, installed into a new venv."""
    work = tmp_path_factory.mktemp("install")
    tree = work / "fx"
    for part in ("python", "proto", "common"):
        shutil.copytree(os.path.join(ROOT, part), tree / part,
                        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    shutil.copy(os.path.join(ROOT, "CMakeLists.txt"), tree / "CMakeLists.txt")
    wheels = work / "wheels"
    _run([PYTHON, "-m", "pip", "wheel", "--no-index", "--no-build-isolation", "--no-deps",
          "-w", str(wheels), str(tree / "python")], 600, env=_plain_env(), cwd=str(work))
    built = list(wheels.glob("fx-*.whl"))
    assert len(built) == 1, built
    with zipfile.ZipFile(built[0]) as whl:
        names = whl.namelist()
    assert any(re.match(r"fx/_fx\.cpython-.*\.so$", n) for n in names), names
    assert "fx/client.py" in names and "fx/executor.py" in names, names
    env_dir = work / "venv"
    _run([PYTHON, "-m", "venv", "--system-site-packages", str(env_dir)], 120, env=_plain_env())
    _run([str(env_dir / "bin" / "pip"), "install", "--no-index", "--no-deps", str(built[0])], 300,
         env=_plain_env())
    return env_dir


def _first_python_example():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    found = re.search(r"```python\n(.*?)```", text, re.S)
    assert found, "README.md has no ```python block"
    return found.group(1)


def test_the_installed_client_imports_outside_the_tree(venv, tmp_path):
    proc = _run([str(venv / "bin" / "python"), "-c",
                 "import fx, fx._fx, os; print(os.path.dirname(fx.__file__))"], 60,
                env=_plain_env(), cwd=str(tmp_path))
    assert str(venv) in proc.stdout, proc.stdout


def test_the_readme_first_example_runs_as_printed(venv, running, tmp_path):
    example = _first_python_example()
    # the one line a user edits: their endpoint's id
    lines = example.splitlines()
    ep_lines = [i for i, line in enumerate(lines) if line.startswith("EP = ")]
    assert len(ep_lines) == 1, "the example should set EP once"
    lines[ep_lines[0]] = f'EP = "{running.endpoint.endpoint_id}"'
    script = tmp_path / "example.py"
    script.write_text("\n".join(lines) + "\nprint('example: done')\n")
    # the credentials where the example looks for them: ~/.fx/credentials
    home = tmp_path / "home"
    (home / ".fx").mkdir(parents=True)
    shutil.copy(running.creds, home / ".fx" / "credentials")
    os.chmod(home / ".fx" / "credentials", 0o600)
    proc = _run([str(venv / "bin" / "python"), str(script)], 300, env=_plain_env(HOME=str(home)),
                cwd=str(tmp_path))
    assert proc.stdout.strip().endswith("example: done"), proc.stdout
