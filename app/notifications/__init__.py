"""The citizen's notification inbox (消息中心) that every domain writes to."""
