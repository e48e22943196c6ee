"""A light walk over BER/DER with asn1crypto's parser, for the receipt's hot path.

Building asn1crypto's CMS objects costs several hundred microseconds per receipt; an attestation only needs the
receipt's encapsulated content and its fields. asn1crypto's parser decodes every element read here; this module
says which element is expected where. One thing it adds: ``enter`` steps into a constructed element by reading
its header only. With BER's indefinite lengths, parsing an element means parsing everything inside it, so
walking down ContentInfo > SignedData > encapContentInfo element by element would re-read the whole receipt at
every level. ``verify_receipt`` still reads the signer through asn1crypto's CMS classes and checks that both
views agree on the content.
"""

from __future__ import annotations

from asn1crypto import parser

from app_integrity.errors import InputError

UNIVERSAL, CONTEXT = 0, 2
INTEGER, OCTET_STRING, OID, SEQUENCE, SET = 2, 4, 6, 16, 17
_MAX_CHUNK_DEPTH = 4

Element = tuple[int, int, int, bytes]  # class, constructed (0/1), tag, contents


def malformed(message: str) -> InputError:
    return InputError("input.malformed", f"the receipt is not a CMS SignedData structure: {message}")


def elements(data: bytes, *, limit: int | None = None) -> list[Element]:
    """The consecutive elements that make up ``data`` (the contents of a constructed element).

    ``limit`` stops after that many: what follows is not read (with BER's indefinite lengths, reading an element
    means reading everything inside it).
    """
    found: list[Element] = []
    position = 0
    while position < len(data) and (limit is None or len(found) < limit):
        try:
            class_, method, tag, header, contents, trailer = parser.parse(data[position:])
        except (ValueError, TypeError) as exc:
            raise malformed(str(exc)) from exc
        found.append((class_, method, tag, contents))
        position += len(header) + len(contents) + len(trailer)
    return found


def enter(data: bytes, position: int, class_: int, tag: int) -> int:
    """Check that a constructed element of ``class_``/``tag`` starts at ``position``; return where its contents
    start. Only the identifier and length octets are read (X.690 §8.1.2-8.1.3)."""
    if position + 2 > len(data):
        raise malformed("the structure ends early")
    identifier, length = data[position], data[position + 1]
    if identifier >> 6 != class_ or not identifier & 0x20 or identifier & 0x1F != tag:
        raise malformed(f"expected a constructed element with tag {tag} at offset {position}")
    if length == 0x80:  # indefinite length: contents run to an end-of-contents marker
        return position + 2
    if length < 0x80:
        return position + 2
    octets = length & 0x7F
    if octets > 4 or position + 2 + octets > len(data):
        raise malformed("an element's length is not plausible")
    return position + 2 + octets


def read(data: bytes, position: int) -> tuple[Element, int]:
    """The element at ``position`` (parsed by asn1crypto) and the position after it."""
    try:
        class_, method, tag, header, contents, trailer = parser.parse(data[position:])
    except (ValueError, TypeError) as exc:
        raise malformed(str(exc)) from exc
    return (class_, method, tag, contents), position + len(header) + len(contents) + len(trailer)


def single(data: bytes) -> Element:
    """The one element that ``data`` must consist of exactly."""
    items = elements(data)
    if len(items) != 1:
        raise malformed(f"expected one element, found {len(items)}")
    return items[0]


def expect(element: Element, class_: int, tag: int, *, constructed: bool | None = None) -> bytes:
    if element[0] != class_ or element[2] != tag or (constructed is not None and element[1] != int(constructed)):
        raise malformed(f"unexpected element (class {element[0]}, tag {element[2]}) where tag {tag} belongs")
    return element[3]


def integer(element: Element) -> int:
    contents = expect(element, UNIVERSAL, INTEGER, constructed=False)
    if not contents or len(contents) > 8:
        raise malformed("an INTEGER is empty or too long")
    return int.from_bytes(contents, "big", signed=True)


def octet_string(element: Element, depth: int = 0) -> bytes:
    """An OCTET STRING's bytes, joining BER's constructed (chunked) form."""
    contents = expect(element, UNIVERSAL, OCTET_STRING)
    if element[1] == 0:
        return contents
    if depth >= _MAX_CHUNK_DEPTH:
        raise malformed("OCTET STRING chunks nest too deep")
    return b"".join(octet_string(chunk, depth + 1) for chunk in elements(contents))
