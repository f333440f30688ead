"""Config fuzzing: generated invalid agent and hub configs are refused with an error naming the
key (ConfigError, SettingsError), never with another exception."""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.config import AgentConfig, ConfigError, load_config
from hub.config import CONFIG_FILE_ENV, ENV_PREFIX, HubSettings, SettingsError, load_settings

FUZZ = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

VALID_AGENT: dict[str, Any] = {
    "agent_id": "agent-1",
    "mqtt": {"url": "mqtt://broker.local:1884", "username": "agent-1", "password": "s3cret"},
    "outbox_path": "state/outbox.sqlite3",
    "detector": {"model": "models/detector.tflite", "threads": 1},
    "cameras": [
        {
            "id": "gate",
            "source": {"type": "file", "path": "media/clip.mp4", "loop": True},
            "interval_s": 0.5,
            "position": {"lat": 48.8566, "lon": 2.3522},
            "rules": [
                {
                    "labels": ["backpack", "suitcase"],
                    "threat_type": "abandoned_object",
                    "severity": "medium",
                    "min_score": 0.4,
                    "confirm_frames": 5,
                }
            ],
        }
    ],
}

# Text as YAML and the environment can carry it: no NUL, no lone surrogates.
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=10,
)


def key_paths(document: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple]:
    """Every key path of a nested YAML document, parents before their children."""
    if prefix:
        yield prefix
    if isinstance(document, dict):
        children = list(document.items())
    elif isinstance(document, list):
        children = list(enumerate(document))
    else:
        children = []
    for key, value in children:
        yield from key_paths(value, (*prefix, key))


def replaced(document: Any, path: tuple, value: Any) -> Any:
    """A deep copy of `document` whose entry at `path` is `value`."""
    copied = copy.deepcopy(document)
    parent = copied
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return copied


def dotted(path: tuple) -> str:
    """A key path as the error messages write it (cameras.0.rules.0.min_score)."""
    return ".".join(str(part) for part in path)


AGENT_PATHS = list(key_paths(VALID_AGENT))


def load_agent_yaml(document: Any) -> AgentConfig:
    """load_config on `document` written to a YAML file of its own."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "agent.yaml"
        path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        return load_config(path)


@FUZZ
@given(st.sampled_from(AGENT_PATHS), yaml_values)
def test_agent_config_with_any_value_anywhere_loads_or_names_the_key(
    path: tuple, value: Any
) -> None:
    try:
        load_agent_yaml(replaced(VALID_AGENT, path, value))
    except ConfigError as refused:
        # The key itself, or (for rules across keys) one of the sections holding it.
        assert dotted(path[:1]) in str(refused) or "(top level)" in str(refused), refused


@FUZZ
# Key-like names: YAML itself folds some characters (e.g. U+0085 NEL) inside plain scalars.
@given(
    st.sampled_from([p for p in AGENT_PATHS if isinstance(p[-1], str)]),
    st.from_regex(r"[A-Za-z0-9_-]{1,24}", fullmatch=True),
)
def test_an_unknown_agent_key_is_named(path: tuple, name: str) -> None:
    unknown = (*path[:-1], f"no_such_{name}")
    refused = None
    try:
        load_agent_yaml(replaced(VALID_AGENT, unknown, 1))
    except ConfigError as error:
        refused = str(error)
    assert refused is not None and f"{dotted(unknown)}: unknown key" in refused, refused


@FUZZ
@given(yaml_values)
def test_any_agent_yaml_document_loads_or_is_refused(document: Any) -> None:
    try:
        load_agent_yaml(document)
    except ConfigError as refused:
        assert str(refused)


@contextmanager
def hub_environment(variables: dict[str, str]) -> Iterator[None]:
    """Only `variables` among the VIGIE_* environment variables, for the time of the block."""
    kept = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
    with mock.patch.dict(os.environ, kept | variables, clear=True):
        yield


HUB_KEYS = sorted(HubSettings.model_fields)


@FUZZ
@given(st.sampled_from(HUB_KEYS), texts)
def test_hub_env_variable_with_any_text_loads_or_names_the_key(key: str, text: str) -> None:
    with hub_environment({f"{ENV_PREFIX}{key.upper()}": text}):
        try:
            load_settings()
        except SettingsError as refused:
            assert key in str(refused), refused
            assert CONFIG_FILE_ENV not in str(refused), "blames a file that is not there"


@FUZZ
@given(st.sampled_from(HUB_KEYS), yaml_values)
def test_hub_yaml_file_with_any_value_loads_or_names_the_key(key: str, value: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hub.yaml"
        path.write_text(yaml.safe_dump({key: value}, allow_unicode=True), encoding="utf-8")
        with hub_environment({CONFIG_FILE_ENV: str(path)}):
            try:
                load_settings()
            except SettingsError as refused:
                assert key in str(refused), refused


@FUZZ
@given(yaml_values)
def test_any_hub_yaml_document_loads_or_is_refused(document: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hub.yaml"
        path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        with hub_environment({CONFIG_FILE_ENV: str(path)}):
            try:
                load_settings()
            except SettingsError as refused:
                assert str(refused)


def hub_yaml_error(text: str) -> str:
    """The SettingsError message load_settings gives for a VIGIE_CONFIG file holding `text`."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hub.yaml"
        path.write_text(text, encoding="utf-8")
        with hub_environment({CONFIG_FILE_ENV: str(path)}):
            try:
                load_settings()
            except SettingsError as refused:
                return str(refused)
    raise AssertionError(f"{text!r} was accepted")


def test_hub_yaml_keys_that_are_not_names_are_refused() -> None:
    # Found by the fuzzer: pydantic-settings raised AttributeError on these.
    assert "key None is not a name" in hub_yaml_error("null: 1\n")
    assert "key 8000 is not a name" in hub_yaml_error("8000: http_port\n")
    assert "is not a YAML mapping" in hub_yaml_error("- [null, null]\n")
    assert "cannot read" in hub_yaml_error("http_port: [unclosed\n")
