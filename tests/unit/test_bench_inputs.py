"""The benchmarks' generated inputs stay valid requests as validation grows stricter: `bench provider`
broke when a rule started rejecting required elements above the node's rating (its mix had 'glass_of_wine'
under G), and nothing in `make test` noticed."""

from __future__ import annotations

from bench.provider_speed import request_mix

from dyngen.domain.contracts import GenerateContentRequest
from dyngen.domain.validation import validate_config


def test_the_provider_bench_mix_is_all_valid_requests() -> None:
    bodies = request_mix(500, seed=99, strategy="always")
    errors = [
        (body["node_id"], str(error))
        for body in bodies
        for error in validate_config(GenerateContentRequest.model_validate(body).node_config()).errors
    ]
    assert errors == []
    assert any(body["constraints"]["requiredElements"] for body in bodies)  # still a mix with elements
