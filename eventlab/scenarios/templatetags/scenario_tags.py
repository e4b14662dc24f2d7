from django import template
from django.utils.safestring import mark_safe

from eventlab.scenarios import markdown

register = template.Library()


@register.filter
def markdown_safe(text: str) -> str:
    """Markdown rendered and sanitised (eventlab.scenarios.markdown)."""
    return mark_safe(markdown.render(text))  # noqa: S308 (sanitised by nh3)
