"""Regenerate the JSON Schema files from the pydantic models: python -m vigie_contract."""

from vigie_contract.schemas import write_all

if __name__ == "__main__":
    for path in write_all():
        print(f"wrote {path}")
