"""`DyngenClient`: play a stored node by reference, advance through a graph, generate from a flat request,
run any of them as a job; from an offline bundle first when one is given. Synchronous, standard library only.

A node that fails answers its fallback as data (`Result.failed`, `Result.fallback`); so does a server that
cannot be reached. Only a request the server refuses (401, 403, 404, 409, 422: a bug) raises."""

from __future__ import annotations

import logging
import os
import shutil
import time
import urllib.parse
import uuid
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

from dyngen_client import result as results
from dyngen_client.bundle import Bundle, file_sha256
from dyngen_client.errors import DyngenError, DyngenUnavailableError
from dyngen_client.result import Result
from dyngen_client.transport import Transport

log = logging.getLogger("dyngen_client")

TERMINAL = ("complete", "failed")
Context = Optional[Mapping[str, Any]]


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


class DyngenClient:
    """A client of one dyngen server, or of an offline bundle, or both.

    Args:
        base_url: The server (`http://host:8000`); None to play from the bundle only.
        api_key: A runtime key (`dyngen keys create --scope runtime`), sent as a bearer token.
        timeout: Seconds per HTTP attempt; a server slower than this counts as unavailable.
        retries: Attempts after the first on refused connections, timeouts, 429, 502, 503, 504.
        bundle: A bundle folder (`dyngen export --out DIR`) or a `Bundle`: its items are played first.
        poll_interval: Seconds between polls of a job.
        backoff, max_backoff, max_retry_after, sleep, clock: passed to the `Transport` (tests inject them).
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        bundle: Union[str, Bundle, None] = None,
        poll_interval: float = 0.5,
        backoff: float = 0.25,
        max_backoff: float = 5.0,
        max_retry_after: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = (
            Transport(
                base_url,
                api_key=api_key,
                timeout=timeout,
                retries=retries,
                backoff=backoff,
                max_backoff=max_backoff,
                max_retry_after=max_retry_after,
                sleep=sleep,
            )
            if base_url
            else None
        )
        self.bundle = Bundle(bundle) if isinstance(bundle, str) else bundle
        self.poll_interval = poll_interval
        self.sleep = sleep
        self.clock = clock

    # --- playing ------------------------------------------------------------------------------------

    def play_node(
        self,
        graph: str,
        node: str,
        player_context: Context = None,
        *,
        social_context: Context = None,
        graph_version: Optional[int] = None,
        respond_async: bool = False,
        wait_timeout: Optional[float] = None,
    ) -> Result:
        """A stored node's content for this player: from the bundle when it holds the item (files checked),
        else from the server, else the bundle's fallback for the node, else an `unavailable` failure.

        With `respond_async`, the server runs it as a job which this call polls until it ends (or until
        `wait_timeout` seconds, then cancels it and answers the fallback)."""
        problems: List[str] = []
        bundle = self.bundle if self.bundle and self.bundle.graph_id == graph else None
        if bundle is not None:
            found, problem = bundle.find(node, player_context)
            if found is not None:
                return Result(found, source=results.BUNDLE)
            if problem:
                log.warning("dyngen.bundle_refused node=%s problem=%s", node, problem)
                problems.append(problem)
        body: Dict[str, Any] = {"player_context": dict(player_context or {})}
        if social_context is not None:
            body["social_context"] = dict(social_context)
        if graph_version is not None:
            body["graph_version"] = graph_version
        path = f"/api/graphs/{_quote(graph)}/nodes/{_quote(node)}/content"
        return self._call(
            path, body, respond_async, wait_timeout, problems, lambda: bundle.fallback(node) if bundle else None
        )

    def generate(
        self, request: Mapping[str, Any], *, respond_async: bool = False, wait_timeout: Optional[float] = None
    ) -> Result:
        """`POST /api/generate-content` with a flat request (the node's whole config), synchronously or as a job."""
        return self._call("/api/generate-content", dict(request), respond_async, wait_timeout, [], lambda: None)

    def advance(
        self,
        graph: str,
        *,
        from_scene: str,
        to_scene: Optional[str] = None,
        choice: Optional[int] = None,
        player_context: Context = None,
        social_context: Context = None,
        graph_version: Optional[int] = None,
    ) -> Dict[str, Any]:
        """One step through the graph (`POST /api/graphs/{graph}/advance`): `{node_id, content, scene, exits,
        ...}` with `content` a `Result` (None on a plain edge). Without a server answer and with `to_scene`,
        the node between the two scenes is played from the bundle (`scene` is then None: the bundle holds no
        graph); otherwise `content` is the `unavailable` failure and `scene` None."""
        body: Dict[str, Any] = {"from_scene": from_scene, "player_context": dict(player_context or {})}
        for name, value in (("to_scene", to_scene), ("choice", choice), ("graph_version", graph_version)):
            if value is not None:
                body[name] = value
        if social_context is not None:
            body["social_context"] = dict(social_context)
        try:
            if self.transport is None:
                raise DyngenUnavailableError("unreachable", "no server configured")
            answer: Dict[str, Any] = self.transport.request(
                "POST", f"/api/graphs/{_quote(graph)}/advance", body=body, headers=self._idempotency()
            ).json()
        except DyngenUnavailableError as error:
            bundle = self.bundle if self.bundle and self.bundle.graph_id == graph else None
            node = bundle.node_between(from_scene, to_scene) if bundle and to_scene else None
            played = self._from_bundle(bundle, node, player_context, [str(error)]) if bundle and node else None
            return {
                "graph_id": graph,
                "from_scene": from_scene,
                "node_id": node,
                "content": played or self._offline_result(None, [str(error)]),
                "scene": None,
                "exits": [],
            }
        content = answer.get("content")
        answer["content"] = (
            Result(self._absolute(content), source=results.SERVER) if isinstance(content, dict) else None
        )
        return answer

    # --- jobs ---------------------------------------------------------------------------------------

    def job(self, job_id: str) -> Result:
        """A job's state as a result: `queued`, `processing`, `complete` or `failed`."""
        return Result(
            self._absolute(self._server().request("GET", f"/api/generation-jobs/{_quote(job_id)}").json()),
            source=results.SERVER,
        )

    def cancel(self, job_id: str) -> Result:
        """Cancel a job: a queued one fails at once (GEN_CANCELLED), a running one stops where it runs."""
        answer = self._server().request("POST", f"/api/generation-jobs/{_quote(job_id)}/cancel", body={})
        return Result(self._absolute(answer.json()), source=results.SERVER)

    def wait(self, job_id: str, *, timeout: Optional[float] = None) -> Result:
        """Poll a job until it ends; after `timeout` seconds the last state seen (status not terminal)."""
        deadline = None if timeout is None else self.clock() + timeout
        while True:
            state = self.job(job_id)
            if state.status in TERMINAL or (deadline is not None and self.clock() >= deadline):
                return state
            self.sleep(self.poll_interval)

    # --- files --------------------------------------------------------------------------------------

    def download(self, artifact: Union[Mapping[str, Any], str], path: str) -> str:
        """Save an artifact (`Result.artifact(role)`, or a URL) to `path`; a bundle file is copied (it was
        checked when its item was found). Returns `path`."""
        url = str(artifact["url"]) if isinstance(artifact, Mapping) else artifact
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        partial = f"{path}.part"
        if "://" not in url and os.path.isabs(url):
            shutil.copyfile(url, partial)
        else:
            data = self._server().request("GET", url, headers={"Accept": "*/*"}).body
            with open(partial, "wb") as handle:
                handle.write(data)
        expected = artifact.get("sha256") if isinstance(artifact, Mapping) else None
        if expected and file_sha256(partial) != expected:
            os.remove(partial)
            raise DyngenError(f"{url}: sha256 is not {expected}")
        os.replace(partial, path)
        return path

    # --- the one path every call takes ----------------------------------------------------------------

    def _call(
        self,
        path: str,
        body: Dict[str, Any],
        respond_async: bool,
        wait_timeout: Optional[float],
        problems: List[str],
        offline: Callable[[], Optional[Dict[str, Any]]],
    ) -> Result:
        if self.transport is None:
            return self._offline_result(offline(), [*problems, "unreachable: no server configured"])
        headers = self._idempotency()
        if respond_async:
            headers["Prefer"] = "respond-async"
        job_id: Optional[str] = None
        try:
            answer = self.transport.request("POST", path, body=body, headers=headers)
            payload = answer.json()
            if answer.status == 202 and respond_async:
                job_id = str(payload["job_id"])
                state = self.wait(job_id, timeout=wait_timeout)
                if state.status not in TERMINAL:
                    self.cancel(job_id)
                    raise DyngenUnavailableError("timeout", f"job {job_id} not done within {wait_timeout}s")
                return Result(state.response, source=results.SERVER, problems=problems)
        except DyngenUnavailableError as error:
            log.warning("dyngen.unavailable path=%s reason=%s", path, error.reason)
            fallback = self._offline_result(offline(), [*problems, str(error)])
            if job_id:
                fallback.response.setdefault("job_id", job_id)
            return fallback
        return Result(self._absolute(payload), source=results.SERVER, problems=problems)

    @staticmethod
    def _from_bundle(bundle: Bundle, node: str, player_context: Context, problems: List[str]) -> Result:
        """The bundle's item for this node and player, else its fallback for the node (no server asked)."""
        found, problem = bundle.find(node, player_context)
        if found is not None:
            return Result(found, source=results.BUNDLE, problems=problems)
        return DyngenClient._offline_result(bundle.fallback(node), [*problems, *([problem] if problem else [])])

    @staticmethod
    def _offline_result(fallback: Optional[Dict[str, Any]], problems: List[str]) -> Result:
        if fallback is not None:
            return Result(fallback, source=results.BUNDLE_FALLBACK, problems=problems)
        return Result(results.unavailable_response(problems[-1]), source=results.UNAVAILABLE, problems=problems)

    def _server(self) -> Transport:
        if self.transport is None:
            raise DyngenUnavailableError("unreachable", "no server configured")
        return self.transport

    @staticmethod
    def _idempotency() -> Dict[str, str]:
        # One key per call, the same on each of its attempts: a retried submission finds the first job.
        return {"Idempotency-Key": uuid.uuid4().hex}

    def _absolute(self, response: Dict[str, Any]) -> Dict[str, Any]:
        """The server's answer with its URLs made absolute (they are signed paths on the server)."""
        transport = self.transport
        if transport is None or not isinstance(response, dict):
            return response
        content = response.get("content")
        if isinstance(content, dict) and content.get("url"):
            content["url"] = transport.url(str(content["url"]))
        for artifact in response.get("artifacts") or []:
            if isinstance(artifact, dict) and artifact.get("url"):
                artifact["url"] = transport.url(str(artifact["url"]))
        return response
