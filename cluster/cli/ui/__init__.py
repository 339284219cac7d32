"""`faultlab ui`: the lab in a browser. A small aiohttp server on 127.0.0.1 serves one page
(static/: HTML, CSS and JavaScript written here, nothing loaded from outside), the
cluster's state several times a second over Server-Sent Events, and the controls, which
act through the same code the CLI runs (chaos.net.Network for links, the node controls
for processes). docs/ui.md describes the page and its API."""
