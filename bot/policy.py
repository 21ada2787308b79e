"""The shop policy file (shop_policy.yml): the one place for policy numbers.

Loaded and checked once per process; a missing or malformed key fails at start-up
with an English message naming it, not later in front of a buyer.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from bot.config import settings


class PolicyError(ValueError):
    """The policy file is missing a key or has a value of the wrong kind."""


def _get(data: dict[str, Any], dotted: str, kind: type | tuple[type, ...]) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise PolicyError(f"shop policy: missing key '{dotted}'")
        node = node[part]
    if not isinstance(node, kind):
        raise PolicyError(f"shop policy: '{dotted}' should be {getattr(kind, '__name__', kind)}, got {node!r}")
    return node


def _clock(value: str, key: str) -> time:
    try:
        hour, minute = value.split(":")
        return time(int(hour), int(minute))
    except ValueError as exc:
        raise PolicyError(f"shop policy: '{key}' should look like 09:00, got {value!r}") from exc


@dataclass(frozen=True)
class ShopPolicy:
    raw: dict[str, Any]

    # --- shop ---------------------------------------------------------------
    @property
    def shop_name(self) -> str:
        return _get(self.raw, "shop.name", str)

    # --- shipping -----------------------------------------------------------
    @property
    def hours_to_ship(self) -> int:
        return _get(self.raw, "shipping.hours_to_ship", int)

    @property
    def same_day_cutoff(self) -> str:
        return _get(self.raw, "shipping.same_day_cutoff", str)

    @property
    def default_couriers(self) -> list[str]:
        return _get(self.raw, "shipping.default_couriers", list)

    @property
    def courier_surcharge(self) -> dict[str, int]:
        return _get(self.raw, "shipping.courier_surcharge", dict)

    @property
    def remote_shipping_fee(self) -> int:
        return _get(self.raw, "shipping.remote_shipping_fee", int)

    @property
    def late_after_days(self) -> int:
        return _get(self.raw, "shipping.late_after_days", int)

    @property
    def lost_after_days(self) -> int:
        return _get(self.raw, "shipping.lost_after_days", int)

    def region_of(self, place: str | None) -> str:
        """江浙沪, 偏远地区 or 其他省份 for a province or city name (default 其他省份)."""
        if place:
            for region, provinces in _get(self.raw, "shipping.regions", dict).items():
                if any(p in place or place in p for p in provinces):
                    return region
            if place in _CITY_PROVINCE:
                return self.region_of(_CITY_PROVINCE[place])
        return "其他省份"

    def delivery_days(self, region: str) -> str:
        return str(_get(self.raw, f"shipping.delivery_days.{region}", (str, int)))

    def ship_deadline(self, paid_at: datetime) -> datetime:
        """When an order paid at `paid_at` is promised to leave the warehouse."""
        cutoff = _clock(self.same_day_cutoff, "shipping.same_day_cutoff")
        if paid_at.time() <= cutoff:
            same_day = datetime.combine(paid_at.date(), time(23, 59))
            return min(same_day, paid_at + timedelta(hours=self.hours_to_ship))
        return paid_at + timedelta(hours=self.hours_to_ship)

    # --- returns ------------------------------------------------------------
    @property
    def no_reason_days(self) -> int:
        return _get(self.raw, "returns.no_reason_days", int)

    @property
    def quality_days(self) -> int:
        return _get(self.raw, "returns.quality_days", int)

    def postage_payer(self, reason: str) -> str:
        """'seller' or 'buyer': who pays to send the goods back for this reason code."""
        seller = _get(self.raw, "returns.seller_pays_postage_for", list)
        return "seller" if reason in seller else "buyer"

    @property
    def return_postage_cap(self) -> int:
        return _get(self.raw, "returns.return_postage_cap", int)

    @property
    def refund_days_after_receipt(self) -> int:
        return _get(self.raw, "returns.refund_days_after_receipt", int)

    @property
    def review_hours(self) -> int:
        return _get(self.raw, "returns.review_hours", int)

    @property
    def freight_insurance(self) -> bool:
        return _get(self.raw, "returns.freight_insurance", bool)

    @property
    def return_address(self) -> str:
        return _get(self.raw, "returns.return_address", str)

    # --- bargaining ---------------------------------------------------------
    @property
    def free_shipping_threshold(self) -> int:
        return _get(self.raw, "bargaining.free_shipping_threshold", int)

    @property
    def coupon_threshold(self) -> int:
        return _get(self.raw, "bargaining.coupon.threshold", int)

    @property
    def coupon_amount(self) -> int:
        return _get(self.raw, "bargaining.coupon.amount", int)

    @property
    def gift_after_rounds(self) -> int:
        return _get(self.raw, "bargaining.gift_after_rounds", int)

    @property
    def gift(self) -> str:
        return _get(self.raw, "bargaining.gift", str)

    @property
    def price_protection_days(self) -> int:
        return _get(self.raw, "bargaining.price_protection_days", int)

    # --- authenticity, invoice, payment -------------------------------------
    @property
    def credentials(self) -> list[str]:
        return _get(self.raw, "authenticity.credentials", list)

    @property
    def compensation(self) -> str:
        return _get(self.raw, "authenticity.compensation", str)

    @property
    def invoice_types(self) -> list[str]:
        return _get(self.raw, "invoice.types", list)

    @property
    def invoice_days(self) -> int:
        return _get(self.raw, "invoice.electronic_days", int)

    @property
    def invoice_special_needs(self) -> str:
        return _get(self.raw, "invoice.special_needs", str)

    @property
    def payment_methods(self) -> list[str]:
        return _get(self.raw, "payment.methods", list)

    @property
    def installments(self) -> str:
        return _get(self.raw, "payment.installments", str)

    @property
    def cash_on_delivery(self) -> bool:
        return _get(self.raw, "payment.cash_on_delivery", bool)

    @property
    def unpaid_cancel_hours(self) -> int:
        return _get(self.raw, "payment.unpaid_cancel_hours", int)

    # --- human agents -------------------------------------------------------
    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(_get(self.raw, "agents.timezone", str))

    @property
    def agent_hours(self) -> tuple[str, str]:
        hours = _get(self.raw, "agents.working_hours", dict)
        return str(hours["start"]), str(hours["end"])

    @property
    def minutes_per_ticket(self) -> int:
        return _get(self.raw, "agents.minutes_per_ticket", int)

    def now(self) -> datetime:
        """The shop's wall-clock time, naive, as every timestamp in the shop database."""
        return datetime.now(self.timezone).replace(tzinfo=None, microsecond=0)

    def agents_working(self, now: datetime) -> bool:
        """Whether human agents are on duty at `now` (an aware datetime)."""
        local = now.astimezone(self.timezone)
        days = _get(self.raw, "agents.working_days", list)
        start, end = (_clock(v, "agents.working_hours") for v in self.agent_hours)
        return local.isoweekday() in days and start <= local.time() < end

    def check(self) -> None:
        """Touch every key once, so a broken file fails loudly at start-up."""
        for name in dir(type(self)):
            if isinstance(getattr(type(self), name), property):
                getattr(self, name)
        for region in _get(self.raw, "shipping.regions", dict):
            self.delivery_days(region)
        self.delivery_days("其他省份")
        _clock(self.same_day_cutoff, "shipping.same_day_cutoff")
        for v in self.agent_hours:
            _clock(v, "agents.working_hours")


def load_policy(path: Path) -> ShopPolicy:
    """Read and check a policy file; raises PolicyError with the reason."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PolicyError(f"shop policy file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"shop policy file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise PolicyError(f"shop policy file {path} should hold a mapping")
    policy = ShopPolicy(raw)
    policy.check()
    return policy


@functools.lru_cache(maxsize=1)
def policy() -> ShopPolicy:
    """The policy in force for this process."""
    return load_policy(settings().policy_path)


# Big cities buyers name instead of their province.
_CITY_PROVINCE = {
    "杭州": "浙江", "宁波": "浙江", "温州": "浙江", "南京": "江苏", "苏州": "江苏",
    "无锡": "江苏", "乌鲁木齐": "新疆", "拉萨": "西藏", "西宁": "青海",
    "呼和浩特": "内蒙古", "银川": "宁夏", "兰州": "甘肃", "海口": "海南", "三亚": "海南",
}  # fmt: skip
