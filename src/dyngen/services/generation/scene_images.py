"""Scene images that name stored artifacts, read for the providers that draw on them.

A scene's `image` names either a stored artifact (an image a provider made earlier, or one uploaded
through the artifact store) or a file in the assets folder. The service reads the artifacts here, so a
provider never reaches into the store itself and never fetches a location a request names freely; the
provider looks into its assets folder for names that are not artifacts. Only PNG, JPEG and WebP
artifacts within the size cap are read; the provider still checks the pixels before decoding.
"""

from __future__ import annotations

import logging
import re

from dyngen.domain.contracts import GenerateContentRequest
from dyngen.ports import ArtifactStore, GenerationRepository, Provider
from dyngen.services.machinery.background import BackgroundTasks

log = logging.getLogger("dyngen.generation")

# Artifact ids are `new_id()`s: a name of another shape (`cafe.png`) is a file in the assets folder and
# costs no database lookup.
ARTIFACT_ID = re.compile(r"[0-9a-f]{32}")
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})
MAX_BYTES = 20 * 1024 * 1024


async def fetch_scene_images(
    *,
    request: GenerateContentRequest,
    provider: Provider,
    records: GenerationRepository,
    artifacts: ArtifactStore,
    tasks: BackgroundTasks,
    within_s: float,
) -> dict[str, bytes]:
    """The bytes of every scene image of `request` that names a usable stored artifact, by name.

    Empty when the provider does not draw on scene images. An artifact that is not an image, is over the
    cap or cannot be read now is left out (the provider then says why its keyframe was drawn instead).
    The lookup takes at most `within_s` (what the node's deadline leaves for it): an image not read by
    then is left out the same way, so a hung database or store never holds the scene past its deadline.
    """
    if not provider.info.uses_scene_images:
        return {}
    names = {
        scene.image
        for scene in (request.from_scene, request.to_scene)
        if scene is not None and scene.image and ARTIFACT_ID.fullmatch(scene.image)
    }
    if not names:
        return {}
    found: dict[str, bytes] = {}
    try:
        await tasks.run_within(
            f"scene_images:{','.join(sorted(names))}",
            _read(sorted(names), found, records, artifacts),
            timeout_s=max(within_s, 0),
        )
    except TimeoutError:
        log.warning("scene_image.timeout artifacts=%s within_s=%.3f", ",".join(sorted(names)), within_s)
    return dict(found)  # what was read in time; the lookup left running adds nothing to this answer


async def _read(
    names: list[str], found: dict[str, bytes], records: GenerationRepository, artifacts: ArtifactStore
) -> None:
    for name in names:
        try:
            record = await records.get_artifact(name)
            if record is None:
                continue
            if record.media_type not in IMAGE_TYPES or record.size > MAX_BYTES:
                log.info("scene_image.refused artifact=%s media_type=%s size=%d", name, record.media_type, record.size)
                continue
            found[name] = await artifacts.get(record.storage_uri)
        except Exception as error:  # the store or database is down: draw the keyframe rather than fail the scene
            log.warning("scene_image.unavailable artifact=%s error=%s", name, type(error).__name__)
