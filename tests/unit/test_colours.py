"""Contrast maths (WCAG 2.x) and the focus colours derived from a commune's colour."""

from __future__ import annotations

import pytest

from core.colours import (
    PAGE_BACKGROUNDS,
    branding_problems,
    contrast_ratio,
    focus_colours,
    mix,
    relative_luminance,
)


def test_relative_luminance_of_known_colours() -> None:
    assert relative_luminance("#000000") == 0
    assert relative_luminance("#FFFFFF") == pytest.approx(1)
    # sRGB's linear part below 0.04045, the power curve above (WCAG's formula).
    assert relative_luminance("#0a0a0a") == pytest.approx((10 / 255) / 12.92)
    assert relative_luminance("#808080") == pytest.approx(0.2158605, abs=1e-6)


@pytest.mark.parametrize(
    ("first", "second", "ratio"),
    [
        ("#000000", "#ffffff", 21.0),
        ("#ffffff", "#000000", 21.0),  # order does not matter
        ("#777777", "#ffffff", 4.48),
        ("#595959", "#ffffff", 7.0),
        # The issue's figures: the old focus blue on Boé's and Aure's colours.
        ("#0a76f6", "#5b2a86", 2.33),
        ("#0a76f6", "#1f5f3a", 1.79),
    ],
)
def test_contrast_ratio(first: str, second: str, ratio: float) -> None:
    assert contrast_ratio(first, second) == pytest.approx(ratio, abs=0.01)


def test_mix_moves_towards_the_other_colour() -> None:
    assert mix("#000000", "#ffffff", 0) == "#000000"
    assert mix("#000000", "#ffffff", 1) == "#ffffff"
    assert mix("#204060", "#ffffff", 0.5) == "#90a0b0"


@pytest.mark.parametrize("brand", ["#5b2a86", "#1f5f3a", "#000091", "#0a76f6", "#767676"])
def test_focus_colours_contrast_three_to_one_where_they_are_drawn(brand: str) -> None:
    focus = focus_colours(brand)
    assert focus is not None
    assert contrast_ratio(focus.on_brand, brand) >= 3
    for background in PAGE_BACKGROUNDS:
        assert contrast_ratio(focus.on_page, background) >= 3


def test_focus_colours_stay_close_to_the_communes() -> None:
    # Dark enough for the page already: the page's ring is the commune's colour itself; the
    # header's is the nearest lighter shade of it, not plain white.
    focus = focus_colours("#5b2a86")
    assert focus is not None and focus.on_page == "#5b2a86"
    assert focus.on_brand == mix("#5b2a86", "#ffffff", 0.45)
    assert contrast_ratio(mix("#5b2a86", "#ffffff", 0.40), "#5b2a86") < 3  # one step less
    # A light colour: darker shades for both.
    light = focus_colours("#ffd700")
    assert light is not None
    assert relative_luminance(light.on_page) < relative_luminance("#ffd700")
    assert relative_luminance(light.on_brand) < relative_luminance("#ffd700")


def test_branding_problems_name_white_text_contrast() -> None:
    assert branding_problems("#5b2a86") == []
    (problem,) = branding_problems("#ffd700")
    assert "white text on it contrasts 1.40:1, 4.5:1 is needed" in problem
