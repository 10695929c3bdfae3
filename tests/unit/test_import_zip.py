"""The uploaded zip archive of PDFs: what is taken from it, and every archive refused."""

from __future__ import annotations

import io
import random
import stat
import struct
import zipfile

import pytest

from core.invoices.importer import PdfArchiveError, ZipLimits, pdfs_from_zip
from core.invoices.importer import pdfs as pdfs_module

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
BOMB_SIZE = 50 * 1024 * 1024


def archive(*entries: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries:
            zf.writestr(name, content)
    return buffer.getvalue()


def refused(data: bytes, limits: ZipLimits | None = None) -> PdfArchiveError:
    with pytest.raises(PdfArchiveError) as caught:
        pdfs_from_zip(data, limits)
    error = caught.value
    assert error.message  # a French sentence from the catalogue, never a bare key
    return error


def test_a_good_archive_gives_the_pdfs_by_file_name() -> None:
    folder = zipfile.ZipInfo("lot 2/")
    data = archive(
        ("F-001.pdf", PDF),
        (folder, b""),
        ("lot 2/F-002.PDF", PDF + b"%2"),
        ("2026_004.Pdf", PDF + b"%4"),
    )
    assert pdfs_from_zip(data) == {
        "F-001.pdf": PDF,
        "F-002.pdf": PDF + b"%2",
        "2026_004.pdf": PDF + b"%4",
    }


def test_an_empty_archive_gives_nothing() -> None:
    assert pdfs_from_zip(archive()) == {}


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("../x.pdf", "traversal"),
        ("lot/../../x.pdf", "traversal"),
        ("/etc/x.pdf", "absolute_path"),
        ("C:/x.pdf", "absolute_path"),
        ("..\\x.pdf", "backslash"),
        ("lot\\x.pdf", "backslash"),
    ],
)
def test_unsafe_paths_refuse_the_archive_naming_the_entry(name: str, key: str) -> None:
    error = refused(archive(("F-001.pdf", PDF), (name, PDF)))
    assert error.key == f"import.zip.{key}"
    assert error.params["name"] == name and name in error.message


def test_a_symbolic_link_is_refused() -> None:
    link = zipfile.ZipInfo("F-002.pdf")
    link.create_system = 3  # Unix
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    error = refused(archive(("F-001.pdf", PDF), (link, b"/etc/passwd")))
    assert error.key == "import.zip.not_a_file" and error.params["name"] == "F-002.pdf"


def test_a_file_that_is_not_a_pdf_is_refused() -> None:
    error = refused(archive(("F-001.pdf", PDF), ("notes.txt", b"hello")))
    assert error.key == "import.zip.not_a_pdf_name"
    assert "notes.txt" in error.message


def test_a_pdf_name_without_the_pdf_magic_is_refused() -> None:
    error = refused(archive(("F-001.pdf", PDF), ("F-002.pdf", b"<html>not a pdf</html>")))
    assert error.key == "import.zip.not_a_pdf" and error.params["name"] == "F-002.pdf"
    assert "%PDF-" in error.message
    assert refused(archive((".pdf", PDF))).key == "import.zip.not_a_pdf_name"


@pytest.mark.parametrize(
    ("first", "second"),
    [("a/F-001.pdf", "b/F-001.pdf"), ("F-001.pdf", "F-001.PDF"), ("F-001.pdf", "lot/F-001.pdf")],
)
def test_a_file_name_twice_is_refused(first: str, second: str) -> None:
    error = refused(archive((first, PDF), (second, PDF)))
    assert error.key == "import.zip.duplicate"
    assert error.params == {"name": second, "first": first}


def test_too_many_entries_are_refused() -> None:
    data = archive(*[(f"F-{n:03d}.pdf", PDF) for n in range(4)])
    assert pdfs_from_zip(data, ZipLimits(max_entries=4)).keys() == {
        f"F-{n:03d}.pdf" for n in range(4)
    }
    error = refused(data, ZipLimits(max_entries=3))
    assert error.key == "import.zip.too_many_entries" and error.params["count"] == 4


def test_an_archive_too_large_is_refused_before_it_is_opened() -> None:
    data = archive(("F-001.pdf", PDF))
    error = refused(data, ZipLimits(max_archive_bytes=len(data) - 1))
    assert error.key == "import.zip.archive_too_large"


def bomb() -> bytes:
    """50 MB of zeros behind a PDF header: about 50 KB compressed."""
    return archive(("F-001.pdf", PDF), ("bomb.pdf", b"%PDF-" + bytes(BOMB_SIZE)))


def test_a_zip_bomb_is_refused_by_its_declared_size() -> None:
    data = bomb()
    assert len(data) < 1024 * 1024
    error = refused(data, ZipLimits(max_total_bytes=10 * 1024 * 1024))
    assert error.key == "import.zip.content_too_large"


def test_a_zip_bomb_is_stopped_while_decompressing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Were the declared sizes to pass, the bytes actually read are counted, and reading
    stops past the limit (not after 50 MB)."""
    monkeypatch.setattr(pdfs_module, "_declared_size", lambda entries: 0)
    spent: list[int] = []
    spend = pdfs_module._Budget.spend

    def counting(self: pdfs_module._Budget, count: int) -> None:
        spent.append(count)
        spend(self, count)

    monkeypatch.setattr(pdfs_module._Budget, "spend", counting)
    limit = 1024 * 1024
    error = refused(bomb(), ZipLimits(max_total_bytes=limit))
    assert error.key == "import.zip.content_too_large"
    assert limit < sum(spent) <= limit + 64 * 1024 + len(PDF)


def test_a_zip_bomb_lying_about_its_size_is_refused() -> None:
    """Declared sizes rewritten to 100 bytes: the decompression is cut there, and the content
    then fails its checksum."""
    data = bytearray(bomb())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = data.index(signature, data.index(signature) + 1)  # the second entry, the bomb
        data[start + offset : start + offset + 4] = struct.pack("<I", 100)
    error = refused(bytes(data), ZipLimits(max_total_bytes=10 * 1024 * 1024))
    assert error.key == "import.zip.unreadable" and error.params["name"] == "bomb.pdf"


def test_an_encrypted_entry_is_refused() -> None:
    data = bytearray(archive(("F-001.pdf", PDF)))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = data.index(signature)
        flags = struct.unpack_from("<H", data, start + offset)[0]
        struct.pack_into("<H", data, start + offset, flags | 0x1)
    assert refused(bytes(data)).key == "import.zip.encrypted"


@pytest.mark.parametrize(
    "data", [b"", b"not a zip", PDF, b"PK\x05\x06" + bytes(10), archive(("F-001.pdf", PDF))[:40]]
)
def test_what_is_not_a_zip_is_refused(data: bytes) -> None:
    assert refused(data).key == "import.zip.not_a_zip"


def test_a_compression_other_than_deflate_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_BZIP2) as zf:
        zf.writestr("F-001.pdf", PDF)
    error = refused(buffer.getvalue())
    assert error.key == "import.zip.unreadable" and error.params["name"] == "F-001.pdf"


def test_a_damaged_archive_is_read_or_refused_never_an_other_error() -> None:
    good = archive(("lot/F-001.pdf", PDF * 20), ("F-002.pdf", PDF * 50))
    rng = random.Random(20261105)
    outcomes = set()
    for _ in range(3_000):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            pdfs_from_zip(bytes(data))
            outcomes.add("read")
        except PdfArchiveError as error:
            outcomes.add(error.key)
    assert {"read", "import.zip.not_a_zip", "import.zip.unreadable"} <= outcomes
