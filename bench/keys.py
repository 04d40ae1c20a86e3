"""The auth-on targets: a `gw-` key minted (bench/full.py `mint_in`) before the gateway starts.

- `gateway-auth`: auth on, the clients send `Authorization: Bearer gw-...` for a key of a team
  with no limits, in the gateway's own SQLite file: the key is looked up in the gateway's
  in-memory key directory, no reservation.
- `gateway-auth-budget`: the same, the team with a daily USD budget and a requests-per-minute
  limit far above anything the benchmark sends: every request is reserved against both (in
  memory, as the `gateway` target's state) and settled after the reply, and none is refused.
- The full path (`gateway-full*`) uses the budgeted team too, in Postgres, with Redis state.
"""

from __future__ import annotations

from decimal import Decimal

AUTH = "gateway-auth"
AUTH_BUDGET = "gateway-auth-budget"
TEAM = "bench"
RPM = 1_000_000_000  # ~16.7 M requests/s over the sliding minute: never reached
BUDGET_USD_DAY = Decimal(1_000_000)  # the simulator's price is ~$0.00005 a request
