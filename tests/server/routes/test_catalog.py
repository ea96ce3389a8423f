"""GET /api/catalog comes from the engine, with the server's limits."""

from __future__ import annotations


def test_catalog_lists_every_registry(client):
    catalog = client.get("/api/catalog").json()
    for section in ("layers", "activations", "initializers", "losses", "optimizers", "schedules", "datasets"):
        assert catalog[section], section
    assert "relu" in catalog["activations"] and "adam" in catalog["optimizers"]
    assert catalog["limits"]["max_parameters"] <= client.app.state.settings.max_parameters
    assert catalog["limits"]["compute_budget"] == client.app.state.settings.compute_budget
