"""The compiled build (``hongyan.native``): every listed module exists and, unless the install was asked for plain
Python (``HONGYAN_PURE=1``), imports compiled; ``stale`` names exactly the modules edited after their build."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hongyan import native

PURE = os.environ.get("HONGYAN_PURE", "") not in ("", "0")


def test_every_listed_module_is_a_source_file() -> None:
    root = Path(native.__file__).resolve().parent.parent
    assert tuple(sorted(native.MODULES)) == native.MODULES
    for path in native.MODULES:
        assert (root / path).is_file(), path


@pytest.mark.skipif(PURE, reason="installed as plain Python")
def test_the_submit_path_runs_compiled() -> None:
    # a build that silently fell back to Python would pass every other test at two thirds of the speed
    assert native.compiled() == [native.module_name(p) for p in native.MODULES]


@pytest.mark.skipif(not PURE, reason="a compiled install")
def test_a_pure_install_has_nothing_compiled() -> None:
    assert native.compiled() == []


def test_stale_names_the_modules_edited_after_their_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text("")  # a source checkout: tmp_path/src/hongyan/…
    pkg = tmp_path / "src" / "hongyan" / "api"
    pkg.mkdir(parents=True)
    for stem, source_age, ext_age in (("fresh", 200, 100), ("edited", 100, 200), ("python", 100, None)):
        source = pkg / f"{stem}.py"
        source.write_text("x = 1\n")
        os.utime(source, (1_000_000 - source_age,) * 2)
        if ext_age is not None:
            ext = pkg / f"{stem}.cpython-311-x86_64-linux-gnu.so"
            ext.write_bytes(b"")
            os.utime(ext, (1_000_000 - ext_age,) * 2)
    monkeypatch.setattr(native, "_ROOT", tmp_path / "src")
    monkeypatch.setattr(native, "MODULES", ("hongyan/api/edited.py", "hongyan/api/fresh.py", "hongyan/api/python.py"))
    assert native.stale() == ["hongyan.api.edited"]
    # installed from a wheel (no pyproject.toml beside the package's directory): file times say nothing
    (tmp_path / "pyproject.toml").unlink()
    assert native.stale() == []
