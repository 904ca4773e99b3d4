"""`pip install ./python` (issue 8): offline, with Debian's pip and
setuptools and no build isolation, the client installs into a fresh
--target and imports from there, C extension included. The tree is copied
first, so the build leaves nothing in the checkout."""
import os
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3"


def _copy_tree(dst):
    shutil.copy(os.path.join(ROOT, "CMakeLists.txt"), dst)
    keep = shutil.ignore_patterns("build*", "__pycache__", "*.egg-info", "tests")
    for folder in ("proto", "common"):
        shutil.copytree(os.path.join(ROOT, folder), os.path.join(dst, folder), ignore=keep)
    os.mkdir(os.path.join(dst, "python"))
    for name in ("fx", "src"):
        shutil.copytree(os.path.join(ROOT, "python", name), os.path.join(dst, "python", name),
                        ignore=keep)
    for name in ("pyproject.toml", "setup.py", "CMakeLists.txt"):
        shutil.copy(os.path.join(ROOT, "python", name), os.path.join(dst, "python"))


def test_pip_install_into_a_target_and_import(tmp_path):
    src, site = tmp_path / "src", tmp_path / "site"
    src.mkdir()
    _copy_tree(str(src))
    # the build's own interpreter environment, without the test tree's path
    # or the sanitizer runtime the test run preloads
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "LD_PRELOAD", "ASAN_OPTIONS")}
    env["PIP_NO_INDEX"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    pip = subprocess.run([PYTHON, "-m", "pip", "install", "--no-index", "--no-build-isolation",
                          "--no-deps", "--target", str(site), str(src / "python")],
                         capture_output=True, text=True, env=env, timeout=600, cwd=str(tmp_path))
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    env["PYTHONPATH"] = str(site)
    check = subprocess.run(
        [PYTHON, "-c", "import fx, fx._fx as x; print(fx.__file__); print(x.__file__); "
                       "print(fx.__version__); print(fx.id_valid(fx.new_id()))"],
        capture_output=True, text=True, env=env, timeout=60, cwd=str(tmp_path))
    assert check.returncode == 0, check.stderr
    pkg, ext, version, valid = check.stdout.split()
    assert pkg.startswith(str(site)) and ext.startswith(str(site))
    assert version and valid == "True"
