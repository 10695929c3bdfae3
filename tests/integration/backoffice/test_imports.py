"""Import jobs: the row, its files in the data directory, progress and final states."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.backoffice.imports import (
    create_import_job,
    get_import_job,
    import_job_dir,
    list_import_jobs,
    update_import_job,
)
from core.backoffice.journal import Actor, list_entries
from core.communes.context import CommuneContext


async def test_job_files_and_states(communes: dict[str, CommuneContext], tmp_path: Path) -> None:
    boe, aure = communes["boe"].id, communes["aure"].id
    job_id = await create_import_job(
        boe, "C:\\exports\\..\\factures.csv", "api", b"a;b\n", tmp_path, Actor.api("Logiciel")
    )
    directory = import_job_dir(tmp_path, job_id)
    assert (directory / "factures.csv").read_bytes() == b"a;b\n"
    assert not (directory / "pdf.zip").exists()
    job = await get_import_job(boe, job_id)
    assert job is not None
    assert (job.file_name, job.status, job.source, job.agent_id) == (
        "factures.csv",
        "planned",
        "api",
        None,
    )
    assert await get_import_job(aure, job_id) is None

    await update_import_job(job_id, status="publishing", progress=140)
    job = await get_import_job(boe, job_id)
    assert job is not None and (job.progress, job.finished_at) == (100, None)
    counts = {"created": 3, "updated": 0, "refused": 0, "unchanged": 1}
    await update_import_job(job_id, status="published", counts=counts, report={"errors": []})
    [job] = await list_import_jobs(boe)
    assert job.status == "published" and job.finished_at is not None
    assert job.counts == counts and job.report == {"errors": []}
    [entry] = (await list_entries(boe)).entries
    assert (entry.action, entry.actor_label) == ("invoices.import.upload", "API : clé « Logiciel »")

    with pytest.raises(ValueError):
        await update_import_job(job_id, status="done")
    second = await create_import_job(
        boe, "f.csv", "web", b"x", tmp_path, Actor.command_line(), pdf_archive=b"PK"
    )
    assert (import_job_dir(tmp_path, second) / "pdf.zip").read_bytes() == b"PK"
