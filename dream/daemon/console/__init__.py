"""The dashboard the daemon serves at `/`: server-rendered pages, a little plain JavaScript (in
`static/`, nothing from a CDN) and live updates over server-sent events. See docs/console.md."""
