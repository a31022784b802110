extends Node
## dyngen client for Godot 4: the autoload `Dyngen` (added by this addon's plugin).
##
##     Dyngen.base_url = "http://127.0.0.1:8000"
##     Dyngen.api_key = "dyngen_..."              # sent as X-API-Key; never printed
##     Dyngen.node_played.connect(_on_node_played)
##     Dyngen.play_node("three_scenes", "cafe_to_rooftops", {"playthrough_id": "save-1"})
##
## `node_played(result)` is emitted once per call, always (never an error you must catch):
##     result.source    "server" | "bundle" | "fallback"
##     result.response  the server's GenerateContentResponse as a Dictionary: `status` "complete" with
##                      `content`, or "failed" with `fallback` applied (its content, or none for a skip)
##     result.error     why the fallback was used ("" when the content was played)
##
## With `bundle_dir` set (a folder `dyngen export` wrote), an item in the bundle is played from it (its
## files' sha256 and size checked first), the server is asked otherwise, and the bundle's fallback for
## the node is played when the server fails or none is configured. The client decides nothing the server
## owns (keys, seeds, validation): it asks, and passes on what it is told.

signal node_played(result: Dictionary)

const BUNDLE_FORMAT := "dyngen-bundle/1"

var base_url: String = ""
var api_key: String = ""
var timeout_s: float = 10.0
var bundle_dir: String = "":
	set(value):
		bundle_dir = value
		_manifest = _load_manifest(value)

var _manifest: Dictionary = {}


## Ask for a node's content; the answer arrives as `node_played` (deferred, even from the bundle).
func play_node(graph_id: String, node_id: String, player_context: Dictionary = {}) -> void:
	var found := _bundle_item(node_id, player_context)
	if not found.is_empty():
		_emit.call_deferred(graph_id, node_id, "bundle", found, "")
		return
	if base_url == "":
		_emit.call_deferred(graph_id, node_id, "fallback", _fallback(node_id, "no server configured"), "no server configured")
		return
	var http := HTTPRequest.new()
	http.timeout = timeout_s
	add_child(http)
	http.request_completed.connect(_on_completed.bind(http, graph_id, node_id))
	var headers := PackedStringArray(["Content-Type: application/json", "Accept: application/json"])
	if api_key != "":
		headers.append("X-API-Key: " + api_key)
	var url := "%s/api/graphs/%s/nodes/%s/content" % [base_url.rstrip("/"), graph_id.uri_encode(), node_id.uri_encode()]
	var err := http.request(url, headers, HTTPClient.METHOD_POST, JSON.stringify({"player_context": player_context}))
	if err != OK:
		http.queue_free()
		var why := "request not sent (error %d)" % err
		_emit.call_deferred(graph_id, node_id, "fallback", _fallback(node_id, why), why)


func _on_completed(result: int, code: int, _headers: PackedStringArray, body: PackedByteArray, http: HTTPRequest, graph_id: String, node_id: String) -> void:
	http.queue_free()
	var why := ""
	if result == HTTPRequest.RESULT_TIMEOUT:
		why = "timed out after %.1f s" % timeout_s
	elif result != HTTPRequest.RESULT_SUCCESS:
		why = "no answer from the server (result %d)" % result
	elif code < 200 or code >= 300:
		why = "HTTP %d: %s" % [code, body.get_string_from_utf8().left(300)]
	if why != "":
		_emit(graph_id, node_id, "fallback", _fallback(node_id, why), why)
		return
	var parsed = JSON.parse_string(body.get_string_from_utf8())
	if typeof(parsed) != TYPE_DICTIONARY:
		why = "the server's answer is not a JSON object"
		_emit(graph_id, node_id, "fallback", _fallback(node_id, why), why)
		return
	_emit(graph_id, node_id, "server", _absolute(parsed), "")


func _emit(graph_id: String, node_id: String, source: String, response: Dictionary, error: String) -> void:
	node_played.emit({"graph_id": graph_id, "node_id": node_id, "source": source, "response": response, "error": error})


## Artifact URLs the server answers are relative to it: made absolute so a player can load them.
func _absolute(response: Dictionary) -> Dictionary:
	var base := base_url.rstrip("/")
	var content = response.get("content")
	if typeof(content) == TYPE_DICTIONARY and str(content.get("url", "")).begins_with("/"):
		content["url"] = base + content["url"]
	for artifact in (response.get("artifacts", []) if typeof(response.get("artifacts")) == TYPE_ARRAY else []):
		if str(artifact.get("url", "")).begins_with("/"):
			artifact["url"] = base + artifact["url"]
	return response


## The bundle's fallback for the node, else a skip (no content: the game cuts to the next scene).
func _fallback(node_id: String, why: String) -> Dictionary:
	var fallbacks: Dictionary = _manifest.get("fallbacks", {})
	if fallbacks.has(node_id):
		return fallbacks[node_id].duplicate(true)
	return {
		"status": "failed",
		"content": null,
		"fallback": {"applied": true, "mode": "skip", "reason": why},
		"error": {"code": "GEN_PROVIDER_UNAVAILABLE", "message": why},
	}


func _load_manifest(folder: String) -> Dictionary:
	if folder == "":
		return {}
	var text := FileAccess.get_file_as_string(folder.path_join("manifest.json"))
	var parsed = JSON.parse_string(text) if text != "" else null
	if typeof(parsed) != TYPE_DICTIONARY or parsed.get("format") != BUNDLE_FORMAT:
		push_warning("dyngen: %s holds no dyngen bundle (%s)" % [folder, BUNDLE_FORMAT])
		return {}
	return parsed


func _context_id(player_context: Dictionary, snake: String, camel: String) -> String:
	return str(player_context.get(snake, player_context.get(camel, "")))


func _bundle_item(node_id: String, player_context: Dictionary) -> Dictionary:
	for item in _manifest.get("items", []):
		if item.get("node_id") != node_id:
			continue
		var scope: Dictionary = item.get("scope", {})
		if scope.has("playthrough_id") and scope["playthrough_id"] != _context_id(player_context, "playthrough_id", "playthroughId"):
			continue
		if scope.has("player_id") and scope["player_id"] != _context_id(player_context, "player_id", "playerId"):
			continue
		if not _intact(item):
			push_warning("dyngen: bundle item %s refused: tampered (sha256 or size)" % node_id)
			return {}
		return _in_bundle(item["response"].duplicate(true))
	return {}


func _intact(item: Dictionary) -> bool:
	for entry in item.get("files", []):
		var path: String = bundle_dir.path_join(entry["path"])
		var file := FileAccess.open(path, FileAccess.READ)
		if file == null or file.get_length() != int(entry["bytes"]):
			return false
		file.close()
		if FileAccess.get_sha256(path) != entry["sha256"]:
			return false
	return true


func _in_bundle(response: Dictionary) -> Dictionary:
	var content = response.get("content")
	if typeof(content) == TYPE_DICTIONARY and content.get("url") != null:
		content["url"] = bundle_dir.path_join(content["url"])
	for artifact in (response.get("artifacts", []) if typeof(response.get("artifacts")) == TYPE_ARRAY else []):
		artifact["url"] = bundle_dir.path_join(artifact["url"])
	return response
