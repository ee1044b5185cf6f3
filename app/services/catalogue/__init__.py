"""The service catalogue (事项, 办事指南, 一件事) and its search; other domains use it through `service`."""
