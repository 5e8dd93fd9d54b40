"""Write Fallback Host plugins in Python: a `Plugin` base class, typed helpers and the log, the
same shapes as the Rust `guest-sdk` (`Plugin`, `Response`, `Context`, `Reply`, `PluginError`).

A plugin subclasses `Plugin`, overrides `extract` and/or `format`, and exports the class from its
app module with `WitWorld = export(MyPlugin)`, which componentize-py builds into a component:

    componentize-py -d wit -w plugin componentize app -o plugin.wasm

Outside a component (a plugin's own `python -m unittest`) there are no bindings: log lines go to
stderr and the hooks are called directly, so the same module runs natively.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Dict, Iterable, List, Optional, Tuple

try:  # Present only while componentize-py builds the component.
    from componentize_py_types import Err as _Err
    from wit_world import WitWorld as _WitWorld
    from wit_world.imports import host as _host
    from wit_world.imports import types as _types
except ImportError:  # Natively: plain Python, no host.
    _Err = None
    _WitWorld = object
    _host = None
    _types = None

__all__ = [
    "Context",
    "Plugin",
    "PluginError",
    "Reply",
    "Response",
    "export",
    "is_valid_variable_name",
    "log",
    "reply",
]


class PluginError(Exception):
    """A hook's refusal: the host answers the webhook's failure text and shows `message` to the
    bot builder (test console, logs), never to the end user, so say what to fix."""

    def __init__(self, message: str):
        super().__init__(str(message))
        self.message = str(message)


class _Log:
    """Lines for the call's log, shown in the test console and the host's log (at debug level).
    A call may log at most 1,000 lines and 64 KiB (each line counting 16 bytes beside its text);
    the first line past either fails the call."""

    def _write(self, level: str, message: Any) -> None:
        text = str(message)
        if _host is not None:
            _host.log(getattr(_host.Level, level.upper()), text)
        else:
            print(f"[plugin {level}] {text}", file=sys.stderr)

    def trace(self, message: Any) -> None:
        self._write("trace", message)

    def debug(self, message: Any) -> None:
        self._write("debug", message)

    def info(self, message: Any) -> None:
        self._write("info", message)

    def warn(self, message: Any) -> None:
        self._write("warn", message)

    def error(self, message: Any) -> None:
        self._write("error", message)


log = _Log()


class Response:
    """The upstream's answer as the host received it. The body is never decoded for you."""

    def __init__(self, status: int, body: bytes | str = b"", headers: Iterable[Tuple[str, str]] = ()):
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        self.headers: List[Tuple[str, str]] = [(name.lower(), value) for name, value in headers]

    def header(self, name: str) -> Optional[str]:
        """The first value of header `name`, compared case-insensitively; `None` when absent."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    def text(self) -> str:
        """The body as UTF-8 text; a body that is not UTF-8 is a `PluginError`."""
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError as err:
            raise PluginError(f"response body is not UTF-8 text: {err}") from None

    def json(self) -> Any:
        """The body parsed as JSON; a body that is not JSON is a `PluginError` saying so."""
        text = self.text()
        try:
            return json.loads(text)
        except ValueError as err:
            raise PluginError(f"response body is not JSON: {err}") from None


class Context:
    """Where the call comes from. One plugin serves many webhooks: per-webhook settings are in
    `plugin_config` (`config_json`, or parsed by `config`). Project secrets are never here."""

    def __init__(
        self,
        project: str = "",
        webhook: str = "",
        send_id: str = "",
        latest_message: str = "",
        config_json: str = "{}",
    ):
        self.project = project
        self.webhook = webhook
        self.send_id = send_id
        self.latest_message = latest_message
        self.config_json = config_json

    def config(self, defaults: Optional[Dict[str, Any]] = None, deny_unknown: bool = False) -> Dict[str, Any]:
        """The webhook's `plugin_config` over `defaults`. Unset (empty or `null`) gives the
        defaults. A key whose default is set must keep its type; with `deny_unknown` a key that
        `defaults` lacks is refused. Either refusal names the key, for the test console."""
        defaults = dict(defaults or {})
        text = self.config_json.strip()
        if text in ("", "null"):
            return defaults
        try:
            given = json.loads(text)
        except ValueError as err:
            raise PluginError(f"invalid plugin_config: {err}") from None
        if not isinstance(given, dict):
            raise PluginError("invalid plugin_config: expected a JSON object")
        for key, value in given.items():
            if key not in defaults:
                if deny_unknown:
                    expected = ", ".join(f"`{k}`" for k in defaults)
                    raise PluginError(f"invalid plugin_config: unknown field `{key}`, expected one of {expected}")
            elif defaults[key] is not None and _type_name(value) != _type_name(defaults[key]):
                raise PluginError(
                    f"invalid plugin_config: `{key}` should be {_type_name(defaults[key])}, not {_type_name(value)}"
                )
        return {**defaults, **given}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class Reply:
    """One message of the answer; `button` adds a quick reply and returns the reply, to chain."""

    def __init__(self, text: str):
        self.text = str(text)
        self.buttons: List[Tuple[str, str]] = []

    def button(self, label: str, payload: str) -> "Reply":
        """`label` is shown; `payload` comes back as the user's next message when pressed."""
        self.buttons.append((str(label), str(payload)))
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reply) and (self.text, self.buttons) == (other.text, other.buttons)

    def __repr__(self) -> str:
        return f"Reply({self.text!r}, buttons={self.buttons!r})"


