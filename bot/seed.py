"""A deterministic demo shop: 20 products, 50 buyers, 200 orders in every status.

The same seed and reference time always give the same rows. Timestamps are relative
to the reference time (default: now) so that "delivered 3 days ago" stays true and
late or lost parcels look late or lost when the demo runs.

Buyer b0001 (小林) owns one order of every interesting kind, with fixed numbers, so
that docs, conversation tests and demos can refer to them:
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot import models as m
from bot.models import AfterSaleKind, AfterSaleStatus, OrderStatus, ShipmentStatus
from bot.policy import ShopPolicy

# Fixed orders of buyer b0001 (phone 13812345678).
DEMO_BUYER = "b0001"
DEMO_ORDERS = {
    "delivered_recent": "2611010000000001",  # delivered 2 days ago: 7-day return OK
    "delivered_old": "2611010000000002",  # delivered 20 days ago: quality only
    "in_transit": "2611010000000003",  # shipped yesterday, on time
    "late": "2611010000000004",  # past expected delivery
    "lost": "2611010000000005",  # no tracking update for 8 days
    "paid": "2611010000000006",  # paid, not yet shipped
    "unpaid": "2611010000000007",
    "refunding": "2611010000000008",  # has an open after-sale request
}
OTHER_BUYER_ORDER = "2611010000000009"  # belongs to b0002: never shown to b0001

# How each demo order of b0001 came to be: status, then its timeline and first item.
_DEMO_ORDER_PLAN: list[tuple[str, str, dict]] = [
    ("delivered_recent", OrderStatus.DELIVERED, {"age_days": 6, "delivered_days_ago": 2, "sku_index": 0}),
    ("delivered_old", OrderStatus.COMPLETED, {"age_days": 25, "delivered_days_ago": 20, "sku_index": 60}),
    ("in_transit", OrderStatus.SHIPPED, {"age_days": 2, "shipped_days_ago": 1, "sku_index": 30}),
    ("late", OrderStatus.SHIPPED, {"age_days": 9, "shipped_days_ago": 8, "sku_index": 40, "late": True}),
    ("lost", OrderStatus.SHIPPED, {"age_days": 14, "shipped_days_ago": 13, "sku_index": 50, "lost": True}),
    ("paid", OrderStatus.PAID, {"age_days": 0, "sku_index": 12}),
    ("unpaid", OrderStatus.UNPAID, {"age_days": 0, "sku_index": 20}),
    ("refunding", OrderStatus.REFUNDING, {"age_days": 8, "delivered_days_ago": 3, "sku_index": 35}),
]

__doc__ += "\n".join(f"    {k}: {v}" for k, v in DEMO_ORDERS.items())


@dataclass(frozen=True)
class _ProductSpec:
    code: str
    name: str
    aliases: tuple[str, ...]
    category: str
    material: str
    description: str
    colors: tuple[str, ...]
    sizes: tuple[str, ...]
    price: int
    chart: str  # "apparel", "bed", "none"


APPAREL_CHART = [
    {"size": "S", "height": [150, 160], "weight": [80, 100]},
    {"size": "M", "height": [158, 166], "weight": [95, 115]},
    {"size": "L", "height": [164, 172], "weight": [110, 130]},
    {"size": "XL", "height": [170, 180], "weight": [125, 150]},
]

BED_FITS = {
    "1.5m床": "适合1.5米宽的床，被套200x230cm",
    "1.8m床": "适合1.8米宽的床，被套220x240cm",
    "2.0m床": "适合2米宽的床，被套230x250cm",
    "150x200": "适合1.2-1.5米床",
    "200x230": "适合1.5-1.8米床",
    "220x240": "适合1.8-2米床",
}

PRODUCTS = [
    _ProductSpec("P01", "纯棉四件套", ("全棉四件套", "四件套"), "床品", "100%新疆长绒棉，40支", "亲肤透气，斜纹工艺，越洗越软", ("雾霾蓝", "奶油白", "浅灰", "樱花粉"), ("1.5m床", "1.8m床", "2.0m床"), 299, "bed"),
    _ProductSpec("P02", "天丝四件套", ("天丝套件",), "床品", "60支兰精天丝", "冰凉顺滑，适合夏天", ("墨绿", "香槟金", "银灰"), ("1.5m床", "1.8m床"), 459, "bed"),
    _ProductSpec("P03", "水洗棉夏凉被", ("夏凉被", "空调被"), "床品", "水洗棉面料，聚酯纤维填充", "可机洗，轻薄不闷", ("白色", "浅蓝"), ("150x200", "200x230"), 129, "bed"),
    _ProductSpec("P04", "白鹅绒羽绒被", ("羽绒被", "鹅绒被"), "床品", "95%白鹅绒，充绒量1.5kg", "蓬松保暖，防钻绒面料", ("白色",), ("200x230", "220x240"), 899, "bed"),
    _ProductSpec("P05", "泰国乳胶枕", ("乳胶枕",), "床品", "93%天然乳胶", "回弹支撑，护颈曲线", ("白色",), ("标准款", "高枕款"), 169, "none"),
    _ProductSpec("P06", "记忆棉枕", ("记忆枕",), "床品", "慢回弹记忆棉", "贴合头颈，不易变形", ("白色", "浅灰"), ("标准款",), 139, "none"),
    _ProductSpec("P07", "珊瑚绒睡衣", ("睡衣",), "服饰", "珊瑚绒", "加厚保暖，居家套装", ("粉色", "灰色"), ("S", "M", "L", "XL"), 119, "apparel"),
    _ProductSpec("P08", "碎花连衣裙", ("连衣裙", "碎花裙"), "服饰", "雪纺，内衬聚酯纤维", "法式小碎花，收腰显瘦", ("藏青色", "米白色", "碎花黄"), ("S", "M", "L", "XL"), 199, "apparel"),
    _ProductSpec("P09", "针织开衫", ("开衫", "毛衣外套"), "服饰", "30%羊毛 70%腈纶", "软糯不扎，春秋百搭", ("燕麦色", "黑色"), ("S", "M", "L"), 169, "apparel"),
    _ProductSpec("P10", "法式衬衫裙", ("衬衫裙",), "服饰", "棉麻混纺", "宽松版型，通勤休闲两相宜", ("米白色", "雾霾蓝"), ("S", "M", "L"), 229, "apparel"),
    _ProductSpec("P11", "高腰阔腿裤", ("阔腿裤",), "服饰", "垂感醋酸面料", "高腰显腿长，不易皱", ("黑色", "燕麦色"), ("S", "M", "L", "XL"), 159, "apparel"),
    _ProductSpec("P12", "羊毛围巾", ("围巾",), "配饰", "100%澳洲羊毛", "长180cm宽70cm，柔软不扎", ("酒红", "藏青色", "驼色"), ("均码",), 189, "none"),
    _ProductSpec("P13", "三折晴雨伞", ("晴雨伞", "雨伞"), "雨具", "黑胶防晒涂层，8骨", "UPF50+，晴雨两用", ("黑色", "藏青色", "樱花粉"), ("均码",), 69, "none"),
    _ProductSpec("P14", "自动折叠伞", ("折叠伞", "自动伞"), "雨具", "碰击布，10骨加固", "一键开收，抗风", ("黑色", "墨绿"), ("均码",), 89, "none"),
    _ProductSpec("P15", "儿童雨衣", ("雨衣",), "雨具", "EVA环保面料", "带书包位，反光条", ("黄色", "蓝色"), ("S", "M", "L"), 59, "none"),
    _ProductSpec("P16", "纯棉浴巾", ("浴巾",), "毛巾", "新疆棉，32股", "吸水不掉毛，70x140cm", ("白色", "浅灰"), ("均码",), 79, "none"),
    _ProductSpec("P17", "毛巾三条装", ("毛巾",), "毛巾", "纯棉", "34x74cm，三条装", ("混色",), ("均码",), 49, "none"),
    _ProductSpec("P18", "硅藻泥地垫", ("地垫", "脚垫"), "家居", "硅藻泥", "秒吸水，防滑底", ("浅灰", "米白色"), ("40x60", "50x80"), 69, "none"),
    _ProductSpec("P19", "棉麻抱枕", ("抱枕",), "家居", "棉麻外套，PP棉芯", "可拆洗，45x45cm", ("燕麦色", "墨绿", "雾霾蓝"), ("均码",), 59, "none"),
    _ProductSpec("P20", "纯棉床笠", ("床笠", "床罩"), "床品", "100%棉", "四周松紧带，防滑", ("奶油白", "浅灰"), ("1.5m床", "1.8m床"), 99, "bed"),
]  # fmt: skip

CREDENTIALS = {
    "P01": ["新疆棉溯源证书", "GB 18401 A类婴幼儿级检测报告"],
    "P04": ["羽绒含绒量检测报告（含绒量95%）"],
    "P05": ["泰国原装进口报关单"],
    "P12": ["羊毛含量检测报告（100%羊毛）"],
}

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
PROVINCES = ["浙江", "江苏", "上海", "广东", "北京", "四川", "湖北", "山东", "河南", "新疆", "西藏", "海南", "福建", "湖南"]  # fmt: skip
STREETS = [
    "人民路",
    "中山路",
    "解放路",
    "建设路",
    "文化路",
    "和平街",
    "长江路",
    "滨江大道",
]
COURIERS = ["中通", "韵达", "圆通", "顺丰"]
CITIES = {"浙江": "杭州", "江苏": "苏州", "上海": "上海", "广东": "广州", "北京": "北京", "四川": "成都", "湖北": "武汉", "山东": "济南", "河南": "郑州", "新疆": "乌鲁木齐", "西藏": "拉萨", "海南": "海口", "福建": "厦门", "湖南": "长沙"}  # fmt: skip


def seed_shop(session: Session, policy: ShopPolicy, now: datetime | None = None, seed: int = 42) -> dict[str, int]:
    """Replace the shop's contents with the demo shop; returns row counts."""
    now = (now or policy.now()).replace(microsecond=0)
    rng = random.Random(seed)
    _clear(session)
    skus = _catalogue(session)
    buyers = _buyers(session, rng, now)
    builder = _OrderBuilder(session, rng, now, policy, skus)
    builder.demo_orders(buyers[0], buyers[1])
    statuses = [s for s in OrderStatus.ALL]
    weights = [8, 12, 16, 14, 30, 5, 8, 7]
    for n in range(190):
        buyer = buyers[rng.randrange(len(buyers))]
        status = rng.choices(statuses, weights)[0]
        builder.order(
            buyer,
            status,
            order_id=f"26{(now - timedelta(days=n % 30)):%m%d}{rng.randrange(10**10):010d}",
        )
    session.flush()
    return {
        table.__tablename__: session.scalar(select(func.count()).select_from(table))
        for table in (
            m.Product,
            m.Sku,
            m.Buyer,
            m.Order,
            m.Shipment,
            m.AfterSaleRequest,
        )
    }


