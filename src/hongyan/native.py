"""The modules compiled to C with mypyc when hongyan is installed (``setup.py``): the Submit path's pure Python.

On one API process the event loop is the bottleneck of Submit, at ~100 µs a request, and these modules are about
two thirds of the Python in it (parameters, the checks, the submit service, the ihuyi answer). Compiled, the loop
spends ~11 µs less a request: Submit 8,696-8,780 → 9,373-9,743 /s in three alternated pairs on one day.

The source stays the truth: the same files run as Python when ``HONGYAN_PURE=1`` at install (or when no compiler
is at hand), and the whole test suite runs against the compiled build. In an editable install the extension sits
next to its ``.py`` and wins the import: ``stale()`` names the modules edited since the build, which still run
the old code until ``make`` (or ``pip install -e .``) builds them again; the test suite refuses to start on them.

Nothing here imports the rest of hongyan (``setup.py`` reads ``MODULES`` before hongyan is installed).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

MODULES = (
    "hongyan/api/compat_ihuyi.py",
    "hongyan/api/params.py",
    "hongyan/api/wire.py",
    "hongyan/domain/codes.py",
    "hongyan/domain/emoji.py",
    "hongyan/domain/numbers.py",
    "hongyan/domain/passwords.py",
    "hongyan/domain/segments.py",
    "hongyan/domain/signatures.py",
    "hongyan/domain/smsid.py",
    "hongyan/domain/templates.py",
    "hongyan/domain/windows.py",
    "hongyan/pipeline/auth.py",
    "hongyan/pipeline/blacklist.py",
    "hongyan/pipeline/content.py",
    "hongyan/pipeline/context.py",
    "hongyan/pipeline/fields.py",
    "hongyan/pipeline/limits.py",
    "hongyan/pipeline/marketing.py",
    "hongyan/pipeline/number.py",
    "hongyan/pipeline/run.py",
    "hongyan/pipeline/words.py",
    "hongyan/policy/memory_counters.py",
    "hongyan/server/ihuyi_cycle.py",
    "hongyan/services/submit.py",
)
"""Paths under ``src/``."""

_ROOT = Path(__file__).resolve().parent.parent  # the directory holding the hongyan package


def module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def compiled() -> list[str]:
    """The modules of ``MODULES`` that import as compiled extensions in this installation."""
    out = []
    for path in MODULES:
        spec = importlib.util.find_spec(module_name(path))
        if spec is not None and spec.origin is not None and not spec.origin.endswith(".py"):
            out.append(module_name(path))
    return out


def stale() -> list[str]:
    """Compiled modules whose source was changed after their extension was built. Only in a source checkout (an
    editable install, ``pyproject.toml`` beside ``src/``): an installed wheel's files all date from its install."""
    if not (_ROOT.parent / "pyproject.toml").is_file():
        return []
    out = []
    for path in MODULES:
        source = _ROOT / path
        for ext in source.parent.glob(f"{source.stem}.*.so"):
            if source.exists() and source.stat().st_mtime > ext.stat().st_mtime:
                out.append(module_name(path))
    return out
