"""The HTTP layer: one blueprint package per audience. Handlers parse, call one domain operation, shape the reply."""
