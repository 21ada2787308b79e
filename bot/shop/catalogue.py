"""Products and SKUs: lookup by the names buyers use, stock, prices and size advice."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.models import Product


@dataclass(frozen=True)
class ProductView:
    code: str
    name: str
    material: str
    description: str
    care: str
    min_price: Decimal
    max_price: Decimal
    colors: tuple[str, ...]
    sizes: tuple[str, ...]
    out_of_stock: tuple[str, ...]  # "颜色/尺码" combinations with no stock
    size_chart: tuple[dict[str, Any], ...]
    credentials: tuple[str, ...]

    @property
    def price_text(self) -> str:
        if self.min_price == self.max_price:
            return f"{self.min_price:.0f}元"
        return f"{self.min_price:.0f}-{self.max_price:.0f}元"


def _view(product: Product) -> ProductView:
    prices = [sku.price for sku in product.skus]
    return ProductView(
        code=product.code,
        name=product.name,
        material=product.material,
        description=product.description,
        care=product.care,
        min_price=min(prices),
        max_price=max(prices),
        colors=tuple(dict.fromkeys(s.color for s in product.skus)),
        sizes=tuple(dict.fromkeys(s.size for s in product.skus)),
        out_of_stock=tuple(f"{s.color}/{s.size}" for s in product.skus if s.stock <= 0),
        size_chart=tuple(product.size_chart or ()),
        credentials=tuple(product.credentials or ()),
    )


def all_products(session: Session) -> list[ProductView]:
    rows = session.scalars(select(Product).options(selectinload(Product.skus)).order_by(Product.code))
    return [_view(p) for p in rows]


def find_product(session: Session, mention: str | None) -> ProductView | None:
    """The product a buyer means by `mention` (its name, an alias, or a part of either)."""
    if not mention:
        return None
    products = session.scalars(select(Product).options(selectinload(Product.skus)).order_by(Product.code)).all()
    for exact in (True, False):
        for product in products:
            names = [product.name, *product.aliases]
            if exact and mention in names:
                return _view(product)
            if not exact and any(mention in n or n in mention for n in names):
                return _view(product)
    return None


def catalogue_terms(session: Session) -> dict[str, dict[str, str]]:
    """Surface forms the NLU should recognise, mapped to canonical values, by entity."""
    terms: dict[str, dict[str, str]] = {"product": {}, "color": {}, "size": {}}
    for product in session.scalars(select(Product).options(selectinload(Product.skus))):
        terms["product"][product.name] = product.name
        for alias in product.aliases:
            # An alias shared by two products stays as written, to be resolved later.
            terms["product"].setdefault(alias, product.name)
        for sku in product.skus:
            terms["color"][sku.color] = sku.color
            if sku.size != "均码":
                terms["size"][sku.size] = sku.size
    return terms


def advise_size(product: ProductView, height_cm: int | None, weight_jin: int | None) -> str | None:
    """The smallest apparel size whose height and weight ranges fit the buyer, if any."""
    fitting = []
    for row in product.size_chart:
        if "height" not in row:
            continue
        h_lo, h_hi = row["height"]
        w_lo, w_hi = row["weight"]
        h_ok = height_cm is None or h_lo <= height_cm <= h_hi
        w_ok = weight_jin is None or w_lo <= weight_jin <= w_hi
        if h_ok and w_ok:
            fitting.append(row["size"])
    if fitting:
        return fitting[0]
    # Between charts: go by weight (the larger fitting size is the comfortable choice).
    for row in product.size_chart:
        if "weight" in row and weight_jin is not None and weight_jin <= row["weight"][1]:
            return row["size"]
    return None
