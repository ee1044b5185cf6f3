"""The department data exchange (政务数据交换): every call to a department's system, signed both ways, naming
who asks, which service and why (docs/exchange.md). `protocol` holds the message rules both ends use."""
