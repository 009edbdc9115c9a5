"""Echelon's dashboard (an adapter): server-rendered Jinja2 pages on the API's app.

``/`` lists the registry's batteries with counts per status and grade and filters that update the
table in place; ``/battery/{id}`` shows one battery's identity, SOH against its grade bands,
decisions with every reason, test runs and history, with links to its JSON and passport views.
Mounted by :func:`echelon.api.create_app`. See docs/web.md.
"""

from echelon.web.pages import error_page, web_router

__all__ = ["error_page", "web_router"]
