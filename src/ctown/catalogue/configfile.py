"""Loading county-editable YAML files with errors that name the file, the line and the field.

The catalogue and the department mappings are data that a county engineer edits by hand; a typo
must be found at load time and reported where it is, not as a Pydantic traceback. PyYAML's composed
node tree keeps the start mark (line) of every key and value, so a validation error's location
(``indicators.12.unit``) can be mapped back to a line of the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ctown.i18n import Message, _

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str, ...]


class ConfigFileError(ValueError):
    """A county configuration file that cannot be used: file, line, field and what is wrong."""

    def __init__(self, path: Path | str, line: int | None, field: str, message: Message) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {field}: {message}")


def _walk(node: yaml.Node, loc: Loc, marks: dict[Loc, int]) -> None:
    marks.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*loc, str(key.value))
            # The key's line is where a reader looks for a field, also when its value is a block.
            marks[child] = key.start_mark.line + 1
            _walk(value, child, marks)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*loc, str(i)), marks)


#: libyaml's safe loader when PyYAML was built with it (10× faster on the catalogue).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> tuple[Any, dict[Loc, int], bytes]:
    """The parsed document, the line of every key/item, and the raw bytes (for hashing)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
        node = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
    except UnicodeDecodeError as exc:
        raise ConfigFileError(path, None, "-", Message(_("文件不是 UTF-8 编码：{error}"),
                                                       {"error": str(exc)})) from exc
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigFileError(path, line, "-", Message(_("YAML 语法错误：{error}"),
                                                       {"error": str(exc.problem)})) from exc
    marks: dict[Loc, int] = {}
    if node is not None:
        _walk(node, (), marks)
    return data, marks, raw


def line_of(marks: dict[Loc, int], loc: tuple[Any, ...]) -> int | None:
    """Line of the deepest part of ``loc`` present in the file (a missing field → its parent)."""
    parts = tuple(str(p) for p in loc)
    while parts:
        if parts in marks:
            return marks[parts]
        parts = parts[:-1]
    return marks.get(())


def validate(model: type[M], data: Any, path: Path, marks: dict[Loc, int]) -> M:
    """Validate ``data`` with ``model``; the first error becomes a :class:`ConfigFileError`."""
    found, problems = validate_all(model, data, path, marks)
    if found is None:
        raise problems[0]
    return found


def validate_all(model: type[M], data: Any, path: Path, marks: dict[Loc, int]
                 ) -> tuple[M | None, list[ConfigFileError]]:
    """Validate ``data`` with ``model``: the model, or None and every error Pydantic found."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, [_problem(err, path, marks) for err in exc.errors(include_url=False)]


def check_file(path: Path, model: type[M],
               semantic: Callable[[M, dict[Loc, int]], Iterable[ConfigFileError]]
               ) -> tuple[M | None, list[ConfigFileError]]:
    """Read, validate and check one file (``ctown config check``): the value, or None and every
    problem found — YAML, then the model's fields, then ``semantic`` (cross-references)."""
    try:
        data, marks, _raw = read_yaml(path)
    except ConfigFileError as exc:
        return None, [exc]
    value, problems = validate_all(model, data, path, marks)
    if value is None:
        return None, problems
    problems = list(semantic(value, marks))
    return (None, problems) if problems else (value, [])


#: Pydantic's commonest errors said in both languages (the rest keep Pydantic's English words).
_WORDS = {"missing": _("缺少必填字段"), "extra_forbidden": _("未知字段（拼写错误？）")}


def _problem(err: Any, path: Path, marks: dict[Loc, int]) -> ConfigFileError:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    field = ".".join(str(p) for p in loc) or "-"
    words = _WORDS.get(err["type"])
    message = (Message(words) if words else
               Message(_("取值无效：{error}"), {"error": err["msg"]}))
    return ConfigFileError(path, line_of(marks, loc), field, message)
