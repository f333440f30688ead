"""Object detectors of the edge agent: TFLite runtimes, output decoders (SSD, YOLOX), label maps."""

from edge_agent.detectors.base import Detection, Detector, DetectorError
from edge_agent.detectors.config import DetectorConfig
from edge_agent.detectors.factory import create_detector
from edge_agent.detectors.labels import LabelMap, load_label_map

__all__ = [
    "Detection",
    "Detector",
    "DetectorConfig",
    "DetectorError",
    "LabelMap",
    "create_detector",
    "load_label_map",
]
