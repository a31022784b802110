extends Node
# A transition between two authored scenes (docs/clients/godot.md): play the dyngen node, or its fallback.
# Attach to a node of the transition scene; the `Dyngen` autoload comes with the addon.

signal transition_done(lines)

export var base_url = "http://127.0.0.1:8000"
export var api_key = ""
export var bundle_dir = ""  # a folder `dyngen export` wrote, to play offline


func _ready():
	Dyngen.base_url = base_url
	Dyngen.api_key = api_key
	Dyngen.bundle_dir = bundle_dir
	Dyngen.connect("node_played", self, "_on_node_played", [], CONNECT_ONESHOT)
	Dyngen.play_node("three_scenes", "cafe_to_rooftops", {"playthrough_id": "save-1"})


func _on_node_played(result):
	var content = result["response"].get("content")
	var lines = []
	if content == null:
		pass  # skip: cut straight to the next scene
	elif content.get("content_id") != null:
		lines = ["(the author's own content: %s)" % content["content_id"]]
	elif content.get("dialogue") != null:
		lines = content["dialogue"]  # a video's `url` is an MP4: Godot plays only Ogg Theora (README)
	emit_signal("transition_done", lines)  # the game shows the lines, then changes scene
