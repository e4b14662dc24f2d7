"""PLACEHOLDER until the resilience API is built (being written now)."""
from ninja import Router

router = Router(tags=["resilience"])
