"""Reading a proposed change from an upload: one YAML file (its place guessed), or a .zip of a
folder read defensively (sizes, entry count, paths, links, encryption)."""

from __future__ import annotations

import io
import stat
import zipfile

import pytest

from ctown import configdir
from ctown.config import upload
from ctown.errors import Invalid

CREDIT = configdir.defaults()["products/rcb_credit.yaml"].read_bytes()


def zipped(entries: dict[str, bytes], **infos: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = infos.get(name, 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def test_one_file_goes_where_its_name_or_content_says() -> None:
    assert upload.from_upload("rcb_credit.yaml", CREDIT) == {"products/rcb_credit.yaml": CREDIT}
    assert list(upload.from_upload("C:\\Users\\x\\grades.yml", b"version: 1\n")) == [
        "grades.yaml"]
    new = CREDIT.replace(b"code: rcb_credit", b"code: town_credit")
    assert list(upload.from_upload("town_credit.yaml", new)) == ["products/town_credit.yaml"]
    assert list(upload.from_upload("x.yaml", b"x: 1\n", as_name="scorecards/farmer.yaml")) == [
        "scorecards/farmer.yaml"]
    with pytest.raises(Invalid, match="无法判断"):
        upload.from_upload("notes.yaml", b"x: 1\n")
    with pytest.raises(Invalid, match=r"\.yaml"):
        upload.from_upload("notes.txt", b"x: 1\n")


def test_a_zipped_folder_keeps_its_layout_without_the_top_folder() -> None:
    data = zipped({"cfg/products/rcb_credit.yaml": CREDIT, "cfg/grades.yaml": b"version: 2\n",
                   "__MACOSX/cfg/._grades.yaml": b"junk", "cfg/.DS_Store": b"junk",
                   "cfg/product/typo.yaml": b"x: 1\n"})
    assert upload.from_upload("cfg.zip", data) == {
        "products/rcb_credit.yaml": CREDIT, "grades.yaml": b"version: 2\n",
        "product/typo.yaml": b"x: 1\n"}  # kept: the check reports the unknown name
    flat = zipped({"products/rcb_credit.yaml": CREDIT, "catalogue.yaml": b"version: 2\n"})
    assert set(upload.from_upload("any.zip", flat)) == {"products/rcb_credit.yaml",
                                                         "catalogue.yaml"}


@pytest.mark.parametrize("name", ["../grades.yaml", "/etc/grades.yaml", "cfg/../../x.yaml",
                                  "C:/grades.yaml", "cfg\\grades.yaml", "cfg//grades.yaml"])
def test_unsafe_paths_are_refused(name: str) -> None:
    with pytest.raises(Invalid, match="不安全"):
        upload.from_upload("cfg.zip", zipped({name: b"version: 1\n"}))


def test_links_and_encrypted_entries_are_refused() -> None:
    link = zipped({"grades.yaml": b"/etc/passwd"}, **{"grades.yaml": stat.S_IFLNK | 0o777})
    with pytest.raises(Invalid, match="链接"):
        upload.from_upload("cfg.zip", link)
    encrypted = bytearray(zipped({"grades.yaml": b"version: 1\n"}))
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):  # set the "encrypted" flag in both headers
        at = encrypted.find(sig)
        flags = at + (6 if sig == b"PK\x03\x04" else 8)
        encrypted[flags] |= 0x1
    with pytest.raises(Invalid, match="加密"):
        upload.from_upload("cfg.zip", bytes(encrypted))


def test_sizes_and_counts_are_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(Invalid, match="超过"):
        upload.from_upload("big.yaml", b"x" * (upload.MAX_UPLOAD + 1))
    # A bomb: a small zip of a file far larger than the limit once inflated.
    bomb = zipped({"catalogue.yaml": b"0" * (upload.MAX_FILE + 1)})
    assert len(bomb) < 10_000
    with pytest.raises(Invalid, match="超过"):
        upload.from_upload("bomb.zip", bomb)
    many = zipped({f"products/p{i}.yaml": b"x: 1\n" for i in range(upload.MAX_FILES + 1)})
    with pytest.raises(Invalid, match="超过"):
        upload.from_upload("many.zip", many)
    monkeypatch.setattr(upload, "MAX_TOTAL", 100)
    with pytest.raises(Invalid, match="解压后超过"):
        upload.from_upload("total.zip", zipped({"a/grades.yaml": b"1" * 60,
                                                "a/catalogue.yaml": b"2" * 60}))
    with pytest.raises(Invalid, match="zip"):
        upload.from_upload("broken.zip", b"PK\x03\x04 not really")


def test_a_zip_whose_header_lies_about_the_size_is_read_no_further(monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    """The entry says it is small: Python reads no more than it says, and the content's CRC
    then does not match — refused as a broken zip, never read past the limit."""
    monkeypatch.setattr(upload, "MAX_FILE", 1000)
    data = bytearray(zipped({"grades.yaml": b"0" * 5000}))
    # Patch the central directory's uncompressed size (offset 24 of its record) to 10 bytes.
    at = data.find(b"PK\x01\x02") + 24
    data[at:at + 4] = (10).to_bytes(4, "little")
    with pytest.raises(Invalid, match="不是有效的 zip"):  # its CRC is of 5000 bytes: refused
        upload.from_upload("liar.zip", bytes(data))
