"""Side-by-side benchmarks of the gateway against an aiohttp upstream and nginx (`make bench`)."""
