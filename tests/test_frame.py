"""Shapes and pixels (blinkt_agent.frame): what every display and layout relies on."""

import pytest

from blinkt_agent.frame import BLINKT, SIGNAL, Pixel, Shape, check_frame, dark, make_frame


def test_a_shape_knows_its_size_and_says_what_it_is():
    assert (BLINKT.size, str(BLINKT)) == (8, "strip of 8")
    assert (Shape.matrix(17, 7).size, str(Shape.matrix(17, 7))) == (119, "17x7 matrix")
    assert (SIGNAL.size, str(SIGNAL)) == (3, "signal of 3")


@pytest.mark.parametrize(
    ("width", "height", "kind"), [(0, 1, "strip"), (3, 2, "signal"), (8, 2, "strip"), (4, 4, "x")]
)
def test_an_impossible_shape_is_refused(width, height, kind):
    with pytest.raises(ValueError):
        Shape(width, height, kind)


def test_frames_are_padded_to_their_shape_and_checked_against_it():
    assert make_frame([Pixel(1, 2, 3, 1.0)], SIGNAL)[1:] == dark(SIGNAL)[1:]
    with pytest.raises(ValueError, match="a signal of 3 has 3"):
        make_frame([Pixel()] * 4, SIGNAL)
    with pytest.raises(ValueError, match="hd: frame has 8 pixels; its 16x16 matrix has 256"):
        check_frame(dark(BLINKT), Shape.matrix(16, 16), "hd")


@pytest.mark.parametrize(
    ("pixel", "rgb"),
    [
        (Pixel(255, 100, 0, 0.5), (128, 50, 0)),
        (Pixel(255, 100, 0, 0.001), (1, 1, 0)),  # dim, still amber, never dark
        (Pixel(255, 0, 0, 0.0), (0, 0, 0)),
        (Pixel(0, 0, 0, 1.0), (0, 0, 0)),
    ],
)
def test_scaled_colours_keep_a_lit_pixel_lit_and_its_hue(pixel, rgb):
    assert pixel.scaled() == rgb
