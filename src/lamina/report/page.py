"""The one HTML page shell of every page lamina writes (run reports, comparisons, labs, data quality, attributions).

Offline pages: no scripts, no CDN; one style sheet, to which a page may add its own rules.
"""

from __future__ import annotations

from html import escape

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; } td, th { border: 1px solid #ccc; padding: 0.25rem 0.6rem; }
th { background: #f3f3f3; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5rem 0; }
.finding { border-left: 4px solid #d9822b; padding: 0.3rem 0.8rem; margin: 0.6rem 0; background: #fff8f0; }
.healthy { border-left: 4px solid #2b8a3e; padding: 0.3rem 0.8rem; background: #f0fff4; }
.muted { color: #666; } .warn { color: #a50; }
"""


def html_page(title: str, body: str, style: str = "") -> str:
    """A whole HTML page: doctype, UTF-8, the escaped ``title``, the shared style sheet plus ``style``, and ``body``.

    One shell for every page, so they look alike and a change to the shell is made once.
    """
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{STYLE}{style}</style></head><body>{body}</body></html>\n")
