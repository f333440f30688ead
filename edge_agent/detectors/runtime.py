"""Loading a .tflite model into whichever TFLite runtime is installed."""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from edge_agent.detectors.base import DetectorError

RuntimeName = Literal["auto", "ai-edge-litert", "tflite-runtime"]

# Preference order for "auto": ai-edge-litert is the runtime's current name and much faster on
# uint8 models; tflite-runtime is the last resort on boards that only have it.
RUNTIME_MODULES = (
    ("ai-edge-litert", "ai_edge_litert.interpreter"),
    ("tflite-runtime", "tflite_runtime.interpreter"),
)


@dataclass(frozen=True)
class LoadedModel:
    """A model file loaded into an interpreter with its tensors allocated."""

    path: Path
    sha256: str
    interpreter: Any

    @property
    def name(self) -> str:
        """The model file's stem."""
        return self.path.stem


def interpreter_class(runtime: RuntimeName) -> type:
    """The Interpreter class of the chosen runtime (auto: the first one installed)."""
    wanted = [entry for entry in RUNTIME_MODULES if runtime in ("auto", entry[0])]
    for _, module_name in wanted:
        try:
            return importlib.import_module(module_name).Interpreter
        except ImportError:
            continue
    if runtime == "auto":
        raise DetectorError("no TFLite runtime is installed: pip install ai-edge-litert")
    raise DetectorError(f"TFLite runtime {runtime!r} is not installed: pip install {runtime}")


def load_model(path: Path, runtime: RuntimeName, threads: int) -> LoadedModel:
    """Read a .tflite file, hash it and build its interpreter; any failure is a DetectorError."""
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise DetectorError(f"model file not found: {path}") from None
    except OSError as exc:
        raise DetectorError(f"cannot read model file {path}: {exc}") from None
    if not content:
        raise DetectorError(f"model file is empty: {path}")
    interpreter_type = interpreter_class(runtime)
    try:
        interpreter = interpreter_type(model_content=content, num_threads=threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise DetectorError(f"{path} is not a usable TFLite model: {exc}") from None
    sha256 = hashlib.sha256(content).hexdigest()
    return LoadedModel(path=path, sha256=sha256, interpreter=interpreter)
