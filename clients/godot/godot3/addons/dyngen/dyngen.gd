extends Node
# dyngen client for Godot 3 (3.2+): the same client as addons/dyngen/dyngen.gd (Godot 4), in Godot 3's
# GDScript. The autoload `Dyngen`:
#
#     Dyngen.base_url = "http://127.0.0.1:8000"
#     Dyngen.api_key = "dyngen_..."              # sent as X-API-Key; never printed
#     Dyngen.connect("node_played", self, "_on_node_played")
#     Dyngen.play_node("three_scenes", "cafe_to_rooftops", {"playthrough_id": "save-1"})
#
# `node_played(result)` is emitted once per call, always (never an error you must catch):
#     result.source    "server" | "bundle" | "fallback"
#     result.response  the server's GenerateContentResponse as a Dictionary: `status` "complete" with
#                      `content`, or "failed" with `fallback` applied (its content, or none for a skip)
#     result.error     why the fallback was used ("" when the content was played)
#
# With `bundle_dir` set (a folder `dyngen export` wrote), an item in the bundle is played from it (its
# files' sha256 and size checked first), the server is asked otherwise, and the bundle's fallback for
# the node is played when the server fails or none is configured. The client decides nothing the server
# owns (keys, seeds, validation): it asks, and passes on what it is told.

signal node_played(result)

const BUNDLE_FORMAT = "dyngen-bundle/1"

var base_url = ""
var api_key = ""
var timeout_s = 10.0
var bundle_dir = "" setget set_bundle_dir

var _manifest = {}


func set_bundle_dir(value):
	bundle_dir = value
	_manifest = _load_manifest(value)


# Ask for a node's content; the answer arrives as `node_played` (deferred, even from the bundle).
func play_node(graph_id, node_id, player_context = {}):
	var found = _bundle_item(node_id, player_context)
	if not found.empty():
		call_deferred("_emit", graph_id, node_id, "bundle", found, "")
		return
	if base_url == "":
		var why = "no server configured"
		call_deferred("_emit", graph_id, node_id, "fallback", _fallback(node_id, why), why)
		return
	var http = HTTPRequest.new()
	add_child(http)
	# Godot 3.2's HTTPRequest has no timeout of its own: a one-shot timer cancels the request.
	var timer = Timer.new()
	timer.one_shot = true
	timer.wait_time = timeout_s
	add_child(timer)
	var call = {"done": false}
	http.connect("request_completed", self, "_on_completed", [http, timer, call, graph_id, node_id])
	timer.connect("timeout", self, "_on_timeout", [http, timer, call, graph_id, node_id])
	var headers = PoolStringArray(["Content-Type: application/json", "Accept: application/json"])
	if api_key != "":
		headers.append("X-API-Key: " + api_key)
	var url = "%s/api/graphs/%s/nodes/%s/content" % [base_url.rstrip("/"), graph_id.percent_encode(), node_id.percent_encode()]
	var err = http.request(url, headers, true, HTTPClient.METHOD_POST, JSON.print({"player_context": player_context}))
	if err != OK:
		_finish(http, timer, call)
		var why = "request not sent (error %d)" % err
		call_deferred("_emit", graph_id, node_id, "fallback", _fallback(node_id, why), why)
		return
	timer.start()


func _finish(http, timer, call):
	call["done"] = true
	timer.stop()
	timer.queue_free()
	http.queue_free()


func _on_timeout(http, timer, call, graph_id, node_id):
	if call["done"]:
		return
	http.cancel_request()
	_finish(http, timer, call)
	var why = "timed out after %.1f s" % timeout_s
	_emit(graph_id, node_id, "fallback", _fallback(node_id, why), why)


