"""What the Bot API accepts in sendMessage, checked the way Telegram checks it: HTML parse mode's
tags and entities, the 1-4096 character limit counted after entity parsing (in UTF-16 code
units), and the Bot API 7.0 field for link previews."""

import html
from html.parser import HTMLParser

MAX_VISIBLE = 4096
# https://core.telegram.org/bots/api#html-style
TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre"}
TAGS |= {"blockquote", "tg-emoji"}


class _Entities(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.text, self.open, self.errors = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag not in TAGS:
            self.errors.append(f"unsupported start tag <{tag}>")
        self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")

    def handle_data(self, data):
        if "<" in data or ">" in data:
            self.errors.append("a bare < or > in the text")
        self.text.append(data)

    def handle_entityref(self, name):
        if name not in ("lt", "gt", "amp", "quot"):
            self.errors.append(f"unsupported entity &{name};")
        self.text.append(html.unescape(f"&{name};"))

    def handle_charref(self, name):
        self.text.append(html.unescape(f"&#{name};"))


def visible_text(message: dict) -> str:
    """The text Telegram would show for a sendMessage body; AssertionError where Telegram would
    answer 400 (can't parse entities, message is too long, a field it no longer takes)."""
    assert message.get("chat_id"), "chat_id is required"
    assert "disable_web_page_preview" not in message, "replaced by link_preview_options in Bot API 7.0"
    assert isinstance(message.get("link_preview_options", {}), dict)
    text = message.get("text")
    assert isinstance(text, str) and text, "text must be 1-4096 characters"
    if message.get("parse_mode") == "HTML":
        parser = _Entities()
        parser.feed(text)
        parser.close()
        assert not parser.errors and not parser.open, f"can't parse entities: {parser.errors or parser.open}"
        text = "".join(parser.text)
    length = len(text.encode("utf-16-le")) // 2
    assert 1 <= length <= MAX_VISIBLE, f"message is too long: {length} characters after entity parsing"
    return text
