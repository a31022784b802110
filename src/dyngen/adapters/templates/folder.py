"""`FolderTemplateSource`: template files (`*.json`) in a folder on the local disk."""

from __future__ import annotations

import json
from pathlib import Path

from dyngen.domain.templates import Template, TemplateProblem, collect_templates, parse_template


class FolderTemplateSource:
    """Every `*.json` file directly in `root`, one template each, read in file-name order.

    Args:
        root: The templates folder. A folder that does not exist holds no templates.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def load(self) -> tuple[list[Template], list[TemplateProblem]]:
        """Read and check every file: the usable templates, and a problem (file and field) for each
        file that is not one. A broken file never stops the others loading."""
        try:
            if not self.root.is_dir():
                return [], []
            paths = sorted(p for p in self.root.glob("*.json") if p.is_file())
        except OSError as exc:
            problem = TemplateProblem(file=str(self.root), field="(folder)", message=f"cannot be listed: {exc}")
            return [], [problem]
        return collect_templates(self._read(path) for path in paths)

    def _read(self, path: Path) -> Template | TemplateProblem:
        name = path.name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            return TemplateProblem(file=name, field="(file)", message=f"cannot be read: {exc.strerror or exc}")
        except UnicodeDecodeError as exc:
            return TemplateProblem(
                file=name, field="(file)", message=f"not UTF-8 text (bad byte at offset {exc.start})"
            )
        except json.JSONDecodeError as exc:
            return TemplateProblem(
                file=name, field="(file)", message=f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            )
        return parse_template(name, data)
