"""Reading a proposed change (提议的文件): one YAML file, a folder, or a .zip of a folder.

An upload comes from a browser, so a zip is read defensively: the upload and every file have a
size limit (also when the zip's headers lie about the size), at most :data:`MAX_FILES` entries,
no absolute paths, no ``..``, no backslashes or drive letters, no links, no encrypted entries.
Names are kept as given (``products/x.yaml``): a name that is no kind's is reported by the check,
not dropped, so a typo is seen.
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from ctown import configdir
from ctown.errors import Invalid
from ctown.i18n import Message, _

#: An uploaded file (YAML or zip) at most; a county's whole folder is about 60 KB.
MAX_UPLOAD = 2 * 1024 * 1024
#: One file of a folder or zip, and all of them together, uncompressed.
MAX_FILE = 1024 * 1024
MAX_TOTAL = 8 * 1024 * 1024
MAX_FILES = 200
_TOP = {k.live for k in configdir.KINDS}
_IGNORED = ("__MACOSX/",)


def refuse(msgid: str, **params: Any) -> Invalid:
    return Invalid(Message(msgid, params))


def from_upload(filename: str, data: bytes, as_name: str | None = None) -> dict[str, bytes]:
    """The files of an upload: a ``.zip`` of a folder, or one ``.yaml`` file."""
    if len(data) > MAX_UPLOAD:
        raise refuse(_("上传的文件超过 {limit} 字节"), limit=MAX_UPLOAD)
    if filename.lower().endswith(".zip") or data[:4] == b"PK\x03\x04":
        return from_zip(data)
    if not filename.lower().endswith((".yaml", ".yml")):
        raise refuse(_("只能上传 .yaml 文件或文件夹的 .zip 压缩包"))
    return {as_name or guess_name(filename, data): data}


def from_zip(data: bytes) -> dict[str, bytes]:
    """Every file of a zip by its name in the folder (a common top folder is taken off)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise refuse(_("不是有效的 zip 压缩包")) from None
    try:
        with archive:
            return _strip_top(_members(archive))
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError):
        # A damaged entry, a CRC that does not match (a header lying about the size), an
        # unknown compression method.
        raise refuse(_("不是有效的 zip 压缩包")) from None


def _members(archive: zipfile.ZipFile) -> dict[str, bytes]:
    infos = [i for i in archive.infolist() if not i.is_dir()]
    if len(infos) > MAX_FILES:
        raise refuse(_("压缩包中的文件超过 {limit} 个"), limit=MAX_FILES)
    files: dict[str, bytes] = {}
    total = 0
    for info in infos:
        name = _safe_name(info)
        if name is None:
            continue
        content = _read_member(archive, info)
        total += len(content)
        if total > MAX_TOTAL:
            raise refuse(_("压缩包解压后超过 {limit} 字节"), limit=MAX_TOTAL)
        files[name] = content
    return files


def _safe_name(info: zipfile.ZipInfo) -> str | None:
    raw = info.filename
    if info.flag_bits & 0x1:
        raise refuse(_("压缩包中的 {name} 已加密"), name=raw)
    if stat.S_ISLNK(info.external_attr >> 16):
        raise refuse(_("压缩包中的 {name} 是链接"), name=raw)
    name = safe_name(raw)
    if name.startswith(_IGNORED) or any(p.startswith(".") for p in name.split("/")):
        return None  # the Mac's resource forks, hidden files: nobody's configuration
    return name


def safe_name(raw: str) -> str:
    """A file name inside the folder: relative, no ``..``, no backslash, drive or NUL."""
    parts = PurePosixPath(raw).parts
    bad = ("\\" in raw or "\x00" in raw or raw.startswith("/") or (len(raw) > 1 and raw[1] == ":")
           or not parts or any(p in ("..", ".", "") for p in raw.split("/")))
    if bad:
        raise refuse(_("路径 {name} 不安全（绝对路径或 ..）"), name=raw)
    return "/".join(parts)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > MAX_FILE:
        raise refuse(_("文件 {name} 超过 {limit} 字节"), name=info.filename, limit=MAX_FILE)
    with archive.open(info) as fh:
        content = fh.read(MAX_FILE + 1)  # the header may lie: read no more than the limit
    if len(content) > MAX_FILE:
        raise refuse(_("文件 {name} 超过 {limit} 字节"), name=info.filename, limit=MAX_FILE)
    return content


def _strip_top(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """``cfg/products/x.yaml`` → ``products/x.yaml`` when every file is under one folder that is
    not itself part of the layout (a zipped folder)."""
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1 and all("/" in n for n in files) and not tops & _TOP:
        return {name.split("/", 1)[1]: data for name, data in files.items()}
    return dict(files)


def from_path(path: Path, as_name: str | None = None) -> dict[str, bytes]:
    """The files of a folder (by their names in it), or one file (its name guessed)."""
    if path.is_dir():
        found = configdir.folder_files(path)
        if len(found) > MAX_FILES:
            raise refuse(_("文件夹中的文件超过 {limit} 个"), limit=MAX_FILES)
        out = {}
        for name, file in found.items():
            if file.stat().st_size > MAX_FILE:
                raise refuse(_("文件 {name} 超过 {limit} 字节"), name=name, limit=MAX_FILE)
            out[name] = file.read_bytes()
        return out
    data = path.read_bytes()
    if len(data) > MAX_FILE:
        raise refuse(_("文件 {name} 超过 {limit} 字节"), name=path.name, limit=MAX_FILE)
    return {as_name or guess_name(str(path), data): data}


#: Top-level keys that tell a file's kind when its name does not.
_SNIFF = (("bank_code", "products"), ("identity", "departments"), ("parts", "scorecards"),
          ("indicators", "catalogue"), ("scale", "grades"))


def guess_name(filename: str, data: bytes) -> str:
    """Where one uploaded file belongs in the folder: by its name (``catalogue.yaml``, a packaged
    file's name, ``products/x.yaml``), else by what it holds (``bank_code``: a product …)."""
    path = PurePosixPath(filename.replace("\\", "/"))
    base = path.stem + ".yaml"
    for kind in configdir.KINDS:
        if not kind.folder and base == kind.live:
            return base
        if kind.folder and (path.parent.name == kind.live
                            or f"{kind.live}/{base}" in configdir.defaults()):
            return f"{kind.live}/{base}"
    try:
        doc = yaml.safe_load(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, yaml.YAMLError):
        doc = None
    for key, kind_name in _SNIFF if isinstance(doc, dict) else ():
        if key in doc:
            kind = configdir.BY_NAME[kind_name]
            return f"{kind.live}/{base}" if kind.folder else kind.live
    raise refuse(_("无法判断 {name} 是哪类配置文件：请按目录结构命名（如 products/{name}）"),
                 name=path.name)
