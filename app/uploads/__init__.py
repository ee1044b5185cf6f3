"""Material uploads (材料上传): files citizens upload to use as materials, kept encrypted, read by clerks."""
