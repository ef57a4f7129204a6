"""Workflows: the file format (spec), the files in force (library), what events mean (triggers), the steps,
and the engine that carries them out once per event."""
