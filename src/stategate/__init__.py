"""stategate: gate upgrades of stateful services on docker compose platforms."""

import os

__version__ = "0.1.0"

# No pydantic plugin takes part in validating our policy, records or approvals: a
# plugin installed beside us would see every document (secrets included) and could
# change how it validates. Saying so up front also spares the scan of every installed
# distribution's entry points that pydantic makes on its first model (start-up time).
os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
