"""dyngen for Ren'Py: play a dyngen Generation Node between two scenes from a label.

Drop into `game/`: this file, `00dyngen.rpy` (the `dyngen play` statement and the screens) and the
`dyngen_client` package in `game/python-packages/`. Configure once, in an `init python` block:

    dyngen_renpy.configure(base_url="http://127.0.0.1:8000", api_key="dyngen_...", graph="three_scenes",
                           bundle="dyngen_bundle", wait=4.0)

and play from a label (`dyngen play "cafe_to_rooftops" or jump author_cut`, or `$ dyngen_renpy.play(...)`).
Video content plays as a movie with its lines as subtitles (or as dialogue after it); dialogue content is
said line by line. When the service fails, is slower than `wait` seconds, or answers a fallback, the node's
`default_content` is the author's label named in `default_content`, else the statement's `or jump/call`.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import renpy.exports as renpy
import renpy.store as store
from dyngen_client import DyngenClient, Result

EXTENSIONS = {"video/mp4": ".mp4", "video/webm": ".webm", "image/jpeg": ".jpg", "image/png": ".png"}


class Settings:
    """What `configure` sets.

    Attributes:
        base_url: The dyngen server; None to play from the bundle only.
        api_key: A runtime key.
        graph: The graph the game's nodes belong to.
        bundle: A bundle folder (`dyngen export --out`), relative to the game directory or absolute.
        wait: Seconds the player waits for the service before the fallback plays (the call goes on in the
            background and is dropped).
        timeout, retries: Per HTTP attempt, and attempts after the first (kept small: a player is waiting).
        captions: `subtitles` (over the movie), `dialogue` (said after it) or `none`.
        narrator: The character that says narration (None: Ren'Py's narrator).
        speakers: Speaker names in the content to Ren'Py characters (others are said as the name).
        default_content: A node fallback's `defaultContentId` to the author's label that plays it.
        on_play: Callables given each event played (`{"event": "movie" | "line" | "fallback", ...}`).
    """

    def __init__(self) -> None:
        self.base_url: Optional[str] = None
        self.api_key: Optional[str] = None
        self.graph: Optional[str] = None
        self.bundle: Optional[str] = None
        self.wait = 5.0
        self.timeout = 4.0
        self.retries = 1
        self.captions = "subtitles"
        self.narrator: Any = None
        self.speakers: Dict[str, Any] = {}
        self.default_content: Dict[str, str] = {}
        self.on_play: List[Callable[[Dict[str, Any]], None]] = []


settings = Settings()
_client: List[DyngenClient] = []


def configure(**values: Any) -> None:
    """Set any of `Settings`' attributes; the client is built again on its next use."""
    for name, value in values.items():
        if not hasattr(settings, name):
            raise TypeError(f"dyngen_renpy.configure: unknown setting {name!r}")
        setattr(settings, name, value)
    del _client[:]


def client() -> DyngenClient:
    if not _client:
        bundle = settings.bundle
        if bundle and not os.path.isabs(bundle):
            bundle = os.path.join(renpy.config.gamedir, bundle)
        _client.append(
            DyngenClient(
                settings.base_url, settings.api_key, timeout=settings.timeout, retries=settings.retries, bundle=bundle
            )
        )
    return _client[0]


def _emit(event: Dict[str, Any]) -> None:
    for callback in settings.on_play:
        callback(event)


class Pending:
    """A call running in a background thread while the player sees the waiting screen."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self.done = False
        self._work = work
        self._thread = threading.Thread(target=self._run, name="dyngen", daemon=True)
        self._thread.start()

    def settle(self, seconds: float) -> None:
        """Give a fast answer (a bundle item, a cache hit) a moment, so the waiting screen never flashes."""
        self._thread.join(seconds)

    def _run(self) -> None:
        try:
            self.result = self._work()
        except Exception as error:  # reported as a fallback in the main thread; never kills the game
            self.error = error
        finally:
            self.done = True

    def check(self) -> Optional[bool]:
        """The waiting screen's timer action: ends the screen once the call is done."""
        return True if self.done else None


def _media_dir() -> str:
    folder = os.path.join(renpy.config.savedir or renpy.config.gamedir, "dyngen-media")
    os.makedirs(folder, exist_ok=True)
    return folder


