"""dyngen-client: play dyngen Generation Nodes from Python (standard library only; Ren'Py 8 can import it).

from dyngen_client import DyngenClient
client = DyngenClient("http://127.0.0.1:8000", api_key="dyngen_...")
result = client.play_node("three_scenes", "cafe_to_rooftops", {"playthroughId": "pt-1"})
if result.failed: ...  # the node's fallback, as data
"""

from dyngen_client.bundle import Bundle
from dyngen_client.client import DyngenClient
from dyngen_client.errors import BundleError, DyngenError, DyngenHTTPError, DyngenUnavailableError
from dyngen_client.result import Result

__version__ = "0.1.0"
# The server API this client speaks (the compatibility table in docs/clients/index.md).
API_VERSION = "dyngen 0.1 (by-reference routes, generation jobs, bundle format dyngen-bundle/1)"

__all__ = [
    "API_VERSION",
    "Bundle",
    "BundleError",
    "DyngenClient",
    "DyngenError",
    "DyngenHTTPError",
    "DyngenUnavailableError",
    "Result",
    "__version__",
]
