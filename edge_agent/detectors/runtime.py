"""Loading a .tflite model into whichever TFLite runtime is installed, with an optional delegate."""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from edge_agent.detectors.base import DetectorError
from edge_agent.detectors.config import DelegateName, RuntimeName

# Preference order for "auto": ai-edge-litert is the runtime's current name and much faster on
# uint8 models; tflite-runtime is the last resort on boards that only have it.
RUNTIME_MODULES = (
    ("ai-edge-litert", "ai_edge_litert.interpreter"),
    ("tflite-runtime", "tflite_runtime.interpreter"),
)

# Linux names of the delegate libraries (the agent runs on Raspberry Pi OS and Jetson Ubuntu).
DELEGATE_LIBRARIES = {"edgetpu": "libedgetpu.so.1"}


@dataclass(frozen=True)
class LoadedModel:
    """A model file loaded into an interpreter with its tensors allocated."""

    path: Path
    sha256: str
    interpreter: Any
    runtime: str = "ai-edge-litert"

    @property
    def name(self) -> str:
        """The model file's stem."""
        return self.path.stem


def runtime_module(runtime: RuntimeName) -> tuple[str, ModuleType]:
    """The name and interpreter module of the chosen runtime (auto: the first one installed)."""
    wanted = [entry for entry in RUNTIME_MODULES if runtime in ("auto", entry[0])]
    for name, module_name in wanted:
        try:
            return name, importlib.import_module(module_name)
        except ImportError:
            continue
    if runtime == "auto":
        raise DetectorError("no TFLite runtime is installed: pip install ai-edge-litert")
    raise DetectorError(f"TFLite runtime {runtime!r} is not installed: pip install {runtime}")


def load_delegates(module: ModuleType, delegate: DelegateName) -> list[Any]:
    """The delegate objects to hand to the interpreter; a missing library is a DetectorError."""
    if delegate == "none":
        return []
    library = DELEGATE_LIBRARIES[delegate]
    try:
        return [module.load_delegate(library)]
    except (ValueError, OSError, RuntimeError) as exc:
        # Raised outside this block, so the failed load's frames (and its half-built delegate)
        # are released now rather than kept alive by the new error's context.
        reason = str(exc)
    raise DetectorError(
        f"delegate {delegate!r}: cannot load {library} ({reason}); install the Edge TPU "
        f"runtime (libedgetpu1-std) and plug in the device, or remove 'delegate: {delegate}'"
    )


def load_model(
    path: Path, runtime: RuntimeName, threads: int, delegate: DelegateName = "none"
) -> LoadedModel:
    """Read a .tflite file, hash it and build its interpreter; any failure is a DetectorError."""
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise DetectorError(f"model file not found: {path}") from None
    except OSError as exc:
        raise DetectorError(f"cannot read model file {path}: {exc}") from None
    if not content:
        raise DetectorError(f"model file is empty: {path}")
    runtime_name, module = runtime_module(runtime)
    delegates = load_delegates(module, delegate)
    try:
        interpreter = module.Interpreter(
            model_content=content, num_threads=threads, experimental_delegates=delegates or None
        )
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise DetectorError(f"{path} is not a usable TFLite model: {exc}") from None
    except SystemError as exc:
        # tflite-runtime 2.14 (its last release) is built against numpy 1: with numpy 2 it
        # imports fine and fails here with "... returned a result with an exception set".
        raise DetectorError(
            f"the {runtime_name} runtime cannot run here ({exc}); tflite-runtime needs "
            "numpy<2, or install ai-edge-litert instead"
        ) from None
    sha256 = hashlib.sha256(content).hexdigest()
    return LoadedModel(path=path, sha256=sha256, interpreter=interpreter, runtime=runtime_name)
