"""The plugin's logic in plain Python: `python3 -m unittest`."""

import pathlib
import unittest

from app import Answer
from fallback_plugin import Context, PluginError, Response

SAMPLE = (pathlib.Path(__file__).parent / "sample-response.json").read_text()


def extract(body: str, config: str):
    return Answer().extract(Response(200, body), Context(config_json=config))


class AnswerTest(unittest.TestCase):
    def test_copies_the_field_into_reply(self):
        self.assertEqual(extract(SAMPLE, "{}"), {"reply": "Our store opens at 9am and closes at 6pm."})
        self.assertEqual(extract(SAMPLE, '{"field":"id"}'), {"reply": "r-1842"})

    def test_a_missing_field_is_named(self):
        with self.assertRaises(PluginError) as caught:
            extract('{"other":1}', "{}")
        self.assertEqual(caught.exception.message, "no string field `message` in the response")

    def test_format_adds_a_button_or_defers_to_the_template(self):
        [one] = Answer().format({"reply": "hi"}, Context())
        self.assertEqual((one.text, one.buttons), ("hi", [("Thanks!", "thanks")]))
        self.assertIsNone(Answer().format({}, Context()))


if __name__ == "__main__":
    unittest.main()