def _clear(session: Session) -> None:
    for table in reversed(m.Base.metadata.sorted_tables):
        session.execute(delete(table))


def _catalogue(session: Session) -> list[m.Sku]:
    skus: list[m.Sku] = []
    for spec in PRODUCTS:
        chart: list[dict] = []
        if spec.chart == "apparel":
            chart = [row for row in APPAREL_CHART if row["size"] in spec.sizes]
        elif spec.chart == "bed":
            chart = [{"size": s, "fits": BED_FITS[s]} for s in spec.sizes]
        product = m.Product(
            code=spec.code, name=spec.name, aliases=list(spec.aliases), category=spec.category,
            material=spec.material, description=spec.description,
            care="建议30度以下冷水轻柔机洗，深浅色分开洗，勿暴晒" if spec.category != "雨具" else "用后撑开阴干，勿折叠收纳湿伞",
            size_chart=chart, credentials=CREDENTIALS.get(spec.code, []),
        )  # fmt: skip
        session.add(product)
        for ci, color in enumerate(spec.colors):
            for si, size in enumerate(spec.sizes):
                price = Decimal(spec.price + 40 * si)
                stock = 0 if (ci + si) % 7 == 3 else 20 + 13 * ((ci * 3 + si) % 9)
                sku = m.Sku(color=color, size=size, price=price, stock=stock)
                product.skus.append(sku)
                skus.append(sku)
    session.flush()
    return skus


