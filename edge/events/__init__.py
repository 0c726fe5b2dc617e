"""What happened on the node: camera and platform changes, alarms, disk state, kept as
events (365 days) and camera availability history, whether or not MQTT is configured."""
