"""Validates an OpenAPI document (stdin) with openapi-spec-validator."""
import json
import sys

from openapi_spec_validator import validate

document = json.load(sys.stdin)
validate(document)
print(f"valid OpenAPI {document['openapi']}: {len(document['paths'])} paths")
