"""Jobs: the main job (`eda run`) and the other multi-step commands, composed of the layers below."""
