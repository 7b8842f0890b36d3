"""How many text messages an SMS body takes (pure): GSM-7 when every character is in the GSM 03.38
alphabet (160 characters in one message, 153 per part of a longer one; the extension characters
count twice), else UCS-2 (70 UTF-16 units in one, 67 per part). Chinese, Russian and Arabic always
need UCS-2, and so does any text with a character outside GSM-7 (Spanish "á", an emoji).
"""

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")  # sent as ESC + character: two septets each

GSM7 = "GSM-7"
UCS2 = "UCS-2"
SINGLE = {GSM7: 160, UCS2: 70}
PART = {GSM7: 153, UCS2: 67}  # a part of a longer message gives 6 octets to its header


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int

    @property
    def single_limit(self) -> int:
        """The most units one message holds in this encoding."""
        return SINGLE[self.encoding]


def sms_encoding(text: str) -> str:
    return GSM7 if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text) else UCS2


def _unit_sizes(text: str, encoding: str) -> list[int]:
    if encoding == GSM7:
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]  # a surrogate pair is never split


def sms_length(text: str) -> SmsLength:
    """The encoding, size and number of messages of `text` (an empty text is one message)."""
    encoding = sms_encoding(text)
    sizes = _unit_sizes(text, encoding)
    units = sum(sizes)
    if units <= SINGLE[encoding]:
        return SmsLength(encoding, units, 1)
    segments, used = 1, 0
    for size in sizes:  # characters are not split across parts
        if used + size > PART[encoding]:
            segments, used = segments + 1, 0
        used += size
    return SmsLength(encoding, units, segments)


def sms_segments(text: str) -> int:
    return sms_length(text).segments
