"""The digital resident ID voucher (居民身份电子凭证) and the e-licence wallet (电子证照)."""
