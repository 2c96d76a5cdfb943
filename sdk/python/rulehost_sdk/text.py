"""Text as the Rust SDK writes it, so reasons and errors read the same in every language."""

from __future__ import annotations


def debug_string(s: str) -> str:
    """``s`` quoted and escaped as Rust's ``{:?}`` does."""
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\n":
            out.append("\\n")
        elif c == 0:
            out.append("\\0")
        elif c < 0x20 or 0x7F <= c < 0xA0:
            out.append(f"\\u{{{c:x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def counted(n: int, one: str, many: str) -> str:
    """``"1 purchase"``, ``"3 purchases"``."""
    return f"{n} {one if n == 1 else many}"
