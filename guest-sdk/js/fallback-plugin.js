//! Write Fallback Host plugins in JavaScript: `definePlugin`, typed helpers and the log, the
//! same shapes as the Rust `guest-sdk` (`Plugin`, `Response`, `Context`, `Reply`, `PluginError`).
//!
//! A plugin module does `export default definePlugin({ extract(response, ctx) {...}, format(vars,
//! ctx) {...} })`; `build.js` (next to this file) wraps it into the component's two exports and
//! wires `log` to the host's `log` import. Under Node (a plugin's own `node --test`) nothing is
//! wired and log lines go to stderr, so the same module runs natively.

/** A hook's refusal: the host answers the webhook's failure text and shows `message` to the bot
 * builder (test console, logs), never to the end user, so say what to fix. */
export class PluginError extends Error {
  constructor(message) {
    super(String(message));
    this.name = 'PluginError';
    // The component's binding turns a thrown value with a `payload` into the `err` case of
    // the hook's `result`; any other throw traps the instance.
    this.payload = { message: this.message };
  }
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];
let hostLog = null;

/** Called once by the build's generated entry module with the host's `log` import. */
export function __setHostLog(log) {
  hostLog = log;
}

function write(level, message) {
  const text = String(message);
  if (hostLog) {
    hostLog(level, text);
  } else {
    console.error(`[plugin ${level}] ${text}`);
  }
}

/** Lines for the call's log, shown in the test console and the host's log (at debug level).
 * A call may log at most 1,000 lines and 64 KiB (each line counting 16 bytes beside its text);
 * the first line past either fails the call. */
export const log = Object.freeze(Object.fromEntries(LEVELS.map((level) => [level, (message) => write(level, message)])));

/** The upstream's answer as the host received it. The body is never decoded for you. */
export class Response {
  /** `headers`: `[name, value]` pairs or `{name, value}` records; `body`: a string or bytes. */
  constructor(status, body = new Uint8Array(), headers = []) {
    this.status = status;
    this.body = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    this.headers = headers.map((h) =>
      Array.isArray(h) ? { name: String(h[0]).toLowerCase(), value: String(h[1]) } : { name: h.name, value: h.value },
    );
  }

  /** The first value of header `name`, compared case-insensitively; `undefined` when absent. */
  header(name) {
    const wanted = String(name).toLowerCase();
    return this.headers.find((h) => h.name.toLowerCase() === wanted)?.value;
  }

  /** The body as UTF-8 text; a body that is not UTF-8 is a `PluginError`. */
  text() {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.body);
    } catch (err) {
      throw new PluginError(`response body is not UTF-8 text: ${err.message}`);
    }
  }

  /** The body parsed as JSON; a body that is not JSON is a `PluginError` saying so. */
  json() {
    const text = this.text();
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new PluginError(`response body is not JSON: ${err.message}`);
    }
  }
}

/** Where the call comes from. One plugin serves many webhooks: per-webhook settings are in
 * `plugin_config` (`configJson`, or parsed by `config`). Project secrets are never here. */
export class Context {
  constructor({ project = '', webhook = '', sendId = '', latestMessage = '', configJson = '{}' } = {}) {
    this.project = project;
    this.webhook = webhook;
    this.sendId = sendId;
    this.latestMessage = latestMessage;
    this.configJson = configJson;
  }

