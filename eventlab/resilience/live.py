"""What the resilience run page receives over its websocket (see eventlab.labs.runpages.RunPages.render_update)."""

from .views import PAGES

render_update = PAGES.render_update
