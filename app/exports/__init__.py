"""A citizen's copy of their own data (个人信息副本, PIPL art. 45): gathered from every domain, kept a short while, downloaded."""
