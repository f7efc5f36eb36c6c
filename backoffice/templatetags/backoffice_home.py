"""``{% staff_home as home %}``: the home page's queues and figures for the signed-in staff member.

A template tag, so the admin site (accounts) needs no import of backoffice: the index template
(templates/admin/index.html) asks for it.
"""

from __future__ import annotations

from django import template

from backoffice.home import home_context

register = template.Library()


@register.simple_tag(takes_context=True)
def staff_home(context: template.Context) -> dict[str, object]:
    return home_context(context["request"].user)
