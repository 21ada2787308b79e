"""The shop policy file: every number the bot quotes, and clear errors when it is broken."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import PROJECT_ROOT
from bot.policy import PolicyError, load_policy

POLICY = load_policy(PROJECT_ROOT / "shop_policy.yml")


def test_regions_by_province_and_city() -> None:
    assert POLICY.region_of("上海") == "江浙沪"
    assert POLICY.region_of("杭州") == "江浙沪"
    assert POLICY.region_of("乌鲁木齐") == "偏远地区"
    assert POLICY.region_of("四川") == "其他省份"
    assert POLICY.region_of(None) == "其他省份"


def test_orders_paid_before_the_cutoff_ship_the_same_day() -> None:
    assert POLICY.ship_deadline(datetime(2026, 11, 23, 10, 0)) == datetime(2026, 11, 23, 23, 59)
    assert POLICY.ship_deadline(datetime(2026, 11, 23, 20, 0)) == datetime(2026, 11, 25, 20, 0)


def test_who_pays_return_postage() -> None:
    assert POLICY.postage_payer("quality") == "seller"
    assert POLICY.postage_payer("no_reason") == "buyer"


def test_agent_working_hours() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    assert POLICY.agents_working(datetime(2026, 11, 23, 10, 0, tzinfo=shanghai))
    assert not POLICY.agents_working(datetime(2026, 11, 23, 23, 30, tzinfo=shanghai))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("hours_to_ship: 48", "hours_to_ship: soon"), "shipping.hours_to_ship"),
        (lambda t: t.replace("  no_reason_days: 7", ""), "returns.no_reason_days"),
        (lambda t: t.replace('start: "09:00"', 'start: "9am"'), "agents.working_hours"),
        (lambda t: t + "\n  - : [", "not valid YAML"),
    ],
)
def test_a_broken_policy_file_names_the_problem(tmp_path: Path, edit, message: str) -> None:
    broken = tmp_path / "policy.yml"
    broken.write_text(edit((PROJECT_ROOT / "shop_policy.yml").read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(PolicyError, match=message.replace(".", r"\.")):
        load_policy(broken)


def test_a_missing_policy_file_is_reported() -> None:
    with pytest.raises(PolicyError, match="not found"):
        load_policy(Path("/nonexistent/policy.yml"))