def reply(text: str) -> Reply:
    """`reply(text).button(label, payload)`: a reply, as the Rust SDK's `Reply::text`."""
    return Reply(text)


_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def is_valid_variable_name(name: str) -> bool:
    """Whether the host accepts `name` as a variable name: `[A-Za-z_][A-Za-z0-9_]{0,63}`."""
    return _VARIABLE_NAME.fullmatch(name) is not None


class Plugin:
    """A fallback plugin. Override either hook, or both; each webhook execution gets a fresh
    instance, so nothing is carried between calls."""

    def extract(self, response: Response, ctx: Context) -> Dict[str, str]:
        """From the upstream response to variables (name -> text), merged over those of the
        webhook's declarative `extract` mapping (a plugin's value wins). By default: none."""
        return {}

    def format(self, variables: Dict[str, str], ctx: Context) -> Optional[List[Reply]]:
        """From the merged variables to the replies. `None` (the default) means "use the
        webhook's success template"."""
        return None


def export(plugin: type) -> type:
    """The component's world class for `plugin` (a `Plugin` subclass): assign it to `WitWorld`
    in the app module, which componentize-py looks for."""

    class WitWorld(_WitWorld):
        def extract(self, response, context):
            ours = Response(response.status, response.body, [(h.name, h.value) for h in response.headers])
            variables = _guard(lambda: plugin().extract(ours, _context(context)))
            return [_types.Variable(name=name, value=value) for name, value in _variables(variables)]

        def format(self, variables, context):
            merged = {v.name: v.value for v in variables}
            replies = _guard(lambda: plugin().format(merged, _context(context)))
            return None if replies is None else [_reply_to_wit(r) for r in _replies(replies)]

    WitWorld.__name__ = WitWorld.__qualname__ = "WitWorld"
    return WitWorld


def _context(context: Any) -> Context:
    return Context(context.project, context.webhook, context.send_id, context.latest_message, context.plugin_config)


def _guard(hook):
    """A `PluginError` becomes the hook's `err`; any other exception too, carrying its message
    (its traceback goes to the log), so a bug shows in the test console instead of a trap."""
    try:
        return hook()
    except PluginError as err:
        raise _Err(_types.PluginError(message=err.message)) from None
    except Exception as err:  # noqa: BLE001 - every plugin bug is reported, not trapped
        import traceback

        log.error("plugin raised " + "".join(traceback.format_exception(err)).rstrip())
        raise _Err(_types.PluginError(message=f"plugin raised {type(err).__name__}: {err}")) from None


def _variables(variables: Any) -> List[Tuple[str, str]]:
    if variables is None:
        return []
    out = []
    for name, value in dict(variables).items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            value = str(value)
        elif not isinstance(value, str):
            raise _Err(_types.PluginError(message=f"variable `{name}` is {_type_name(value)}: variables are text"))
        out.append((str(name), value))
    return out


def _replies(replies: Any) -> List[Reply]:
    if not isinstance(replies, (list, tuple)):
        raise _Err(_types.PluginError(message="format must return a list of replies or None"))
    return [Reply(r) if isinstance(r, str) else r for r in replies]


def _reply_to_wit(one: Reply):
    buttons = [_types.Button(label=label, payload=payload) for label, payload in one.buttons]
    return _types.Reply(text=one.text, buttons=buttons)
