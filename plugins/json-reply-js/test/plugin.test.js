//! json-reply-js's logic under Node, as plugins/json-reply's unit tests check the Rust one.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import plugin from '../plugin.js';
import { Context, PluginError, Response } from '../fallback-plugin.js';

function run(body, config) {
  return plugin.hooks.extract(new Response(200, body), new Context({ configJson: config }));
}

test('default reads message into reply', () => {
  assert.deepEqual(run('{"message":"Hello!"}', '{}'), { reply: 'Hello!' });
});

test('dotted paths and array indexes', () => {
  const body = JSON.stringify({ data: { answer: '42' }, choices: [{ text: 'first' }, { text: 'second' }] });
  assert.equal(run(body, '{"field":"data.answer"}').reply, '42');
  assert.equal(run(body, '{"field":"choices.1.text"}').reply, 'second');
  assert.equal(run(body, '{"field":"$.data.answer"}').reply, '42');
});

test('non-strings become their JSON text', () => {
  assert.equal(run('{"n": 3.5}', '{"field":"n"}').reply, '3.5');
  assert.equal(run('{"ok": true}', '{"field":"ok"}').reply, 'true');
  assert.equal(run('{"list": [1, "a"]}', '{"field":"list"}').reply, '[1,"a"]');
  assert.equal(run('{"o": {"b": 1, "a": 2}}', '{"field":"o"}').reply, '{"a":2,"b":1}');
});

test('the output variable is configurable', () => {
  assert.deepEqual(run('{"answer":"yes"}', '{"field":"answer","variable":"area"}'), { area: 'yes' });
});

test('a missing field is named', () => {
  assert.throws(() => run('{"data":{}}', '{"field":"data.answer"}'), (err) => err instanceof PluginError && err.message.includes('`data.answer`'));
  assert.throws(() => run('{"choices":[]}', '{"field":"choices.0.text"}'), /`choices\.0\.text`.*`0`/);
  assert.throws(() => run('{"message":null}', '{}'), /`message` is null/);
});

test('a non-JSON body says so', () => {
  assert.throws(() => run('<html>oops</html>', '{}'), /not JSON/);
});

test('a bad config says so', () => {
  assert.throws(() => run('{"message":"x"}', '{"feild":"x"}'), /plugin_config.*feild/);
});

test('the component-level hooks convert both ways', () => {
  const body = new TextEncoder().encode('{"message":"hi"}');
  const context = { project: 'p', webhook: 'w', sendId: 's', latestMessage: 'm', pluginConfig: '{}' };
  assert.deepEqual(plugin.extract({ status: 200, headers: [], body }, context), [{ name: 'reply', value: 'hi' }]);
  assert.equal(plugin.format([{ name: 'reply', value: 'hi' }], context), undefined);
  assert.throws(() => plugin.extract({ status: 200, headers: [], body: new Uint8Array([0x3c]) }, context), (err) => err.payload.message.includes('not JSON'));
});
