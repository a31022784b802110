"""What a call answers, as data: the server's `GenerateContentResponse` (or the bundle's copy of it),
where it came from, and the node's fallback when it failed. A failed node is a result, never an exception."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

# Where a result came from.
SERVER = "server"  # the server answered (content, or the node's fallback as the server applied it)
BUNDLE = "bundle"  # the offline bundle's item for this node and player (files checked by sha256)
BUNDLE_FALLBACK = "bundle_fallback"  # the bundle's fallback for this node (the server was not asked, or failed)
UNAVAILABLE = "unavailable"  # no server answer and no bundle entry: nothing to play, the game's own fallback

CLIENT_UNAVAILABLE = "CLIENT_UNAVAILABLE"


def unavailable_response(message: str) -> Dict[str, Any]:
    """The answer when neither the server nor a bundle gave one: a failure with nothing to play (`skip`),
    in the server's own shape, so a game handles it on the same path as any failed node."""
    return {
        "status": "failed",
        "content": None,
        "artifacts": [],
        "fallback": {"applied": True, "mode": "skip", "reason": message},
        "error": {"code": CLIENT_UNAVAILABLE, "message": message},
    }


class Result:
    """One answer to play.

    Attributes:
        response: The `GenerateContentResponse` as a dict (server field names, snake_case); every URL in
            it is absolute (a server URL, or a file path inside the bundle folder).
        source: `server`, `bundle`, `bundle_fallback` or `unavailable`.
        problems: What went wrong on the way, in order (a tampered bundle file, the server unreachable).
    """

    def __init__(self, response: Dict[str, Any], *, source: str, problems: Optional[List[str]] = None) -> None:
        self.response = response
        self.source = source
        self.problems = list(problems or [])

    def __repr__(self) -> str:
        return f"Result(status={self.status!r}, kind={self.kind!r}, source={self.source!r})"

    @property
    def status(self) -> str:
        """`complete`, `failed`, or for a job not finished `queued` / `processing`."""
        return str(self.response.get("status", "failed"))

    @property
    def ok(self) -> bool:
        return self.status == "complete"

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def content(self) -> Optional[Dict[str, Any]]:
        """What to play (also when a fallback applied `default_content` or `placeholder`), or None."""
        content = self.response.get("content")
        return content if isinstance(content, dict) else None

    @property
    def kind(self) -> Optional[str]:
        """The content's type: `video`, `dialogue`, `choices`, `environment`, `npc_response`; None without content."""
        return self.content.get("type") if self.content else None

    @property
    def fallback(self) -> Optional[Dict[str, Any]]:
        """`{applied, mode, reason}` when the node's fallback was applied, else None."""
        fallback = self.response.get("fallback")
        return fallback if isinstance(fallback, dict) and fallback.get("applied") else None

    @property
    def error(self) -> Optional[Dict[str, Any]]:
        error = self.response.get("error")
        return error if isinstance(error, dict) else None

    @property
    def job_id(self) -> Optional[str]:
        job_id = self.response.get("job_id")
        return str(job_id) if job_id else None

    @property
    def artifacts(self) -> List[Dict[str, Any]]:
        """`[{role, url, media_type, bytes}]`: video, poster, captions, script (no `bytes` for a video still
        rendering: the server answers as soon as it is playable)."""
        artifacts = self.response.get("artifacts")
        return [a for a in artifacts if isinstance(a, dict)] if isinstance(artifacts, list) else []

    def artifact(self, role: str) -> Optional[Dict[str, Any]]:
        """The first artifact with this role (`video`, `poster`, `captions`, `script`), or None."""
        return next((a for a in self.artifacts if a.get("role") == role), None)

    @property
    def video_url(self) -> Optional[str]:
        """The video to play: its artifact's URL, else the content's URL for video content."""
        video = self.artifact("video")
        if video:
            return str(video["url"])
        content = self.content
        return str(content["url"]) if content and content.get("type") == "video" and content.get("url") else None

    @property
    def lines(self) -> List[Dict[str, Optional[str]]]:
        """The content's lines in order, `[{speaker, text}]`: its beats when it has them (speaker None for
        narration), else its `dialogue` strings."""
        content = self.content or {}
        beats = content.get("beats")
        if isinstance(beats, list) and beats:
            return [{"speaker": b.get("speaker"), "text": str(b.get("text", ""))} for b in beats if isinstance(b, dict)]
        dialogue = content.get("dialogue")
        return [{"speaker": None, "text": str(t)} for t in dialogue] if isinstance(dialogue, list) else []

    @property
    def choices(self) -> List[Dict[str, Any]]:
        choices = (self.content or {}).get("choices")
        return [c for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []
