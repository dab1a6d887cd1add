"""Build hook: the modules listed in ``src/hongyan/native.py`` are compiled with mypyc (see its docstring).

``HONGYAN_PURE=1`` installs plain Python. Everything else about the package is in pyproject.toml.
"""

import os
import runpy

from setuptools import setup


def ext_modules() -> list:
    if os.environ.get("HONGYAN_PURE", "") not in ("", "0"):
        return []
    from mypyc.build import mypycify

    modules = runpy.run_path(os.path.join("src", "hongyan", "native.py"))["MODULES"]
    return mypycify([os.path.join("src", m) for m in modules], opt_level="3")


setup(ext_modules=ext_modules())
