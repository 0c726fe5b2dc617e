"""The TFLite interpreter behind one interface: LiteRT (``ai-edge-litert``, the maintained
one) where it imports, else ``tflite-runtime`` (the one that runs under qemu-user)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

MODELS = Path(__file__).resolve().parents[1] / "models"


class Model:
    """One loaded model: ``run(input)`` -> its outputs by index, as float32 arrays."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        self.interpreter = _interpreter(path, threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.outputs = self.interpreter.get_output_details()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self.input["shape"])

    def run(self, tensor: np.ndarray) -> list[np.ndarray]:
        self.interpreter.set_tensor(self.input["index"], tensor.astype(np.float32))
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(o["index"]) for o in self.outputs]


def _interpreter(path: Path, threads: int) -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[import-not-found,no-redef]
    return Interpreter(model_path=str(path), num_threads=threads)