func _on_completed(result, code, _headers, body, http, timer, call, graph_id, node_id):
	if call["done"]:
		return
	_finish(http, timer, call)
	var why = ""
	if result != HTTPRequest.RESULT_SUCCESS:
		why = "no answer from the server (result %d)" % result
	elif code < 200 or code >= 300:
		why = "HTTP %d: %s" % [code, body.get_string_from_utf8().left(300)]
	if why != "":
		_emit(graph_id, node_id, "fallback", _fallback(node_id, why), why)
		return
	var parsed = JSON.parse(body.get_string_from_utf8())
	if parsed.error != OK or typeof(parsed.result) != TYPE_DICTIONARY:
		why = "the server's answer is not a JSON object"
		_emit(graph_id, node_id, "fallback", _fallback(node_id, why), why)
		return
	_emit(graph_id, node_id, "server", _absolute(parsed.result), "")


func _emit(graph_id, node_id, source, response, error):
	emit_signal("node_played", {"graph_id": graph_id, "node_id": node_id, "source": source, "response": response, "error": error})


# Artifact URLs the server answers are relative to it: made absolute so a player can load them.
func _absolute(response):
	var base = base_url.rstrip("/")
	var content = response.get("content")
	if typeof(content) == TYPE_DICTIONARY and str(content.get("url", "")).begins_with("/"):
		content["url"] = base + content["url"]
	if typeof(response.get("artifacts")) == TYPE_ARRAY:
		for artifact in response["artifacts"]:
			if str(artifact.get("url", "")).begins_with("/"):
				artifact["url"] = base + artifact["url"]
	return response


# The bundle's fallback for the node, else a skip (no content: the game cuts to the next scene).
func _fallback(node_id, why):
	var fallbacks = _manifest.get("fallbacks", {})
	if fallbacks.has(node_id):
		return fallbacks[node_id].duplicate(true)
	return {
		"status": "failed",
		"content": null,
		"fallback": {"applied": true, "mode": "skip", "reason": why},
		"error": {"code": "GEN_PROVIDER_UNAVAILABLE", "message": why},
	}


func _load_manifest(folder):
	if folder == "":
		return {}
	var file = File.new()
	if file.open(folder.plus_file("manifest.json"), File.READ) != OK:
		push_warning("dyngen: no manifest.json in %s" % folder)
		return {}
	var parsed = JSON.parse(file.get_as_text())
	file.close()
	if parsed.error != OK or typeof(parsed.result) != TYPE_DICTIONARY or parsed.result.get("format") != BUNDLE_FORMAT:
		push_warning("dyngen: %s holds no dyngen bundle (%s)" % [folder, BUNDLE_FORMAT])
		return {}
	return parsed.result


func _context_id(player_context, snake, camel):
	return str(player_context.get(snake, player_context.get(camel, "")))


func _bundle_item(node_id, player_context):
	for item in _manifest.get("items", []):
		if item.get("node_id") != node_id:
			continue
		var scope = item.get("scope", {})
		if scope.has("playthrough_id") and scope["playthrough_id"] != _context_id(player_context, "playthrough_id", "playthroughId"):
			continue
		if scope.has("player_id") and scope["player_id"] != _context_id(player_context, "player_id", "playerId"):
			continue
		if not _intact(item):
			push_warning("dyngen: bundle item %s refused: tampered (sha256 or size)" % node_id)
			return {}
		return _in_bundle(item["response"].duplicate(true))
	return {}


func _intact(item):
	for entry in item.get("files", []):
		var path = bundle_dir.plus_file(entry["path"])
		var file = File.new()
		if file.open(path, File.READ) != OK:
			return false
		var size = file.get_len()
		file.close()
		if size != int(entry["bytes"]) or file.get_sha256(path) != entry["sha256"]:
			return false
	return true


func _in_bundle(response):
	var content = response.get("content")
	if typeof(content) == TYPE_DICTIONARY and content.get("url") != null:
		content["url"] = bundle_dir.plus_file(content["url"])
	if typeof(response.get("artifacts")) == TYPE_ARRAY:
		for artifact in response["artifacts"]:
			artifact["url"] = bundle_dir.plus_file(artifact["url"])
	return response
