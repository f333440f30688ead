"""Label maps: plain one-name-per-line files and "<index> <name>" files with explicit ids."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from edge_agent.detectors.base import DetectorError

GAP_NAMES = frozenset({"n/a", "???"})
INDEXED_LINE = re.compile(r"(\d+)\s+(\S.*)")


@dataclass(frozen=True)
class LabelMap:
    """Names by label-file index; a model class maps to names[class_id + offset]."""

    names: Mapping[int, str]
    offset: int = 0

    def label(self, class_id: int) -> str:
        """The lower-case name of a model class, or "class_<id>" for gaps and unknown ids."""
        return self.names.get(class_id + self.offset, f"class_{class_id}")


def parse_labels(text: str) -> dict[int, str]:
    """Names by index from label-file text (either format, any line ending); gaps are left out."""
    lines = [line.strip() for line in text.splitlines()]
    filled = [line for line in lines if line]
    if not filled:
        raise DetectorError("label file has no labels")
    # A file is "indexed" only if every line is; otherwise a name starting with a digit
    # would silently renumber a plain file.
    matches = [INDEXED_LINE.fullmatch(line) for line in filled]
    if all(matches):
        pairs = [(int(match[1]), match[2]) for match in matches]
        counts = Counter(index for index, _ in pairs)
        duplicates = sorted(index for index, count in counts.items() if count > 1)
        if duplicates:
            raise DetectorError(f"label file repeats ids {duplicates}")
    else:
        pairs = list(enumerate(lines))
    return {index: name.lower() for index, name in pairs if name and name.lower() not in GAP_NAMES}


def load_label_map(path: Path, offset: int = 0) -> LabelMap:
    """Read a label file into a LabelMap; unreadable or empty files give a DetectorError."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DetectorError(f"label file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DetectorError(f"cannot read label file {path}: {exc}") from None
    try:
        names = parse_labels(text)
    except DetectorError as exc:
        raise DetectorError(f"{path}: {exc}") from None
    return LabelMap(names=MappingProxyType(names), offset=offset)
