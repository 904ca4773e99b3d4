"""python/setup.py: the C extension fx._fx for `pip install ./python`
(pyproject.toml). It compiles what the CMake build links into it: the
extension's sources (src/), libfxproto (../proto) and libfxcommon
(../common), each list read from its folder's CMakeLists.txt, against
Debian's libczmq, libzmq, msgpack-c and libsodium, as C11 with GNU
extensions (CMake's default, -std=gnu11), FX_VERSION from the top-level
CMakeLists.txt's project()."""
import os
import re

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        found = re.search(r"project\(fx VERSION ([0-9.]+)", f.read())
    if not found:
        raise RuntimeError("cannot read fx's version from ../CMakeLists.txt")
    return found.group(1)


def _cmake_sources(folder, target):
    """The .c files of add_library(target ...) in folder/CMakeLists.txt."""
    with open(os.path.join(ROOT, folder, "CMakeLists.txt")) as f:
        found = re.search(r"add_library\(%s (?:STATIC |MODULE )?([^)]*)\)" % target, f.read())
    if not found:
        raise RuntimeError(f"no add_library({target}) in {folder}/CMakeLists.txt")
    # setuptools takes sources relative to setup.py's folder, never absolute
    return [os.path.relpath(os.path.join(ROOT, folder, name), HERE)
            for name in found.group(1).split() if name.endswith(".c")]


VERSION = _version()
ext = Extension(
    "fx._fx",
    sources=(_cmake_sources("python", "fx_pyext") + _cmake_sources("proto", "fxproto")
             + _cmake_sources("common", "fxcommon")),
    include_dirs=[os.path.join(ROOT, "python", "src"), os.path.join(ROOT, "proto"),
                  os.path.join(ROOT, "common")],
    libraries=["czmq", "zmq", "msgpackc", "sodium"],
    define_macros=[("FX_VERSION", f'"{VERSION}"')],
    extra_compile_args=["-std=gnu11", "-fvisibility=hidden", "-Wno-unused-parameter"],
)

setup(version=VERSION, ext_modules=[ext])
