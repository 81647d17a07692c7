"""Hypothesis strategies shared by the encoder tests: message text with every character class
JSON treats apart (quotes, backslashes, control characters, newlines, DEL, non-ASCII, lone
surrogates), or plain printable ASCII (the encoder's fast path)."""

from __future__ import annotations

from hypothesis import strategies as st


def message_text(*, ascii_max: int, other_max: int, specials: str = "") -> st.SearchStrategy[str]:
    """Printable ASCII up to ``ascii_max`` characters, or any text up to ``other_max`` drawn
    mostly from the characters JSON escapes (plus ``specials``)."""
    return st.one_of(
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7F), max_size=ascii_max),
        st.text(
            st.one_of(
                st.sampled_from(specials + '"\\\n\r\t\x00\x1f\x7f é€😀'),
                st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                st.characters(),  # includes lone surrogates
            ),
            max_size=other_max,
        ),
    )
