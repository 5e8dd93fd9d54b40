//! The plugin's logic under Node: `npm test`.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import plugin from '../plugin.js';
import { Context, PluginError, Response } from '../fallback-plugin.js';

const sample = readFileSync(new URL('../sample-response.json', import.meta.url), 'utf8');

function extract(body, config) {
  return plugin.hooks.extract(new Response(200, body), new Context({ configJson: config }));
}

test('copies the field into reply', () => {
  assert.deepEqual(extract(sample, '{}'), { reply: 'Our store opens at 9am and closes at 6pm.' });
  assert.deepEqual(extract(sample, '{"field":"id"}'), { reply: 'r-1842' });
});

test('a missing field is named', () => {
  assert.throws(() => extract('{"other":1}', '{}'), (err) => err instanceof PluginError && err.message === 'no string field `message` in the response');
});

test('format adds a button or defers to the template', () => {
  const [one] = plugin.hooks.format({ reply: 'hi' }, new Context());
  assert.equal(one.text, 'hi');
  assert.deepEqual(one.buttons, [{ label: 'Thanks!', payload: 'thanks' }]);
  assert.equal(plugin.hooks.format({}, new Context()), null);
});
