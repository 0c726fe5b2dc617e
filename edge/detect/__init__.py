"""On-device detection: the model runtime behind one small interface, faces (for the
desensitised export), people and vehicles (the detector process, which also hosts the
quality diagnosis)."""

STATUS_FILE = "detect.json"  # the detector process's live state, in the data dir
