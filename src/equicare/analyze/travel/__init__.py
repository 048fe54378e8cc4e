"""Travel times on real road networks (OpenStreetMap PBF extracts or street-centreline layers).

``travel_costs(origins, destinations, network=..., mode=..., max_minutes=..., max_km=...)`` returns a
:class:`TravelCosts` whose ``table`` is the long ``origin,destination,cost,distance_m`` table (cost in
minutes). See docs/travel.md.
"""

from equicare.analyze.travel.catchments import facility_catchments, nearest_facility
from equicare.analyze.travel.costtable import TravelCosts, load_network, travel_costs
from equicare.analyze.travel.outputs import costs_to_files

__all__ = ["TravelCosts", "travel_costs", "load_network", "facility_catchments", "nearest_facility",
           "costs_to_files"]
