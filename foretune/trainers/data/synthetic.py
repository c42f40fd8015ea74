"""The built-in default data: seeded, realistic-looking product titles with labelled attributes.

foretune must run without any downloaded data, so the default job extracts attributes from titles
made here. The task is meant to be learnable by a small model in a few dozen LoRA steps, but not
trivial:

- six categories (shoes, shirts, backpacks, phone cases, watches, water bottles), each asking a
  FIXED set of 4-5 attributes, so answers are short and the labels are consistent;
- invented brand names (some look like ordinary words: "Summit", "Ember"), sometimes in capitals,
  usually first but not always ("by Brand", after a "2024 New" prefix);
- every value is an exact substring of the title; about a fifth of the asked attributes are
  absent (null);
- distractors: colour words inside product-line names ("Red Canyon"), size-like phrases that are
  not the size ("fits 15.6 inch laptop", "available in S-XXL"), the phone maker next to the case
  maker, numbers that are not model numbers ("5ATM", "2024");
- segments in varied order with varied separators and marketing filler.

Everything is drawn from one `random.Random(seed)`, so ``generate_products(n, seed=s)`` is always
the same list, and it is a prefix of ``generate_products(m, seed=s)`` for m > n. No real data is
copied here.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from foretune.errors import ForetuneError
from foretune.trainers.data.records import Product

__all__ = ["CATEGORY_ATTRIBUTES", "generate_products"]

# How often an asked attribute appears in the title (else it is labelled null).
_PRESENT = 0.8

BRANDS = (
    "Trevlo",
    "Kandor",
    "Zephyrix",
    "Moonwake",
    "Altura",
    "Brisk & Co",
    "North Loop",
    "Summit",
    "Ember",
    "Vantro",
    "Okuma Lane",
    "Pelora",
    "Driftwell",
    "Quillon",
    "Haskett",
    "Norvia",
    "Lumio",
    "Farrow Bay",
    "Tessar",
    "Corvane",
    "Solenne",
    "Yarrow",
    "Bexley",
    "Kitsune Works",
    "Arvo",
    "Maple & Pine",
    "Ostara",
    "Valken",
    "Rivet Road",
    "Ondine",
    "Glint",
    "Harbor Fox",
)
COLORS = (
    "Black",
    "White",
    "Navy Blue",
    "Grey",
    "Red",
    "Olive Green",
    "Beige",
    "Rose Gold",
    "Burgundy",
    "Sky Blue",
    "Charcoal",
    "Khaki",
    "Pink",
    "Silver",
    "Brown",
    "Teal",
    "Mustard Yellow",
    "Black/White",
    "Lavender",
    "Orange",
)
# Product-line names that contain colour words: the colour is NOT the product's colour.
COLOR_LINES = ("Red Canyon", "Blue Ridge", "Silver Peak", "Green Valley", "Black Pearl", "White Cliff")
PLAIN_LINES = ("Trailhead", "Metro", "Nimbus", "Voyager", "Apex", "Cascade", "Horizon", "Echo")
FILLERS = ("2024 New", "Hot Sale", "New Arrival", "Original", "Premium Quality", "Best Seller", "Free Shipping")
GENDERS_ADULT = ("Men's", "Women's", "Men", "Women", "Unisex", "Mens", "Womens")
GENDERS_KIDS = ("Boys", "Girls", "Kids")

CATEGORY_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "shoes": ("Brand", "Gender", "Color", "Size", "Material"),
    "shirts": ("Brand", "Gender", "Color", "Size", "Material"),
    "backpacks": ("Brand", "Color", "Material", "Capacity"),
    "phone cases": ("Brand", "Color", "Material", "Compatible Model"),
    "watches": ("Brand", "Gender", "Color", "Model Number", "Material"),
    "water bottles": ("Brand", "Color", "Capacity", "Material"),
}


class _Title:
    """A title under construction: the head (brand, filler), a core noun phrase, loose segments."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.core: list[str] = []  # words around the product noun, kept in order
        self.segments: list[str] = []  # phrases placed in random order after the core

    def present(self, probability: float = _PRESENT) -> bool:
        return self.rng.random() < probability

    def pick(self, options: tuple[str, ...] | list[str]) -> str:
        return self.rng.choice(options)


