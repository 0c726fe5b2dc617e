"""On-device detection: the model runtime behind one small interface, faces (for the
desensitised export), and (a later issue) people and vehicles."""