def _prepare(node: str, player_context: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """In the background thread: ask for the node, and fetch its video to a local file."""
    result = client().play_node(settings.graph or "", node, player_context)
    video = result.artifact("video") or (
        {"url": result.video_url, "media_type": "video/mp4"} if result.video_url else None
    )
    local = None
    if video:
        url = str(video["url"])
        if os.path.isabs(url):
            local = url  # a bundle file, checked by sha256 when the item was found
        else:
            name = hashlib.sha256(url.split("?")[0].encode("utf-8")).hexdigest()[:24]
            local = os.path.join(_media_dir(), name + EXTENSIONS.get(str(video.get("media_type")), ".mp4"))
            if not os.path.exists(local):
                client().download(video, local)
    return {"result": result, "video": local}


def _loadable_name(path: str) -> str:
    """A file path as a name Ren'Py's loader finds: relative to the game directory, else through its folder
    added to `config.searchpath`."""
    gamedir = os.path.abspath(renpy.config.gamedir)
    path = os.path.abspath(path)
    if os.path.commonpath([path, gamedir]) == gamedir:
        return os.path.relpath(path, gamedir).replace(os.sep, "/")
    folder = os.path.dirname(path)
    if folder not in renpy.config.searchpath:
        renpy.config.searchpath.append(folder)
    return os.path.basename(path)


def _text(text: str) -> str:
    # Content is data, not Ren'Py markup: no interpolation, no text tags.
    return text.replace("[", "[[").replace("{", "{{")


def _say_lines(result: Result, node: str) -> None:
    for line in result.lines:
        speaker = line["speaker"]
        who = settings.speakers.get(speaker, speaker) if speaker else settings.narrator
        _emit({"event": "line", "node": node, "speaker": speaker, "text": line["text"]})
        renpy.say(who, _text(line["text"] or ""))


def _play_movie(result: Result, node: str, video: str) -> None:
    name = _loadable_name(video)
    duration = float((result.content or {}).get("duration") or 0) or 5.0
    _emit(
        {
            "event": "movie",
            "node": node,
            "file": name,
            "path": video,
            "source": result.source,
            "captions": settings.captions,
        }
    )
    if settings.captions == "subtitles":
        beats = (result.content or {}).get("beats") or []
        lines = [(float(b.get("start", 0)), _text(str(b.get("text", "")))) for b in beats if isinstance(b, dict)]
        movie = store.Movie(play=name, loop=False, size=(renpy.config.screen_width, renpy.config.screen_height))
        renpy.call_screen("dyngen_movie", movie=movie, lines=lines, duration=duration)
    else:
        renpy.movie_cutscene(name, delay=duration)
        if settings.captions == "dialogue":
            _say_lines(result, node)


def fetch(
    node: str, player_context: Optional[Dict[str, Any]] = None, wait: Optional[float] = None
) -> Optional[Dict[str, Any]]:
    """Ask for the node while the waiting screen shows; None when it took longer than `wait` seconds or
    the call raised (a refused request: wrong key, unknown node); both are `fallback` events."""
    context = player_context if player_context is not None else getattr(store, "dyngen_player", None)
    pending = Pending(lambda: _prepare(node, dict(context or {})))
    limit = settings.wait if wait is None else wait
    deadline = time.monotonic() + limit
    pending.settle(min(0.05, limit))
    while not pending.done and time.monotonic() < deadline:
        renpy.call_screen("dyngen_waiting", check=pending.check, wait=max(0.05, deadline - time.monotonic()))
    if not pending.done:
        _emit({"event": "fallback", "node": node, "reason": f"slow: no answer within {limit}s"})
        return None
    if pending.error is not None:
        _emit({"event": "fallback", "node": node, "reason": f"error: {pending.error}"})
        return None
    return pending.result


def play(node: str, player_context: Optional[Dict[str, Any]] = None, wait: Optional[float] = None) -> bool:
    """Play the node's content; False when there was nothing to play (the caller's fallback follows).

    A fallback that names `default_content` the author mapped in `settings.default_content` calls that
    label (and counts as played)."""
    prepared = fetch(node, player_context, wait)
    if prepared is None:
        return False
    result: Result = prepared["result"]
    if result.failed:
        _emit(
            {
                "event": "fallback",
                "node": node,
                "reason": (result.fallback or {}).get("reason"),
                "source": result.source,
            }
        )
        content_id = (result.content or {}).get("content_id")
        label = settings.default_content.get(str(content_id)) if content_id else None
        if label:
            renpy.call(label)  # the author's content; returns to the statement after
        return False
    if result.kind == "video" and prepared["video"]:
        _play_movie(result, node, prepared["video"])
        return True
    if result.lines:
        _say_lines(result, node)
        return True
    _emit({"event": "fallback", "node": node, "reason": f"nothing to play in {result.kind!r} content"})
    return False
