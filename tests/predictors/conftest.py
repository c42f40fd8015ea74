import pytest


@pytest.fixture(params=["max", "min"])
def mode(request) -> str:
    """Every predictor must work for accuracy-like (max) and loss-like (min) metrics."""
    return request.param
