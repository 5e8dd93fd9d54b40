//! {{name}}: a Fallback Host plugin. `extract` copies one field of the upstream's JSON answer into
//! `reply`; `format` answers it with a "Thanks!" button.

import { definePlugin, log, PluginError, reply } from './fallback-plugin.js';

/** The webhook's `plugin_config`, e.g. `{"field": "message"}`. */
const DEFAULTS = { field: 'message' };

/** The string at `field` of the upstream's answer. */
export function answer(body, field) {
  const value = body?.[field];
  if (typeof value !== 'string') throw new PluginError(`no string field \`${field}\` in the response`);
  return value;
}

/** One reply with a button; `null` lets the webhook's success template answer, so the plugin
 * still works when `reply` comes from nowhere. */
export function replies(vars) {
  if (vars.reply === undefined) return null;
  return [reply(vars.reply).button('Thanks!', 'thanks')];
}

export default definePlugin({
  extract(response, ctx) {
    const { field } = ctx.config(DEFAULTS);
    const text = answer(response.json(), field);
    log.info(`answering with \`${field}\` (${new TextEncoder().encode(text).length} bytes)`);
    return { reply: text };
  },
  format(vars) {
    return replies(vars);
  },
});
