"""The threat-quality ground truth matches the real media, and bad files are refused."""

from __future__ import annotations

import pytest

from bench.threat_quality import (
    GROUND_TRUTH_DIR,
    GroundTruthError,
    load_all,
    load_ground_truth,
    read_frames,
    score_clip,
)

CLIPS = load_all()


def test_every_clip_of_the_issue_has_ground_truth():
    names = {clip.truth.media for clip in CLIPS}
    assert {
        "vtest_first350.avi",
        "worker-zone-detection.gif",
        "person-bicycle-car-detection.gif",
        "coco_000000000089_kitchen_knives.jpg",
        "coco_000000475678_suitcases.jpg",
    } <= names
    assert [clip.name for clip in CLIPS if not clip.truth.sees_objects] == [
        "person-bicycle-car-detection"
    ]


@pytest.mark.parametrize("clip", CLIPS, ids=lambda clip: clip.name)
def test_ground_truth_matches_its_media(clip, media):
    frames = read_frames(media / clip.truth.media, clip.truth)
    assert len(frames) == clip.truth.frames
    assert all(frame.ndim == 3 and frame.shape[2] == 3 for frame in frames[:1])


def _write(tmp_path, text):
    path = tmp_path / "clip.yaml"
    path.write_text(text, encoding="utf-8")
    return path


VALID = """
media: worker-zone-detection.gif
fps: 10
frames: 20
zones:
  - name: bay
    include: [[[0, 0], [0.5, 0], [0.5, 1]]]
rules:
  - threat_type: intrusion
    kind: intrusion
    labels: [person]
    zones: [bay]
    episodes: [[2, 5]]
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("media: [unclosed", "cannot read"),
        ("- a list", "top level must be a mapping"),
        (VALID.replace("[[2, 5]]", "[[5, 2]]"), "ends before it starts"),
        (VALID.replace("[[2, 5]]", "[[2, 20]]"), "the clip has 20"),
        (VALID.replace("zones: [bay]", "zones: [gate]"), "unknown zone"),
        (VALID.replace("fps: 10", "fps: -1"), "fps"),
        (VALID + "colour: red\n", "colour"),
    ],
)
def test_bad_ground_truth_is_refused_with_the_file_and_reason(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(GroundTruthError, match=message) as error:
        load_ground_truth(path)
    assert str(path) in str(error.value)


def test_a_frame_count_that_disagrees_with_the_media_is_refused(tmp_path, media):
    clip = load_ground_truth(_write(tmp_path, VALID))
    with pytest.raises(GroundTruthError, match="71 frames, ground truth says 20"):
        read_frames(media / clip.truth.media, clip.truth)


def test_alerts_are_matched_to_episodes_with_a_two_frame_grace(tmp_path):
    clip = load_ground_truth(_write(tmp_path, VALID))
    # frame 0 is 2 frames before the episode (grace), 3 inside it, 10 far outside it.
    score = score_clip(clip, {"intrusion": [0, 3, 10]})
    assert (score.episodes, score.found, score.missed) == (1, 1, 0)
    assert (score.false_alarms, score.alerts, score.delays) == (1, 3, [0])
    assert score_clip(clip, {"intrusion": []}).missed == 1


def test_the_ground_truth_folder_is_documented():
    readme = (GROUND_TRUTH_DIR / "README.md").read_text(encoding="utf-8")
    assert all(key in readme for key in ("episodes", "sees_objects", "still", "grace"))
