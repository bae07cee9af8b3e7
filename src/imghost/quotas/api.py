"""HTTP routes (filled in by the feature)."""

from fastapi import APIRouter

router = APIRouter()
