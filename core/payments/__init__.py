"""Online payment, the core's part: the basket, the attempts, their state machine, settlement.

Payment services (PayFiP, TIPI...) are plugins implementing `payment_providers`
(`core.hookspecs`): they build the redirect, read results and say which attempt a request from
the service names. Everything that decides whether an invoice is paid lives here:

- `tables`, `holds`: the attempts' rows and states; the invoices an attempt holds.
- `providers`: which service pays a régie. `basket`: which invoices may be paid together.
- `attempts`: creating and starting an attempt, reading attempts back, state changes.
- `checks`: asking the service (on demand, one check at a time) and the background re-check.
- `settlement`: applying a result: settling the invoices once, or review.
- `controllers`: the parent's pages. `service_routes`: the service's notification and the
  browser's return, for every provider. `receipt`, `text`: the receipt PDF; `objet` as the
  services take it.

Imports go one way: tables, holds, text, providers < basket < attempts < receipt, settlement
< checks < controllers, service_routes.
"""
