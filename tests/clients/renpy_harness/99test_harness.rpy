## TEST ONLY: runs a game with nobody at the keyboard and writes what it played, one JSON object a line, to
## DYNGEN_TEST_OUT. Points dyngen_renpy at the test's server (DYNGEN_TEST_URL, empty: none) and bundle
## (DYNGEN_TEST_BUNDLE, relative to game/), with DYNGEN_TEST_WAIT seconds of patience.

# Lines advance by themselves.
define config.default_afm_enable = True
define config.default_afm_time = 1
define config.afm_characters = 100000

init 999 python:
    import json as _test_json
    import os as _test_os

    def _test_record(event):
        with open(_test_os.environ["DYNGEN_TEST_OUT"], "a") as out:
            out.write(_test_json.dumps(event) + "\n")

    _test_say = renpy.exports.say

    def _test_said(who, what, *args, **kwargs):
        # Every line goes through renpy.exports.say (a say statement and dyngen_renpy's lines alike);
        # recorded once it was shown and dismissed.
        result = _test_say(who, what, *args, **kwargs)
        _test_record({"event": "said", "who": getattr(who, "name", who), "text": what})
        return result

    def _test_failed(short, full, traceback_file):
        # No one is there to read the error screen: record the traceback and end the game.
        _test_record({"event": "error", "traceback": full})
        _test_os._exit(3)

    def _test_label(name, abnormal):
        if name == "start":
            _test_os.environ["DYNGEN_TEST_STARTED"] = "1"

    config.label_callback = _test_label

    # Screenshots while a movie plays (DYNGEN_TEST_SHOTS, a folder): the proof that frames were shown.
    _test_movie = {"started": None, "taken": 0}

    def _test_movie_started(event):
        if event["event"] == "movie":
            _test_movie["started"] = _test_os.times().elapsed

    def _test_shoot():
        folder = _test_os.environ.get("DYNGEN_TEST_SHOTS")
        started = _test_movie["started"]
        if folder and started is not None and _test_movie["taken"] < 4:
            if _test_os.times().elapsed - started >= 0.4 * (_test_movie["taken"] + 1):
                _test_movie["taken"] += 1
                path = _test_os.path.join(folder, "movie-%d.png" % _test_movie["taken"])
                renpy.screenshot(path)
                _test_record({"event": "screenshot", "path": path})

    config.periodic_callbacks.append(_test_shoot)
    renpy.exports.say = _test_said
    config.exception_handler = _test_failed
    _test_wait = float(_test_os.environ.get("DYNGEN_TEST_WAIT", "60"))
    dyngen_renpy.configure(
        base_url=_test_os.environ.get("DYNGEN_TEST_URL") or None,
        bundle=_test_os.environ.get("DYNGEN_TEST_BUNDLE") or None,
        wait=_test_wait,
        timeout=60,  # an HTTP attempt may take longer than the player waits: `wait` decides
        retries=0,
        on_play=dyngen_renpy.settings.on_play + [_test_record, _test_movie_started],
    )

# The game ends (its start label returns): record it and quit instead of showing the main menu.
label main_menu:
    if _test_os.environ.get("DYNGEN_TEST_STARTED"):
        $ _test_record({"event": "end"})
        $ renpy.quit()
    return
