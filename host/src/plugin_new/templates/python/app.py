"""{{name}}: a Fallback Host plugin. `extract` copies one field of the upstream's JSON answer into
`reply`; `format` answers it with a "Thanks!" button."""

from typing import Any, Dict, List, Optional

from fallback_plugin import Context, Plugin, PluginError, Reply, Response, export, log, reply

# The webhook's `plugin_config`, e.g. `{"field": "message"}`.
DEFAULTS = {"field": "message"}


def answer(body: Any, field: str) -> str:
    """The string at `field` of the upstream's answer."""
    value = body.get(field) if isinstance(body, dict) else None
    if not isinstance(value, str):
        raise PluginError(f"no string field `{field}` in the response")
    return value


def replies(variables: Dict[str, str]) -> Optional[List[Reply]]:
    """One reply with a button; `None` lets the webhook's success template answer, so the plugin
    still works when `reply` comes from nowhere."""
    if "reply" not in variables:
        return None
    return [reply(variables["reply"]).button("Thanks!", "thanks")]


class Answer(Plugin):
    def extract(self, response: Response, ctx: Context) -> Dict[str, str]:
        field = ctx.config(DEFAULTS)["field"]
        text = answer(response.json(), field)
        log.info(f"answering with `{field}` ({len(text.encode())} bytes)")
        return {"reply": text}

    def format(self, variables: Dict[str, str], ctx: Context) -> Optional[List[Reply]]:
        return replies(variables)


# What componentize-py exports: the world's class, wrapping `Answer`.
WitWorld = export(Answer)
