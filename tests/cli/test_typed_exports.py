"""Exports keep their types: integers, UTC timestamps and nested fields, in Parquet and JSON;
JSON never carries lone surrogates."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.cli.clihelp import failing_bundle, run, tar_bundle


def test_parquet_records_are_typed(tmp_path: Path) -> None:
    out = tmp_path / "records.parquet"
    result = run("parse", str(failing_bundle(tmp_path)), "-t", "records", "-f", "parquet",
                 "-o", str(out))
    assert result.returncode == 0, result
    schema = pq.read_schema(out)
    assert pa.types.is_int64(schema.field("line").type)
    assert pa.types.is_timestamp(schema.field("timestamp").type)
    assert schema.field("timestamp").type.tz == "UTC"
    assert pa.types.is_map(schema.field("fields").type)
    rows = pq.read_table(out).to_pylist()
    http = next(r for r in rows if dict(r["fields"]).get("http_status") or
                dict(r["fields"]).get("http_method"))
    assert isinstance(http["line"], int)


def test_json_records_have_nested_fields_and_ints(tmp_path: Path) -> None:
    result = run("parse", str(failing_bundle(tmp_path)), "-t", "records", "-f", "json")
    rows = json.loads(result.stdout)
    assert all(isinstance(r["line"], int) for r in rows)
    assert all(isinstance(r["fields"], dict) for r in rows)


def test_json_records_have_no_lone_surrogates(tmp_path: Path) -> None:
    log = b"2024-02-01T10:00:00.000000Z INFO ExtHandler ExtHandler caf\xe9 \xff\xfe\n"
    bundle = tar_bundle(tmp_path / "latin.tgz", {"var/log/waagent.log": log})
    result = run("parse", str(bundle), "-t", "records", "-f", "json")
    assert result.returncode == 0, result
    assert "\\ud" not in result.stdout.lower()
    rows = json.loads(result.stdout)
    assert "caf\\xe9" in rows[0]["message"]
    json.dumps(rows).encode("utf-8")  # strictly encodable
