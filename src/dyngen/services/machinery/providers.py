"""`ProviderRegistry`: providers by name, and which one serves a request."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from dyngen.domain.contracts import GenerateContentRequest, GenerationType
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import ElementJudge, Provider


class ProviderRegistry:
    """Holds the configured providers and picks one per request.

    Args:
        providers: By registry name.
        default: Name used when a request names no provider and its type has no entry in `by_type`.
        by_type: Provider name per generation type.
        by_template: Provider name per template id (before `by_type`).
        hint: How to enable a provider by that name that is installed but not configured, or None (an
            unknown provider's message says it); asked only when a name is unknown.
        judge: The model asked whether content has the elements the lexicon and the model's own report
            leave open (`routing.judge`, a provider instance); None: no judge.
    """

    def __init__(
        self,
        providers: Mapping[str, Provider],
        *,
        default: str,
        by_type: Mapping[str, str] | None = None,
        by_template: Mapping[str, str] | None = None,
        hint: Callable[[str], str | None] | None = None,
        judge: ElementJudge | None = None,
    ) -> None:
        self._providers = dict(providers)
        self._hint = hint
        self.judge = judge
        self._default = default
        self._by_type = dict(by_type or {})
        self._by_template = dict(by_template or {})
        for name in [default, *self._by_type.values(), *self._by_template.values()]:
            if name not in self._providers:
                raise ValueError(
                    f"provider {name!r} is configured but not installed (installed: {', '.join(self.names())})"
                )

    def names(self) -> list[str]:
        return sorted(self._providers)

    def get(self, name: str) -> Provider | None:
        return self._providers.get(name)

    def unknown(self, name: str) -> str:
        """Why `name` names no provider here, and how to enable it when it is an installed kind."""
        hint = self._hint(name) if self._hint is not None else None
        configured = f"configured: {', '.join(self.names())}"
        return (
            f"unknown provider '{name}': {hint}; {configured}" if hint else f"unknown provider '{name}'; {configured}"
        )

    def select(self, request: GenerateContentRequest) -> Provider:
        """The provider for a request: the one it names, else its template's, else its type's, else the default.

        Raises:
            DyngenError: GEN_INVALID_CONFIG for an unknown provider or one that cannot make this type.
        """
        name = (
            request.provider
            or (self._by_template.get(request.template_id) if request.template_id else None)
            or self._by_type.get(request.type.value, self._default)
        )
        provider = self._providers.get(name)
        if provider is None:
            raise DyngenError(
                ErrorCode.GEN_INVALID_CONFIG,
                self.unknown(name),
                details=[{"field": "provider", "message": f"unknown provider '{name}'", "type": "value_error"}],
            )
        if request.type not in provider.info.generation_types:
            supported = ", ".join(sorted(t.value for t in provider.info.generation_types))
            raise DyngenError(
                ErrorCode.GEN_INVALID_CONFIG,
                f"provider '{name}' cannot generate {request.type.value} (it makes: {supported})",
                details=[{"field": "type", "message": f"not supported by provider '{name}'", "type": "value_error"}],
            )
        return provider

    def supports(self, generation_type: GenerationType) -> bool:
        return any(generation_type in p.info.generation_types for p in self._providers.values())
