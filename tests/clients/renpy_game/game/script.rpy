## The test game of tests/clients/test_renpy.py: three scenes, a dyngen transition (a video) and a dyngen
## dialogue between them, the author's own content when there is nothing to play. The harness
## (tests/clients/renpy_harness) runs it unattended and records what it played.

define ana = Character("Ana")

init python:
    dyngen_renpy.configure(
        graph="harbor_story",
        captions="subtitles",
        speakers={"Ana": ana},
        default_content={"storm_cut": "storm_cut"},
    )

label start:
    $ dyngen_player = {"playthroughId": "renpy-pt-1", "playerId": "renpy-player"}
    $ _test_record({"event": "scene", "id": "harbor"})
    dyngen play "harbor_to_storm" or call author_storm
    $ _test_record({"event": "scene", "id": "storm"})
    dyngen play "storm_to_shore" or jump author_shore
    $ _test_record({"event": "scene", "id": "shore"})
    jump finish

label storm_cut:
    $ _test_record({"event": "label", "id": "storm_cut"})
    "The sky goes black over the harbor."
    return

label author_storm:
    $ _test_record({"event": "label", "id": "author_storm"})
    ana "We should not have left the harbor."
    return

label author_shore:
    $ _test_record({"event": "label", "id": "author_shore"})
    "Somehow, they reach the shore."
    $ _test_record({"event": "scene", "id": "shore"})
    jump finish

label finish:
    $ _test_record({"event": "end"})
    $ renpy.quit()
