"""Products and SKUs: lookup by the names buyers use, stock, prices and size advice."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

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
    """The product a buyer means by `mention` (its name, an alias, or a part of either).

    Exact names and aliases win over partial ones; among equals, the lowest product code.
    """
    if not mention:
        return None
    # Match on names only, then load the one product with its SKUs in one query: building
    # every product's view with all 96 SKUs cost ~5.5 ms of CPU per lookup, this ~2 ms
    # (timed on the seeded shop, session included). Nothing is cached: stock and prices are
    # always read as they are now.
    names = session.execute(select(Product.id, Product.name, Product.aliases).order_by(Product.code)).all()
    for exact in (True, False):
        for row in names:
            candidates = [row.name, *(row.aliases or ())]
            matches = mention in candidates if exact else any(mention in n or n in mention for n in candidates)
            if matches:
                product = (
                    session.scalars(select(Product).where(Product.id == row.id).options(joinedload(Product.skus)))
                    .unique()
                    .one_or_none()
                )
                # None only if the product was deleted between the two queries (PostgreSQL).
                return _view(product) if product is not None else None
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