def _buyers(session: Session, rng: random.Random, now: datetime) -> list[m.Buyer]:
    buyers = []
    for i in range(1, 51):
        province = "浙江" if i == 1 else ("上海" if i == 2 else rng.choice(PROVINCES))
        phone = "13812345678" if i == 1 else f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
        name = "小林" if i == 1 else rng.choice(SURNAMES) + rng.choice(GIVEN)
        buyer = m.Buyer(
            id=f"b{i:04d}", nickname=name, phone=phone, province=province,
            address=f"{province}{CITIES[province]}市{rng.choice(STREETS)}{rng.randrange(1, 300)}号",
            created_at=now - timedelta(days=200 + i),
        )  # fmt: skip
        session.add(buyer)
        buyers.append(buyer)
    session.flush()
    return buyers


class _OrderBuilder:
    def __init__(self, session: Session, rng: random.Random, now: datetime, policy: ShopPolicy, skus: list[m.Sku]) -> None:  # fmt: skip
        self.session, self.rng, self.now, self.policy, self.skus = (
            session,
            rng,
            now,
            policy,
            skus,
        )

    def demo_orders(self, demo: m.Buyer, other: m.Buyer) -> None:
        for key, status, timing in _DEMO_ORDER_PLAN:
            self.order(demo, status, DEMO_ORDERS[key], **timing)
        self.order(other, OrderStatus.DELIVERED, OTHER_BUYER_ORDER, age_days=5, delivered_days_ago=1, sku_index=5)

    def order(
        self,
        buyer: m.Buyer,
        status: str,
        order_id: str,
        age_days: float | None = None,
        shipped_days_ago: float | None = None,
        delivered_days_ago: float | None = None,
        sku_index: int | None = None,
        late: bool = False,
        lost: bool = False,
    ) -> m.Order:
        rng, now = self.rng, self.now
        age = age_days if age_days is not None else rng.uniform(0.2, 40)
        created = now - timedelta(days=age, minutes=rng.randrange(60, 600))
        order = m.Order(
            id=order_id, buyer_id=buyer.id, status=status, total_amount=Decimal(0),
            receiver_name=buyer.nickname, receiver_phone=buyer.phone, province=buyer.province,
            address=buyer.address, created_at=created, updated_at=created,
            shipping_fee=Decimal(0), note="",
        )  # fmt: skip
        first = self.skus[sku_index % len(self.skus)] if sku_index is not None else rng.choice(self.skus)
        picks = [first] + ([rng.choice(self.skus)] if sku_index is None and rng.random() < 0.3 else [])
        total = Decimal(0)
        for sku in picks:
            qty = 1 if rng.random() < 0.8 else 2
            order.items.append(m.OrderItem(sku_id=sku.id, quantity=qty, unit_price=sku.price))
            total += sku.price * qty
        remote = self.policy.region_of(buyer.province) == "偏远地区"
        if remote:
            order.shipping_fee = Decimal(self.policy.remote_shipping_fee)
        elif total < self.policy.free_shipping_threshold:
            order.shipping_fee = Decimal(10)
        order.total_amount = total + order.shipping_fee
        self.session.add(order)

        if status in (OrderStatus.UNPAID,):
            return order
        if status == OrderStatus.CANCELLED:
            order.cancelled_at = created + timedelta(hours=rng.randrange(1, 24))
            return order
        order.paid_at = created + timedelta(minutes=rng.randrange(1, 30))
        if status == OrderStatus.PAID:
            return order

        shipped_ago = shipped_days_ago
        if shipped_ago is None:
            shipped_ago = max(0.1, age - rng.uniform(0.3, 1.5))
        if delivered_days_ago is not None:
            shipped_ago = max(shipped_ago, delivered_days_ago + 2)
        shipped_at = max(order.paid_at + timedelta(hours=2), now - timedelta(days=shipped_ago))
        order.shipped_at = shipped_at
        region = self.policy.region_of(buyer.province)
        max_days = int(self.policy.delivery_days(region).split("-")[-1])
        shipment = m.Shipment(
            courier=rng.choice(COURIERS), tracking_number=f"{rng.randrange(10**11, 10**12)}",
            status=ShipmentStatus.IN_TRANSIT, shipped_at=shipped_at,
            expected_delivery_at=shipped_at + timedelta(days=max_days),
        )  # fmt: skip
        if lost:
            shipment.status = ShipmentStatus.LOST
        order.shipment = shipment
        self._events(shipment, buyer, delivered_days_ago, status, late, lost)
        if status in (
            OrderStatus.DELIVERED,
            OrderStatus.COMPLETED,
            OrderStatus.REFUNDING,
            OrderStatus.REFUNDED,
        ):
            order.delivered_at = shipment.delivered_at
            if status == OrderStatus.COMPLETED:
                order.completed_at = order.delivered_at + timedelta(days=rng.randrange(1, 10))
        if (
            status in (OrderStatus.REFUNDING, OrderStatus.REFUNDED)
            or status in (OrderStatus.COMPLETED,)
            and rng.random() < 0.1
        ):
            self._after_sale(order, buyer, status)
        order.updated_at = max(t for t in (order.paid_at, order.shipped_at, order.delivered_at, order.completed_at) if t)  # fmt: skip
        return order

    def _events(self, shipment: m.Shipment, buyer: m.Buyer, delivered_days_ago: float | None, status: str, late: bool, lost: bool) -> None:  # fmt: skip
        rng, now = self.rng, self.now
        city = CITIES[buyer.province]
        steps = [("杭州", "【杭州】您的快件已揽收"), ("杭州", "【杭州转运中心】已发出"),
                 ("途中", "快件运输中，下一站：" + city + "转运中心"),
                 (city, f"【{city}转运中心】已到达"), (city, f"【{city}】派送中，派件员正在为您派件")]  # fmt: skip
        delivered = status in (OrderStatus.DELIVERED, OrderStatus.COMPLETED, OrderStatus.REFUNDING, OrderStatus.REFUNDED)  # fmt: skip
        if delivered:
            end = now - timedelta(days=delivered_days_ago) if delivered_days_ago is not None else min(now, shipment.expected_delivery_at - timedelta(hours=rng.randrange(1, 30)))  # fmt: skip
            end = max(end, shipment.shipped_at + timedelta(hours=20))
        elif lost:
            end = shipment.shipped_at + timedelta(days=2)  # then silence
            steps = steps[:3]
        elif late:
            end = now - timedelta(hours=6)
            steps = steps[:4] + [(city, f"【{city}转运中心】快件滞留，原因：派送网点爆仓")]
        else:
            end = min(now - timedelta(hours=1), shipment.shipped_at + timedelta(hours=30))
            steps = steps[
                : max(
                    1,
                    min(4, int((end - shipment.shipped_at).total_seconds() // 21600) + 1),
                )
            ]
        span = max((end - shipment.shipped_at).total_seconds(), 3600)
        for i, (loc, text) in enumerate(steps):
            at = shipment.shipped_at + timedelta(seconds=span * (i / max(1, len(steps) - (0 if delivered else 1))))
            shipment.events.append(m.ShipmentEvent(occurred_at=min(at, end), location=loc, description=text))
        if delivered:
            shipment.status = ShipmentStatus.DELIVERED
            shipment.delivered_at = end
            shipment.events.append(m.ShipmentEvent(occurred_at=end, location=city, description="已签收，签收人：本人。感谢使用，期待再次为您服务"))  # fmt: skip

    def _after_sale(self, order: m.Order, buyer: m.Buyer, status: str) -> None:
        rng = self.rng
        reason = rng.choice(
            [
                "no_reason",
                "size",
                "color_difference",
                "quality",
                "dislike",
                "wrong_item",
            ]
        )
        open_ = status == OrderStatus.REFUNDING
        req_status = rng.choice([AfterSaleStatus.PENDING, AfterSaleStatus.AWAITING_RETURN]) if open_ else AfterSaleStatus.COMPLETED  # fmt: skip
        created = (order.delivered_at or self.now) + timedelta(hours=rng.randrange(2, 48))
        self.session.add(
            m.AfterSaleRequest(
                order=order, buyer_id=buyer.id,
                kind=AfterSaleKind.RETURN_REFUND if reason != "quality" else rng.choice([AfterSaleKind.RETURN_REFUND, AfterSaleKind.EXCHANGE]),
                reason=reason, detail="", status=req_status, amount=order.total_amount - order.shipping_fee,
                postage_payer=self.policy.postage_payer(reason), open_key=order.id if open_ else None,
                created_at=min(created, self.now), updated_at=min(created, self.now),
            )
        )  # fmt: skip
