## The Ren'Py example of docs/clients/renpy.md (tests/clients/test_renpy.py plays it): between two scenes,
## a transition made by dyngen, and the author's own lines when the service fails or is slow.
## Beside it in game/: 00dyngen.rpy, dyngen_renpy.py and python-packages/dyngen_client/.

define ana = Character("Ana")

init python:
    dyngen_renpy.configure(
        base_url="http://127.0.0.1:8000",  # your dyngen server; None to play only from the bundle
        api_key=None,  # a runtime key when the server enforces keys
        graph="harbor_story",
        bundle="dyngen_bundle",  # optional: game/dyngen_bundle, written by `dyngen export`
        wait=5.0,  # seconds the player waits before the fallback plays
        captions="dialogue",  # the video's lines said after it ("subtitles": over it)
        speakers={"Ana": ana},
        default_content={"storm_cut": "storm_cut"},  # a node's fallback content, played by your label
    )

label start:
    $ dyngen_player = {"playthroughId": "pt-1"}
    "Ana waits at the harbor."
    dyngen play "harbor_to_storm" or call storm_cut
    "The storm hits the boat."
    dyngen play "storm_to_shore" or jump shore
    jump shore

label storm_cut:
    "The sky goes black over the harbor."
    return

label shore:
    "They reach the shore."
    return
