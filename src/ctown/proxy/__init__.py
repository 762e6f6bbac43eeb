"""Credit proxies (信用代理): a household's mandate to a named proxy, recorded at the village
service point, confirmed by the farmer, scoped, revocable, and every act of the proxy shown to
the farmer (R-6.3)."""
