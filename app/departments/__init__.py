"""部门服务: the department services citizens use most (社保, 电子社保卡, 公积金, 交管), read from the departments
themselves through the data exchange (docs/exchange.md). Other domains use them through `service`."""
