"""Adapters to WeChat: the API client and, for development and tests, a fake WeChat server."""

from backend.wechat.client import (
    PhoneInfo,
    SecCheckResult,
    WeChatClient,
    WeChatError,
    WeChatSession,
    WeChatUnavailable,
    get_wechat_client,
)

__all__ = [
    "PhoneInfo",
    "SecCheckResult",
    "WeChatClient",
    "WeChatError",
    "WeChatSession",
    "WeChatUnavailable",
    "get_wechat_client",
]
