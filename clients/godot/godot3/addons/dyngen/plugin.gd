tool
extends EditorPlugin
# Registers the `Dyngen` autoload when the plugin is enabled (Project > Project Settings > Plugins).


func _enter_tree():
	add_autoload_singleton("Dyngen", "res://addons/dyngen/dyngen.gd")


func _exit_tree():
	remove_autoload_singleton("Dyngen")
