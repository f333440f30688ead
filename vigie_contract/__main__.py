"""Regenerate the JSON Schema file from the pydantic model: python -m vigie_contract."""

import json

from vigie_contract.event import SCHEMA_FILE, json_schema

if __name__ == "__main__":
    SCHEMA_FILE.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {SCHEMA_FILE}")
