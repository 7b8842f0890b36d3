"""OpenAPI post-processing: every operation documents the error answers it can give.

drf-spectacular documents the success answer of each view; the one exception handler
(cxhub/errors.py) can also answer any operation with the JSON error shape. This hook adds
those answers, with the shape as a shared component, so clients (and the API fuzzing in
tests/test_fuzz_api.py) find every status code they can receive in the schema.
"""

ERROR_COMPONENT = "Error"

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "Stable snake_case code, e.g. not_found."},
                "detail": {"type": "string", "description": "Human-readable explanation."},
                "fields": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "Per-field messages for invalid input.",
                },
            },
            "required": ["code", "detail"],
        }
    },
    "required": ["error"],
}

# status -> description; every operation can get these
COMMON_ERRORS = {
    "400": "Invalid input (query or body); `fields` says which.",
    "401": "Not authenticated.",
    "403": "Authenticated but not allowed, or the login is locked out.",
    "404": "No such object, or one outside the inboxes you may see.",
    "406": "The Accept header asks for something other than JSON.",
    "429": "Too many requests; retry after the Retry-After header.",
}
# and writes these too
WRITE_ERRORS = {
    "409": "The object's state does not allow this (e.g. a resolved conversation).",
    "415": "The body is not JSON, form or multipart.",
}
WRITE_METHODS = {"post", "put", "patch", "delete"}


def document_error_responses(result, generator, request, public):
    """POSTPROCESSING_HOOKS entry: add the JSON error shape to every operation's responses."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault(ERROR_COMPONENT, ERROR_SCHEMA)
    reference = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method.startswith("x-") or not isinstance(operation, dict) or "responses" not in operation:
                continue
            errors = dict(COMMON_ERRORS)
            if method in WRITE_METHODS:
                errors.update(WRITE_ERRORS)
            for status_code, description in errors.items():
                operation["responses"].setdefault(
                    status_code, {"description": description, "content": {"application/json": {"schema": reference}}}
                )
    return result
