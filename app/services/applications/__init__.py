"""Online applications (办件) with their materials and 秒批 rules; other domains use them through `service`."""
