"""json-reply in Python: one field of a JSON response (a dotted path like `data.answer` or
`choices.0.text`) into one variable (`reply` by default), as plugins/json-reply does in Rust."""

import json
from typing import Any, Dict

from fallback_plugin import Context, Plugin, PluginError, Response, export, log

# The webhook's `plugin_config`: `{"field": "data.answer", "variable": "reply"}`, both optional.
DEFAULTS = {"field": "message", "variable": "reply"}


def lookup(body: Any, path: str) -> Any:
    """Walks `path`: dot-separated object keys, or array indexes where the value is an array.
    A leading `$.` is accepted so JSONPath-looking configs (`$.message`) also work."""
    path = path[2:] if path.startswith("$.") else path
    current = body
    for segment in path.split("."):
        if isinstance(current, dict) and segment in current:
            current = current[segment]
        elif isinstance(current, list) and segment.isdigit() and int(segment) < len(current):
            current = current[int(segment)]
        else:
            raise PluginError(f"field `{path}` not found in the response (no `{segment}`)")
    return current


def as_text(value: Any, path: str) -> str:
    """Strings as they are; numbers, booleans, objects and arrays as compact JSON with object keys
    sorted (as the Rust plugin writes them); `null` is refused."""
    if isinstance(value, str):
        return value
    if value is None:
        raise PluginError(f"field `{path}` is null in the response")
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


class JsonReply(Plugin):
    def extract(self, response: Response, ctx: Context) -> Dict[str, str]:
        config = ctx.config(DEFAULTS, deny_unknown=True)
        field = config["field"]
        path = field[2:] if field.startswith("$.") else field
        log.debug(f"reading `{path}` into `{config['variable']}`")
        return {config["variable"]: as_text(lookup(response.json(), field), path)}


WitWorld = export(JsonReply)
