//! json-reply in JavaScript: one field of a JSON response (a dotted path like `data.answer` or
//! `choices.0.text`) into one variable (`reply` by default), as plugins/json-reply does in Rust.

import { definePlugin, log, PluginError } from './fallback-plugin.js';

/** The webhook's `plugin_config`: `{"field": "data.answer", "variable": "reply"}`, both optional. */
const DEFAULTS = { field: 'message', variable: 'reply' };

/** Walks `path`: dot-separated object keys, or array indexes where the value is an array.
 * A leading `$.` is accepted so JSONPath-looking configs (`$.message`) also work. */
export function lookup(body, path) {
  const trimmed = path.startsWith('$.') ? path.slice(2) : path;
  let current = body;
  for (const segment of trimmed.split('.')) {
    let next;
    if (Array.isArray(current)) {
      next = /^\d+$/.test(segment) ? current[Number(segment)] : undefined;
    } else if (current !== null && typeof current === 'object' && Object.hasOwn(current, segment)) {
      next = current[segment];
    }
    if (next === undefined) {
      throw new PluginError(`field \`${trimmed}\` not found in the response (no \`${segment}\`)`);
    }
    current = next;
  }
  return current;
}

/** Strings as they are; numbers, booleans, objects and arrays as compact JSON with object keys
 * sorted (as the Rust plugin writes them); `null` is refused. */
export function asText(value, path) {
  if (typeof value === 'string') return value;
  if (value === null) throw new PluginError(`field \`${path}\` is null in the response`);
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys(value[k])]));
  }
  return value;
}

export default definePlugin({
  extract(response, ctx) {
    const config = ctx.config(DEFAULTS, { denyUnknown: true });
    const path = config.field.startsWith('$.') ? config.field.slice(2) : config.field;
    log.debug(`reading \`${path}\` into \`${config.variable}\``);
    return { [config.variable]: asText(lookup(response.json(), config.field), path) };
  },
});
