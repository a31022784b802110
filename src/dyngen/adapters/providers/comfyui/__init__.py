"""The `comfyui` provider: a ComfyUI workflow (API format) with an input map, run on a ComfyUI server."""

from dyngen.adapters.providers.comfyui.provider import ComfyUIProvider
from dyngen.adapters.providers.comfyui.settings import ComfyUISettings

__all__ = ["ComfyUIProvider", "ComfyUISettings"]
