"""What the platform keeps of the department services (部门服务); the departments keep the records themselves."""

from __future__ import annotations