def _brand(t: _Title, attributes: dict[str, str | None]) -> tuple[str | None, str]:
    """The brand value (or None) and where it goes: 'front' or 'back'."""
    if not t.present(0.85):
        attributes["Brand"] = None
        return None, "front"
    brand = t.pick(BRANDS)
    if t.present(0.15):
        brand = brand.upper()
    attributes["Brand"] = brand
    return brand, "back" if t.present(0.12) else "front"


def _color(t: _Title, attributes: dict[str, str | None], options: tuple[str, ...] = COLORS) -> None:
    if t.present():
        color = t.pick(options)
        attributes["Color"] = color
        t.segments.append(t.pick((color, color, f"Color: {color}", f"in {color}")))
    else:
        attributes["Color"] = None


def _line(t: _Title) -> None:
    """Sometimes a product-line name; colour words in it are distractors."""
    if t.present(0.35):
        t.core.append(t.pick(COLOR_LINES if t.present(0.6) else PLAIN_LINES))


def _gender(t: _Title, attributes: dict[str, str | None], options: tuple[str, ...] = GENDERS_ADULT) -> None:
    if t.present():
        gender = t.pick(options)
        attributes["Gender"] = gender
        t.core.insert(0, gender)
    else:
        attributes["Gender"] = None
        if t.present(0.2):
            t.segments.append(t.pick(("Gift for Him", "Gift for Her", "Perfect Gift")))