  /** The webhook's `plugin_config` over `defaults`. Unset (empty or `null`) gives the defaults.
   * A key whose default is set must keep its type; with `{ denyUnknown: true }` a key that
   * `defaults` lacks is refused. Either refusal names the key, for the test console. */
  config(defaults = {}, { denyUnknown = false } = {}) {
    const text = this.configJson.trim();
    if (text === '' || text === 'null') return { ...defaults };
    let given;
    try {
      given = JSON.parse(text);
    } catch (err) {
      throw new PluginError(`invalid plugin_config: ${err.message}`);
    }
    if (given === null || typeof given !== 'object' || Array.isArray(given)) {
      throw new PluginError('invalid plugin_config: expected a JSON object');
    }
    const known = Object.keys(defaults);
    for (const [key, value] of Object.entries(given)) {
      if (!Object.hasOwn(defaults, key)) {
        if (denyUnknown) {
          const expected = known.map((k) => `\`${k}\``).join(', ');
          throw new PluginError(`invalid plugin_config: unknown field \`${key}\`, expected one of ${expected}`);
        }
      } else if (defaults[key] !== null && defaults[key] !== undefined && typeOf(value) !== typeOf(defaults[key])) {
        throw new PluginError(`invalid plugin_config: \`${key}\` should be ${typeOf(defaults[key])}, not ${typeOf(value)}`);
      }
    }
    return { ...defaults, ...given };
  }
}

function typeOf(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** One message of the answer; `button` adds a quick reply and returns the reply, to chain. */
export class Reply {
  constructor(text) {
    this.text = String(text);
    this.buttons = [];
  }

  /** `label` is shown; `payload` comes back as the user's next message when pressed. */
  button(label, payload) {
    this.buttons.push({ label: String(label), payload: String(payload) });
    return this;
  }
}

/** `reply(text).button(label, payload)`: a reply, as the Rust SDK's `Reply::text`. */
export function reply(text) {
  return new Reply(text);
}

/** Whether the host accepts `name` as a variable name: `[A-Za-z_][A-Za-z0-9_]{0,63}`. */
export function isValidVariableName(name) {
  return /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name);
}

/** The plugin's hooks adapted to the component's exports. Either hook may be left out: `extract`
 * then adds no variables and `format` uses the webhook's success template, as in Rust.
 * `extract(response, ctx)` returns an object of variables (strings; numbers and booleans are
 * written as text); `format(vars, ctx)` returns a list of `Reply` or `null`. */
export function definePlugin(hooks) {
  const extract = hooks.extract ?? (() => ({}));
  const format = hooks.format ?? (() => null);
  return Object.freeze({
    hooks: { extract, format },
    extract(response, context) {
      const vars = guard(() => extract(new Response(response.status, response.body, response.headers), contextFrom(context)));
      return variablesToWit(vars);
    },
    format(variables, context) {
      const vars = Object.fromEntries(variables.map((v) => [v.name, v.value]));
      const replies = guard(() => format(vars, contextFrom(context)));
      return repliesToWit(replies);
    },
  });
}

function contextFrom(context) {
  return new Context({
    project: context.project,
    webhook: context.webhook,
    sendId: context.sendId,
    latestMessage: context.latestMessage,
    configJson: context.pluginConfig,
  });
}

/** Any other exception becomes a `PluginError` carrying its message (and is logged with its
 * stack), so a bug shows up in the test console instead of as a bare trap. */
function guard(hook) {
  try {
    return hook();
  } catch (err) {
    if (err instanceof PluginError) throw err;
    write('error', `plugin threw ${err?.stack ?? err}`);
    throw new PluginError(`plugin threw ${err?.name ?? 'an exception'}: ${err?.message ?? err}`);
  }
}

function variablesToWit(vars) {
  if (vars === null || vars === undefined) return [];
  const entries = vars instanceof Map ? [...vars.entries()] : Object.entries(vars);
  return entries.map(([name, value]) => {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new PluginError(`variable \`${name}\` is ${typeOf(value)}: variables are text`);
    }
    return { name: String(name), value: String(value) };
  });
}

function repliesToWit(replies) {
  if (replies === null || replies === undefined) return undefined;
  if (!Array.isArray(replies)) throw new PluginError('format must return a list of replies or null');
  return replies.map((r) => {
    const one = typeof r === 'string' ? new Reply(r) : r;
    return { text: String(one.text), buttons: (one.buttons ?? []).map((b) => ({ label: String(b.label), payload: String(b.payload) })) };
  });
}
