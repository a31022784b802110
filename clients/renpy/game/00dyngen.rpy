## dyngen for Ren'Py: the `dyngen play` statement and the screens it shows.
## Needs dyngen_renpy.py beside this file and the dyngen_client package in game/python-packages/.
##
##     dyngen play "cafe_to_rooftops"                      # play it, or nothing when it fails
##     dyngen play "cafe_to_rooftops" or jump author_cut   # nothing to play: jump to the author's label
##     dyngen play "cafe_to_rooftops" or call author_cut   # nothing to play: call it, then go on

python early:

    def _dyngen_parse_play(lexer):
        node = lexer.simple_expression(operator=False)
        if node is None:
            lexer.error("dyngen play: expected a node id")
        how = target = None
        if lexer.keyword("or"):
            how = lexer.keyword("jump") or lexer.keyword("call")
            if not how:
                lexer.error("dyngen play: expected 'jump' or 'call' after 'or'")
            target = lexer.label_name()
            if target is None:
                lexer.error("dyngen play: expected a label after '%s'" % how)
        lexer.expect_eol()
        return {"node": node, "how": how, "target": target}

    def _dyngen_execute_play(parsed):
        import dyngen_renpy
        if dyngen_renpy.play(str(renpy.python.py_eval(parsed["node"]))):
            return
        if parsed["how"] == "jump":
            renpy.jump(parsed["target"])
        elif parsed["how"] == "call":
            renpy.call(parsed["target"])

    def _dyngen_lint_play(parsed):
        if parsed["target"] and not renpy.has_label(parsed["target"]):
            renpy.error("dyngen play: no label %r to %s" % (parsed["target"], parsed["how"]))

    renpy.register_statement(
        "dyngen play", parse=_dyngen_parse_play, execute=_dyngen_execute_play, lint=_dyngen_lint_play
    )

init -10 python:
    import dyngen_renpy

# What the player's playthrough is (ids seed per-playthrough and per-player nodes; flags, choices and
# stats feed the node's rules). Saved with the game.
default dyngen_player = {}

style dyngen_subtitle is default:
    size 30
    color "#ffffff"
    outlines [(2, "#000000", 0, 0)]
    xalign 0.5
    text_align 0.5

style dyngen_waiting_text is default:
    size 22
    color "#ffffffaa"

## While the service is asked (at most dyngen_renpy.settings.wait seconds).
screen dyngen_waiting(check, wait):
    modal True
    zorder 200
    timer 0.1 repeat True action check
    timer wait action Return(False)
    text "…" style "dyngen_waiting_text" xalign 0.98 yalign 0.98

## A transition's video, its lines as subtitles at their times. A click skips it.
screen dyngen_movie(movie, lines, duration):
    modal True
    zorder 190
    default shown = ""
    add Solid("#000")
    add movie
    for start, line in lines:
        timer max(start, 0.01) action SetScreenVariable("shown", line)
    if shown:
        text shown style "dyngen_subtitle" yalign 0.92
    timer duration action Return(True)
    key "dismiss" action Return(False)
