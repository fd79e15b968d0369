"""What both aiohttp services need and neither owns: JSON errors, request id and access line,
graceful drain, logging set-up and the HTTP parser's refusals. Imports neither service."""
