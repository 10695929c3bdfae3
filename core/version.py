"""The version of the running portal, as installed (shown in the footer, named in the source
archive)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "portail-des-factures"


def software_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # a source tree that was never installed
        return "inconnue"
