"""core.references: orderReferences ClickPesa accepts (letters and digits) that nobody can guess or repeat."""

import re

from core.references import new_reference

SHAPE = re.compile(r"[A-Z0-9]+")


def test_it_keeps_the_prefix_and_adds_twelve_characters():
    reference = new_reference("BLNPO")
    assert reference.startswith("BLNPO")
    assert len(reference) == len("BLNPO") + 12


def test_it_uses_upper_case_letters_and_digits_only():
    for _ in range(200):
        assert SHAPE.fullmatch(new_reference("BLN"))


def test_an_empty_prefix_gives_twelve_characters():
    reference = new_reference("")
    assert len(reference) == 12 and SHAPE.fullmatch(reference)


def test_it_never_repeats_over_many_draws():
    references = {new_reference("BLN") for _ in range(20_000)}
    assert len(references) == 20_000


def test_the_random_part_uses_the_whole_alphabet():
    """Letters and digits both appear: the tail is not, say, a counter or a hex digest."""
    seen = set("".join(new_reference("")[-12:] for _ in range(500)))
    assert seen == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def test_every_reference_passes_the_clickpesa_clients_path_check():
    """The client refuses to put anything but letters and digits in a URL path."""
    reference = new_reference("BLN")
    assert reference.isascii() and reference.isalnum()
