"""Play a dyngen transition by reference from Python (docs/clients/python.md; tests/clients runs it).

DYNGEN_URL=http://127.0.0.1:8000 python play_node.py [GRAPH NODE]
"""

import os
import sys

from dyngen_client import DyngenClient

graph, node = sys.argv[1:3] if len(sys.argv) >= 3 else ("harbor_story", "harbor_to_storm")
client = DyngenClient(
    os.environ.get("DYNGEN_URL", "http://127.0.0.1:8000"),
    api_key=os.environ.get("DYNGEN_API_KEY"),  # a runtime key, when the server enforces keys
    timeout=60,  # seconds per attempt: the first play of a transition renders its video
    retries=2,  # on refused connections, timeouts, 429 and 503 (after their Retry-After)
)

result = client.play_node(graph, node, {"playthroughId": "pt-1", "flags": {"met_theo": True}})

if result.failed:
    # Never an exception: the node's fallback (as the server applied it), or nothing to play.
    print("fallback:", result.fallback["mode"], "-", result.fallback["reason"])
    content_id = (result.content or {}).get("content_id")
    if content_id:
        print("play your own content:", content_id)
elif result.kind == "video":
    path = client.download(result.artifact("video") or result.video_url, f"{node}.mp4")
    print("video saved to", path)
    for line in result.lines:
        print("  caption:", line["text"])
else:
    for line in result.lines:
        print(f"{line['speaker'] or 'narrator'}: {line['text']}")
