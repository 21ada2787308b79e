"""Chinese names for the shop's status and reason codes, as buyers and agents see them."""

from __future__ import annotations

ORDER_STATUS = {
    "unpaid": "待付款",
    "paid": "待发货",
    "shipped": "已发货",
    "delivered": "已签收",
    "completed": "已完成",
    "refunding": "退款中",
    "refunded": "已退款",
    "cancelled": "已取消",
}

AFTER_SALE_KIND = {
    "refund_only": "仅退款",
    "return_refund": "退货退款",
    "exchange": "换货",
    "reissue": "补发",
}

AFTER_SALE_STATUS = {
    "pending": "待审核",
    "awaiting_return": "等待您寄回",
    "return_received": "仓库已收到退货",
    "completed": "已完成",
    "rejected": "未通过",
    "closed": "已关闭",
}

# Reason codes stored on after-sale requests; the policy file refers to these codes.
AFTER_SALE_REASON = {
    "no_reason": "七天无理由",
    "size": "尺码不合适",
    "dislike": "不喜欢/不想要了",
    "color_difference": "色差",
    "quality": "质量问题",
    "wrong_item": "发错货",
    "missing_item": "少发漏发",
}

HANDOFF_REASON = {
    "requested": "买家要求转人工",
    "complaint": "投诉/情绪激动",
    "misunderstood": "机器人连续没听懂",
    "lost_parcel": "疑似丢件",
    "policy": "需人工处理",
}

POSTAGE_PAYER = {"buyer": "您承担寄回运费", "seller": "小店承担寄回运费"}

# How the bot names an intent when it asks "did you mean …?".
INTENT_LABEL = {
    "ask_authenticity": "是不是正品",
    "bargain": "优惠/包邮/议价",
    "ask_shipping_time": "什么时候发货/几天到",
    "track_order": "查物流/订单到哪了",
    "color_difference": "色差问题",
    "request_refund": "退款/退货",
    "request_exchange": "换货",
    "quality_issue": "质量问题",
    "wrong_or_missing_item": "发错货/少发",
    "ask_size": "尺码推荐",
    "ask_product_info": "商品信息/价格/库存",
    "ask_payment": "付款方式",
    "ask_invoice": "开发票",
    "change_order": "修改/取消订单",
    "complain": "投诉",
    "request_human": "转人工客服",
}

# Every buyer intent as trainers see it in their console (the bot never offers these extra ones).
TRAINER_INTENT_LABEL = {
    **INTENT_LABEL,
    "greet": "打招呼",
    "goodbye": "告别",
    "thank": "感谢",
    "affirm": "肯定/是的",
    "deny": "否定/不是",
    "inform_order_id": "提供订单号",
    "out_of_scope": "与店铺无关",
}

INBOX_REASON = {
    "fallback": "没听懂",
    "low confidence": "把握不大",
    "near tie": "两个意图难分",
    "before a handoff": "转人工前",
    "marked by an agent": "客服标记",
    "imported": "导入的聊天记录",
}
