"""Shipping promises and order tracking."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import Events, ShopAction, buyer_id, db, latest_text, now
from actions.handoff import hand_off
from actions.order_identity import OrderFormValidation, visible_order
from bot.models import OrderStatus
from bot.policy_answers import policy_answer
from bot.shop import after_sale, orders
from bot.shop.orders import Delivery, OrderView

_NOT_RECEIVED = re.compile(r"没收到|没到|没看到|不见|找不到")


def _fmt(at: Any) -> str:
    return f"{at:%m月%d日 %H:%M}"


class ActionShippingTime(ShopAction):
    """The shipping promise: in general, for a place, for a courier, and for paid orders."""

    def name(self) -> str:
        return "action_shipping_time"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        p = self.policy
        courier = next(tracker.get_latest_entity_values("courier"), None)
        location = next(tracker.get_latest_entity_values("location"), None)
        if courier:
            courier = {"sf": "顺丰", "ems": "EMS"}.get(courier.lower(), courier)
            surcharge = p.courier_surcharge.get(courier)
            if surcharge is None:
                dispatcher.utter_message(
                    response="utter_shipping_courier_unavailable",
                    courier=courier,
                    couriers="、".join(p.courier_surcharge),
                )
            else:
                note = f"需要补{surcharge}元运费差价，" if surcharge else "不用加钱，"
                dispatcher.utter_message(response="utter_shipping_courier", courier=courier, surcharge_note=note)
            return []
        if location:
            region = p.region_of(location)
            remote_note = f"，偏远地区运费{p.remote_shipping_fee}元" if region == "偏远地区" else ""
            dispatcher.utter_message(
                response="utter_shipping_region",
                location=location,
                region=region,
                days=p.delivery_days(region),
                hours_to_ship=p.hours_to_ship,
                remote_note=remote_note,
            )
            return []
        buyer = buyer_id(tracker)
        waiting = await db(lambda s: orders.unshipped_paid_orders(s, buyer, p, now())) if buyer else []
        for order in waiting[:2]:
            dispatcher.utter_message(
                response="utter_shipping_my_order",
                order_id=order.id,
                items=order.items_text,
                deadline=_fmt(p.ship_deadline(order.paid_at)),
            )
        if not waiting:
            dispatcher.utter_message(response="utter_shipping_policy", **policy_answer("utter_shipping_policy", p))
        return []


class ValidateTrackOrderForm(OrderFormValidation):
    def name(self) -> str:
        return "validate_track_order_form"


class ActionTrackOrder(ShopAction):
    """Status and latest logistics; late parcels get an apology and an offer to chase."""

    def name(self) -> str:
        return "action_track_order"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        order_id = visible_order(dispatcher, tracker)
        if order_id is None:
            return []
        p, at = self.policy, now()
        order = await db(lambda s: orders.get_order(s, order_id, p, at))
        if order is None:
            dispatcher.utter_message(response="utter_order_not_found")
            return []
        events: Events = [SlotSet("urge", None)]
        dispatcher.utter_message(
            response="utter_order_status",
            order_id=order.id,
            items=order.items_text,
            status=order.status_label,
            logistics=_logistics_line(order),
        )
        # The same facts as data, for chat widgets that draw an order card.
        dispatcher.utter_message(json_message={"order_card": order_card(order)})
        if order.open_after_sale_id:
            request = await db(lambda s: after_sale.open_request(s, order.id))
            if request:
                dispatcher.utter_message(
                    response="utter_after_sale_progress",
                    order_id=order.id,
                    kind=request.kind_label,
                    request_id=request.id,
                    status=request.status_label,
                )
        if order.delivery == Delivery.NOT_SHIPPED:
            if order.status == OrderStatus.UNPAID:
                dispatcher.utter_message(response="utter_order_unpaid", hours=p.unpaid_cancel_hours)
            elif order.status == OrderStatus.PAID and order.paid_at:
                dispatcher.utter_message(
                    response="utter_order_not_shipped", deadline=_fmt(p.ship_deadline(order.paid_at))
                )
        elif order.delivery == Delivery.ON_TIME:
            dispatcher.utter_message(response="utter_order_in_transit", eta=_fmt(order.expected_delivery_at))
        elif order.delivery == Delivery.LATE:
            if tracker.get_slot("urge") == "yes":
                await db(lambda s: orders.urge_courier(s, order.id, at))
                dispatcher.utter_message(response="utter_order_urged", courier=order.courier)
            else:
                dispatcher.utter_message(
                    response="utter_order_late", eta=_fmt(order.expected_delivery_at), order_id=order.id
                )
        elif order.delivery == Delivery.LOST:
            silent_days = (at - order.events[-1][0]).days if order.events else p.lost_after_days
            dispatcher.utter_message(response="utter_order_lost", days=silent_days)
            return events + await hand_off(dispatcher, tracker, "lost_parcel", order_id=order.id)
        elif _NOT_RECEIVED.search(latest_text(tracker)) and order.delivered_at:
            dispatcher.utter_message(response="utter_order_delivered", delivered_at=_fmt(order.delivered_at))
        return events


def order_card(order: OrderView) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "items": list(order.items),
        "status": order.status_label,
        "courier": order.courier,
        "tracking_number": order.tracking_number,
        "latest_event": order.latest_event if order.courier else None,
    }


def _logistics_line(order: OrderView) -> str:
    if not order.courier:
        return "物流：暂未发货"
    return f"物流：{order.courier} {order.tracking_number}\n最新：{order.latest_event}"
