"""The small allocation scenario that the scenario and the Dask sweep tests share: two resources (beds, a stock
of 30; whole ventilators), three regions A, B, C, low and high demand, a budget of 60. Each test adds its own
``regions`` section (a file or rows) and what-ifs."""

SMALL_CORE = {
    "name": "two resources, three regions",
    "resources": {"beds": {"unit": "bed", "unit_cost": 1, "stock": 30},
                  "vents": {"unit": "ventilator", "unit_cost": 2, "integer": True}},
    "capacity": {"rows": [{"region": "A", "resource": "beds", "capacity": 5}]},
    "demand": {"rows": [
        {"region": "A", "resource": "beds", "scenario": "low", "value": 10},
        {"region": "B", "resource": "beds", "scenario": "low", "value": 10},
        {"region": "C", "resource": "beds", "scenario": "low", "value": 20},
        {"region": "A", "resource": "vents", "scenario": "low", "value": 4},
        {"region": "A", "resource": "beds", "scenario": "high", "value": 20},
        {"region": "B", "resource": "beds", "scenario": "high", "value": 20},
        {"region": "C", "resource": "beds", "scenario": "high", "value": 40},
        {"region": "A", "resource": "vents", "scenario": "high", "value": 8},
    ]},
    "budget": 60,
}
