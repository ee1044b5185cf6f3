"""The `mini_program` notification channel: a subscription message (订阅消息) through the platform.

Sent only to a citizen with a bound openid who accepted a message of the kind's topic and has one
left; otherwise the delivery is skipped (not retried). A platform failure gives the accepted
message back and fails the delivery, so the retry job sends it later; a user who has since turned
the messages off (43101) uses up their acceptances and the delivery is skipped.
"""

from __future__ import annotations

import asyncio

from tortoise.expressions import F

from app.clock import CHINA_TZ, Clock
from app.miniprogram.models import MiniProgramBinding, MiniProgramSubscription
from app.miniprogram.platform import MiniProgramPlatform, PlatformError
from app.miniprogram.topics import TOPICS, short, topic_of
from app.notifications.service import ChannelError, ChannelSkipped, Notification, render_text
from app.security.pii import PiiCipher

USER_REFUSED = 43101


class MiniProgramChannel:
    def __init__(self, mini_program: MiniProgramPlatform, pii: PiiCipher, clock: Clock) -> None:
        self.mp, self.pii, self.clock = mini_program, pii, clock

    async def send(self, message: Notification) -> None:
        topic = topic_of(message.kind)
        if topic is None:
            raise ChannelSkipped(f"{message.kind} has no subscription topic")
        binding = await MiniProgramBinding.filter(citizen_id=message.citizen_id, appid=self.mp.appid) \
            .order_by("-last_login_at").first()
        if binding is None:
            raise ChannelSkipped("no mini-program bound")
        taken = await MiniProgramSubscription.filter(citizen_id=message.citizen_id, topic=topic, remaining__gt=0) \
            .update(remaining=F("remaining") - 1, updated_at=self.clock.now())
        if not taken:
            raise ChannelSkipped(f"no {topic} subscription left")
        title, body = render_text(message.kind, message.params)
        data = {"thing1": short(title), "thing2": short(str(message.params.get("item") or body)),
                "time3": message.created_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")}
        try:
            await self.mp.send_subscription(self.pii.decrypt(binding.openid_enc, "mp_openid"), TOPICS[topic]["template_id"],
                                            data, TOPICS[topic]["page"])
        except PlatformError as exc:
            if exc.errcode == USER_REFUSED:
                await MiniProgramSubscription.filter(citizen_id=message.citizen_id, topic=topic).update(remaining=0)
                raise ChannelSkipped("the user turned these messages off") from None
            await self._give_back(message.citizen_id, topic)
            raise ChannelError(f"mini-program platform: {exc}") from None
        except asyncio.CancelledError:  # cut off by the channel timeout: the message was not used up
            await asyncio.shield(self._give_back(message.citizen_id, topic))
            raise

    async def _give_back(self, citizen_id: str, topic: str) -> None:
        await MiniProgramSubscription.filter(citizen_id=citizen_id, topic=topic).update(remaining=F("remaining") + 1)
