"""Online payment, the core's part: the basket, the attempts, their state machine, settlement.

Payment services (PayFiP, TIPI...) are plugins implementing `payment_providers`
(`core.hookspecs`): they build the redirect and read results. Everything that decides whether
an invoice is paid lives here, in `services`.
"""
