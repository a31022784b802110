"""The template library: the templates loaded at start, by id, and the problems of the files that were not.

`bootstrap.build` reads the templates folder once (through an adapter) and hands the result to
`TemplateLibrary.loaded`, which logs every problem. Resolution reads templates through `TemplateLibrary.get`.
"""

from __future__ import annotations

import builtins
import difflib
import logging
from collections.abc import Iterable

from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.templates import Template, TemplateProblem

log = logging.getLogger("dyngen.templates")


class TemplateLibrary:
    """Templates by id, and the problems of the template files that did not load.

    Args:
        templates: The loaded templates; ids must be unique.
        problems: Why other files were not loaded.

    Raises:
        ValueError: two templates share an id (`collect_templates` reports those as problems first).
    """

    def __init__(self, templates: Iterable[Template] = (), problems: Iterable[TemplateProblem] = ()) -> None:
        self._templates: dict[str, Template] = {}
        for template in templates:
            if template.id in self._templates:
                raise ValueError(f"two templates have the id {template.id!r}")
            self._templates[template.id] = template
        self.problems: tuple[TemplateProblem, ...] = tuple(problems)

    @classmethod
    def loaded(
        cls, templates: Iterable[Template], problems: Iterable[TemplateProblem], *, source: str
    ) -> TemplateLibrary:
        """The library of what a source loaded, logging each problem as a warning with its file and field.

        Args:
            templates: The loaded templates.
            problems: The problems of the files that did not load.
            source: Where they came from (the folder), for the log.
        """
        library = cls(templates, problems)
        for problem in library.problems:
            log.warning(
                "templates.problem source=%s file=%s field=%s message=%s",
                source,
                problem.file,
                problem.field,
                problem.message,
            )
        log.info("templates.loaded source=%s templates=%d problems=%d", source, len(library), len(library.problems))
        return library

    def __len__(self) -> int:
        return len(self._templates)

    def __contains__(self, template_id: object) -> bool:
        return template_id in self._templates

    def list(self) -> builtins.list[Template]:
        """Every template, by id."""
        return [self._templates[i] for i in sorted(self._templates)]

    def get(self, template_id: str) -> Template:
        """The template with this id.

        Raises:
            DyngenError: NOT_FOUND, naming the closest known id when one is close.
        """
        template = self._templates.get(template_id)
        if template is not None:
            return template
        message = f"no template {template_id!r}"
        close = difflib.get_close_matches(template_id, list(self._templates), n=1, cutoff=0.6)
        if close:
            message += f"; did you mean {close[0]!r}?"
        elif not self._templates:
            message += "; no templates are loaded"
        raise DyngenError(ErrorCode.NOT_FOUND, message, details=[{"field": "templateId", "message": message}])
