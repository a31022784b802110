extends SceneTree
# Headless test of the client: `godot3-server --path clients/godot/godot3 -s test.gd`.
# Reads the cases from the JSON file named by DYNGEN_GODOT_CASES, plays each with `Dyngen.play_node`, and
# writes every `node_played` result (in order) to the file named by DYNGEN_GODOT_OUT, then quits.
#
# With DYNGEN_GODOT_EXAMPLE set (a JSON object of example.gd's exported variables), it runs example.gd
# instead and writes the lines its `transition_done` gave, and whether the autoload was Godot's own.
#
# A case: {"graph": ..., "node": ..., "player_context": {...}, "base_url": ..., "api_key": ...,
#          "timeout_s": ..., "bundle_dir": ...} (the last four optional).

var dyngen
var cases = []
var results = []


func _init():
	if OS.get_environment("DYNGEN_GODOT_EXAMPLE") != "":
		call_deferred("_start")
		return
	var file = File.new()
	if file.open(OS.get_environment("DYNGEN_GODOT_CASES"), File.READ) != OK:
		printerr("test.gd: cannot read DYNGEN_GODOT_CASES")
		quit(2)
		return
	cases = JSON.parse(file.get_as_text()).result
	file.close()
	call_deferred("_start")


func _start():
	# The project's autoload when Godot added it; otherwise the same script, added by hand.
	dyngen = root.get_node_or_null("Dyngen")
	var autoloaded = dyngen != null
	if dyngen == null:
		dyngen = load("res://addons/dyngen/dyngen.gd").new()
		dyngen.name = "Dyngen"
		root.add_child(dyngen)
	var example = OS.get_environment("DYNGEN_GODOT_EXAMPLE")
	if example != "":
		var scene = load("res://example.gd").new()
		var settings = JSON.parse(example).result
		for name in settings:
			scene.set(name, settings[name])
		scene.connect("transition_done", self, "_on_example_done", [autoloaded])
		root.add_child(scene)
		return
	dyngen.connect("node_played", self, "_on_node_played")
	_next()


func _on_example_done(lines, autoloaded):
	_write({"lines": lines, "autoloaded": autoloaded})


func _write(value):
	var out = File.new()
	out.open(OS.get_environment("DYNGEN_GODOT_OUT"), File.WRITE)
	out.store_string(JSON.print(value))
	out.close()
	quit(0)


func _next():
	if results.size() == cases.size():
		_write(results)
		return
	var case = cases[results.size()]
	dyngen.base_url = case.get("base_url", "")
	dyngen.api_key = case.get("api_key", "")
	dyngen.timeout_s = case.get("timeout_s", 10.0)
	dyngen.bundle_dir = case.get("bundle_dir", "")
	dyngen.play_node(case["graph"], case["node"], case.get("player_context", {}))


func _on_node_played(result):
	results.append(result)
	call_deferred("_next")
