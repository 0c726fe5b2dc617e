"""MQTT: health, camera state, events and alarms to the broker; commands back."""
