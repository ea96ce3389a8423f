"""One APIRouter per resource, each with its full /api prefix."""
