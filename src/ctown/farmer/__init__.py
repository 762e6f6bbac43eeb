"""The farmer's own pages (农户端, R-6.1): phone-first — the grade in large type, what it brings,
why, one way to improve; the credit file, who looked, loans, applications, proxies. Also the
summary the SMS and voice channels read out (:mod:`ctown.farmer.summary`)."""
