"""Voice: audio from the cascade (and later the room) to the village's loudspeakers."""
