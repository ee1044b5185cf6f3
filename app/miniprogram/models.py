"""Tables of the mini-program domain: openid bindings and the subscriptions citizens accepted."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class MiniProgramBinding(Model):
    """An openid of one mini-program bound to a citizen after the phone number was verified (绑定)."""

    id = fields.CharField(pk=True, max_length=40)
    appid = fields.CharField(max_length=64)
    openid_hash = fields.CharField(max_length=64)  # keyed hash for lookup; the openid itself is encrypted
    openid_enc = fields.TextField()
    unionid_hash = fields.CharField(max_length=64, null=True, db_index=True)
    citizen: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.Citizen", related_name="mini_program_bindings", on_delete=fields.CASCADE
    )
    verified_by = fields.CharField(max_length=16)  # phone_data or sms
    created_at = fields.DatetimeField()
    last_login_at = fields.DatetimeField()

    citizen_id: str

    class Meta:
        table = "mp_bindings"
        unique_together = (("appid", "openid_hash"),)


class MiniProgramSubscription(Model):
    """How many one-time subscription messages (订阅消息) of a topic the citizen accepted and we have not sent."""

    id = fields.BigIntField(pk=True)
    citizen: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.Citizen", related_name="mini_program_subscriptions", on_delete=fields.CASCADE
    )
    topic = fields.CharField(max_length=32)
    remaining = fields.IntField(default=0)
    updated_at = fields.DatetimeField()

    citizen_id: str

    class Meta:
        table = "mp_subscriptions"
        unique_together = (("citizen_id", "topic"),)