def _material(t: _Title, attributes: dict[str, str | None], options: tuple[str, ...], *, core: bool = False) -> None:
    if t.present():
        material = t.pick(options)
        attributes["Material"] = material
        phrase = t.pick((material, material, f"{material} Upper" if core else f"Made of {material}"))
        if core and t.present(0.5):  # "Men's Leather Loafers": inside the noun phrase
            t.core.insert(len(t.core) // 2, material)
        else:
            t.segments.append(phrase)
    else:
        attributes["Material"] = None


def _shoes(t: _Title) -> dict[str, str | None]:
    a: dict[str, str | None] = {}
    _gender(t, a, GENDERS_ADULT + GENDERS_KIDS)
    _line(t)
    t.core.append(t.pick(("Running Shoes", "Sneakers", "Hiking Boots", "Walking Shoes", "Trail Runners", "Loafers")))
    _color(t, a)
    if t.present():
        size = t.pick(("US 7", "US 8.5", "US 9", "US 10", "US 11", "EU 38", "EU 42", "EU 44", "UK 6", "Size 9.5"))
        a["Size"] = size
        t.segments.append(size)
    else:
        a["Size"] = None
        if t.present(0.4):
            t.segments.append(t.pick(("True to Size", "Wide Fit", "Half Size Up Recommended")))
    _material(t, a, ("Mesh", "Leather", "Suede", "Canvas", "Knit", "Synthetic"), core=True)
    return a


def _shirts(t: _Title) -> dict[str, str | None]:
    a: dict[str, str | None] = {}
    _gender(t, a)
    _line(t)
    t.core.append(t.pick(("T-Shirt", "Polo Shirt", "Henley Shirt", "Oxford Shirt", "Tank Top", "Graphic Tee")))
    _color(t, a)
    if t.present():
        size = t.pick(("S", "M", "L", "XL", "XXL", "Medium", "Large", "Small", "X-Large"))
        a["Size"] = size
        t.segments.append(t.pick((f"Size {size}", f"Size: {size}", f"- {size}")))
    else:
        a["Size"] = None
        if t.present(0.5):
            t.segments.append(t.pick(("Available in S-XXL", "Fits Sizes S to XL", "Regular Fit", "Slim Fit")))
    if t.present():
        material = t.pick(("Cotton", "Linen", "Polyester", "Bamboo", "Merino Wool", "Organic Cotton"))
        a["Material"] = material
        t.segments.append(t.pick((f"100% {material}", material, f"Soft {material}")))
    else:
        a["Material"] = None
    t.segments.append(t.pick(("Short Sleeve", "Long Sleeve", "Sleeveless")))
    return a


def _capacity(t: _Title, a: dict[str, str | None], options: tuple[str, ...]) -> None:
    if t.present():
        capacity = t.pick(options)
        a["Capacity"] = capacity
        t.segments.append(t.pick((capacity, f"{capacity} Capacity", f"Large {capacity}")))
    else:
        a["Capacity"] = None


def _backpacks(t: _Title) -> dict[str, str | None]:
    a: dict[str, str | None] = {}
    _line(t)
    t.core.append(t.pick(("Hiking Backpack", "Laptop Backpack", "Travel Daypack", "School Bag", "Rucksack")))
    _color(t, a)
    _material(t, a, ("Nylon", "Canvas", "Polyester", "Leather", "Ripstop Nylon"))
    _capacity(t, a, ("20L", "25L", "30L", "35L", "40 Liter", "45L", "18L"))
    if t.present(0.6):  # laptop sizes are not capacities
        t.segments.append(t.pick(("fits 15.6 inch Laptop", "for 14 inch Laptop", "fits 17 inch Notebook")))
    return a


_PHONES = (
    "Nova X12",
    "Nova X12 Pro",
    "Orbit 9",
    "Orbit 9 Plus",
    "Pixelon 7a",
    "Zenfon S23",
    "Kairo 5G",
    "Lumen Note 10",
)


def _phone_cases(t: _Title) -> dict[str, str | None]:
    a: dict[str, str | None] = {}
    t.core.append(t.pick(("Phone Case", "Shockproof Case", "Wallet Case", "Slim Cover", "Clear Case")))
    if t.present(0.85):
        phone = t.pick(_PHONES)
        a["Compatible Model"] = phone
        t.core.append(t.pick((f"for {phone}", f"Compatible with {phone}", f"Designed for {phone}")))
    else:
        a["Compatible Model"] = None
        t.segments.append(t.pick(("Universal Fit", "for Most Phones", "6.1 inch")))
    _color(t, a, COLORS + ("Clear", "Matte Black", "Transparent"))
    _material(t, a, ("Silicone", "TPU", "Leather", "Polycarbonate", "Carbon Fiber"))
    return a


def _watches(t: _Title) -> dict[str, str | None]:
    a: dict[str, str | None] = {}
    _gender(t, a)
    _line(t)
    t.core.append(
        t.pick(("Quartz Watch", "Analog Wrist Watch", "Chronograph Watch", "Digital Sports Watch", "Dress Watch"))
    )
    _color(t, a, ("Black", "Silver", "Rose Gold", "Gold", "Navy Blue", "Brown", "Green", "White"))
    if t.present():
        prefix = t.pick(("AT", "KX", "ML", "VQ", "TR", "Z"))
        number = f"{prefix}-{t.rng.randint(100, 9999)}" if t.present(0.7) else f"{prefix}{t.rng.randint(10, 999)}"
        a["Model Number"] = number
        t.segments.append(t.pick((number, f"Model {number}", f"Model: {number}")))
    else:
        a["Model Number"] = None
    if t.present():
        material = t.pick(("Stainless Steel", "Leather", "Silicone", "Titanium", "Nylon"))
        a["Material"] = material
        t.segments.append(t.pick((f"{material} Band", f"{material} Strap", material)))
    else:
        a["Material"] = None
    return a


def _water_bottles(t: _Title) -> dict[str, str | None]:
    a: dict[str, str | None] = {}
    _line(t)
    t.core.append(t.pick(("Water Bottle", "Insulated Bottle", "Sports Bottle", "Travel Tumbler", "Flask")))
    _capacity(t, a, ("500ml", "750ml", "1L", "32 oz", "24oz", "1.5 Liter", "18 oz"))
    _color(t, a)
    _material(t, a, ("Stainless Steel", "Tritan", "Glass", "BPA-Free Plastic", "Aluminum"))
    if t.present(0.4):
        t.segments.append(t.pick(("Keeps Drinks Cold 24 Hours", "Leak Proof Lid", "with Straw", "Dishwasher Safe")))
    return a


# Feature phrases that carry no attribute value; titles get one or more, up to ~10 words.
_FEATURES: dict[str, tuple[str, ...]] = {
    "shoes": ("Breathable", "Lightweight", "Non-Slip", "Cushioned Sole", "Shock Absorbing", "Athletic", "Comfortable"),
    "shirts": ("Crew Neck", "Casual", "Quick Dry", "Classic Fit", "Breathable", "Everyday Wear"),
    "backpacks": ("Water Resistant", "Anti-Theft", "USB Charging Port", "Padded Straps", "Lightweight", "Multi Pocket"),
    "phone cases": ("Drop Protection", "Card Holder", "Wireless Charging Compatible", "Anti-Scratch", "Raised Edges"),
    "watches": ("5ATM Waterproof", "42mm Dial", "Luminous Hands", "Date Display", "Scratch Resistant"),
    "water bottles": ("Leak Proof", "Double Wall", "Wide Mouth", "for Gym", "Outdoor", "Vacuum Insulated"),
}
_MIN_WORDS = 10

_BUILDERS: dict[str, Callable[[_Title], dict[str, str | None]]] = {
    "shoes": _shoes,
    "shirts": _shirts,
    "backpacks": _backpacks,
    "phone cases": _phone_cases,
    "watches": _watches,
    "water bottles": _water_bottles,
}


def _assemble(t: _Title, brand: str | None, brand_at: str) -> str:
    rng = t.rng
    head: list[str] = []
    if rng.random() < 0.3:
        head.append(rng.choice(FILLERS))
    if brand and brand_at == "front":
        head.insert(rng.choice((0, len(head))), brand)
    rng.shuffle(t.segments)
    parts = [" ".join(head + t.core)]
    for segment in t.segments:
        parts.append(rng.choice((" ", " ", " ", ", ", " - ", " | ")) + segment)
    if brand and brand_at == "back":
        parts.append(rng.choice((" by ", " - ", " from ")) + brand)
    return "".join(parts)


def _word_count(t: _Title, brand: str | None) -> int:
    return sum(len(part.split()) for part in (*t.core, *t.segments, brand or ""))


def _product(rng: random.Random) -> Product:
    category = rng.choice(list(_BUILDERS))
    t = _Title(rng)
    attributes: dict[str, str | None] = {}
    brand, brand_at = _brand(t, attributes)
    attributes.update(_BUILDERS[category](t))
    features = list(_FEATURES[category])
    rng.shuffle(features)
    t.segments.append(features.pop())
    while features and _word_count(t, brand) < _MIN_WORDS:
        t.segments.append(features.pop())
    text = _assemble(t, brand, brand_at)
    ordered = {name: attributes[name] for name in CATEGORY_ATTRIBUTES[category]}
    return Product(text=text, attributes=ordered, category=category)


def generate_products(n: int, *, seed: int = 0) -> list[Product]:
    """`n` distinct synthetic products, the same for the same `seed` (and nested in `n`)."""
    if not isinstance(n, int) or n < 1:
        raise ForetuneError(f"the generator makes at least 1 product, got n={n!r} (set data.synthetic_size >= 10)")
    rng = random.Random(seed)
    products: list[Product] = []
    seen: set[str] = set()
    while len(products) < n:
        product = _product(rng)
        if product.text not in seen:  # distinct texts, so splits by text stay the requested size
            seen.add(product.text)
            products.append(product)
    return products
