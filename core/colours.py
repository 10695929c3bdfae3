"""Colour contrast (WCAG 2.x relative luminance) and the focus colours derived from a commune's.

The keyboard focus ring is drawn in two places: on the commune's colour (the header) and on the
page (white cards on a light grey background). WCAG 1.4.11 asks 3:1 against what surrounds it,
and no single colour reaches it on both for every brand colour (Aure's green, #1f5f3a, leaves no
colour 3:1 from both it and white), so each place gets its own colour, derived from the commune's
so the ring still looks like the commune's.
"""

from __future__ import annotations

from dataclasses import dataclass

WHITE = "#ffffff"
BLACK = "#000000"
PAGE_BACKGROUNDS = ("#ffffff", "#f6f6f6")  # --surface and --background of static/portail.css
FOCUS_CONTRAST = 3.0  # WCAG 1.4.11, non-text contrast
TEXT_CONTRAST = 4.5  # WCAG 1.4.3: the header's name and the buttons are white on the colour
_MIX_STEPS = 20


@dataclass(frozen=True)
class FocusColours:
    on_brand: str
    """The focus ring on the commune's colour (the header)."""
    on_page: str
    """The focus ring on the page's white and light grey."""


def _channels(colour: str) -> tuple[int, int, int]:
    value = colour.removeprefix("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def relative_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of `#rrggbb`, from 0 (black) to 1 (white)."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in _channels(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    """WCAG contrast ratio of two `#rrggbb` colours, from 1 to 21."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def mix(colour: str, other: str, share: float) -> str:
    """`colour` moved `share` (0 to 1) of the way towards `other`, as `#rrggbb`."""
    mixed = (
        round(a + (b - a) * share) for a, b in zip(_channels(colour), _channels(other), strict=True)
    )
    return "#" + "".join(f"{c:02x}" for c in mixed)


def _nearest_contrasting(colour: str, backgrounds: tuple[str, ...]) -> str | None:
    """The shade of `colour` closest to it (towards white first, then black) that contrasts
    3:1 with every background; None if even white and black do not."""
    for target in (WHITE, BLACK):
        for step in range(_MIX_STEPS + 1):
            shade = mix(colour, target, step / _MIX_STEPS)
            if all(contrast_ratio(shade, b) >= FOCUS_CONTRAST for b in backgrounds):
                return shade
    return None


def focus_colours(brand: str) -> FocusColours | None:
    """The focus colours for a commune's `#rrggbb`; None if one of them cannot reach 3:1."""
    on_brand = _nearest_contrasting(brand, (brand,))
    on_page = _nearest_contrasting(brand, PAGE_BACKGROUNDS)
    if on_brand is None or on_page is None:
        return None
    return FocusColours(on_brand=on_brand, on_page=on_page)


def branding_problems(brand: str) -> list[str]:
    """What makes `brand` unusable as a commune's colour (English, for `check-config`)."""
    problems = []
    text = contrast_ratio(brand, WHITE)
    if text < TEXT_CONTRAST:
        problems.append(
            f"white text on it contrasts {text:.2f}:1, {TEXT_CONTRAST}:1 is needed "
            "(the header's name and the buttons are white on this colour): choose a darker one"
        )
    if focus_colours(brand) is None:
        problems.append(f"no focus colour contrasts {FOCUS_CONTRAST}:1 with it")
    return problems
