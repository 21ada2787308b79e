"""The assistant's custom actions, one module per area of the shop.

Actions are thin: they read the tracker, call the shop layer in `bot.shop`, and
answer with responses from domain.yml.
"""
