"""json-reply-py's logic in plain Python, as plugins/json-reply's unit tests check the Rust one."""

import json
import unittest

from app import JsonReply
from fallback_plugin import Context, PluginError, Response


def run(body: str, config: str):
    return JsonReply().extract(Response(200, body), Context(config_json=config))


class JsonReplyTest(unittest.TestCase):
    def test_default_reads_message_into_reply(self):
        self.assertEqual(run('{"message":"Hello!"}', "{}"), {"reply": "Hello!"})

    def test_dotted_paths_and_array_indexes(self):
        body = json.dumps({"data": {"answer": "42"}, "choices": [{"text": "first"}, {"text": "second"}]})
        self.assertEqual(run(body, '{"field":"data.answer"}')["reply"], "42")
        self.assertEqual(run(body, '{"field":"choices.1.text"}')["reply"], "second")
        self.assertEqual(run(body, '{"field":"$.data.answer"}')["reply"], "42")

    def test_non_strings_become_their_json_text(self):
        self.assertEqual(run('{"n": 3.5}', '{"field":"n"}')["reply"], "3.5")
        self.assertEqual(run('{"ok": true}', '{"field":"ok"}')["reply"], "true")
        self.assertEqual(run('{"list": [1, "a"]}', '{"field":"list"}')["reply"], '[1,"a"]')
        self.assertEqual(run('{"o": {"b": 1, "a": 2}}', '{"field":"o"}')["reply"], '{"a":2,"b":1}')

    def test_the_output_variable_is_configurable(self):
        self.assertEqual(run('{"answer":"yes"}', '{"field":"answer","variable":"area"}'), {"area": "yes"})

    def test_a_missing_field_is_named(self):
        with self.assertRaisesRegex(PluginError, "`data.answer`"):
            run('{"data":{}}', '{"field":"data.answer"}')
        with self.assertRaisesRegex(PluginError, "`choices.0.text`.*`0`"):
            run('{"choices":[]}', '{"field":"choices.0.text"}')
        with self.assertRaisesRegex(PluginError, "`message` is null"):
            run('{"message":null}', "{}")

    def test_a_non_json_body_says_so(self):
        with self.assertRaisesRegex(PluginError, "not JSON"):
            run("<html>oops</html>", "{}")

    def test_a_bad_config_says_so(self):
        with self.assertRaisesRegex(PluginError, "plugin_config.*feild"):
            run('{"message":"x"}', '{"feild":"x"}')


if __name__ == "__main__":
    unittest.main()
