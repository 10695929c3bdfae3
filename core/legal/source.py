"""The source of the running version, as the AGPL asks of a network service: an archive of the
portal's own files as this process runs them (Python packages, templates, static files).

Configuration (`portail.toml`), the `.env` file and the data directory are never part of it:
only the directories listed in `source_roots`, without compiled files.
"""

from __future__ import annotations

import functools
import gzip
import io
import tarfile
from pathlib import Path

import core
import plugins
import simulators
from core.assets import EXAMPLES_DIR, STATIC_DIR, TEMPLATES_DIR
from core.version import software_version

PACKAGES = (core, plugins, simulators)
SKIPPED_PARTS = {"__pycache__"}
ASSET_LINKS = {("core", "assets", folder) for folder in ("templates", "static", "examples")}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}


def source_roots() -> list[tuple[str, Path]]:
    """(name in the archive, directory) of everything the running portal is made of, laid out
    as the repository is: `core/assets/` maps the top-level folders into the package, so they
    are archived once, at the top."""
    packages = [(package.__name__, Path(str(package.__file__)).parent) for package in PACKAGES]
    assets = [("templates", TEMPLATES_DIR), ("static", STATIC_DIR), ("examples", EXAMPLES_DIR)]
    return [*packages, *assets]


def archive_name() -> str:
    return f"portail-des-factures-{software_version()}.tar.gz"


@functools.cache
def source_archive() -> bytes:
    """The archive, built once per process; reproducible (fixed dates and owners), so two
    processes of one version serve the same bytes."""
    prefix = archive_name().removesuffix(".tar.gz")
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name, root in source_roots():
            for path in sorted(root.rglob("*")):
                if not path.is_file() or _skipped(name, path.relative_to(root)):
                    continue
                info = tarfile.TarInfo(f"{prefix}/{name}/{path.relative_to(root).as_posix()}")
                data = path.read_bytes()
                info.size, info.mode = len(data), 0o644
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _skipped(root_name: str, relative: Path) -> bool:
    if (root_name, *relative.parts[:2]) in ASSET_LINKS:
        return True  # archived at the top level (see `source_roots`)
    return bool(SKIPPED_PARTS & set(relative.parts)) or relative.suffix in SKIPPED_SUFFIXES
