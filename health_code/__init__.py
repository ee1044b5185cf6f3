"""Health code (健康码): evidence, declared rules, signed dynamic QR codes, verification."""
