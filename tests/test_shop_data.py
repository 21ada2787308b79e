"""The shop layer on a real database: seed, access rules, after-sale, changes, handoff."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from bot import db
from bot.models import AfterSaleRequest, HandoffTicket, Order, OrderStatus, Product, Sku
from bot.policy import policy
from bot.seed import DEMO_BUYER, DEMO_ORDERS, OTHER_BUYER_ORDER
from bot.shop import after_sale, catalogue, handoff, orders
from bot.shop.after_sale import Verdict
from bot.shop.orders import Access, ChangeResult, Delivery
from tests.conftest import fresh_shop

NOW = policy().now()


def test_seed_builds_a_realistic_shop_in_every_status(shop_url: str) -> None:
    with db.session_scope(shop_url) as s:
        statuses = dict(s.execute(select(Order.status, func.count()).group_by(Order.status)).all())
        assert set(statuses) == set(OrderStatus.ALL)
        assert sum(statuses.values()) >= 195
        assert len(catalogue.all_products(s)) == 20


def test_seed_is_deterministic(tmp_path) -> None:
    at = datetime(2026, 11, 20, 10, 0)
    dumps = []
    for name in ("a", "b"):
        url = f"sqlite:///{tmp_path / name}.db"
        fresh_shop(url, now=at)
        with db.session_scope(url) as s:
            dumps.append(
                [(o.id, o.status, o.total_amount, o.created_at) for o in s.scalars(select(Order).order_by(Order.id))]
            )
    assert dumps[0] == dumps[1]


def test_a_buyer_sees_only_their_own_orders(shop_url: str) -> None:
    with db.session_scope() as s:
        assert orders.check_access(s, DEMO_ORDERS["late"], DEMO_BUYER, None) == Access.OK
        # Someone else's order is indistinguishable from one that does not exist.
        assert orders.check_access(s, OTHER_BUYER_ORDER, DEMO_BUYER, None) == Access.NOT_FOUND
        assert orders.check_access(s, "2600000000000000", DEMO_BUYER, None) == Access.NOT_FOUND
        assert orders.check_access(s, "12345", DEMO_BUYER, None) == Access.MALFORMED
        assert orders.check_access(s, "26' OR '1'='1", DEMO_BUYER, None) == Access.MALFORMED


def test_an_anonymous_buyer_must_give_the_phone_digits(shop_url: str) -> None:
    order = DEMO_ORDERS["late"]
    with db.session_scope() as s:
        assert orders.check_access(s, order, None, None) == Access.NEED_PHONE
        assert orders.check_access(s, order, None, "0000") == Access.PHONE_MISMATCH
        assert orders.check_access(s, order, None, "5678") == Access.OK


def test_delivery_states_of_the_demo_orders(shop_url: str) -> None:
    with db.session_scope() as s:
        state = {k: orders.get_order(s, v, policy(), NOW).delivery for k, v in DEMO_ORDERS.items()}
        view = orders.get_order(s, DEMO_ORDERS["late"], policy(), NOW)
    assert state["late"] == Delivery.LATE
    assert state["lost"] == Delivery.LOST
    assert state["in_transit"] == Delivery.ON_TIME
    assert state["paid"] == Delivery.NOT_SHIPPED
    assert state["delivered_recent"] == Delivery.DELIVERED
    assert view.masked_phone == "138****5678"
    assert "****" in view.masked_address


def test_refund_inside_seven_days_is_allowed(shop_url: str) -> None:
    with db.session_scope() as s:
        verdict = after_sale.eligibility(s, DEMO_ORDERS["delivered_recent"], policy(), NOW)
    assert verdict.verdict == Verdict.OK
    assert "return_refund" in verdict.allowed_kinds


def test_refund_outside_seven_day_window_is_refused_unless_the_shop_is_at_fault(shop_url: str) -> None:
    order = DEMO_ORDERS["delivered_old"]  # delivered 20 days ago
    with db.session_scope() as s:
        assert after_sale.eligibility(s, order, policy(), NOW, "no_reason").verdict == Verdict.NO_REASON_EXPIRED
        assert after_sale.eligibility(s, order, policy(), NOW, "quality").verdict == Verdict.OK


def test_unpaid_cancelled_and_refunding_orders_get_no_new_request(shop_url: str) -> None:
    with db.session_scope() as s:
        assert after_sale.eligibility(s, DEMO_ORDERS["unpaid"], policy(), NOW).verdict == Verdict.NOT_PAID
        assert after_sale.eligibility(s, DEMO_ORDERS["refunding"], policy(), NOW).verdict == Verdict.IN_PROGRESS


def test_asking_twice_creates_one_after_sale_request(shop_url: str) -> None:
    order = DEMO_ORDERS["delivered_recent"]
    with db.session_scope() as s:
        first, created = after_sale.create_request(s, order, "return_refund", "size", "大了", policy(), NOW)
        assert created
    with db.session_scope() as s:
        again, created_again = after_sale.create_request(s, order, "return_refund", "size", "大了", policy(), NOW)
        assert not created_again and again.id == first.id
        assert s.get(Order, order).status == OrderStatus.REFUNDING
        assert first.postage_payer == "buyer"


def test_concurrent_requests_for_one_order_create_exactly_one(shop_url: str) -> None:
    order = DEMO_ORDERS["delivered_recent"]

    def request(_: int) -> int:
        with db.session_scope() as s:
            return after_sale.create_request(s, order, "exchange", "quality", "", policy(), NOW)[0].id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(request, range(8)))
    with db.session_scope() as s:
        count = s.scalar(select(func.count()).select_from(AfterSaleRequest).where(AfterSaleRequest.order_id == order))
    assert len(ids) == 1 and count == 1


def test_quality_problems_are_shipped_back_at_the_shops_cost(shop_url: str) -> None:
    with db.session_scope() as s:
        request, _ = after_sale.create_request(
            s, DEMO_ORDERS["delivered_recent"], "exchange", "quality", "", policy(), NOW
        )
    assert request.postage_payer == "seller"


def test_address_changes_only_before_shipping(shop_url: str) -> None:
    with db.session_scope() as s:
        assert (
            orders.change_address(s, DEMO_ORDERS["paid"], "上海市徐汇区漕溪北路1号 张三 13900001111", NOW)
            == ChangeResult.DONE
        )
        assert orders.change_address(s, DEMO_ORDERS["in_transit"], "上海市", NOW) == ChangeResult.TOO_LATE
    with db.session_scope() as s:
        assert s.get(Order, DEMO_ORDERS["paid"]).address.startswith("上海市徐汇区")


def test_cancelling_a_paid_unshipped_order_refunds_it(shop_url: str) -> None:
    with db.session_scope() as s:
        assert orders.cancel_order(s, DEMO_ORDERS["paid"], NOW) == ChangeResult.DONE
        assert orders.cancel_order(s, DEMO_ORDERS["unpaid"], NOW) == ChangeResult.DONE
        assert orders.cancel_order(s, DEMO_ORDERS["late"], NOW) == ChangeResult.TOO_LATE
    with db.session_scope() as s:
        assert s.get(Order, DEMO_ORDERS["paid"]).status == OrderStatus.REFUNDED
        assert s.get(Order, DEMO_ORDERS["unpaid"]).status == OrderStatus.CANCELLED


def test_one_active_handoff_ticket_per_conversation_and_queue_order(shop_url: str) -> None:
    with db.session_scope() as s:
        first, created = handoff.open_ticket(s, "c1", "requested", DEMO_BUYER, None, {}, NOW)
        again, created_again = handoff.open_ticket(s, "c1", "complaint", DEMO_BUYER, None, {}, NOW)
        angry, _ = handoff.open_ticket(s, "c2", "complaint", None, None, {}, NOW + timedelta(minutes=1))
        assert created and not created_again and again.id == first.id
        # Complaints jump the queue.
        assert handoff.queue_position(s, angry.id) == 1
        assert handoff.queue_position(s, first.id) == 2


def test_claiming_a_ticket_is_exactly_once_under_concurrency(shop_url: str) -> None:
    with db.session_scope() as s:
        ticket, _ = handoff.open_ticket(s, "c-claim", "requested", None, None, {}, NOW)

    def claim(agent: int) -> bool:
        with db.session_scope() as s:
            return handoff.claim_ticket(s, ticket.id, f"agent{agent}", NOW)

    with ThreadPoolExecutor(max_workers=10) as pool:
        wins = list(pool.map(claim, range(10)))
    assert wins.count(True) == 1


def test_resolving_frees_the_conversation_for_a_new_ticket(shop_url: str) -> None:
    with db.session_scope() as s:
        ticket, _ = handoff.open_ticket(s, "c3", "lost_parcel", DEMO_BUYER, DEMO_ORDERS["lost"], {}, NOW)
    with db.session_scope() as s:
        assert handoff.resolve_ticket(s, ticket.id, NOW).status == "resolved"
        assert handoff.resolve_ticket(s, ticket.id, NOW) is None
        assert handoff.active_ticket(s, "c3") is None
        assert handoff.list_tickets(s) == []  # the agents' queue
        _, created = handoff.open_ticket(s, "c3", "requested", DEMO_BUYER, None, {}, NOW)
        assert created
        assert s.scalar(select(func.count()).select_from(HandoffTicket)) == 2
        assert [t.status for t in handoff.list_tickets(s)] == ["pending"]
        assert len(handoff.list_tickets(s, include_resolved=True)) == 2


def test_find_product_by_name_or_alias_gives_the_same_view_as_the_catalogue(shop_url: str) -> None:
    with db.session_scope() as s:
        products = catalogue.all_products(s)
        for product in products:
            assert catalogue.find_product(s, product.name) == product
        aliases = {p.name: p.aliases for p in s.scalars(select(Product))}
        for product in products:
            for alias in aliases[product.name]:
                found = catalogue.find_product(s, alias)
                assert found is not None and found.name == product.name


def test_find_product_prefers_an_exact_alias_to_a_partial_name(shop_url: str) -> None:
    with db.session_scope() as s:
        # "四件套" is 纯棉四件套's alias and also a part of 天丝四件套.
        assert catalogue.find_product(s, "四件套").name == "纯棉四件套"
        assert catalogue.find_product(s, "天丝四件套").name == "天丝四件套"
        # A part of a name, or a name inside a longer phrase; the lowest code wins a tie.
        assert catalogue.find_product(s, "四件").name == "纯棉四件套"
        assert catalogue.find_product(s, "这条碎花连衣裙").name == "碎花连衣裙"
        assert catalogue.find_product(s, "手机壳") is None
        assert catalogue.find_product(s, "") is None
        assert catalogue.find_product(s, None) is None


def test_find_product_reads_stock_prices_and_names_as_they_are_now(shop_url: str) -> None:
    with db.session_scope() as s:
        before = catalogue.find_product(s, "乳胶枕")
    assert before is not None and not before.out_of_stock
    with db.session_scope() as s:
        product = s.scalar(select(Product).where(Product.name == "泰国乳胶枕"))
        for sku in product.skus:
            sku.price = before.max_price + 100
        product.skus[0].stock = 0
        product.aliases = [*product.aliases, "护颈枕"]
    with db.session_scope() as s:
        after = catalogue.find_product(s, "护颈枕")
    assert after is not None and after.name == "泰国乳胶枕"
    assert after.min_price == after.max_price == before.max_price + 100
    assert after.out_of_stock == (f"{after.colors[0]}/{after.sizes[0]}",)
    with db.session_scope() as s:
        product = s.scalar(select(Product).where(Product.name == "泰国乳胶枕"))
        product.name = "天然乳胶枕"
        s.add(Sku(product=product, color="浅灰", size="标准款", price=Decimal("199.00"), stock=5))
    with db.session_scope() as s:
        renamed = catalogue.find_product(s, "天然乳胶枕")
    assert renamed is not None and renamed.name == "天然乳胶枕" and "浅灰" in renamed.colors


def test_size_advice_reads_the_size_chart(shop_url: str) -> None:
    with db.session_scope() as s:
        dress = catalogue.find_product(s, "连衣裙")
    assert dress is not None and dress.name == "碎花连衣裙"
    assert catalogue.advise_size(dress, 165, 110) == "M"
    assert catalogue.advise_size(dress, 175, 140) == "XL"
