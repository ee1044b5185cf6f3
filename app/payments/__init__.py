"""Payments (缴费): fees, fines and bills through a payment-provider adapter, refunds, reconciliation, e-receipts."""
