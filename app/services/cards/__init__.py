"""The home screen's service cards (服务卡片) and the department backends that fill them."""
