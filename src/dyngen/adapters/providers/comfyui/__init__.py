"""The `comfyui` provider: a ComfyUI workflow (API format) with an input map, run on a ComfyUI server.

`provider.ComfyUIProvider` and `settings.ComfyUISettings`; the package imports neither, so that reading the
configuration (which validates a `[providers.<name>]` section of this kind) does not load the provider's
video and image stack.
"""
