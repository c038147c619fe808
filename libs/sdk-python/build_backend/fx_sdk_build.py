"""A PEP 517 (and PEP 660) build backend for fx-sdk that needs only the standard library.

Why not setuptools: an offline `pip install --no-build-isolation` uses whatever the interpreter has,
and a stock one may have an old setuptools and no `wheel` ("invalid command 'bdist_wheel'"). A pure
Python package is a zip with a little metadata, so this writes it directly: the files of src/fx_sdk,
and a dist-info made from pyproject.toml's [project] table.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import io
import os
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "fx_sdk"
TAG = "py3-none-any"


def _toml(text: str) -> Dict[str, Any]:
    # tomllib from Python 3.11; before it tomli, which pip itself always carries
    for module in ("tomllib", "tomli", "pip._vendor.tomli"):
        try:
            parsed: Dict[str, Any] = importlib.import_module(module).loads(text)
            return parsed
        except ImportError:
            continue
    raise RuntimeError("no TOML parser: Python 3.11+, tomli or pip is needed to build fx-sdk")


def _project() -> Dict[str, Any]:
    project: Dict[str, Any] = _toml((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    return project


def _dist_name(project: Dict[str, Any]) -> str:
    return str(project["name"]).replace("-", "_").replace(".", "_").lower()


def _metadata(project: Dict[str, Any]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}"]
    if project.get("description"):
        lines.append(f"Summary: {project['description']}")
    license_ = project.get("license")
    if isinstance(license_, dict) and license_.get("text"):
        lines.append(f"License: {license_['text']}")
    if project.get("requires-python"):
        lines.append(f"Requires-Python: {project['requires-python']}")
    lines += [f"Classifier: {c}" for c in project.get("classifiers", [])]
    lines += [f"Requires-Dist: {d}" for d in project.get("dependencies", [])]
    readme = project.get("readme")
    body = ""
    if isinstance(readme, str) and (ROOT / readme).exists():
        lines.append("Description-Content-Type: text/markdown")
        body = (ROOT / readme).read_text("utf-8")
    return "\n".join(lines) + "\n\n" + body


def _package_files() -> List[Tuple[str, bytes]]:
    """(path in the wheel, content) of every file of the package, sorted; caches left out."""
    files = []
    src = ROOT / "src"
    for path in sorted((src / PACKAGE).rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
            continue
        files.append((path.relative_to(src).as_posix(), path.read_bytes()))
    return files


def _date() -> Tuple[int, int, int, int, int, int]:
    # reproducible: SOURCE_DATE_EPOCH when set, else a fixed date (zip cannot go below 1980)
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))
    return time.gmtime(max(epoch, 315532800))[:6]


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"{path},sha256={digest},{len(data)}"


def _write_wheel(directory: str, files: List[Tuple[str, bytes]]) -> str:
    project = _project()
    name, version = _dist_name(project), project["version"]
    dist_info = f"{name}-{version}.dist-info"
    entries = list(files) + [
        (f"{dist_info}/METADATA", _metadata(project).encode("utf-8")),
        (f"{dist_info}/WHEEL", f"Wheel-Version: 1.0\nGenerator: fx_sdk_build\nRoot-Is-Purelib: true\nTag: {TAG}\n".encode("utf-8")),
        (f"{dist_info}/top_level.txt", f"{PACKAGE}\n".encode("utf-8")),
    ]
    record_path = f"{dist_info}/RECORD"
    record = "\n".join([_record_line(p, d) for p, d in entries] + [f"{record_path},,"]) + "\n"
    entries.append((record_path, record.encode("utf-8")))
    wheel_name = f"{name}-{version}-{TAG}.whl"
    with zipfile.ZipFile(os.path.join(directory, wheel_name), "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, data in entries:
            info = zipfile.ZipInfo(path, date_time=_date())
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return wheel_name


# ---- PEP 517 hooks -------------------------------------------------------------------------------


def get_requires_for_build_wheel(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def get_requires_for_build_editable(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: Optional[Dict[str, Any]] = None) -> str:
    project = _project()
    dist_info = f"{_dist_name(project)}-{project['version']}.dist-info"
    target = Path(metadata_directory) / dist_info
    target.mkdir(parents=True, exist_ok=True)
    (target / "METADATA").write_text(_metadata(project), "utf-8")
    (target / "WHEEL").write_text(f"Wheel-Version: 1.0\nGenerator: fx_sdk_build\nRoot-Is-Purelib: true\nTag: {TAG}\n", "utf-8")
    return dist_info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory: str, config_settings: Optional[Dict[str, Any]] = None, metadata_directory: Optional[str] = None) -> str:
    return _write_wheel(wheel_directory, _package_files())


def build_editable(wheel_directory: str, config_settings: Optional[Dict[str, Any]] = None, metadata_directory: Optional[str] = None) -> str:
    """PEP 660: a wheel holding only a .pth file that puts src/ on sys.path."""
    project = _project()
    pth = f"__editable__.{_dist_name(project)}-{project['version']}.pth"
    return _write_wheel(wheel_directory, [(pth, (str(ROOT / "src") + "\n").encode("utf-8"))])


def build_sdist(sdist_directory: str, config_settings: Optional[Dict[str, Any]] = None) -> str:
    project = _project()
    base = f"{_dist_name(project)}-{project['version']}"
    members: List[Tuple[str, bytes]] = [("PKG-INFO", _metadata(project).encode("utf-8"))]
    for rel in ("pyproject.toml", "README.md", "build_backend/fx_sdk_build.py"):
        if (ROOT / rel).exists():
            members.append((rel, (ROOT / rel).read_bytes()))
    members += [(f"src/{path}", data) for path, data in _package_files()]
    filename = f"{base}.tar.gz"
    mtime = time.mktime(_date() + (0, 0, -1))
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for path, data in members:
            info = tarfile.TarInfo(f"{base}/{path}")
            info.size = len(data)
            info.mtime = int(mtime)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return filename
