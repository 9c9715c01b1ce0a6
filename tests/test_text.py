import pytest

from genrec.data.dataset import Catalog
from genrec.data.text import clean_text, item_texts, render_template
from genrec.errors import ConfigError


def test_sections_drop_when_a_field_is_empty():
    template = "{title}[; brand: {brand}][; categories: {categories}]"
    assert render_template(template, {"title": "Lipstick", "brand": "", "categories": "Makeup"}) == \
        "Lipstick; categories: Makeup"
    assert render_template(template, {"title": "Lipstick", "brand": "OPI", "categories": ""}) == "Lipstick; brand: OPI"


def test_html_entities_are_unescaped_even_when_double_escaped():
    assert clean_text("L&#39;Oreal &amp;amp; Co") == "L'Oreal & Co"


def test_item_texts_render_lists_and_paths():
    catalog = Catalog(
        "toy", ["a", "b"],
        fields={"title": ["A &amp; B", "C"], "categories": [[["Beauty", "Nails"]], []], "genres": [["x", "y"], []]},
    )
    texts = item_texts(catalog, "{title}[ | {categories}][ | {genres}]")
    assert texts == ["A & B | Beauty > Nails | x, y", "C"]


def test_unknown_field_names_the_available_ones():
    catalog = Catalog("toy", ["a"], fields={"title": ["A"]})
    with pytest.raises(ConfigError, match="available fields: \\['title'\\]"):
        item_texts(catalog, "{title} {price}")
