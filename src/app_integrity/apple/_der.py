"""A light walk over the receipt's BER/DER, for the attestation hot path.

Building asn1crypto's CMS objects costs several hundred microseconds per receipt, and even asn1crypto's
low-level parser re-reads every indefinite-length element at each level it is entered. An attestation needs only
the receipt's encapsulated content and its fields, so this module reads identifier and length octets itself
(X.690 §8.1.2-8.1.3: low tag numbers, definite lengths of up to 4 octets) and says which element is expected where;
anything else (an indefinite-length element it must skip over, a high tag number) goes to asn1crypto's parser.
``verify_receipt`` reads the whole structure with asn1crypto's CMS classes and checks that both views agree on
the content before it trusts the signature.
"""

from __future__ import annotations

from asn1crypto import parser

from app_integrity.errors import InputError

UNIVERSAL, CONTEXT = 0, 2
INTEGER, OCTET_STRING, OID, SEQUENCE, SET = 2, 4, 6, 16, 17
_MAX_CHUNK_DEPTH = 4
_INDEFINITE = 0x80

Element = tuple[int, int, int, bytes]  # class, constructed (0/1), tag, contents


def malformed(message: str) -> InputError:
    return InputError("input.malformed", f"the receipt is not a CMS SignedData structure: {message}")


def _header(data: bytes, position: int) -> tuple[int, int, int | None]:
    """(identifier octet, start of contents, length or None when indefinite) of the element at ``position``."""
    if position + 2 > len(data):
        raise malformed("the structure ends inside an element's header")
    identifier, length = data[position], data[position + 1]
    if identifier & 0x1F == 0x1F:
        raise malformed("high tag numbers do not occur in a receipt")
    if length == _INDEFINITE:
        if not identifier & 0x20:
            raise malformed("a primitive element has an indefinite length")
        return identifier, position + 2, None
    if length < 0x80:
        return identifier, position + 2, length
    octets = length & 0x7F
    start = position + 2 + octets
    if octets > 4 or start > len(data):
        raise malformed("an element's length is not plausible")
    return identifier, start, int.from_bytes(data[position + 2 : start], "big")


def enter(data: bytes, position: int, class_: int, tag: int) -> int:
    """Check that a constructed element of ``class_``/``tag`` starts at ``position``; return where its contents
    start (its end is not needed: the walk only goes deeper)."""
    identifier, start, _ = _header(data, position)
    if identifier >> 6 != class_ or not identifier & 0x20 or identifier & 0x1F != tag:
        raise malformed(f"expected a constructed element with tag {tag} at offset {position}")
    return start


def read(data: bytes, position: int) -> tuple[Element, int]:
    """The element at ``position`` and the position after it."""
    # The common case (low tag number, short definite length) inline: this runs ~40 times per receipt.
    if position + 2 <= len(data):
        identifier, length = data[position], data[position + 1]
        if length < 0x80 and identifier & 0x1F != 0x1F:
            end = position + 2 + length
            if end > len(data):
                raise malformed("an element runs past the end of its container")
            return (identifier >> 6, (identifier >> 5) & 1, identifier & 0x1F, data[position + 2 : end]), end
    identifier, start, size = _header(data, position)
    if size is None:
        try:
            class_, method, tag, header, contents, trailer = parser.parse(data[position:])
        except (ValueError, TypeError) as exc:
            raise malformed(str(exc)) from exc
        return (class_, method, tag, contents), position + len(header) + len(contents) + len(trailer)
    end = start + size
    if end > len(data):
        raise malformed("an element runs past the end of its container")
    return (identifier >> 6, (identifier >> 5) & 1, identifier & 0x1F, data[start:end]), end


def end_of(data: bytes, position: int) -> int:
    """The position after the element at ``position`` (low tag number, definite length), read without building
    it; ``malformed`` for anything else or an element that runs past ``data``."""
    if position + 2 > len(data) or data[position] & 0x1F == 0x1F:
        raise malformed("expected an element with a low tag number")
    length = data[position + 1]
    if length < 0x80:
        end = position + 2 + length
    else:
        start = position + 2 + (length & 0x7F)
        if not 0 < length & 0x7F <= 4 or start > len(data):
            raise malformed("an element's length is not plausible")
        end = start + int.from_bytes(data[position + 2 : start], "big")
    if end > len(data):
        raise malformed("an element runs past the end of its container")
    return end


def octet_string_at(data: bytes, position: int) -> bytes:
    """The OCTET STRING starting at ``position``: primitive, or constructed (BER chunks), in which case the
    chunks are read one by one up to the end-of-contents octets instead of scanning the element twice."""
    identifier, start, length = _header(data, position)
    if identifier & 0x1F != OCTET_STRING or identifier >> 6 != UNIVERSAL:
        raise malformed(f"expected an OCTET STRING at offset {position}")
    if length is not None:
        element, _ = read(data, position)
        return octet_string(element)
    chunks: list[bytes] = []
    position = start
    while data[position : position + 2] != b"\x00\x00":
        if len(chunks) > 4096 or position >= len(data):
            raise malformed("a chunked OCTET STRING has no end")
        chunk, position = read(data, position)
        chunks.append(octet_string(chunk, 1))
    return b"".join(chunks)


def elements(data: bytes) -> list[Element]:
    """The consecutive elements that make up ``data`` (the contents of a constructed element)."""
    found: list[Element] = []
    position = 0
    while position < len(data):
        element, position = read(data, position)
        found.append(element)
    return found


def single(data: bytes) -> Element:
    """The one element that ``data`` must consist of exactly."""
    element, end = read(data, 0)
    if end != len(data):
        raise malformed("bytes follow the element")
    return element


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
    # Indefinite-length contents come from asn1crypto's parser without their end-of-contents octets.
    return b"".join(octet_string(chunk, depth + 1) for chunk in elements(contents))
