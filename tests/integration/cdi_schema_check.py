#!/usr/bin/python3
"""Validates CDI spec files against the CDI project's own JSON schema.

Usage: cdi_schema_check.py SCHEMA_DIR SPEC...

SCHEMA_DIR holds schema.json and the defs.json it refers to, as Debian 12 ships them in
golang-github-container-orchestrated-devices-container-device-interface-dev. Runs with
Debian's python3-jsonschema (/usr/bin/python3). Prints one line per spec; exits 0 when
every spec is valid, 1 when one is not, 2 when the schema or a spec cannot be read.
"""
import json
import pathlib
import sys

import jsonschema


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    schema_dir = pathlib.Path(argv[1]).resolve()
    try:
        schema = json.loads((schema_dir / "schema.json").read_text())
        # schema.json refers to "defs.json#/definitions/...": resolve it beside the schema.
        resolver = jsonschema.RefResolver(base_uri=schema_dir.as_uri() + "/", referrer=schema)
        validator = jsonschema.validators.validator_for(schema)(schema, resolver=resolver)
    except (OSError, ValueError, jsonschema.SchemaError) as error:
        print(f"cannot read the CDI schema in {schema_dir}: {error}", file=sys.stderr)
        return 2
    invalid = 0
    for path in argv[2:]:
        try:
            spec = json.loads(pathlib.Path(path).read_text())
        except (OSError, ValueError) as error:
            print(f"{path}: cannot read: {error}")
            return 2
        errors = sorted(validator.iter_errors(spec), key=lambda e: list(e.absolute_path))
        for error in errors:
            where = "/".join(str(part) for part in error.absolute_path) or "(top)"
            print(f"{path}: {where}: {error.message}")
        if errors:
            invalid += 1
        else:
            print(f"{path}: valid")
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
