## The test game of tests/clients/test_renpy.py: plays dyngen transitions between scenes with the drop-in
## files (clients/renpy/game) against the server in DYNGEN_TEST_URL (or only the bundle in
## DYNGEN_TEST_BUNDLE), and writes what it played, one JSON object a line, to DYNGEN_TEST_OUT.

# Nobody clicks: lines advance by themselves.
define config.default_afm_enable = True
define config.default_afm_time = 1
define config.afm_characters = 100000

define ana = Character("Ana")

init python:
    import json
    import os

    def _record(event):
        with open(os.environ["DYNGEN_TEST_OUT"], "a") as out:
            out.write(json.dumps(event) + "\n")

    def _said(text):
        _record({"event": "shown", "text": text})
        return text

    config.say_menu_text_filter = _said

    def _fail(short, full, traceback_file):
        # No one is there to read the error screen: record the traceback and end the game.
        _record({"event": "error", "traceback": full})
        os._exit(3)

    config.exception_handler = _fail
    dyngen_renpy.configure(
        base_url=os.environ.get("DYNGEN_TEST_URL") or None,
        graph="client_story",
        bundle=os.environ.get("DYNGEN_TEST_BUNDLE") or None,
        wait=float(os.environ.get("DYNGEN_TEST_WAIT", "60")),
        timeout=float(os.environ.get("DYNGEN_TEST_WAIT", "60")),
        retries=0,
        captions=os.environ.get("DYNGEN_TEST_CAPTIONS", "subtitles"),
        speakers={"Ana": ana},
        default_content={"storm_cut": "storm_cut"},
        on_play=[_record],
    )

label start:
    $ dyngen_player = {"playthroughId": "renpy-pt-1", "playerId": "renpy-player"}
    $ _record({"event": "scene", "id": "harbor"})
    dyngen play "harbor_to_storm" or call author_storm
    $ _record({"event": "scene", "id": "storm"})
    dyngen play "storm_to_shore" or jump author_shore
    $ _record({"event": "scene", "id": "shore"})
    jump finish

label storm_cut:
    $ _record({"event": "label", "id": "storm_cut"})
    "The author's storm: the sky goes black."
    return

label author_storm:
    $ _record({"event": "label", "id": "author_storm"})
    ana "We should not have left the harbor."
    return

label author_shore:
    $ _record({"event": "label", "id": "author_shore"})
    "Somehow, they reach the shore."
    $ _record({"event": "scene", "id": "shore"})
    jump finish

label finish:
    $ _record({"event": "end"})
    $ renpy.quit()
